# Capacity and fairness of a zone (SPEC "Capacity and fairness of a zone"): a
# zone holds tokens of as many distinct clients as it holds tokens, and a
# client at its cap ("max_tokens", or a quarter of the zone) gets 429
# temporarily_unavailable with Retry-After while every other client is served.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::IP;
use Socket qw(SOCK_STREAM);
use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials form_body token_ok error_ok show);

need_module();

my $valgrind = $ENV{OAUTH_VALGRIND};
my $clients = $valgrind ? 100 : 2000;    # memcheck serves some hundred requests a second
my %secret = map { ($_ => random_secret()) } 'greedy', 'hog', 'other', map {"c$_"} 1 .. $clients;
my @entries = map { {client_id => "c$_", client_secret_hash => sha256_hash($secret{"c$_"}), scope => 'read'} } 1 .. $clients;
push @entries,
    {client_id => 'greedy', client_secret_hash => sha256_hash($secret{greedy}), scope => 'read', max_tokens => 50},
    {client_id => 'hog',    client_secret_hash => sha256_hash($secret{hog}),    scope => 'read'},
    {client_id => 'other',  client_secret_hash => sha256_hash($secret{other}),  scope => 'read'};

my $t = OAuthTest->start(
    clients => {clients => \@entries},
    http    => <<'EOF',
oauth_token_zone tokens:16m;
oauth_token_zone small:1m;
oauth_token_zone tiny:1m;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint zone=tokens; }
    location = /small { oauth_token_endpoint zone=small ttl=30s; }
    location = /tiny  { oauth_token_endpoint zone=tiny ttl=30s; }
    location = /metrics { oauth_metrics; }
}
EOF
);

sub token_bytes {
    my ($path, $client) = @_;
    my $body = form_body([grant_type => 'client_credentials']);
    return "POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . 'Authorization: ' . basic_credentials($client, $secret{$client}) . "\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

# Sends the requests pipelined over a few keep-alive connections, writing and
# reading at once so that neither side's buffers fill; returns the responses
# parsed, in order.
sub pipelined {
    my (@requests) = @_;
    my $connections = 4;
    my @c = map { {out => '', buf => '', want => 0, got => []} } 1 .. $connections;
    for my $i (0 .. $#requests) {
        my $c = $c[$i % $connections];
        $c->{out} .= $requests[$i];
        $c->{want}++;
    }
    for my $c (@c) {
        $c->{s} = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port, Type => SOCK_STREAM)
            or die "connect: $@";
        $c->{s}->blocking(0);
    }
    my $deadline = time + 60;
    while (time < $deadline) {
        my @open = grep { @{ $_->{got} } < $_->{want} } @c or last;
        my ($rin, $win) = ('', '');
        for my $c (@open) {
            vec($rin, fileno $c->{s}, 1) = 1;
            vec($win, fileno $c->{s}, 1) = 1 if length $c->{out};
        }
        next unless select(my $rout = $rin, my $wout = $win, undef, 0.5) > 0;
        for my $c (@open) {
            if (vec($wout, fileno $c->{s}, 1)) {
                my $n = syswrite $c->{s}, $c->{out}, 65536;
                substr($c->{out}, 0, $n, '') if $n;
            }
            next unless vec($rout, fileno $c->{s}, 1);
            my $n = sysread $c->{s}, $c->{buf}, 65536, length $c->{buf};
            $c->{want} = @{ $c->{got} } if defined $n && $n == 0;    # closed early
            while ($c->{buf} =~ /\A(.*?\r\n\r\n)/s) {
                my $head = $1;
                my ($length) = $head =~ /\r\ncontent-length:\s*(\d+)/i;
                last if length($c->{buf}) < length($head) + ($length // 0);
                push @{ $c->{got} }, OAuthTest::parse_response(substr $c->{buf}, 0, length($head) + ($length // 0), '');
            }
        }
    }
    close $_->{s} for @c;
    my @responses;
    for my $i (0 .. $#requests) {
        push @responses, $c[$i % $connections]{got}[int($i / $connections)] // {status => 0, headers => {}, content => ''};
    }
    return @responses;
}

subtest "$clients distinct clients each get a token from a 16m zone" => sub {
    my @r = pipelined(map { token_bytes('/token', "c$_") } 1 .. $clients);
    my @bad = grep { $_->{status} != 200 || ($_->{json}{access_token} // '') !~ /^[A-Za-z0-9_-]{43}$/ } @r;
    is scalar(@bad), 0, "all $clients answered 200 with a token" or diag show($bad[0]);
    my %distinct = map { (($_->{json}{access_token} // '') => 1) } @r;
    is scalar(keys %distinct), $clients, 'all distinct';
    token_ok($t->token_request(basic => ['other', $secret{other}]), scope => 'read', name => 'one more client');
};

subtest 'a client at its max_tokens gets 429 with Retry-After; another is served' => sub {
    my $offset = $t->error_log_size;
    my @r = pipelined(map { token_bytes('/small', 'greedy') } 1 .. 60);
    is scalar(grep { $_->{status} == 200 } @r), 50, '50 of 60 requests get a token';
    my @refused = grep { $_->{status} != 200 } @r;
    is scalar(grep { $_->{status} == 429 } @refused), 10, 'the other 10 get 429' or diag show($refused[0]);
    error_ok($refused[0], 429, 'temporarily_unavailable', 'at its cap') or return;
    my $ra = $refused[0]{headers}{'retry-after'} // '';
    like $ra, qr/^[1-9][0-9]*$/, 'Retry-After is a positive number of seconds';
    ok $ra <= 30, "Retry-After ($ra) within the ttl, when its oldest token expires";
    token_ok($t->token_request(basic => ['other', $secret{other}], path => '/small'),
        scope => 'read', expires_in => 30, name => 'another client, same zone');
    my @lines = grep { /\[warn\]/ && /"greedy"/ && /small/ } split /\n/, $t->error_log_since($offset);
    ok @lines >= 1 && @lines <= 2 * 2, 'a warning naming the client and the zone, not one a request'
        or diag $t->error_log_since($offset);
};

subtest 'without max_tokens, a client takes at most a quarter of a zone' => sub {
    plan skip_all => 'thousands of requests: too slow under valgrind' if $valgrind;
    my ($capacity) = $t->request('GET', '/metrics')->{content} =~ /^oauth_zone_token_capacity\{zone="tiny"\} (\d+)$/m;
    ok $capacity, "the zone's capacity ($capacity entries) from the metrics";
    my ($stated) = $t->start_output =~ /oauth_token_zone "tiny" \(1m\) holds about (\d+) tokens/;
    ok $stated && abs($stated - $capacity) <= $capacity / 100, "nginx -t states it to 1% ($stated)";
    my @r = pipelined(map { token_bytes('/tiny', 'hog') } 1 .. int($capacity / 4) + 5);
    my $issued = grep { $_->{status} == 200 } @r;
    is $issued, int($capacity / 4), 'a quarter of the zone is issued';
    my ($refused) = grep { $_->{status} != 200 } @r;
    error_ok($refused, 429, 'temporarily_unavailable', 'the others get 429');
    token_ok($t->token_request(basic => ['other', $secret{other}], path => '/tiny'),
        scope => 'read', expires_in => 30, name => 'another client, same zone');
};

subtest 'error log' => sub { $t->log_clean_ok };

done_testing;
