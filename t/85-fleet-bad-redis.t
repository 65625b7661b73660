# A Redis that misbehaves (issue 11, "What must hold" 5): a server on the
# Redis address that answers garbage, one that closes in the middle of a
# reply, and one that accepts and never answers. Each is a logged link
# failure, retried with a back-off: no worker crashes, the node serves every
# request meanwhile, and once the real redis-server takes the address the node
# links up and revocations travel.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(sleep time);
use OAuthTest qw(need_module);
use OAuthFleet;

need_module();
OAuthFleet::need_redis();

# The impostors still running: killed at the end, even when the test dies, so
# that none keeps prove's output open.
my %impostors;
END {
    local $?;
    stop_impostor($_) for keys %impostors;
}

# A server on $port that answers each connection's first bytes with $reply
# (then closes, when $close), until killed; returns its pid.
sub impostor {
    my ($port, $reply, $close) = @_;
    my $listen = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => $port, Type => SOCK_STREAM,
        Listen => 16, ReuseAddr => 1) or die "listen on $port: $@";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        my @held;
        while (my $c = $listen->accept) {
            sysread $c, my $buf, 65536;
            syswrite $c, $reply if defined $reply;
            if ($close) { close $c } else { push @held, $c }
        }
        POSIX::_exit(0);
    }
    close $listen;
    $impostors{$pid} = 1;
    return $pid;
}

sub stop_impostor {
    my ($pid) = @_;
    delete $impostors{$pid};
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

my $port = OAuthTest::free_port();
my %cases = (
    'garbage' => ["\x00\xffnot RESP at all\r\n" x 4, 1],
    'a reply cut in the middle' => ["*2\r\n\$7\r\noauth:t", 1],
    'an absurd length' => ["\$99999999999999999999\r\n", 1],
    'silence' => [undef, 0],
);
my $redis_stub = bless {port => $port}, 'OAuthFleet::Redis';    # the address only: no Redis yet
my $fleet = OAuthFleet->start(redis => $redis_stub, nodes => 0);

for my $name (sort keys %cases) {
    subtest "a server that answers $name" => sub {
        my $pid = impostor($port, @{ $cases{$name} });
        my $node = $fleet->add_node;
        my $i = $fleet->nodes - 1;
        my $jwt = $fleet->token($i);
        my $t0 = time;
        for (1 .. 20) {
            is $fleet->status($i, $jwt), 200, 'the node serves' or last;
        }
        ok time - $t0 < OAuthFleet::slow(2), 'without waiting on the link';
        is $fleet->synced($i), '0', '$oauth_fleet_synced 0';
        OAuthFleet::wait_for(OAuthFleet::slow(5), sub { $fleet->log_count($i, $OAuthFleet::LOG_LOST) });
        sleep 1;    # retries back off from 100 ms: several have failed by now
        is $fleet->log_count($i, $OAuthFleet::LOG_LOST), 1, 'the failed link is logged once';
        unlike $node->error_log, qr/exited on signal|\[alert\]|\[crit\]/, 'no worker died';
        stop_impostor($pid);
        $node->stop;
    };
}

subtest 'then the real Redis on that address: the node links up' => sub {
    my $pid = impostor($port, "-ERR nope\r\n", 1);
    my $a = $fleet->add_node;
    my $i = $fleet->nodes - 1;
    stop_impostor($pid);
    my $redis = OAuthFleet::Redis->start(port => $port);
    $fleet->{redis} = $redis;
    my $b = $fleet->add_node;
    ok defined $fleet->wait_synced($_, '1', OAuthFleet::slow(15)), "node $_ synced" for $i, $i + 1;
    my $jwt = $fleet->token($i);
    $fleet->revoke($i, $jwt);
    ok defined $fleet->wait_refused($i + 1, $jwt, OAuthFleet::slow(1)), 'a revocation travels';
    is $fleet->log_count($i, $OAuthFleet::LOG_UP), 1, 'the first node logged the link up again once';
    $_->log_clean_ok for $a, $b;
};

$fleet->stop;
done_testing;
