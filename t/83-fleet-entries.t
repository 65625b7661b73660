# What the fleet's stream holds (SPEC "A fleet of nodes", issue 11): an entry
# written straight into Redis with redis-cli that was not signed by a holder of
# the fleet's keys is ignored and logged, once a while with a count; the
# stream keeps no more than the longest token lifetime plus the 5 minutes a
# revoked JWT is remembered (exact MINID trimming).
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

my $KEY = 'oauth:tokens';
my $BOUND = OAuthFleet::slow(2);
my $redis = OAuthFleet::Redis->start;

# Two entries before any node: one just past the window Redis may keep (1 h,
# the longest ttl, plus 300 s), one just inside it. Neither is signed.
my $now_ms = int(time * 1000);
my $old = ($now_ms - (3600 + 300 + 60) * 1000) . '-0';
my $inside = ($now_ms - (3600 + 300 - 60) * 1000) . '-0';
$redis->cli('XADD', $KEY, $old, 'v', '1', 'junk', 'old');
$redis->cli('XADD', $KEY, $inside, 'v', '1', 'junk', 'inside');

my $fleet = OAuthFleet->start(redis => $redis, nodes => 3);
my $started = time;    # the nodes rejected the two entries above: a log line each
my @nodes = (0, 1, 2);
ok defined $fleet->wait_synced($_, '1', OAuthFleet::slow(5)), "node $_ synced" for @nodes;

# Revokes a fresh token on node 0 and waits until every node refuses it: the
# stream is one ordered log, so every entry before it has been read too.
sub marker {
    my $jwt = $fleet->token(0);
    $fleet->revoke(0, $jwt);
    ok defined $fleet->wait_refused($_, $jwt, $BOUND), "a later revocation reached node $_" for @nodes;
    return $jwt;
}

subtest 'the stream is trimmed to the longest lifetime plus 5 minutes, exactly' => sub {
    marker();
    my %ids = map { $_->[0] => 1 } $redis->entries($KEY);
    ok !$ids{$old}, "the entry of $old (older than 1 h + 300 s) is trimmed away";
    ok $ids{$inside}, "the entry of $inside (inside the window) is kept";
};

my $revoked = $fleet->token(1);
$fleet->revoke(1, $revoked);
my $live = $fleet->token(1);
ok defined $fleet->wait_refused($_, $revoked, $BOUND), "node $_ refuses the revoked token" for @nodes;
my ($real) = grep { ($_->[1]{digest} // '') eq OAuthFleet::digest($revoked) } $redis->entries($KEY);
ok $real, "the revocation's entry is in the stream: fields " . join(' ', sort keys %{ $real->[1] // {} })
    or BAIL_OUT('no entry to forge from');

# XADD with redis-cli of the real entry, some fields changed.
sub forge {
    my (%change) = @_;
    my %f = (%{ $real->[1] }, %change);
    my ($id, $rc) = $redis->cli('XADD', $KEY, '*', map { ($_, $f{$_}) } sort keys %f);
    is $rc, 0, 'a forged entry is in the stream (' . join(', ', map {"$_ changed"} sort keys %change) . ')';
}

my @offsets;
subtest 'a forged entry is ignored and logged' => sub {
    # the line of the next rejection may wait 10 s from the last one
    sleep 0.1 while time - $started < 10.5;
    @offsets = map { $_->error_log_size } $fleet->nodes;
    forge(digest => OAuthFleet::digest($live));
    marker();
    is $fleet->status($_, $live), 200, "node $_: the token the forgery names still passes" for @nodes;
    for my $i (@nodes) {
        my @lines = grep { /$OAuthFleet::LOG_REJECTED/ } split /\n/, $fleet->node($i)->error_log_since($offsets[$i]);
        is scalar @lines, 1, "node $i logged it" or next;
        like $lines[0], qr/\[warn\]/, '... as a warning';
        like $lines[0], qr/rejected, the last \(id \d+-\d+\): bad signature/, '... a bad signature';
        unlike $lines[0], qr/\Q$live\E/, '... without the token';
    }
};

subtest 'more forgeries: logged once a while, with their count' => sub {
    forge(kid => 'nobody');
    forge(client => 'other');
    $redis->cli('XADD', $KEY, '*', 'garbage', "\x01\xff");
    marker();
    # the next line may wait 10 s from the last one
    sleep 10.5;
    forge(exp => 1);
    marker();
    for my $i (@nodes) {
        my @n;
        my $sum = sub {
            @n = map { /$OAuthFleet::LOG_REJECTED/ ? $1 : () } split /\n/, $fleet->node($i)->error_log_since($offsets[$i]);
            my $n = 0;
            $n += $_ for @n;
            return $n;
        };
        # a count may wait for the end of its 10 s
        OAuthFleet::wait_for(12, sub { $sum->() >= 5 });
        is $sum->(), 5, "node $i: the counts of its lines add up to the 5 entries";
        ok @n <= 3, "node $i: in " . scalar(@n) . ' lines';
    }
    is $fleet->status($_, $live), 200, "node $_: the live token still passes" for @nodes;
};

$_->log_clean_ok for $fleet->nodes;
$fleet->stop;
done_testing;
