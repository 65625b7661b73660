# A fleet while Redis is away (SPEC "A fleet of nodes", issue 11 "What must
# hold" 4): Redis killed, revocations made on the nodes while it is down are
# refused where they were made and every check goes on; Redis restarted with
# its append-only file, then without it: every node converges, the nodes
# publish their live revocations again to a Redis without its data, and a node
# started afterwards refuses them all from its first request.
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
# Each step here waits out reconnection back-offs across three nodes of two
# workers: under memcheck that is minutes a step for nothing the sanitizers and
# t/80-fleet.t do not already cover.
plan skip_all => 'too slow under valgrind (t/80-fleet.t covers the link there)' if $ENV{OAUTH_VALGRIND};

my $redis = OAuthFleet::Redis->start(aof => 1);
my $fleet = OAuthFleet->start(redis => $redis, nodes => 3);
my @nodes = (0, 1, 2);
my $CONVERGE = OAuthFleet::slow(15);    # reconnection back-off, capped, plus catching up

ok defined $fleet->wait_synced($_, '1', OAuthFleet::slow(5)), "node $_ synced" for @nodes;

my @revoked;    # every token revoked so far: refused everywhere at the end of each round

# Kills Redis, revokes a token on each node while it is down, restarts it
# (empty => 1: without its AOF file), and checks that every node converges.
sub outage {
    my ($name, %o) = @_;
    subtest $name => sub {
        my @offsets = map { $_->error_log_size } $fleet->nodes;
        my @tokens = map { $fleet->token($_) } @nodes;
        my $live = $fleet->token(0);
        $redis->kill;
        ok defined $fleet->wait_synced($_, '0', OAuthFleet::slow(10)), "Redis killed: node $_ not synced"
            for @nodes;
        for my $i (@nodes) {
            my $t0 = time;
            $fleet->revoke($i, $tokens[$i]);
            my $took = time - $t0;
            ok $took < OAuthFleet::slow(1), sprintf 'a revocation on node %d while Redis is down: %.0f ms', $i, 1000 * $took;
            is $fleet->status($i, $tokens[$i]), 401, "... refused on node $i at once";
            is $fleet->status($i, $live), 200, "node $i: a live token passes";
            my $fresh = $fleet->token($i);
            is $fleet->status(($i + 1) % 3, $fresh), 200, "node $i issues, and its JWT passes on the next node";
        }
        ok $fleet->metric($_, 'oauth_fleet_pending_revocations') >= 1,
            "node $_: oauth_fleet_pending_revocations counts the one it holds" for @nodes;
        push @revoked, @tokens;

        $redis->restart(empty => $o{empty});
        for my $i (@nodes) {
            for my $k (0 .. $#revoked) {
                ok defined $fleet->wait_refused($i, $revoked[$k], $CONVERGE), "node $i refuses revoked token $k";
            }
            is $fleet->status($i, $live), 200, "node $i: the live token still passes";
            ok defined $fleet->wait_synced($i, '1', $CONVERGE), "node $i synced again";
            ok defined OAuthFleet::wait_for($CONVERGE,
                sub { ($fleet->metric($i, 'oauth_fleet_pending_revocations') // -1) == 0 }),
                "node $i: nothing pending";
            is $fleet->log_count($i, $OAuthFleet::LOG_LOST, $offsets[$i]), 1, "node $i logged the loss once";
            is $fleet->log_count($i, $OAuthFleet::LOG_UP, $offsets[$i]), 1, "node $i logged the link up again once";
        }
        if ($o{empty}) {
            # the first node back finds the stream missing; one that links up
            # after another refilled it finds its position older than the
            # stream, as after a trim: each publishes its revocations again
            for my $i (@nodes) {
                ok $fleet->log_count($i, $OAuthFleet::LOG_REPUBLISH, $offsets[$i])
                    || $fleet->log_count($i, $OAuthFleet::LOG_TRIMMED_REPUBLISH, $offsets[$i]),
                    "node $i saw Redis without its data and published its revocations again";
            }
        }
        my %in_redis = map { $_->[1]{digest} => 1 } $redis->entries('oauth:tokens');
        is scalar(grep { !$in_redis{ OAuthFleet::digest($_) } } @revoked), 0,
            'the stream holds every revocation (' . scalar(@revoked) . ')';
    };
}

outage('Redis killed and restarted with its append-only file');
outage('Redis killed and restarted without its append-only file', empty => 1);

subtest 'Redis stopped gracefully and restarted: the same' => sub {
    my $jwt = $fleet->token(1);
    $redis->stop;
    $fleet->revoke(1, $jwt);
    $redis->restart;
    ok defined $fleet->wait_refused($_, $jwt, $CONVERGE), "node $_ refuses it" for @nodes;
    push @revoked, $jwt;
};

subtest 'a node started after all that refuses every revocation from its first request' => sub {
    my $d = $fleet->add_node;
    my $i = $fleet->nodes - 1;
    is $fleet->status($i, $revoked[$_]), 401, "the new node refuses revoked token $_" for 0 .. $#revoked;
    is $fleet->status($i, $fleet->token(0)), 200, 'a live token of node 0 passes there';
};

$_->log_clean_ok for $fleet->nodes;
$fleet->stop;
done_testing;
