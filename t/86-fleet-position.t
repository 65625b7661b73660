# A node's stream position survives a stop and start with state= (SPEC "A
# fleet of nodes", "Restart survival"; issue 11 "What must hold" 3 and 4): a
# node restarted reads on from the last entry it applied, not from the
# beginning; one whose position was trimmed away while it was down reads again
# what Redis still holds, and keeps what it had read before it stopped.
# (The "trimmed past this node's position" notice is not asked for: the
# master's read at start moves the position before a worker compares it.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module);
use OAuthFleet;

need_module();
OAuthFleet::need_redis();

my $KEY = 'oauth:tokens';
my $BOUND = OAuthFleet::slow(2);
my $redis = OAuthFleet::Redis->start;
my $fleet = OAuthFleet->start(redis => $redis, nodes => 2, state => 1);
ok defined $fleet->wait_synced($_, '1', OAuthFleet::slow(5)), "node $_ synced" for 0, 1;
my $node = $fleet->node(1);

my $revoked = $fleet->token(0);
$fleet->revoke(0, $revoked);
ok defined $fleet->wait_refused(1, $revoked, $BOUND), 'node 1 refuses a revocation of node 0';

subtest 'stopped and started: it reads on from its position' => sub {
    $node->stop;
    my $later = $fleet->token(0);
    $fleet->revoke(0, $later);
    my $offset = $node->error_log_size;
    $node->start;
    is $fleet->status(1, $later), 401, 'a revocation made while it was down: refused from the first request';
    is $fleet->status(1, $revoked), 401, 'one it had read before: refused (state file)';
    like $node->error_log_since($offset), qr/oauth_fleet_redis: stream "oauth:tokens": 1 entries applied at start/,
        'it applied 1 entry at start, not the whole stream';
};

subtest 'a node whose position was trimmed away reads what Redis still holds' => sub {
    $node->stop;
    my @gone = map { my $j = $fleet->token(0); $fleet->revoke(0, $j); $j } 1 .. 2;
    my $kept = $fleet->token(0);
    $fleet->revoke(0, $kept);
    # the outbox is published within a few milliseconds
    my $last;
    OAuthFleet::wait_for($BOUND,
        sub { ($last) = grep { ($_->[1]{digest} // '') eq OAuthFleet::digest($kept) } $redis->entries($KEY); $last });
    ok $last, 'its entry is in the stream' or return;
    $redis->cli('XTRIM', $KEY, 'MINID', $last->[0]);
    is $redis->xlen($KEY), 1, 'the stream holds one entry now';
    my $offset = $node->error_log_size;
    $node->start;
    is $fleet->status(1, $kept), 401, 'the restarted node refuses what Redis still holds, from its first request';
    is $fleet->status(1, $revoked), 401, 'what it read before it stopped is kept (state file)';
};

$_->log_clean_ok for $fleet->nodes;
$fleet->stop;
done_testing;
