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
use OAuthTest qw(need_module show);

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

my ($t, $secret, $rs_secret) = OAuthTest->start_interop_server;

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
