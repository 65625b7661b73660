# oauth_require_claim and oauth_claim_set (SPEC "Trusted issuers as the IdPs
# publish them", "Claims"): a claim by name or RFC 6901 JSON Pointer must
# equal one of the values, or as an array hold one, else 403
# insufficient_scope naming the claim; every one at a level must hold, and a
# lower level's list replaces the one above. $VARIABLE shows the checked
# token's claim. Both for the server's own JWTs, a trusted issuer's (shaped
# as Keycloak writes them, minted by t/interop/idp_jwt.py) and opaque tokens,
# whose claims are their introspection fields.
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

my $secret = random_secret();
my $t = OAuthTest->new(clients => {clients => [
    {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write'}]});
my $p = $t->prefix;
sub run { $t->output_of(@_) }
$t->genpkey('es.pem', 'ES256');
$t->genpkey('idp.pem', 'ES256');
$t->write_file('idp.json', run($python, $idp, 'jwks', "$p/idp.pem:kc"));
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

my $kc = 'https://kc.example/realms/acme';
my $issuer = 'http://127.0.0.1:' . $t->port;
my $show = join ' ', map { "add_header X-$_->[0] \$claim_$_->[1] always;" }
    ['Sub', 'sub'], ['Roles', 'roles'], ['First-Role', 'first_role'], ['Age', 'age'],
    ['Verified', 'verified'], ['Address', 'address'], ['Nothing', 'nothing'], ['Client', 'client'],
    ['Aud', 'aud'], ['Scope', 'scope'], ['Missing', 'missing'], ['Evil', 'evil'], ['Slash', 'slash'];
my $http = <<"CONF";
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_trust_issuer $kc jwks=idp.json;
oauth_claim_set \$claim_sub sub;
oauth_claim_set \$claim_roles /realm_access/roles;
oauth_claim_set \$claim_first_role /realm_access/roles/0;
oauth_claim_set \$claim_age age;
oauth_claim_set \$claim_verified email_verified;
oauth_claim_set \$claim_address address;
oauth_claim_set \$claim_nothing nothing;
oauth_claim_set \$claim_client client_id;
oauth_claim_set \$claim_aud aud;
oauth_claim_set \$claim_scope scope;
oauth_claim_set \$claim_missing /realm_access/groups;
oauth_claim_set \$claim_evil evil;
oauth_claim_set \$claim_slash /a~1b;

server {
    listen 127.0.0.1:%%PORT%%;
    oauth_issuer $issuer;
    oauth_signing_key es.pem kid=es;

    location = /token  { oauth_token_endpoint format=jwt; }
    location = /opaque { oauth_token_endpoint; }
    location /show/    { oauth_require_scope read; $show alias %%PREFIX%%/html/; }
    location /return/  { oauth_require_scope read; return 200 "\$claim_roles|\$claim_address\\n"; }
    location /admin/   { oauth_require_scope read; oauth_require_claim /realm_access/roles admin;
                         alias %%PREFIX%%/html/; }
    location /both/    { oauth_require_scope read; oauth_require_claim /realm_access/roles admin;
                         oauth_require_claim azp svc other; alias %%PREFIX%%/html/; }
    location /verified/ { oauth_require_scope read; oauth_require_claim email_verified true;
                          oauth_require_claim age 42; alias %%PREFIX%%/html/; }
    location /app/     { oauth_require_scope read; oauth_require_claim client_id app;
                         oauth_require_claim aud $issuer; alias %%PREFIX%%/html/; }
    location /nobody/  { oauth_require_scope read; oauth_require_claim client_id nobody;
                         alias %%PREFIX%%/html/; }
    location /outer/   {
        oauth_require_scope read;
        oauth_require_claim azp svc;
        alias %%PREFIX%%/html/;
        location /outer/inner/ { oauth_require_claim /realm_access/roles admin; alias %%PREFIX%%/html/; }
    }
}
CONF
$t->write_conf(http => $http);
$t->start;

my %keycloak = (realm_access => {roles => ['offline_access', 'admin']},
    resource_access => {api => {roles => ['read']}}, email_verified => JSON::PP::true, age => 42,
    address => {country => 'NL'}, nothing => undef, 'a/b' => 'slash', evil => "a\r\nX-Injected: 1");
sub kc_token {
    my (%claims) = (%keycloak, @_);
    return run($python, $idp, 'token', "$p/idp.pem", 'kc', $kc, encode_json(\%claims));
}
sub own_token {
    my ($path) = @_;
    my $r = $t->token_request(path => $path, basic => ['app', $secret],
        form => [grant_type => 'client_credentials', scope => 'read']);
    is $r->{status}, 200, "a token from $path" or diag show($r);
    return $r->{json}{access_token};
}

sub claim_refused_ok {
    my ($r, $claim, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    OAuthTest::refused_ok($r, 403, qq{Bearer realm="oauth", error="insufficient_scope", }
        . qq{error_description="the access token's claim $claim is missing or none of the values }
        . qq{oauth_require_claim asks for"}, $name);
}

subtest 'oauth_claim_set renders a trusted JWT\'s claims' => sub {
    my $r = $t->bearer_get('/show/', kc_token());
    is $r->{status}, 200, 'answered 200' or diag show($r);
    my %want = ('x-sub' => 'user-7', 'x-roles' => 'offline_access,admin', 'x-first-role' => 'offline_access',
        'x-age' => '42', 'x-verified' => 'true', 'x-address' => '{"country":"NL"}',
        'x-nothing' => 'null', 'x-slash' => 'slash');
    is $r->{headers}{$_}, $want{$_}, "$_: $want{$_}" for sort keys %want;
    ok !exists $r->{headers}{'x-missing'}, 'an absent claim: empty, no header';
    ok !exists $r->{headers}{'x-evil'} && !exists $r->{headers}{'x-injected'},
        'a claim with CR LF reaches no header';
    my $again = $t->bearer_get('/show/', kc_token(realm_access => {roles => ['viewer']}, age => 7.5));
    is $again->{headers}{'x-roles'}, 'viewer', 'another token, its own claims';
    is $again->{headers}{'x-age'}, '7.5', 'a real number as JSON text';
    $r = $t->bearer_get('/return/', kc_token());
    is $r->{content}, qq{offline_access,admin|{"country":"NL"}\n}, 'through return, before the access phase';
};

subtest 'oauth_claim_set with own JWTs and opaque tokens' => sub {
    for my $path ('/token', '/opaque') {
        my $r = $t->bearer_get('/show/', own_token($path));
        is $r->{status}, 200, "$path: 200" or diag show($r);
        is $r->{headers}{'x-client'}, 'app', "$path: client_id";
        is $r->{headers}{'x-sub'}, 'app', "$path: sub";
        is $r->{headers}{'x-aud'}, $issuer, "$path: aud";
        is $r->{headers}{'x-scope'}, 'read', "$path: scope";
        ok !exists $r->{headers}{'x-roles'}, "$path: no roles";
    }
};

subtest 'oauth_require_claim: a name or a pointer, a value or an array element' => sub {
    OAuthTest::passed_ok($t->bearer_get('/admin/', kc_token()), 'Keycloak roles hold admin');
    claim_refused_ok($t->bearer_get('/admin/', kc_token(realm_access => {roles => ['viewer']})),
        '/realm_access/roles', 'roles without admin');
    claim_refused_ok($t->bearer_get('/admin/', kc_token(realm_access => {})), '/realm_access/roles',
        'no roles at all');
    claim_refused_ok($t->bearer_get('/admin/', kc_token(realm_access => {roles => 'admin,x'})),
        '/realm_access/roles', 'a string is compared whole');
    OAuthTest::passed_ok($t->bearer_get('/verified/', kc_token()), 'a boolean and a number by their JSON text');
    claim_refused_ok($t->bearer_get('/verified/', kc_token(email_verified => JSON::PP::false)),
        'email_verified', 'false is not true');
};

subtest 'every oauth_require_claim at a level holds; a lower level replaces the list' => sub {
    OAuthTest::passed_ok($t->bearer_get('/both/', kc_token()), 'both hold');
    OAuthTest::passed_ok($t->bearer_get('/both/', kc_token(azp => 'other')), 'one of the values');
    claim_refused_ok($t->bearer_get('/both/', kc_token(azp => 'intruder')), 'azp', 'the second fails');
    claim_refused_ok($t->bearer_get('/both/', kc_token(realm_access => {roles => []})),
        '/realm_access/roles', 'the first fails');
    my $other_admin = kc_token(azp => 'intruder');
    claim_refused_ok($t->bearer_get('/outer/', $other_admin), 'azp', 'the outer location: azp');
    OAuthTest::passed_ok($t->bearer_get('/outer/inner/', $other_admin), 'the inner: only its own roles');
    claim_refused_ok($t->bearer_get('/outer/inner/', kc_token(realm_access => {roles => []})),
        '/realm_access/roles', 'the inner: roles');
};

subtest 'oauth_require_claim with own JWTs and opaque tokens' => sub {
    for my $path ('/token', '/opaque') {
        my $token = own_token($path);
        OAuthTest::passed_ok($t->bearer_get('/app/', $token), "$path: client_id and aud hold");
        claim_refused_ok($t->bearer_get('/nobody/', $token), 'client_id', "$path: another client_id");
    }
};

subtest 'a refused claim names the claim, never the values' => sub {
    my $r = $t->bearer_get('/nobody/', own_token('/token'));
    unlike join(' ', OAuthTest::www_authenticate($r)), qr/nobody/, 'the value is not in the challenge';
};

$t->log_clean_ok;
$t->stop;

subtest 'nginx -t: bad claims directives fail with the file and line' => sub {
    my %bad = (
        'oauth_require_claim /a~2b x;' => qr/oauth_require_claim: invalid JSON Pointer "\/a~2b": "~" must be followed by 0 or 1/,
        'oauth_require_claim roles;' => qr/oauth_require_claim: no value for the claim "roles"/,
        'oauth_claim_set roles /realm_access/roles;' => qr/invalid variable name "roles": a \$ is expected/,
        'oauth_claim_set $r /realm_access/~;' => qr/oauth_claim_set: invalid JSON Pointer/,
        'oauth_claim_set $r;' => qr/invalid number of arguments in "oauth_claim_set"/,
    );
    for my $line (sort keys %bad) {
        my ($rc, $out) = $t->test_config(http => $http =~ s/^(server \{)/$line\n$1/mr);
        isnt $rc, 0, "$line: nginx -t fails";
        like $out, qr/\[emerg\].*$bad{$line}.*nginx\.conf:\d+/, "$line: says so, with the line"
            or diag $out;
    }
    my ($rc, $out) = $t->test_config(
        http => $http =~ s{location = /opaque \{}{location /open/ { oauth_require_claim sub x; }\n    $&}r);
    isnt $rc, 0, 'a claim in a location that checks no token: nginx -t fails';
    like $out, qr/\[emerg\].*oauth_require_claim checks nothing in a location without oauth_require_scope, in .*nginx\.conf:\d+/,
        'says so' or diag $out;
    ($rc, $out) = $t->test_config(
        http => $http =~ s{location = /opaque \{}{location /open/ { oauth_claim_set \$x sub; }\n    $&}r);
    like $out, qr/\[emerg\].*"oauth_claim_set" directive is not allowed here/, 'oauth_claim_set is for http{} only';
};

done_testing;
