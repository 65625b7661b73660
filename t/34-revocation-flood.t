# One client cannot switch revocation off for the others (README "Revocation"):
# a client that revokes its own JWTs until its share of the zone's revocation
# list is full is refused with 503 and Retry-After (RFC 7009 §2.2.1), never a
# 200 that leaves the token valid; each revocation it was answered 200 for
# stays refused at the gate; a refused one, JWT or opaque, still passes, as the
# client was told; another client still revokes; the metrics and the log tell
# of the refusals, never of a token.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials form_body error_ok
    show);

need_module();

my $secret = random_secret();
my $t = OAuthTest->new(clients => {clients => [
    {client_id => 'flood', client_secret_hash => sha256_hash($secret), scope => 'read'},
    {client_id => 'other', client_secret_hash => sha256_hash($secret), scope => 'read'},
]});
$t->genpkey('es.pem', 'ES256');
mkdir $t->prefix . '/html';
$t->write_file('html/index.html', "ok\n");
# The smallest zone: its list is small, and the flood short.
my $conf = <<'CONF';
oauth_token_zone tokens:%%SIZE%%;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    oauth_issuer http://127.0.0.1:%%PORT%%;
    oauth_signing_key es.pem kid=es;
    location = /token { oauth_token_endpoint format=jwt ttl=1h; }
    location = /opaque { oauth_token_endpoint ttl=1h; }
    location = /revoke { oauth_revocation_endpoint; }
    location /api/ { oauth_require_scope read; alias %%PREFIX%%/html/; }
    location = /metrics { oauth_metrics; }
}
CONF
sub conf_of_size { (my $c = $conf) =~ s/%%SIZE%%/$_[0]/; return $c }
$t->write_conf(http => conf_of_size('128k'));
$t->start;

# nginx -t states the list's room and each client's share. Without the
# statement (a build before shares), the old list's whole room, and more.
my ($room, $share) = $t->start_output =~ /its revocation list holds (\d+) revocations, (\d+) per client/;
ok defined $share, "nginx states the revocation list's room and a client's share"
    or diag $t->start_output;
is $share, int($room / 4), 'a client may hold a quarter of the list' if defined $share;
my $flood = ($share // 408) + 5;

sub jwt_of {
    my ($client, $path) = @_;
    my $r = $t->token_request(basic => [$client, $secret], path => $path // '/token');
    $r->{status} == 200 or diag show($r);
    return $r->{json}{access_token};
}

sub revoke {
    my ($client, $token) = @_;
    return $t->token_request(path => '/revoke', basic => [$client, $secret],
        form => [token => $token]);
}

my @tokens = map { jwt_of('flood') } 1 .. $flood;
is scalar(grep {defined} @tokens), $flood, "$flood JWTs issued to one client";

my (@revoked, @refused, @statuses);
for my $token (@tokens) {
    my $r = revoke('flood', $token);
    push @statuses, $r->{status};
    if ($r->{status} == 200) {
        push @revoked, $token;
    } else {
        push @refused, [$token, $r];
    }
}
is scalar(@revoked), $share // 'a share', 'the client revokes as many of its JWTs as its share';
is_deeply \@statuses, [(200) x @revoked, (503) x ($flood - @revoked)],
    'then each revocation is refused with 503';
my $answers_ok = 1;
for my $refusal (@refused) {
    my ($token, $r) = @$refusal;
    $answers_ok &&= error_ok($r, 503, 'temporarily_unavailable', 'a revocation past the share');
    $answers_ok &&= like($r->{headers}{'retry-after'} // '', qr/^[1-9][0-9]*$/, 'Retry-After')
        && ok($r->{headers}{'retry-after'} <= 3600 + 300, 'Retry-After within the tokens\' life');
    last unless $answers_ok;
}

# What was answered 200 is revoked; what was refused still passes, as the
# client was told.
my ($gate_refuses, $gate_passes) = (0, 0);
$gate_refuses += $t->bearer_get('/api/', $_)->{status} == 401 for @revoked;
is $gate_refuses, scalar(@revoked), 'every revocation answered 200 is refused at the gate';
$gate_passes += $t->bearer_get('/api/', $_->[0])->{status} == 200 for @refused;
is $gate_passes, scalar(@refused), 'a refused revocation changed nothing';
is revoke('flood', $revoked[0])->{status}, 200, 'a token already listed is revoked again';

# An opaque token is listed before it leaves the store: refused, it stays.
my $opaque = jwt_of('flood', '/opaque');
error_ok(revoke('flood', $opaque), 503, 'temporarily_unavailable', "the client's opaque token");
is $t->bearer_get('/api/', $opaque)->{status}, 200, 'it still passes, as the client was told';

# Another client is not held to the flooder's share.
my $other = jwt_of('other');
is $t->bearer_get('/api/', $other)->{status}, 200, "another client's JWT passes";
my $r = revoke('other', $other);
is $r->{status}, 200, 'another client still revokes its JWT' or diag show($r);
is $t->bearer_get('/api/', $other)->{status}, 401, 'and the gate refuses it';

my $metrics = $t->request('GET', '/metrics')->{content};
my ($unavailable) = $metrics
    =~ /^oauth_revocation_requests_total\{zone="tokens",result="temporarily_unavailable"\} (\d+)$/m;
is $unavailable, scalar(@refused) + 1, 'each refusal is counted' or diag $metrics;
my ($ok) = $metrics =~ /^oauth_revocation_requests_total\{zone="tokens",result="ok"\} (\d+)$/m;
is $ok, scalar(@revoked) + 2, 'and each revocation recorded';

# A revoked JWT lives in no store, only in the list: a reload that resizes
# the zone copies the list, so the JWTs stay refused in the new zone.
ok $t->reload(http => conf_of_size('256k')), 'a reload resizes the zone to 256k';
$gate_refuses = 0;
$gate_refuses += $t->bearer_get('/api/', $_)->{status} == 401 for @revoked, $other;
is $gate_refuses, @revoked + 1, 'every revoked JWT is still refused after the resize';

my $log = $t->error_log;
like $log, qr/\[warn\].*client "flood": a revocation is refused, the client holds its share of the revocation list/,
    'the refusal is logged, naming the client';
my @leaked = grep { index($log, $_) >= 0 || index($log, (split /\./)[-1]) >= 0 } @tokens, $opaque;
is scalar(@leaked), 0, 'no token reaches the log';
$t->log_clean_ok;

done_testing;
