# Interop: Python's Authlib (Debian's python3-authlib, run by /usr/bin/python3)
# gets tokens with client_secret_basic and client_secret_post, calls a
# protected location, introspects and revokes (t/interop/authlib_client.py).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module show);

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

my ($t, $secret, $rs_secret) = OAuthTest->start_interop_server;

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
