# state=FILE through nginx's binary upgrade with the same binary (USR2, then
# WINCH and QUIT to the old master): every token issued before USR2 passes
# afterwards, so do those issued during the overlap, and requests made all
# along the upgrade never fail.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use OAuthTest qw(need_module sha256_hash random_secret);
use OAuthTokens qw(count_passing wait_until);

need_module();
plan skip_all => 'a binary upgrade needs nginx as a daemon' if $ENV{OAUTH_VALGRIND};

my $secret = random_secret();
my $client = {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'};
my $t = OAuthTest->new(clients => {clients => [$client]}, http => <<'EOF2');
oauth_token_zone tokens:4m state=state/tokens.state;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /api { oauth_require_scope read; root %%PREFIX%%/html; }
}
EOF2
my $worker_uid = $> == 0 ? (getpwnam 'nobody')[2] : $>;
mkdir $t->prefix . "/$_" or die for qw(state html);
chown $worker_uid, -1, $t->prefix . '/state' or die;
$t->write_file('html/api', 'ok');
$t->start;

my $ua = $t->agent(keep_alive => 1);
sub issue {
    my ($n) = @_;
    my @tokens;
    for (1 .. $n) {
        my $r = $t->token_request(basic => ['app', $secret], ua => $ua);
        push @tokens, $r->{json}{access_token} if $r->{status} == 200;
    }
    return @tokens;
}

sub passing { count_passing($t, '/api', @_) }

my $pidfile = $t->prefix . '/logs/nginx.pid';
sub pid_in { open my $fh, '<', $_[0] or return 0; my $p = <$fh> // 0; chomp $p; return $p }

my @before = issue(200);
is scalar @before, 200, '200 tokens issued before the upgrade';

# Requests all along the upgrade, each on a new connection: a gate check with
# a token from before, and an issuance.
my $log = $t->prefix . '/load.out';
my $load = fork // die;
if ($load == 0) {
    my ($done, $failed) = (0, 0);
    my $stop = 0;
    $SIG{TERM} = sub { $stop = 1 };
    my $agent = $t->agent(keep_alive => 0);
    until ($stop) {
        my $tok = $before[$done % @before];
        my $a = $agent->request('GET', $t->url('/api'), {headers => {Authorization => "Bearer $tok"}});
        my $b = $t->token_request(basic => ['app', $secret], ua => $agent);
        $failed += ($a->{status} != 200) + ($b->{status} != 200);
        $done += 2;
    }
    open my $fh, '>', $log or die;
    print $fh "$done $failed\n";
    close $fh;
    exit 0;
}

my $old = $t->master_pid;
my @old_workers = $t->worker_pids;
sleep 0.3;
kill 'USR2', $old;
wait_until('the new master wrote its pid', sub { -f "$pidfile.oldbin" && pid_in($pidfile) && pid_in($pidfile) != $old });
my $new = pid_in($pidfile);
wait_until('the new master started its workers', sub { my @w = $t->_children($new); @w == 2 });

my @overlap = issue(40);
is scalar @overlap, 40, '40 tokens issued during the overlap';

kill 'WINCH', $old;
wait_until('the old workers are gone', sub { !grep { OAuthTest::alive($_) } @old_workers });
kill 'QUIT', $old;
wait_until('the old master is gone', sub { !OAuthTest::alive($old) });
$t->{master} = $new;
sleep 0.3;

kill 'TERM', $load;
waitpid $load, 0;
my ($done, $failed) = split ' ', OAuthTest::slurp($log);
ok $done > 20, "requests made during the upgrade: $done";
is $failed, 0, 'none failed';

is passing(@before), 200, 'every token from before the upgrade passes';
sleep 1.5;  # the new writer merges the old one's last snapshot within a second
is passing(@overlap), 40, 'so does every token issued during the overlap';

unlike $t->error_log, qr/did not answer/, 'the old writer answered the request for a fresh snapshot';
my ($loaded) = $t->error_log =~ /(\d+) tokens and 0 revocations loaded/;
ok $loaded && $loaded >= 200, "the new master loaded them, and those of the load: $loaded";

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
