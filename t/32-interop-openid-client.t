# Interop: Node's openid-client v6 (npm, the repo's package.json) discovers
# the server from its RFC 8414 metadata, gets a token by the client
# credentials grant, introspects and revokes it, and sees the protected
# location refuse it (t/interop/openid_client.mjs).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret show);

need_module();

my $root = "$FindBin::Bin/..";
my $script = "$FindBin::Bin/interop/openid_client.mjs";
my $have = -f "$root/node_modules/openid-client/package.json"
    && system('node -e "" >/dev/null 2>&1') == 0;
unless ($have) {
    # `make test` installs node and runs npm ci; CI must not skip silently
    fail('node or node_modules/openid-client is missing') if $ENV{CI};
    plan skip_all => 'node or node_modules/openid-client is missing (make integration installs them)'
        unless $ENV{CI};
    done_testing;
    exit;
}

my ($secret, $rs_secret) = (random_secret(), random_secret());
my $t = OAuthTest->new(
    clients => {clients => [
        {client_id => 'reporting', client_secret_hash => sha256_hash($secret), scope => 'reports:read metrics:read'},
        {client_id => 'gateway', client_secret_hash => sha256_hash($rs_secret), scope => '',
         introspection => JSON::PP::true},
    ]},
    http => <<'EOF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_realm "interop";
oauth_issuer http://127.0.0.1:%%PORT%%;

server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /introspect { oauth_introspection_endpoint; }
    location = /revoke { oauth_revocation_endpoint; }
    location = /.well-known/oauth-authorization-server { oauth_metadata; }
    # a static file: `return` would answer before the access phase checks anything
    location /api/ {
        oauth_require_scope reports:read;
        root %%PREFIX%%/html;
        default_type text/plain;
        add_header X-Client-Id $oauth_client_id;
    }
}
EOF
);
mkdir $t->prefix . "/$_" for qw(html html/api);
$t->write_file('html/api/reports', "ok\n");
$t->start;

# openid-client 6 wants Node 20; Debian 12's Node 18 has WebCrypto behind a flag
my ($node_major) = `node -p process.versions.node` =~ /^(\d+)/;
my @node = ('node', ($node_major // 20) < 20 ? '--experimental-global-webcrypto' : ());

my $issuer = 'http://127.0.0.1:' . $t->port;
my ($rc, $out) = OAuthTest::run_command(
    [@node, $script, $issuer, 'reporting', $secret, 'gateway', $rs_secret],
    $t->prefix . '/logs/openid-client.out', 60);
is $rc, 0, 'openid_client.mjs exits 0' or diag "output:\n$out\nerror log:\n" . $t->error_log;
like $out, qr/^# openid-client 6\.\d+\.\d+/m, 'it runs openid-client 6';
diag(($out =~ /^# (openid-client .*)$/m)[0] // 'openid-client version unknown');
unlike $out, qr/^not ok/m, 'no check failed';
for my $m (qw(client_secret_basic client_secret_post)) {
    like $out, qr/^ok - $m: discovery: issuer$/m, "$m: RFC 8414 discovery";
    like $out, qr/^ok - $m: clientCredentialsGrant: a bearer token$/m, "$m: client credentials grant";
    like $out, qr/^ok - $m: tokenIntrospection: active, with its grant$/m, "$m: introspection";
    like $out, qr/^ok - $m: tokenRevocation resolves$/m, "$m: revocation";
    like $out, qr/^ok - $m: the protected location answers 401 invalid_token$/m, "$m: revoked token refused";
}
like $out, qr/^# all checks passed$/m, 'all checks ran';
is scalar(() = $out =~ /^ok - /mg), 35, '35 checks passed (18 with Basic, 17 with post)';

done_testing;
