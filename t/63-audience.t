# Audiences (RFC 8707, SPEC "JWT access tokens ... audiences"), both formats:
# the registry's "resource", resource= at the token endpoint (the one
# parameter that may repeat) with 400 invalid_target, the default audience,
# aud in introspection, $oauth_audience, and oauth_require_audience at the
# gate for opaque tokens, own JWTs and a trusted issuer's. Then opaque tokens
# follow the registry across a reload: a removed client's are refused, a
# removed scope no longer counts.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use MIME::Base64 ();
use Test::More;
use OAuthTest qw(need_module need_python sha256_hash random_secret error_ok show);

need_module();
my $python = need_python('jwt, cryptography', 'python3-jwt');
my $idp = "$FindBin::Bin/interop/idp_jwt.py";

my ($reports, $billing) = ('https://reports.test/api', 'https://billing.test');
my $secret = random_secret();
my %app = (client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write',
    resource => [$reports, $billing]);
my %plain = (client_id => 'plain', client_secret_hash => sha256_hash($secret), scope => 'read');
my %auditor = (client_id => 'auditor', client_secret_hash => sha256_hash($secret), scope => '',
    introspection => JSON::PP::true);
my $t = OAuthTest->new(clients => {clients => [\%app, \%plain, \%auditor]});
my $p = $t->prefix;

# The other issuer, played by PyJWT (t/interop/idp_jwt.py).
sub idp {
    my ($rc, $out) = OAuthTest::run_command([$python, $idp, @_], "$p/logs/idp.out", 30);
    die "idp_jwt.py @_ failed: $out" if $rc != 0;
    chomp $out;
    return $out;
}
$t->genpkey('es.pem', 'ES256');
$t->genpkey('idp.pem', 'ES256');
$t->write_file('idp.json', idp('jwks', "$p/idp.pem:idp"));
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

my $issuer = 'http://127.0.0.1:' . $t->port;
my $idp_iss = 'https://idp.example.com';
my $headers = 'add_header X-Audience $oauth_audience always; add_header X-Scope $oauth_scope always;';
my $http = <<"CONF";
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_trust_issuer $idp_iss jwks=idp.json;

server {
    listen 127.0.0.1:%%PORT%%;
    oauth_issuer $issuer;
    oauth_signing_key es.pem kid=es;

    location = /jwt        { oauth_token_endpoint format=jwt; }
    location = /token      { oauth_token_endpoint; }
    location = /introspect { oauth_introspection_endpoint; }
    location /any/   { oauth_require_scope; $headers alias %%PREFIX%%/html/; }
    location /write/ { oauth_require_scope write; $headers alias %%PREFIX%%/html/; }
    location /reports/ {
        oauth_require_audience https://elsewhere.test $reports;
        oauth_require_scope read;
        alias %%PREFIX%%/html/;
        location /reports/inherited/ { alias %%PREFIX%%/html/; }
        location /reports/open/      { oauth_require_audience off; alias %%PREFIX%%/html/; }
    }
    location /self/ { oauth_require_audience $issuer; oauth_require_scope; alias %%PREFIX%%/html/; }
}
CONF
$t->write_conf(http => $http);
$t->start;

sub token_response {
    my (%o) = @_;
    return $t->token_request(path => $o{path} // '/token', basic => [$o{client} // 'app', $secret],
        form => [grant_type => 'client_credentials', @{ $o{form} // [] }]);
}

sub token {
    my $r = token_response(@_);
    is $r->{status}, 200, 'a token' or diag show($r);
    return $r->{json}{access_token};
}

sub get {
    my ($path, $token) = @_;
    return $t->request('GET', $path, {headers => {Authorization => "Bearer $token"}});
}

sub introspect {
    my ($token) = @_;
    my $r = $t->token_request(path => '/introspect', basic => ['auditor', $secret], form => [token => $token]);
    is $r->{status}, 200, 'introspection answers 200' or diag show($r);
    return $r->{json} // {};
}

sub jwt_claims {
    my ($jwt) = @_;
    return decode_json(MIME::Base64::decode_base64url((split /\./, $jwt)[1]));
}

sub refused_ok {
    my ($name, $path, $token) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = get($path, $token);
    is $r->{status}, 401, "$name: 401" or diag show($r);
    like $r->{headers}{'www-authenticate'} // '', qr/^Bearer realm="oauth", error="invalid_token"/,
        "$name: error=\"invalid_token\"";
}

subtest 'the default audience: the first resource, or the issuer' => sub {
    my $opaque = token();
    is_deeply introspect($opaque)->{aud}, [$reports], 'opaque: aud is the first resource';
    is get('/any/', $opaque)->{headers}{'x-audience'}, $reports, 'opaque: $oauth_audience';
    my $jwt = token(path => '/jwt');
    is jwt_claims($jwt)->{aud}, $reports, 'JWT: the aud claim is the first resource';
    is_deeply introspect($jwt)->{aud}, [$reports], 'JWT: introspection aud';
    is get('/any/', $jwt)->{headers}{'x-audience'}, $reports, 'JWT: $oauth_audience';

    my $plain = token(client => 'plain');
    is_deeply introspect($plain)->{aud}, [$issuer], 'a client without resources: aud is the issuer';
    is get('/any/', $plain)->{headers}{'x-audience'}, $issuer, '... and $oauth_audience';
    is jwt_claims(token(client => 'plain', path => '/jwt'))->{aud}, $issuer, '... and a JWT of it';
};

subtest 'resource= may repeat; each must be one of the client\'s' => sub {
    my @both = (resource => $billing, resource => $reports);
    my $opaque = token(form => \@both);
    is_deeply introspect($opaque)->{aud}, [$reports, $billing], 'opaque: both, in registry order';
    is get('/any/', $opaque)->{headers}{'x-audience'}, "$reports $billing", '$oauth_audience is space-separated';
    my $jwt = token(path => '/jwt', form => \@both);
    is_deeply jwt_claims($jwt)->{aud}, [$reports, $billing], 'JWT: aud is an array of both';
    is_deeply introspect($jwt)->{aud}, [$reports, $billing], 'JWT: introspection aud';
    is_deeply introspect(token(form => [resource => $billing]))->{aud}, [$billing], 'one named resource';

    for my $path ('/token', '/jwt') {
        for my $case (['an unknown resource', 'app', [resource => 'https://evil.test']],
                      ['one of two unknown', 'app', [resource => $reports, resource => 'urn:x']],
                      ['a fragment', 'app', [resource => "$reports#f"]],
                      ['not absolute', 'app', [resource => '/api']],
                      ['a client without resources naming the issuer', 'plain', [resource => $issuer]]) {
            my ($name, $client, $form) = @$case;
            error_ok(token_response(path => $path, client => $client, form => $form), 400, 'invalid_target',
                "$path, $name");
        }
    }
    error_ok(token_response(form => [scope => 'read', scope => 'read']), 400, 'invalid_request',
        'any other parameter given twice is still invalid_request');
};

subtest 'oauth_require_audience: opaque tokens, own JWTs, a trusted issuer' => sub {
    my $offset = $t->error_log_size;
    for my $path ('/token', '/jwt') {
        my $for_reports = token(path => $path);
        my $for_billing = token(path => $path, form => [resource => $billing]);
        my $for_both = token(path => $path, form => [resource => $billing, resource => $reports]);
        is get('/reports/', $for_reports)->{status}, 200, "$path: a token for the resource passes";
        is get('/reports/', $for_both)->{status}, 200, "$path: a token for it and another passes";
        refused_ok("$path: a token for another resource", '/reports/', $for_billing);
        refused_ok("$path: inherited by a nested location", '/reports/inherited/', $for_billing);
        is get('/reports/open/', $for_billing)->{status}, 200, "$path: off in a nested location";
        is get('/any/', $for_billing)->{status}, 200, "$path: no requirement, no check";
        refused_ok("$path: a token for the resource at a location requiring the issuer", '/self/', $for_reports);
        is get('/self/', token(path => $path, client => 'plain'))->{status}, 200,
            "$path: a token meant for the issuer passes where the issuer is required";
    }
    my $log = $t->error_log_since($offset);
    like $log, qr/\[info\].*access token refused: its audience is none of oauth_require_audience/,
        'the failed check is in the info log';

    my $idp_token = sub { idp('token', "$p/idp.pem", 'idp', $idp_iss, encode_json({@_})) };
    is get('/any/', $idp_token->())->{status}, 200, "the issuer's token passes where no audience is required";
    refused_ok('a trusted issuer\'s token minted for another audience', '/reports/', $idp_token->());
    refused_ok('... with an audience that only starts like the resource', '/reports/',
        $idp_token->(aud => "$reports/more"));
    refused_ok('... with one audience holding a space and the resource', '/reports/',
        $idp_token->(aud => ["x $reports"]));
    is get('/reports/', $idp_token->(aud => ['https://api.test', $reports]))->{status}, 200,
        'its token for the resource passes';
};

subtest 'opaque tokens follow the registry across a reload' => sub {
    my $plain = token(client => 'plain');
    my $app = token(form => [scope => 'read write']);
    is get('/any/', $plain)->{status}, 200, "plain's token passes";
    is get('/write/', $app)->{status}, 200, "app's token writes";
    ok $t->reload(clients => {clients => [{%app, scope => 'read'}, \%auditor]}),
        'reload: plain removed, app loses write';
    refused_ok("the removed client's token", '/any/', $plain);
    is_deeply introspect($plain), {active => JSON::PP::false}, '... and introspection says inactive';
    my $r = get('/any/', $app);
    is $r->{status}, 200, "app's token still passes";
    is $r->{headers}{'x-scope'}, 'read', '$oauth_scope has lost write';
    is get('/write/', $app)->{status}, 403, 'write is refused: 403';
    is introspect($app)->{scope}, 'read', 'introspection: scope has lost write';
    ok $t->reload(clients => {clients => [\%app, \%plain, \%auditor]}), 'reload: both back';
    is get('/write/', $app)->{status}, 200, 'write counts again';
    is get('/any/', $plain)->{status}, 200, "plain's token passes again";

    ok $t->reload(clients => {clients => [{%app, resource => $billing}, \%auditor]}),
        "reload: app's resources are now billing alone";
    is_deeply introspect($app)->{aud}, [$reports], 'a live token keeps the audience it was issued for';
    is get('/reports/', $app)->{status}, 200, '... and passes where it is required';
    is_deeply introspect(token())->{aud}, [$billing], 'a new token gets the new default';
    error_ok(token_response(form => [resource => $reports]), 400, 'invalid_target',
        'the removed resource can no longer be asked for');
};

unlike $t->error_log, qr/\Q$secret\E/, 'no secret in the log';
$t->log_clean_ok;
$t->stop;

subtest 'nginx -t: a bad resource names the file and line; a bad audience the directive' => sub {
    $t->write_clients(qq({"clients": [\n  {"client_id": "x", "client_secret_hash": "${\ sha256_hash($secret)}",\n)
        . qq(   "scope": "", "resource": ["$reports", "https://a.test/#top"]}\n]}));
    my ($rc, $out) = $t->test_config(http => $http);
    isnt $rc, 0, 'nginx -t fails';
    like $out, qr/\[emerg\].*clients\.json:2: client "x": "resource" #2 "https:\/\/a\.test\/#top" must be an absolute URI without a fragment/,
        'it names the file, the line and the URI';
    $t->write_clients({clients => [\%app]});
    ($rc, $out) = $t->test_config(http => $http =~ s/oauth_require_audience off;/oauth_require_audience "a b";/r);
    isnt $rc, 0, 'nginx -t fails on an audience with a space';
    like $out, qr/\[emerg\].*oauth_require_audience: invalid audience.*nginx\.conf:\d+/, 'it says where';
};

done_testing;
