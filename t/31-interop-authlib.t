# Interop: Python's Authlib (Debian's python3-authlib, run by /usr/bin/python3)
# gets tokens with client_secret_basic and client_secret_post, calls a
# protected location, introspects and revokes (t/interop/authlib_client.py);
# for opaque tokens and for JWTs of each algorithm, which Authlib's JOSE also
# verifies against our JWK Set, refusing a tampered one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module need_python show);

need_module();

my $python = need_python('authlib.integrations.requests_client', 'python3-authlib');
my $script = "$FindBin::Bin/interop/authlib_client.py";

# Authlib refuses plain http except to http://localhost:, unless told
local $ENV{AUTHLIB_INSECURE_TRANSPORT} = 1;
for my $variant (OAuthTest::interop_variants()) {
    my ($name, %o) = @$variant;
    subtest $name => sub {
        my ($t, $secret, $rs_secret) = OAuthTest->start_interop_server(%o);
        my ($rc, $out) = OAuthTest::run_command(
            [$python, $script, $t->url(''), 'reporting', $secret, 'gateway', $rs_secret,
             $o{alg} // ()],
            $t->prefix . '/logs/authlib.out', 60);
        is $rc, 0, 'authlib_client.py exits 0' or diag "output:\n$out\nerror log:\n" . $t->error_log;
        like $out, qr/^# authlib \d/m, 'it reports the Authlib version';
        diag(($out =~ /^# (authlib .*)$/m)[0] // 'authlib version unknown') if $name eq 'opaque';
        unlike $out, qr/^not ok/m, 'no check failed';
        for my $m (qw(client_secret_basic client_secret_post)) {
            like $out, qr/^ok - $m: the protected location answers 200$/m,
                "$m: token, then the protected location";
            like $out, qr/^ok - $m: the protected location refuses the revoked token$/m,
                "$m: revoked token refused";
            next unless $o{alg};
            like $out, qr/^ok - $m: authlib\.jose verifies the JWT against the JWKS: /m,
                "$m: Authlib's JOSE verifies the $o{alg} JWT with our JWKS";
            like $out, qr/^ok - $m: authlib\.jose refuses a tampered JWT$/m, "$m: and refuses a tampered one";
            like $out, qr/^ok - $m: the protected location refuses the tampered JWT$/m,
                "$m: so does the protected location";
        }
        like $out, qr/^# all checks passed$/m, 'all checks ran';
        # 12 for each auth method; with a JWT, 7 more (metadata, three of the
        # JWT, the tampered one twice, introspection's claims)
        my $each = $o{alg} ? 19 : 12;
        is scalar(() = $out =~ /^ok - /mg), 2 * $each, "$each checks passed for each auth method";
        $t->stop;
    };
}

done_testing;
