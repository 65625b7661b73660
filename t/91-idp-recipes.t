# The README's recipes for the IdPs people run (README "Recipes: the IdPs
# people run", SPEC "Trusted issuers as the IdPs publish them"), each read
# out of README.md and run as written: only the IdP's host names and the
# backend's address are replaced. A test IdP per vendor, over https with a CA
# made here, publishes the discovery document (t/interop/idp_https.py) and
# the JWK Set in that vendor's shape (t/interop/idp_key_sets.py), and its
# tokens are minted in the exact shape of its defaults
# (t/interop/idp_shapes.py).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module need_python);
use TestIdP;

need_module();
my $python = need_python('jwt, cryptography', 'python3-jwt');
my $shapes = "$FindBin::Bin/interop/idp_shapes.py";
my $key_sets = "$FindBin::Bin/interop/idp_key_sets.py";

my %recipe;
{
    my $readme = OAuthTest::slurp("$FindBin::Bin/../README.md");
    $recipe{$1} = $2 while $readme =~ /<!-- recipe: ([\w-]+) -->\n```nginx\n(.*?)```/sg;
}
# Each recipe: the test IdP that plays its vendor, the shape of token it
# mints, and the client the backend must be told (idp_shapes.py's); with
# `delegated`, the recipe's second location takes a user's token of that
# shape, whose client and scopes the backend is told.
my %plays = (
    keycloak        => {idp => 'keycloak', shape => 'keycloak',      client => 'orders-web'},
    auth0           => {idp => 'auth0',    shape => 'auth0',         client => 'Zk9aQ2xpZW50SWQ'},
    'auth0-rfc9068' => {idp => 'auth0',    shape => 'auth0-rfc9068', client => 'Zk9aQ2xpZW50SWQ'},
    okta            => {idp => 'okta',     shape => 'okta',          client => '0oa1okta2client3'},
    'entra-v1'      => {idp => 'entra',    shape => 'entra-v1',
                        client => '11111111-2222-3333-4444-555555555555'},
    'entra-v2'      => {idp => 'entra',    shape => 'entra-v2-app',
                        client => '11111111-2222-3333-4444-555555555555',
                        delegated => {location => 'me/orders', shape => 'entra-v2-delegated',
                                      scope => 'Orders.Read User.Read'}},
    'oidc-provider' => {idp => 'rfc9068',  shape => 'rfc9068',       client => 'orders-service'},
);
is_deeply [sort keys %recipe], [sort keys %plays], 'the README has a recipe for each IdP'
    or BAIL_OUT('the recipes changed: update %plays');

# The vendors' host names, each answered by its test IdP.
my %hosts = (
    keycloak => ['keycloak.example.com'],
    auth0    => ['example-tenant.eu.auth0.com'],
    okta     => ['example.okta.com'],
    entra    => ['login.microsoftonline.com', 'sts.windows.net'],
    rfc9068  => ['idp.example.com'],
);

my $t = OAuthTest->new;
my $p = $t->prefix;
TestIdP::make_ca($t, 'ca');
TestIdP::make_certificate($t, 'ca', 'idp');
my %idp = map { $_ => TestIdP->new($t, $_, python => $python) } keys %hosts;

sub on_loopback {
    my ($text) = @_;
    for my $name (keys %hosts) {
        my $base = $idp{$name}->base;
        $text =~ s{https://\Q$_\E}{$base}g for @{$hosts{$name}};
    }
    return $text;
}

# Each recipe's locations under a prefix of its own, its backend an echo of
# what it was told.
my (%issuer, %audience);
my $locations = '';
for my $name (sort keys %recipe) {
    my $text = on_loopback($recipe{$name});
    ($issuer{$name}) = $text =~ /oauth_trust_issuer (\S+)/;
    ($audience{$name}) = $text =~ /oauth_require_audience (\S+);/;
    like $text, qr{^location /orders/ \{}, "$name: its location /orders/";
    my $delegated = $plays{$name}{delegated};
    like $text, qr{^location /\Q$delegated->{location}\E/ \{}m, "$name: its location for delegated tokens"
        if $delegated;
    is scalar(() = $text =~ /^location /mg), scalar(() = $text =~ /proxy_pass http:\/\/127\.0\.0\.1:8080;/g),
        "$name: a backend in each location";
    $text =~ s{^location /}{location /$name/}mg;
    $text =~ s{proxy_pass http://127\.0\.0\.1:8080;}{proxy_pass http://127.0.0.1:%%PORT%%/echo/;}g;
    $locations .= $text;
}

# The IdPs' discovery documents (what a discovery recipe reads) and key sets.
for my $name (keys %idp) {
    my ($issuer) = map { $issuer{$_} } grep {
        $plays{$_}{idp} eq $name && $recipe{$_} =~ /\sdiscovery[\s;]/ } sort keys %plays;
    my $files = {'jwks.json' => $t->output_of($python, $key_sets, $p, $name)};
    $files->{'openid-configuration'} = sprintf '{"issuer":"%s","jwks_uri":"%s/jwks"}',
        $issuer, $idp{$name}->base if $issuer;
    $idp{$name}->set(%$files);
    $idp{$name}->start('idp');
}

$t->{http} = <<"EOF_HTTP";
oauth_token_zone tokens:1m;
oauth_trusted_certificate ca.pem;
server {
    listen 127.0.0.1:%%PORT%%;
    location /echo/ { return 200 "client=\$http_x_client\\nscope=\$http_x_scope\\n"; }
$locations
}
EOF_HTTP
my ($rc, $out) = $t->test_config;
is $rc, 0, 'nginx -t takes every recipe' or diag $out;
unlike $out, qr/\[warn\].*typ/, 'no recipe draws the warning of a permissive typ without audience';
$t->start;

sub token {
    my ($recipe, $audience, $shape) = @_;
    my $idp = $plays{$recipe}{idp};
    return $t->output_of($python, $shapes, $shape // $plays{$recipe}{shape}, "$p/$idp.pem",
        "$idp-sig", $issuer{$recipe}, $audience);
}

for my $name (sort keys %recipe) {
    subtest "recipe $name" => sub {
        my $r = TestIdP::wait_passes($t, "/$name/orders/x", token($name, $audience{$name}), 15);
        is $r->{status}, 200, 'the token passes' or diag explain $r;
        like $r->{content}, qr/^client=\Q$plays{$name}{client}\E$/m, 'the backend is told its client';
        $r = $t->bearer_get("/$name/orders/x", token($name, 'https://other.example.com'));
        is $r->{status}, 401, 'a token for another audience is refused';
    };
}

for my $name (grep { $plays{$_}{delegated} } sort keys %plays) {
    my $delegated = $plays{$name}{delegated};
    my $path = "/$name/$delegated->{location}/x";
    subtest "recipe $name, a user's token ($delegated->{shape})" => sub {
        my $user_token = token($name, $audience{$name}, $delegated->{shape});
        my $r = $t->bearer_get($path, $user_token);
        is $r->{status}, 200, 'the token passes' or diag explain $r;
        is $r->{content}, "client=$plays{$name}{client}\nscope=$delegated->{scope}\n",
            'the backend is told the client application, not the user, and the scopes of scp';
        is $t->bearer_get("/$name/orders/x", $user_token)->{status}, 403,
            "the app-only location refuses it: no application permission";
        is $t->bearer_get($path, token($name, $audience{$name}))->{status}, 403,
            "the app-only token is refused here: no delegated scope";
        is $t->bearer_get($path, token($name, 'https://other.example.com', $delegated->{shape}))->{status},
            401, 'a token for another audience is refused';
    };
}

subtest 'each IdP was asked for its keys over https, and only what the recipes name' => sub {
    for my $name (sort keys %idp) {
        ok $idp{$name}->hits(qr{jwks|keys|certs}) >= 1, "$name: its key set was fetched";
    }
};

subtest 'error log' => sub { $t->log_clean_ok };

done_testing;
