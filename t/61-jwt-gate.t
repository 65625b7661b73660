# The gate verifies the server's own JWTs (SPEC "JWT access tokens"): beside
# the opaque tokens of its zone, a protected location accepts JWTs signed by
# one of the server's keys with iss equal to oauth_issuer, refuses every
# forgery with 401 invalid_token (the failed check in the info log, never the
# token), applies oauth_jwt_leeway, sets the variables, and follows the
# registry: a removed client or scope stops working from the reload on.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use MIME::Base64 ();
use Test::More;
use OAuthTest qw(need_module need_python sha256_hash random_secret basic_credentials bearer_challenge show);
use JwtForgeries;

need_module();

my $python = need_python('jwt, cryptography', 'python3-jwt');

my $secret = random_secret();
my %app = (client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write');
my %other = (client_id => 'other', client_secret_hash => sha256_hash($secret), scope => 'read');
my %auditor = (client_id => 'auditor', client_secret_hash => sha256_hash($secret), scope => '',
    introspection => JSON::PP::true);
my $t = OAuthTest->new(clients => {clients => [\%app, \%other, \%auditor]});
my $p = $t->prefix;

$t->genpkey('es.pem', 'ES256');
$t->genpkey('ed.pem', 'EdDSA');
$t->genpkey('other-es.pem', 'ES256');
$t->genpkey('other-rs.pem', 'RS256');
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

my $issuer = 'http://127.0.0.1:' . $t->port;
my $headers = 'add_header X-Client $oauth_client_id always; add_header X-Scope $oauth_scope always; '
    . 'add_header X-Expires $oauth_token_expires always; add_header X-Issuer $oauth_issuer always; '
    . 'add_header X-Audience $oauth_audience always; add_header X-Worker $pid always;';
my $http = <<"CONF";
oauth_token_zone tokens:1m;
oauth_clients clients.json;

server {
    # reuseport: each worker has its own socket, so connections spread over both
    listen 127.0.0.1:%%PORT%% reuseport;
    oauth_issuer $issuer;
    oauth_signing_key es.pem kid=es;
    oauth_signing_key ed.pem kid=ed;

    location = /token  { oauth_token_endpoint format=jwt; }
    location = /opaque { oauth_token_endpoint; }
    location = /introspect { oauth_introspection_endpoint; }
    location = /revoke { oauth_revocation_endpoint; }
    location /read/    { oauth_require_scope read; $headers alias %%PREFIX%%/html/; }
    location /write/   { oauth_require_scope write; alias %%PREFIX%%/html/; }
    location /lenient/ { oauth_require_scope read; oauth_jwt_leeway 30s; alias %%PREFIX%%/html/; }
}
CONF
$t->write_conf(http => $http);
$t->start;

sub token {
    my (%o) = @_;
    my $r = $t->token_request(path => $o{path} // '/token', basic => [$o{client} // 'app', $secret],
        form => [grant_type => 'client_credentials', scope => $o{scope} // 'read write']);
    is $r->{status}, 200, "a token from " . ($o{path} // '/token') or diag show($r);
    return $r->{json}{access_token};
}

my $jwt = token();

subtest 'an own JWT passes, with the variables set; opaque tokens still do' => sub {
    my $r = $t->bearer_get('/read/', $jwt);
    is $r->{status}, 200, 'the read location answers 200' or diag show($r);
    is $r->{headers}{'x-client'}, 'app', '$oauth_client_id';
    is $r->{headers}{'x-scope'}, 'read write', '$oauth_scope';
    like $r->{headers}{'x-expires'}, qr/^\d{10}$/, '$oauth_token_expires';
    ok abs($r->{headers}{'x-expires'} - time - 3600) < 60, '... an hour from now';
    is $r->{headers}{'x-issuer'}, $issuer, '$oauth_issuer';
    is $r->{headers}{'x-audience'}, $issuer, '$oauth_audience';
    is $t->bearer_get('/read/', $jwt)->{status}, 200, 'again (its signature known to the zone)';
    is $t->bearer_get('/write/', $jwt)->{status}, 200, 'the write location';
    my $opaque = token(path => '/opaque');
    my $o = $t->bearer_get('/read/', $opaque);
    is $o->{status}, 200, 'an opaque token of the zone passes';
    is $o->{headers}{'x-issuer'} // '', '', 'no $oauth_issuer for it';
    is $t->bearer_get('/write/', token(scope => 'read'))->{status}, 403, 'a JWT without the scope: 403';
};

subtest 'every forgery is refused, with the check in the info log and not the token' => sub {
    my %forged = JwtForgeries::forge($t, $python, key => "$p/es.pem", kid => 'es',
        other_ec => "$p/other-es.pem", other_rsa => "$p/other-rs.pem", issuer => $issuer,
        client => 'app', scope => 'read write', valid => $jwt);
    JwtForgeries::control_passes_ok($t, '/read/', \%forged);
    JwtForgeries::refused_ok($t, '/read/', \%forged);
    JwtForgeries::leeway_ok($t, '/lenient/', \%forged);
    $t->invalid_token_ok('/read/', $forged{tampered}, 'the tampered token twice');
};

subtest 'introspection answers the claims of an own JWT, active:false for a forged one' => sub {
    my $introspect = sub {
        my ($token) = @_;
        my $r = $t->token_request(path => '/introspect', basic => ['auditor', $secret],
            form => [token => $token]);
        is $r->{status}, 200, 'introspection answers 200';
        return $r->{json} // {};
    };
    my $j = $introspect->($jwt);
    my (undef, $payload) = split /\./, $jwt;
    my $claims = decode_json(MIME::Base64::decode_base64url($payload));
    is_deeply $j, {active => JSON::PP::true, client_id => 'app', scope => 'read write',
        token_type => 'Bearer', exp => $claims->{exp}, iat => $claims->{iat}, sub => 'app',
        iss => $issuer, aud => [$issuer], jti => $claims->{jti}}, 'active, with its claims';
    my $forged = $jwt =~ s/(.)(....)$/($1 eq 'A' ? 'B' : 'A') . $2/er;
    is_deeply $introspect->($forged), {active => JSON::PP::false}, 'a forged one: exactly active:false';
};

subtest 'a revoked own JWT is refused at once in both workers; a foreign revocation changes nothing' => sub {
    my @workers = $t->worker_pids;
    is scalar(@workers), 2, 'two workers';
    my $each_worker = sub { my ($tok) = @_; $t->in_each_worker(sub { $t->bearer_get('/read/', $tok) }) };
    my $revoke = sub {
        my ($client, $tok) = @_;
        my $r = $t->token_request(path => '/revoke', basic => [$client, $secret], form => [token => $tok]);
        is $r->{status}, 200, "$client revokes: 200" or diag show($r);
    };
    my $introspect = sub {
        my ($tok) = @_;
        return $t->token_request(path => '/introspect', basic => ['auditor', $secret],
            form => [token => $tok])->{content};
    };
    my $tok = token();
    my ($seen, @before) = $each_worker->($tok);
    is_deeply [sort keys %$seen], [sort @workers], 'before: both workers answered';
    is scalar(grep { $_->{status} == 200 } @before), scalar(@before), 'before: every worker accepts it';

    $revoke->('other', $tok);
    is $t->bearer_get('/read/', $tok)->{status}, 200, 'revoked by another client: still accepted';
    like $introspect->($tok), qr/^\{"active":true,/, '... and active';

    $revoke->('app', $tok);
    ($seen, my @after) = $each_worker->($tok);
    is_deeply [sort keys %$seen], [sort @workers], 'right after: both workers answered';
    my @bad = grep { $_->{status} != 401
        || ($_->{headers}{'www-authenticate'} // '') ne
            bearer_challenge('oauth', 'invalid_token', undef, 'it has been revoked') } @after;
    is scalar(@bad), 0, 'right after: every worker refuses it with invalid_token (' . scalar(@after)
        . ' requests)' or diag show($bad[0]);
    is $introspect->($tok), '{"active":false}', 'introspection: exactly {"active":false}';
    is $t->bearer_get('/read/', $jwt)->{status}, 200, 'another JWT of the same client still passes';
};

subtest 'tokens of a key no longer configured are refused' => sub {
    my $ed_first = $http =~ s/oauth_signing_key es.pem kid=es;\n\s*oauth_signing_key ed.pem kid=ed;/oauth_signing_key ed.pem kid=ed;/r;
    ok $t->reload(http => $ed_first), 'reload with the ed key only';
    my $ed = token();
    is $t->bearer_get('/read/', $ed)->{status}, 200, 'an EdDSA token passes';
    $t->invalid_token_ok('/read/', $jwt, 'the token of the removed ES256 key');
    ok $t->reload(http => $http), 'reload with both keys again';
    is $t->bearer_get('/read/', $jwt)->{status}, 200, 'the ES256 token passes again';
    is $t->bearer_get('/read/', $ed)->{status}, 200, 'the EdDSA one too';
};

subtest 'own JWTs follow the registry across a reload' => sub {
    my $other = token(client => 'other', scope => 'read');
    is $t->bearer_get('/read/', $other)->{status}, 200, "other's token passes";
    ok $t->reload(clients => {clients => [{%app, scope => 'read'}]}), 'reload: other removed, app loses write';
    $t->invalid_token_ok('/read/', $other, "the removed client's JWT");
    my $r = $t->bearer_get('/read/', $jwt);
    is $r->{status}, 200, "app's JWT still reads";
    is $r->{headers}{'x-scope'}, 'read', '$oauth_scope has lost write';
    is $t->bearer_get('/write/', $jwt)->{status}, 403, 'and write is refused: 403';
};

$t->log_clean_ok;
$t->stop;

subtest 'nginx -t: a protected location of a JWT server needs the registry' => sub {
    my $conf = "oauth_token_zone tokens:1m;\nserver {\n    listen 127.0.0.1:%%PORT%%;\n"
        . "    oauth_issuer $issuer;\n    oauth_signing_key es.pem;\n"
        . "    location /api/ { oauth_require_scope read; }\n}\n";
    my ($rc, $out) = $t->test_config(http => $conf);
    isnt $rc, 0, 'nginx -t fails';
    like $out, qr/\[emerg\].*oauth_require_scope in a server with oauth_signing_key needs oauth_clients.*nginx\.conf:\d+/,
        'it says why and where';
};

done_testing;
