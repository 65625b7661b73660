# Many tokens at once, for the tests of what keeps them (resize, a module
# loaded from a new path): issued and checked in pipelined batches on one
# connection, and checked in each worker.
#
#   my @tokens = issue_tokens($t, 300, ['app', $secret]);
#   my %passed = passes_in_each_worker($t, \@tokens, '/api/');  # worker pid => tokens let through
package OAuthTokens;

use strict;
use warnings;

use Exporter qw(import);
use IO::Select;
use IO::Socket::IP;
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(time);

use OAuthTest qw(basic_credentials sha256_hash);

our @EXPORT_OK = qw(issue_tokens passes_in_each_worker pass_in_each_worker_ok pipeline
    tokens_http new_tokens_server count_passing wait_until);

# The http snippet of the tests that keep many tokens, with a zone of SIZE:
# /token, and /api/ok, which needs the scope read and answers X-Worker: $pid.
# reuseport gives each worker its own socket, so fresh connections spread over
# both; keepalive_requests lets one connection check every token.
sub tokens_http {
    my ($size) = @_;
    return <<"EOF";
oauth_token_zone tokens:$size;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%% reuseport;
    keepalive_requests 10000;
    location = /token { oauth_token_endpoint; }
    location /api/ {
        oauth_require_scope read;
        root %%PREFIX%%/html;
        add_header X-Worker \$pid always;
    }
}
EOF
}

# A new instance (not started) of tokens_http('1m'), for the client "app"
# (scope read) with SECRET.
sub new_tokens_server {
    my ($secret) = @_;
    my $t = OAuthTest->new(
        clients => {clients => [{client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'}]},
        http    => tokens_http('1m'));
    mkdir $t->prefix . "/$_" for qw(html html/api);
    $t->write_file('html/api/ok', "ok\n");
    return $t;
}

# Sends the requests (raw bytes each) on one connection, writing while it
# reads so neither side's buffers stall, and returns the parsed responses.
sub pipeline {
    my ($t, $requests, %o) = @_;
    my $s = IO::Socket::IP->new(
        PeerHost => '127.0.0.1', PeerPort => $t->port, Type => SOCK_STREAM, Timeout => 2)
        or die "connect: $@";
    binmode $s;
    $s->blocking(0);
    my $out = join '', @$requests;
    my ($in, @responses) = ('');
    my $sel = IO::Select->new($s);
    my $deadline = time + ($o{timeout} // ($ENV{OAUTH_VALGRIND} ? 300 : 30));
    while (@responses < @$requests && time < $deadline) {
        my ($r, $w) = IO::Select->select($sel, length $out ? $sel : undef, undef, 0.5);
        if ($w && @$w) {
            my $n = syswrite $s, $out;
            substr($out, 0, $n, '') if $n;
        }
        next unless $r && @$r;
        my $got = sysread $s, $in, 262144, length $in;
        last unless $got;
        while ((my $end = index $in, "\r\n\r\n") >= 0) {
            my $head = substr $in, 0, $end;
            my $length = $head =~ /\r\ncontent-length:\s*(\d+)/i ? $1 : 0;
            last if length($in) < $end + 4 + $length;
            push @responses, OAuthTest::parse_response(substr $in, 0, $end + 4 + $length, '');
        }
    }
    close $s;
    return @responses;
}

# `count` tokens for the client [id, secret] from `path` (default /token).
sub issue_tokens {
    my ($t, $count, $client, %o) = @_;
    my $body = 'grant_type=client_credentials';
    my $request = "POST " . ($o{path} // '/token') . " HTTP/1.1\r\nHost: localhost\r\n"
        . "Authorization: " . basic_credentials(@$client) . "\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my @tokens;
    while (@tokens < $count) {
        my @r = pipeline($t, [($request) x ($count - @tokens > 500 ? 500 : $count - @tokens)]);
        die "no token response" unless @r;
        my @bad = grep { $_->{status} != 200 } @r;
        die "token request failed: $bad[0]{status} $bad[0]{content}" if @bad;
        push @tokens, map { $_->{json}{access_token} } @r;
    }
    return @tokens;
}

# Checks every token at `path` (a location answering X-Worker: $pid) on fresh
# connections until each worker has answered one whole batch (bounded): the
# server needs keepalive_requests above the count of tokens.
# Returns worker pid => how many tokens it let through.
sub passes_in_each_worker {
    my ($t, $tokens, $path) = @_;
    my @requests = map {
        "GET $path HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer $_\r\n\r\n"
    } @$tokens;
    my @workers = $t->worker_pids;
    my %passed;
    for (1 .. 40) {
        last if @workers == grep { exists $passed{$_} } @workers;
        my @r = pipeline($t, \@requests);
        next unless @r == @requests;
        my %by = map { ($_->{headers}{'x-worker'} // 'none') => 1 } @r;
        my ($worker) = keys %by;
        next if keys %by != 1 || exists $passed{$worker};
        $passed{$worker} = grep { $_->{status} == 200 } @r;
    }
    return %passed;
}

# Every worker of tokens_http's server answered for the tokens at /api/ok and
# let exactly COUNT of them through.
sub pass_in_each_worker_ok {
    my ($t, $tokens, $count, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %passed = passes_in_each_worker($t, $tokens, '/api/ok');
    is_deeply [sort keys %passed], [$t->worker_pids], 'both workers answered' or diag explain \%passed;
    is_deeply [values %passed], [($count) x keys %passed], $name;
}

# How many of the tokens $t's location $path lets through, on one kept-alive
# connection.
sub count_passing {
    my ($t, $path, @tokens) = @_;
    my $check = $t->agent(keep_alive => 1);
    return scalar grep {
        $check->request('GET', $t->url($path), {headers => {Authorization => "Bearer $_"}})->{status} == 200
    } @tokens;
}

# Polls $cond for up to 10 s and reports whether it came true, as test $what.
sub wait_until {
    my ($what, $cond) = @_;
    my $deadline = time + 10;
    Time::HiRes::sleep(0.05) until $cond->() || time > $deadline;
    ok $cond->(), $what;
}

1;
