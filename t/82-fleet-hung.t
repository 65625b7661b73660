# A fleet under load while something goes wrong (SPEC "A fleet of nodes", issue
# 11): Redis SIGSTOPped for 5 s, `nginx -s reload` on one node, and the worker
# holding a node's reader lease SIGKILLed. Load processes check a JWT on every
# node, and take a token every tenth request, with a bound on each request:
# none may fail or reach the bound. Revocations made meanwhile still reach
# every node.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep time);
use OAuthTest qw(need_module);
use OAuthFleet;

need_module();
OAuthFleet::need_redis();
plan skip_all => 'under valgrind every request is slow: the load figures would mean nothing'
    if $ENV{OAUTH_VALGRIND};

my $redis = OAuthFleet::Redis->start;
my $fleet = OAuthFleet->start(redis => $redis, nodes => 3);
my @nodes = (0, 1, 2);
ok defined $fleet->wait_synced($_, '1', OAuthFleet::slow(5)), "node $_ synced" for @nodes;

# A request that takes this long counts as failed. Without a fleet a check on
# loopback takes about a millisecond; a worker waiting on Redis would take the
# whole hang.
my $BOUND = OAuthFleet::slow(2);

sub load_ok {
    my ($name, $load) = @_;
    my $sum = $fleet->stop_load($load);
    ok $sum->{requests} > 100, "$name: $sum->{requests} requests";
    is scalar @{ $sum->{failed} }, 0, "$name: none failed or took $BOUND s"
        or diag join "\n", @{ $sum->{failed} }[0 .. 9];
    diag sprintf '%s: %d requests, the slowest %.0f ms', $name, $sum->{requests}, 1000 * $sum->{slowest};
}

subtest 'Redis SIGSTOPped for 5 s under load' => sub {
    my $live = $fleet->token(0);
    my $victim = $fleet->token(1);
    my $load = $fleet->start_load(token => $live, issue => 1, procs => 3, timeout => $BOUND);
    sleep 1;
    $redis->pause;
    my $t0 = time;
    sleep 1;
    my $t1 = time;
    $fleet->revoke(1, $victim);
    ok time - $t1 < $BOUND, 'a revocation while Redis hangs answers at once';
    is $fleet->status(1, $victim), 401, '... and is refused on its node';
    ok defined $fleet->wait_synced(0, '0', OAuthFleet::slow(8)), 'a hung Redis: $oauth_fleet_synced 0';
    sleep 0.1 while time - $t0 < 5;
    $redis->resume;
    sleep 1;
    load_ok('Redis hung', $load);
    ok defined $fleet->wait_refused($_, $victim, OAuthFleet::slow(15)), "node $_ refuses what was revoked in the hang"
        for @nodes;
    ok defined $fleet->wait_synced($_, '1', OAuthFleet::slow(15)), "node $_ synced again" for @nodes;
};

subtest 'nginx -s reload on one node under load' => sub {
    my $live = $fleet->token(2);
    my $load = $fleet->start_load(token => $live, issue => 1, procs => 3, timeout => $BOUND);
    sleep 0.5;
    my $offset = $fleet->node(1)->error_log_size;
    my @old = $fleet->node(1)->worker_pids;
    my ($rc, $out) = $fleet->node(1)->run_nginx('-p', $fleet->node(1)->prefix . '/', '-c',
        $fleet->node(1)->conf_path, '-s', 'reload');
    is $rc, 0, 'nginx -s reload' or diag $out;
    # the old workers hand over to the new ones
    ok defined OAuthFleet::wait_for(OAuthFleet::slow(10), sub {
        my %old = map { $_ => 1 } @old;
        my @w = $fleet->node(1)->worker_pids;
        @w == 2 && !grep { $old{$_} } @w;
    }), 'new workers';
    my $jwt = $fleet->token(0);
    $fleet->revoke(0, $jwt);
    ok defined $fleet->wait_refused(1, $jwt, OAuthFleet::slow(5)), 'the reloaded node refuses a revocation made after it';
    my $other = $fleet->token(1);
    $fleet->revoke(1, $other);
    ok defined $fleet->wait_refused($_, $other, OAuthFleet::slow(5)), "a revocation on the reloaded node reaches node $_"
        for 0, 2;
    sleep 0.5;
    load_ok('reload', $load);
    # "A reload never re-reads from the beginning"
    unlike $fleet->node(1)->error_log_since($offset), qr/entries applied at start/,
        'the reload read nothing again from the start of the stream';
};

subtest 'the worker holding the reader lease SIGKILLed: another takes over' => sub {
    my $node = $fleet->node(2);
    my $reader;
    OAuthFleet::wait_for(OAuthFleet::slow(10), sub { $reader = $fleet->reader_pid(2) });
    ok $reader, "node 2's reader is worker " . ($reader // 'none') . ' (its connection blocks in XREAD)'
        or diag $redis->cli('CLIENT', 'LIST');
    return unless $reader;
    my $live = $fleet->token(0);
    my $load = $fleet->start_load(token => $live, procs => 2, nodes => [0, 1], timeout => $BOUND);
    kill 'KILL', $reader;
    my $t0 = time;
    my $jwt = $fleet->token(0);
    $fleet->revoke(0, $jwt);
    my $took = $fleet->wait_refused(2, $jwt, OAuthFleet::slow(10));
    ok defined $took, 'a revocation made after the kill reaches node 2 within ' . OAuthFleet::slow(10) . ' s';
    diag sprintf 'reader killed to the revocation applied on node 2: %.2f s', time - $t0 if defined $took;
    my $new;
    OAuthFleet::wait_for(OAuthFleet::slow(5), sub { $new = $fleet->reader_pid(2); $new && $new != $reader });
    ok $new && $new != $reader, 'another worker reads now (' . ($new // 'none') . ')';
    ok defined $fleet->wait_synced(2, '1', OAuthFleet::slow(5)), 'node 2 synced';
    load_ok('reader killed', $load);
};

$_->log_clean_ok(qr/exited on signal 9/) for $fleet->nodes;
$fleet->stop;
done_testing;
