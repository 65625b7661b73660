# Interop: Python's Authlib (Debian's python3-authlib, run by /usr/bin/python3)
# gets tokens with client_secret_basic and client_secret_post, calls a
# protected location, introspects and revokes (t/interop/authlib_client.py).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret show);

need_module();

my $python = '/usr/bin/python3';    # not the pyenv python3 first on PATH
my $script = "$FindBin::Bin/interop/authlib_client.py";
if (system("$python -c 'import authlib.integrations.requests_client' >/dev/null 2>&1") != 0) {
    # `make test` installs it (python3-authlib); CI must not skip silently
    fail('python3-authlib is not importable by /usr/bin/python3') if $ENV{CI};
    plan skip_all => 'python3-authlib is not installed (make integration installs it)' unless $ENV{CI};
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

# Authlib refuses plain http except to http://localhost:, unless told
local $ENV{AUTHLIB_INSECURE_TRANSPORT} = 1;
my ($rc, $out) = OAuthTest::run_command(
    [$python, $script, $t->url(''), 'reporting', $secret, 'gateway', $rs_secret],
    $t->prefix . '/logs/authlib.out', 60);
is $rc, 0, 'authlib_client.py exits 0' or diag "output:\n$out\nerror log:\n" . $t->error_log;
like $out, qr/^# authlib \d/m, 'it reports the Authlib version';
diag(($out =~ /^# (authlib .*)$/m)[0] // 'authlib version unknown');
unlike $out, qr/^not ok/m, 'no check failed';
for my $m (qw(client_secret_basic client_secret_post)) {
    like $out, qr/^ok - $m: the protected location answers 200$/m, "$m: token, then the protected location";
    like $out, qr/^ok - $m: the protected location refuses the revoked token$/m, "$m: revoked token refused";
}
like $out, qr/^# all checks passed$/m, 'all checks ran';
is scalar(() = $out =~ /^ok - /mg), 24, '24 checks passed (12 for each auth method)';

done_testing;
