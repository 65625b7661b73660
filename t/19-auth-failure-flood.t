# The brute-force throttle never fails open (SPEC "Capacity and fairness of a
# zone"; README "Brute-force protection"):
#   - 20 000 pipelined failures of random unknown client ids do not lift the
#     block on a (client, address) pair, and no guess of that pair reaches the
#     secret check during the flood;
#   - a table filled with live counters of registered ids keeps them, and a
#     new pair is refused 429 with Retry-After before its secret is checked.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::IP;
use MIME::Base64 qw(encode_base64);
use POSIX ();
use Time::HiRes qw(time);
use OAuthTest qw(need_module sha256_hash random_secret error_ok token_ok);

need_module();
plan skip_all => 'a flood of 20 000 requests: not under valgrind' if $ENV{OAUTH_VALGRIND};

my $secret = random_secret();
my @registered = map { "svc$_" } 1 .. 100;
my $t = OAuthTest->start(
    log_level => 'warn',    # 20 000 info lines would only slow the flood
    clients   => {
        clients => [
            {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'},
            map { {client_id => $_, client_secret_hash => sha256_hash($secret), scope => ''} }
                @registered,
        ],
    },
    http => <<'CONF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_auth_failure_limit 10 window=1m block=1m;
server {
    listen 127.0.0.1:%%PORT%%;
    keepalive_requests 100000;
    location = /token { oauth_token_endpoint; }
}
CONF
);

sub token_request_text {
    my ($id, $pass) = @_;
    my $basic = encode_base64("$id:$pass", '');
    my $body = 'grant_type=client_credentials';
    return "POST /token HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic $basic\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

# Sends the requests pipelined on one keep-alive connection from $address (a
# child writes while this process reads, so neither side's buffers stall) and
# returns the status of each response, in order.
sub pipelined_statuses {
    my ($address, @requests) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port,
        LocalHost => $address, Timeout => 5) or die "connect: $@";
    my $writer = fork // die "fork: $!";
    if ($writer == 0) {
        print {$s} join '', @requests;
        POSIX::_exit(0);
    }
    my ($buffer, @statuses) = ('');
    while (@statuses < @requests) {
        while ($buffer =~ /\A(HTTP\/1\.1 (\d{3})[^\r]*\r\n(.*?)\r\n\r\n)/s) {
            my ($head, $status, $headers) = ($1, $2, $3);
            my ($length) = $headers =~ /^Content-Length:\s*(\d+)/mi;
            last if length($buffer) < length($head) + ($length // 0);
            substr($buffer, 0, length($head) + ($length // 0), '');
            push @statuses, $status;
        }
        last if @statuses == @requests;
        my $n = sysread $s, $buffer, 65536, length $buffer;
        last unless $n;
    }
    waitpid $writer, 0;
    close $s;
    return @statuses;
}

sub random_id { 'ghost-' . random_secret() }

subtest 'a flood of random unknown client ids does not lift a block' => sub {
    error_ok($t->token_request(basic => ['app', "wrong$_"]), 401, 'invalid_client', "guess $_")
        for 1 .. 10;
    error_ok($t->token_request(basic => ['app', 'wrong']), 429, 'temporarily_unavailable',
        'the pair is blocked');

    # Every 20th request is a guess of the blocked pair, from the same address.
    my (@requests, @guess_at);
    for my $i (0 .. 19_999) {
        if ($i % 20 == 19) {
            push @guess_at, $i;
            push @requests, token_request_text('app', "guess$i");
        } else {
            push @requests, token_request_text(random_id(), 'x');
        }
    }
    my $started = time;
    my @statuses = pipelined_statuses('127.0.0.1', @requests);
    my $seconds = time - $started;
    is scalar(@statuses), scalar(@requests), 'every request of the flood was answered';
    my $let_through = grep { $statuses[$_] ne '429' } @guess_at;
    my $unknown_401 = grep { $_ eq '401' } @statuses;
    note sprintf '%d requests in %.1fs; %d of %d guesses of the blocked pair reached the secret check',
        scalar(@statuses), $seconds, $let_through, scalar(@guess_at);
    is $let_through, 0, 'no guess of the blocked pair got through during the flood';
    cmp_ok $unknown_401, '>=', 19_000 - 1_000, 'the unknown ids got 401 (or, once blocked, 429)';

    error_ok($t->token_request(basic => ['app', $secret]), 429, 'temporarily_unavailable',
        'after the flood the pair is still blocked, even with the right secret');
    token_ok($t->token_request(basic => ['app', $secret],
            ua => $t->agent(local_address => '127.0.0.2')),
        name => 'the client from another address is served');
};

subtest 'a table full of live counters keeps them and fails closed' => sub {
    my $log_at = $t->error_log_size;
    # 100 registered ids from 40 addresses: 4 000 pairs for about 1 360 counters.
    for my $a (1 .. 40) {
        my @statuses = pipelined_statuses("127.0.3.$a",
            map { token_request_text($_, 'wrong') } @registered);
        is scalar(grep { $_ eq '401' || $_ eq '429' } @statuses), 100, "address 127.0.3.$a refused";
    }
    my ($refused, $served, $retry_after) = (0, 0);
    for my $a (1 .. 40) {
        my $r = $t->token_request(basic => [$registered[0], $secret],
            ua => $t->agent(local_address => "127.0.4.$a"));
        if ($r->{status} == 429) {
            $refused++;
            $retry_after //= $r->{headers}{'retry-after'};
        }
        $served++ if $r->{status} == 200;
    }
    note "new pairs while the table is full: $refused refused, $served served";
    cmp_ok $refused, '>', 0, 'a new pair finds no counter free and is refused 429';
    like $retry_after // '', qr/^\d+$/, 'with Retry-After until a counter frees';
    cmp_ok $retry_after // 0, '<=', 60, 'at most the window';
    like $t->error_log_since($log_at), qr/\[warn\].*no room to count failures of client_id "svc\d+" at this address/,
        'logged at warn';
    error_ok($t->token_request(basic => ['app', $secret]), 429, 'temporarily_unavailable',
        'the block of the first subtest is still there');
};

done_testing;
