# oauth_trust_issuer ISSUER jwks=FILE (SPEC "JWT access tokens"): protected
# locations accept the JWTs of another issuer, played by PyJWT with its own
# keys (t/interop/idp_jwt.py); its JWK Set is re-read on reload, and a bad
# one fails nginx -t with its name and problem.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module need_python show);

need_module();

my $python = need_python('jwt, cryptography', 'python3-jwt');
my $idp = "$FindBin::Bin/interop/idp_jwt.py";

my $t = OAuthTest->new;
my $p = $t->prefix;
sub run { $t->output_of(@_) }
$t->genpkey('idp-es.pem', 'ES256');
$t->genpkey('idp-rs.pem', 'RS256');
$t->genpkey('idp-new.pem', 'ES256');
$t->write_file('idp.json', run($python, $idp, 'jwks', "$p/idp-es.pem:es", "$p/idp-rs.pem:rs"));
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

my $iss = 'https://idp.example.com/realms/a';
my $http = <<"CONF";
oauth_token_zone tokens:1m;
oauth_trust_issuer $iss jwks=idp.json;

server {
    listen 127.0.0.1:%%PORT%%;
    location /read/ {
        oauth_require_scope read;
        add_header X-Client \$oauth_client_id always;
        add_header X-Scope \$oauth_scope always;
        add_header X-Issuer \$oauth_issuer always;
        add_header X-Audience \$oauth_audience always;
        alias %%PREFIX%%/html/;
    }
    location /admin/ { oauth_require_scope admin; alias %%PREFIX%%/html/; }
    location /untrusting/ { oauth_trust_issuer https://other.example.com jwks=idp.json;
                            oauth_require_scope read; alias %%PREFIX%%/html/; }
}
CONF
$t->write_conf(http => $http);
$t->start;

sub idp_token {
    my ($pem, $kid, %o) = @_;
    return run($python, $idp, 'token', "$p/$pem", $kid, $o{iss} // $iss, encode_json($o{claims} // {}));
}

subtest "the issuer's tokens pass, scp and azp read, variables set" => sub {
    for my $key (['idp-es.pem', 'es'], ['idp-rs.pem', 'rs']) {
        my $r = $t->bearer_get('/read/', idp_token(@$key));
        is $r->{status}, 200, "$key->[1]: the read location answers 200" or diag show($r);
        is $r->{headers}{'x-client'}, 'svc', "$key->[1]: \$oauth_client_id from azp";
        is $r->{headers}{'x-scope'}, 'read extra', "$key->[1]: \$oauth_scope from scp";
        is $r->{headers}{'x-issuer'}, $iss, "$key->[1]: \$oauth_issuer";
        is $r->{headers}{'x-audience'}, 'https://api.test', "$key->[1]: \$oauth_audience";
    }
    my $string_scp = idp_token('idp-es.pem', 'es', claims => {scp => 'read admin'});
    is $t->bearer_get('/admin/', $string_scp)->{status}, 200, 'scp as a string';
    is $t->bearer_get('/admin/', idp_token('idp-es.pem', 'es'))->{status}, 403, 'a missing scope: 403';
};

subtest 'what the issuer did not sign is refused' => sub {
    $t->invalid_token_ok('/read/', idp_token('idp-es.pem', 'es', iss => 'https://evil.example.com'),
        'another issuer');
    $t->invalid_token_ok('/read/', idp_token('idp-new.pem', 'es'), 'a key not in its JWK Set');
    $t->invalid_token_ok('/read/', idp_token('idp-new.pem', 'new'), 'an unknown kid');
    $t->invalid_token_ok('/read/', idp_token('idp-es.pem', 'es', claims => {exp => time - 5}), 'expired');
    $t->invalid_token_ok('/untrusting/', idp_token('idp-es.pem', 'es'),
        'a location that trusts another issuer');
};

subtest 'the JWK Set is re-read on reload' => sub {
    my $new = idp_token('idp-new.pem', 'new');
    $t->write_file('idp.json', run($python, $idp, 'jwks', "$p/idp-new.pem:new"));
    ok $t->reload(http => $http), 'reload';
    is $t->bearer_get('/read/', $new)->{status}, 200, 'a token of the new key passes';
    $t->invalid_token_ok('/read/', idp_token('idp-es.pem', 'es'), 'a token of a key dropped from the set');
};

$t->log_clean_ok;
$t->stop;

subtest 'nginx -t: a bad JWK Set fails with its name and problem' => sub {
    my %bad = (
        'missing.json' => [undef, qr/cannot open "\Q$p\E\/missing\.json"/],
        'broken.json'  => ['{"keys": [', qr/"\Q$p\E\/broken\.json": not JSON/],
        'empty.json'   => ['{"keys": []}', qr/"\Q$p\E\/empty\.json": no "keys" array/],
        'hmac.json'    => ['{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}',
            qr/hmac\.json": no key to verify signatures with/],
        'private.json' => [
            '{"keys": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]}',
            qr/private\.json": no key to verify signatures with/],
    );
    for my $file (sort keys %bad) {
        my ($text, $re) = @{ $bad{$file} };
        $t->write_file($file, $text) if defined $text;
        my ($rc, $out) = $t->test_config(http => $http =~ s/jwks=idp\.json;\n\nserver/jwks=$file;\n\nserver/r);
        isnt $rc, 0, "$file: nginx -t fails";
        like $out, qr/\[emerg\].*$re.*nginx\.conf:\d+/, "$file: says so, with the line" or diag $out;
        like $out, qr/\[warn\].*private\.json": key 1 \(kid ""\) skipped: the private parameter "d"/,
            'the private key is named at warn' if $file eq 'private.json';
    }
    my ($rc, $out) = $t->test_config(http => $http =~ s/\Q$iss\E jwks/idp.example.com jwks/r);
    like $out, qr/\[emerg\] .*invalid issuer "idp\.example\.com"/, 'an issuer that is no URL';
};

done_testing;
