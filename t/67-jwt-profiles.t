# Token profiles (SPEC "Trusted issuers as the IdPs publish them": "Token
# profiles", "Diagnosis"): tokens in the exact shapes of Keycloak, Auth0, Okta
# and Entra ID v1/v2, minted by the test (t/interop/idp_shapes.py), pass with
# the matching typ=, client_claim= and scope_claims=, with $oauth_client_id and
# $oauth_scope right; with the default profile they are refused with an
# error_description that says what to add. nginx -t warns of a permissive typ
# where no audience is required (RFC 8725 §3.11).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module need_python show bearer_challenge);

need_module();

my $python = need_python('jwt, cryptography', 'python3-jwt');
my $idp = "$FindBin::Bin/interop/idp_jwt.py";
my $shapes = "$FindBin::Bin/interop/idp_shapes.py";

my $t = OAuthTest->new;
my $p = $t->prefix;
$t->genpkey('idp-rs.pem', 'RS256');
$t->write_file('idp.json', $t->output_of($python, $idp, 'jwks', "$p/idp-rs.pem:rs"));
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

my $aud = 'https://api.test';
my %iss = (
    keycloak => 'https://kc.test/realms/shop',
    auth0    => 'https://shop.eu.auth0.com/',
    okta     => 'https://shop.okta.com/oauth2/default',
    entra1   => 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/',
    entra2   => 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0',
);
my $strict_trust = join '', map { "        oauth_trust_issuer $iss{$_} jwks=idp.json;\n" } sort keys %iss;

sub location {
    my ($path, $trust, $scope) = @_;
    return <<"LOC";
    location /$path/ {
        oauth_trust_issuer $trust;
        oauth_require_audience $aud;
        oauth_require_scope $scope;
        add_header X-Client \$oauth_client_id always;
        add_header X-Scope \$oauth_scope always;
        alias %%PREFIX%%/html/;
    }
LOC
}

my $http = "oauth_token_zone tokens:1m;\nserver {\n    listen 127.0.0.1:%%PORT%%;\n"
    . location('keycloak', "$iss{keycloak} jwks=idp.json typ=jwt", 'orders:read')
    . location('auth0', "$iss{auth0} jwks=idp.json typ=jwt scope_claims=scope,permissions", 'write:orders')
    . location('okta', "$iss{okta} jwks=idp.json typ=jwt", 'orders:read')
    . location('okta-by-client-id', "$iss{okta} jwks=idp.json typ=jwt client_claim=client_id", 'orders:read')
    . location('entra1', "$iss{entra1} jwks=idp.json typ=jwt scope_claims=scp,roles", 'Orders.Read.All')
    . location('entra1-scp-only', "$iss{entra1} jwks=idp.json typ=jwt", 'Orders.Read.All')
    . location('entra2', "$iss{entra2} jwks=idp.json typ=jwt scope_claims=scp,roles", 'Orders.Read.All')
    . location('entra2-delegated', "$iss{entra2} jwks=idp.json typ=jwt scope_claims=scp,roles", 'Orders.Read')
    . "    location /strict/ {\n$strict_trust        oauth_require_audience $aud;\n"
    . "        oauth_require_scope;\n        alias %%PREFIX%%/html/;\n    }\n"
    . "}\n";
$t->write_conf(http => $http);
$t->start;

sub token_of {
    my ($shape, $issuer) = @_;
    return $t->output_of($python, $shapes, $shape, "$p/idp-rs.pem", 'rs', $issuer, $aud);
}

my $add_typ_jwt = 'its typ JWT is not accepted from this issuer: add typ=jwt to oauth_trust_issuer';
my $no_typ = "it has no typ, which this issuer's profile needs: add typ=jwt to oauth_trust_issuer";

# shape, issuer, location, client, scope, the description with the default profile
my @cases = (
    ['keycloak', 'keycloak', 'keycloak', 'orders-web', 'openid profile email orders:read', $add_typ_jwt],
    ['auth0', 'auth0', 'auth0', 'Zk9aQ2xpZW50SWQ', 'read:orders write:orders', $add_typ_jwt],
    ['auth0-untyped', 'auth0', 'auth0', 'Zk9aQ2xpZW50SWQ', 'read:orders write:orders', $no_typ],
    ['okta', 'okta', 'okta', '0oa1okta2client3', 'openid orders:read', $no_typ],
    ['entra-v1', 'entra1', 'entra1', '11111111-2222-3333-4444-555555555555', 'Orders.Read.All', $add_typ_jwt],
    ['entra-v2-app', 'entra2', 'entra2', '11111111-2222-3333-4444-555555555555', 'Orders.Read.All',
        $add_typ_jwt],
    ['entra-v2-delegated', 'entra2', 'entra2-delegated', '11111111-2222-3333-4444-555555555555',
        'Orders.Read User.Read', $add_typ_jwt],
);

for my $case (@cases) {
    my ($shape, $issuer, $location, $client, $scope, $refusal) = @$case;
    subtest "$shape: passes with its profile, refused with the default one, saying why" => sub {
        my $token = token_of($shape, $iss{$issuer});
        my $r = $t->bearer_get("/$location/", $token);
        is $r->{status}, 200, "with its profile: 200" or diag show($r);
        is $r->{headers}{'x-client'}, $client, "\$oauth_client_id $client";
        is $r->{headers}{'x-scope'}, $scope, "\$oauth_scope $scope";
        my $offset = $t->error_log_size;
        $t->invalid_token_ok('/strict/', $token, 'with the default profile', $refusal);
        my $log = $t->error_log_since($offset);
        like $log, qr/\[info\].*JWT access token refused: \Q$refusal\E \(iss \Q$iss{$issuer}\E, kid rs\)/,
            'the info log says the same, with the issuer and kid';
        my ($signature) = $token =~ /([^.]+)$/;
        unlike $log, qr/\Q$signature\E/, 'and not the token';
    };
}

subtest 'what a profile does not name is not read' => sub {
    my $r = $t->bearer_get('/entra1-scp-only/', token_of('entra-v1', $iss{entra1}));
    is $r->{status}, 403, 'Entra app roles without scope_claims=scp,roles: 403' or diag show($r);
    $t->invalid_token_ok('/okta-by-client-id/', token_of('okta', $iss{okta}), 'Okta with client_claim=client_id',
        'it has no client claim of text (looked for client_id)');
    $t->invalid_token_ok('/keycloak/', token_of('keycloak', $iss{okta}), "another issuer's iss",
        'its iss is not trusted here');
};

# nginx -t on an http block; returns its output.
sub nginx_t_of {
    my ($name, $body) = @_;
    my $load = "load_module $ENV{OAUTH_MODULE};\n";
    my (undef, $out) = $t->nginx_t("${load}events {}\nhttp {\n$body\n}\n", "$name.conf");
    return $out;
}

subtest 'nginx -t warns of typ=jwt or typ=any where no audience is required' => sub {
    my $server = sub {
        my ($trust, $audience) = @_;
        return "oauth_token_zone tokens:1m;\nserver {\n    listen 127.0.0.1:%%PORT%%;\n"
            . "    location /api/ {\n        oauth_trust_issuer $iss{keycloak} jwks=$p/idp.json $trust;\n"
            . ($audience ? "        oauth_require_audience $aud;\n" : '')
            . "        oauth_require_scope orders:read;\n    }\n}";
    };
    for my $typ ('typ=jwt', 'typ=any') {
        my $out = nginx_t_of('untyped', $server->($typ, 0));
        like $out, qr/\[warn\].*oauth_trust_issuer "\Q$iss{keycloak}\E" takes tokens not typed at\+jwt, and oauth_require_scope in \Q$p\E\/untyped\.conf:9 has no oauth_require_audience: an ID token of that issuer could pass as an access token \(RFC 8725 §3\.11\)/,
            "$typ without an audience: the warning names the file and line";
        like $out, qr/test is successful/, "$typ: still a valid configuration";
        is scalar(() = $out =~ /\[warn\]/g), 1, "$typ: warned once";
    }
    unlike nginx_t_of('audience', $server->('typ=jwt', 1)), qr/\[warn\]/, 'typ=jwt with an audience: no warning';
    unlike nginx_t_of('typed', $server->('typ=at+jwt', 0)), qr/\[warn\]/, 'typ=at+jwt: no warning';
};

subtest 'a bad profile parameter fails nginx -t with its name' => sub {
    for my $bad (['typ=JWT', qr/typ=at\+jwt, typ=jwt or typ=any is expected/],
                 ['client_claim=a,,b', qr/client_claim= takes up to 8 distinct claim names/],
                 ['scope_claims=scp scope_claims=roles', qr/scope_claims= is given twice/],
                 ['leeway=5s', qr/typ=, client_claim= or scope_claims= is expected/]) {
        my $out = nginx_t_of('bad', "server { listen 127.0.0.1:%%PORT%%;\n"
            . "  location / { oauth_trust_issuer $iss{okta} jwks=$p/idp.json $bad->[0]; } }");
        like $out, qr/\[emerg\].*oauth_trust_issuer: invalid parameter.*$bad->[1]/, "$bad->[0]: refused";
        like $out, qr/test failed/, "$bad->[0]: nginx -t fails";
    }
};

done_testing;
