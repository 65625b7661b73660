# RFC 9728 Protected Resource Metadata (SPEC "Trusted issuers as the IdPs
# publish them", "RFC 9728"): oauth_resource_metadata serves the document,
# and the 401 challenges of its server's protected locations name it with
# resource_metadata= (§5.1), which is how an MCP client finds the
# authorization server. Checked by hand and by oauth4webapi (node).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module need_python sha256_hash random_secret show);

need_module();

my $python = need_python('jwt, cryptography', 'python3-jwt');
my $idp = "$FindBin::Bin/interop/idp_jwt.py";
my $wk = '/.well-known/oauth-protected-resource';

my $secret = random_secret();
my $t = OAuthTest->new(clients => {clients => [
    {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write'}]});
my $p = $t->prefix;
$t->genpkey('idp.pem', 'ES256');
$t->write_file('idp.json', $t->output_of($python, $idp, 'jwks', "$p/idp.pem:kc"));
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

my ($port2, $port3) = map { OAuthTest::free_port() } 1 .. 2;
my $kc = 'https://kc.example/realms/acme';
my $issuer = 'http://127.0.0.1:' . $t->port;
# Server 1: the issuer and a trusted one, the well-known path, scopes.
# Server 2: a resource= of its own, no oauth_issuer, another path.
# Server 3: no oauth_resource_metadata: its challenges stay as they were.
my $http = <<"CONF";
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_trust_issuer $kc jwks=idp.json;

server {
    listen 127.0.0.1:%%PORT%%;
    oauth_issuer $issuer;
    location = /token { oauth_token_endpoint; }
    location = $wk { oauth_resource_metadata scopes=read write; }
    location /api/ { oauth_require_scope read; alias %%PREFIX%%/html/; }
    location /admin/ { oauth_require_scope admin; alias %%PREFIX%%/html/; }
}
server {
    listen 127.0.0.1:$port2;
    location = /meta { oauth_resource_metadata resource=https://api.example/v1; }
    location /api/ { oauth_require_scope read; alias %%PREFIX%%/html/; }
}
server {
    listen 127.0.0.1:$port3;
    location /api/ { oauth_require_scope read; alias %%PREFIX%%/html/; }
}
CONF
$t->write_conf(http => $http);
$t->start;

sub get {
    my ($port, $path) = @_;
    my $r = HTTP::Tiny->new(timeout => 10)->get("http://127.0.0.1:$port$path");
    $r->{json} = OAuthTest::decode_json_or_undef($r->{content});
    return $r;
}

# GET with a Host header of our choosing (HTTP::Tiny writes its own).
sub get_as_host {
    my ($path, $host) = @_;
    return $t->raw("GET $path HTTP/1.1\r\nHost: $host\r\nConnection: close\r\n\r\n");
}

# RFC 9449 §7.1 through RFC 9728 §2: the gate takes DPoP proofs of every
# asymmetric algorithm, and Bearer tokens too.
my %dpop = (
    dpop_signing_alg_values_supported => [qw(ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA)],
    dpop_bound_access_tokens_required => JSON::PP::false,
);

subtest 'the document' => sub {
    my $r = get($t->port, $wk);
    is $r->{status}, 200, 'answered 200' or diag show($r);
    like $r->{headers}{'content-type'}, qr{^application/json}, 'Content-Type application/json';
    ok !exists $r->{headers}{'cache-control'}, 'no Cache-Control, as the RFC 8414 document';
    is_deeply $r->{json}, {
        resource => $issuer,
        authorization_servers => [$issuer, $kc],
        scopes_supported => ['read', 'write'],
        bearer_methods_supported => ['header'],
        %dpop,
    }, 'resource, authorization_servers, scopes_supported, bearer_methods_supported, DPoP'
        or diag $r->{content};
    is get_as_host($wk, 'api.test:8443')->{json}{resource}, 'http://api.test:8443',
        'the resource is the scheme and host the client asked for';
    is_deeply get($port2, '/meta')->{json}, {
        resource => 'https://api.example/v1',
        authorization_servers => [$kc],
        bearer_methods_supported => ['header'],
        %dpop,
    }, 'resource= as given; no oauth_issuer, no scopes=';
    is $t->request('POST', $wk, {body => 'x'})->{status}, 405, 'POST: 405';
    is $t->request('HEAD', $wk)->{status}, 200, 'HEAD: 200';
};

subtest '401 challenges name the document (RFC 9728 §5.1)' => sub {
    my $meta = qq{resource_metadata="$issuer$wk"};
    my $r = $t->request('GET', '/api/');
    is_deeply [OAuthTest::www_authenticate($r)], [qq{Bearer realm="oauth", $meta}], 'no token' or diag show($r);
    $r = $t->bearer_get('/api/', 'not-a-token');
    is_deeply [OAuthTest::www_authenticate($r)], [OAuthTest::bearer_challenge('oauth', 'invalid_token') . ", $meta"],
        'a bad token' or diag show($r);
    $r = get_as_host('/api/', 'api.test:8443');
    like $r->{headers}{'www-authenticate'}, qr{resource_metadata="http://api\.test:8443$wk"$},
        'the URL on the host the client asked for';
    $r = get_as_host('/api/', 'a"b');
    is $r->{headers}{'www-authenticate'}, 'Bearer realm="oauth"',
        'a Host no URI can hold: no resource_metadata' or diag show($r);
    is get_as_host($wk, 'a"b')->{status}, 400, 'and the document refuses it';
    $r = get($port2, '/api/');
    like $r->{headers}{'www-authenticate'}, qr{resource_metadata="http://127\.0\.0\.1:$port2/meta"$},
        'the path of the server\'s own oauth_resource_metadata';
    $r = get($port3, '/api/');
    is $r->{headers}{'www-authenticate'}, 'Bearer realm="oauth"', 'a server without one: unchanged';
    my $token = $t->token_request(basic => ['app', $secret],
        form => [grant_type => 'client_credentials', scope => 'read'])->{json}{access_token};
    $r = $t->bearer_get('/admin/', $token);
    is_deeply [OAuthTest::www_authenticate($r)],
        [OAuthTest::bearer_challenge('oauth', 'insufficient_scope', 'admin')], '403: as it was';
    is $t->bearer_get('/api/', $token)->{status}, 200, 'a good token passes';
};

subtest 'oauth4webapi follows the challenge to the document' => sub {
    my $root = "$FindBin::Bin/..";
    SKIP: {
        skip 'node or node_modules/oauth4webapi is missing', 2
            unless -f "$root/node_modules/oauth4webapi/package.json" && system('node -e "" >/dev/null 2>&1') == 0;
        my $out = $t->output_of('node', "$FindBin::Bin/interop/resource_metadata.mjs", "$issuer/api/", $issuer);
        my $j = OAuthTest::decode_json_or_undef($out) // {error => $out};
        is $j->{resource_metadata}, "$issuer$wk", 'resource_metadata read from the 401' or diag $out;
        is_deeply $j->{metadata}{authorization_servers}, [$issuer, $kc], 'the document, its resource as expected'
            or diag $out;
    }
};

$t->log_clean_ok;
$t->stop;

subtest 'nginx -t: bad oauth_resource_metadata fails with the file and line' => sub {
    my %bad = (
        'resource=urn:api' => qr/invalid resource "urn:api": the resource must be an https or http URL/,
        'resource=https://api.example/#top' => qr/invalid resource .*: the resource must have no fragment/,
        'resource=https:///v1' => qr/invalid resource .*: the resource has no host/,
        'scopes=read bad"scope' => qr/oauth_resource_metadata: invalid scope "bad"scope"/,
        'audience=x' => qr/invalid parameter "audience=x": resource= or scopes= is expected/,
    );
    for my $args (sort keys %bad) {
        (my $conf_args = $args) =~ s/"/\\"/g;
        my ($rc, $out) = $t->test_config(http => $http =~ s/oauth_resource_metadata scopes=read write;/oauth_resource_metadata $conf_args;/r);
        isnt $rc, 0, "$args: nginx -t fails";
        like $out, qr/\[emerg\].*$bad{$args}.*nginx\.conf:\d+/, "$args: says so, with the line" or diag $out;
    }
    my ($rc, $out) = $t->test_config(http => $http =~ s/(listen 127\.0\.0\.1:%%PORT%%;)/$1 oauth_require_scope read;/r);
    like $out, qr/\[emerg\].*oauth_resource_metadata in a location that oauth_require_scope protects: no client could read it; add "oauth_require_scope off;" there, in .*nginx\.conf:\d+/,
        'a protected document: nginx -t says so' or diag $out;
    ($rc, $out) = $t->test_config(http => $http =~ s/(listen 127\.0\.0\.1:%%PORT%%;)/$1 oauth_require_scope read;/r
        =~ s/(oauth_resource_metadata scopes=read write;)/$1 oauth_require_scope off;/r);
    is $rc, 0, 'with oauth_require_scope off there, it passes' or diag $out;
    ($rc, $out) = $t->test_config(http => $http =~ s/(listen 127\.0\.0\.1:%%PORT%%;)/$1 oauth_resource_metadata;/r);
    like $out, qr/\[emerg\].*"oauth_resource_metadata" directive is not allowed here/, 'a location directive';
    ($rc, $out) = $t->test_config(http => $http =~ s/(location = \/token \{ oauth_token_endpoint;)/$1 oauth_resource_metadata;/r);
    like $out, qr/\[emerg\].*"oauth_resource_metadata" directive is duplicate, or the location holds another oauth endpoint/,
        'not beside another endpoint';
};

done_testing;
