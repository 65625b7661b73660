# state=FILE: the zone's tokens and revocations survive a stop and start and a
# kill -9 of every nginx process; the snapshot and its journal hold no token
# and no secret, are readable by nginx's user only; a bad snapshot is logged,
# set aside, never fatal; a journal cut short loads up to the cut.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::IP;
use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials);

need_module();

my $secret = random_secret();
my $client = {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write'};
my $http = <<'EOF2';
oauth_token_zone tokens:4m state=state/tokens.state;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /revoke { oauth_revocation_endpoint; }
    location = /api { oauth_require_scope read; root %%PREFIX%%/html; }
}
EOF2

my $t = OAuthTest->new(clients => {clients => [$client]}, http => $http);
# nginx started by root runs its workers as nobody: they write the file.
my $worker_uid = $> == 0 ? (getpwnam 'nobody')[2] : $>;
mkdir $t->prefix . '/state' or die;
mkdir $t->prefix . '/html' or die;
$t->write_file('html/api', 'ok');
chown $worker_uid, -1, $t->prefix . '/state' or die;
my $file = $t->prefix . '/state/tokens.state';
$t->start;

# Sends every request on one keep-alive connection at once; returns the statuses.
sub pipelined {
    my ($requests) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port, Timeout => 10)
        or die "connect: $@";
    binmode $s;
    print $s join '', @$requests;
    my ($buf, @statuses) = ('');
    while (@statuses < @$requests) {
        while ($buf =~ /\AHTTP\/1\.1 (\d{3})[^\r]*\r\n(.*?)\r\n\r\n/s) {
            my ($status, $headers, $body_at) = ($1, $2, $+[0]);
            my ($length) = $headers =~ /^content-length:\s*(\d+)/mi;
            my $end = $body_at + ($length // 0);
            last if length $buf < $end;
            push @statuses, [$status, substr($buf, $body_at, $length // 0)];
            substr($buf, 0, $end) = '';
        }
        last if @statuses >= @$requests;
        my $n = sysread $s, $buf, 1 << 20, length $buf;
        last unless $n;
    }
    close $s;
    return @statuses;
}

sub post {
    my ($path, $body) = @_;
    return "POST $path HTTP/1.1\r\nHost: x\r\nAuthorization: " . basic_credentials('app', $secret)
        . "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
        . length($body) . "\r\n\r\n$body";
}

sub issue {
    my ($n) = @_;
    my @r = pipelined([(post('/token', 'grant_type=client_credentials&scope=read')) x $n]);
    my @tokens = map { $_->[1] =~ /"access_token":"([^"]+)"/ ? $1 : () } @r;
    is scalar @tokens, $n, "$n tokens issued";
    return @tokens;
}

# How many of the tokens the gate lets through, 500 to a connection.
sub passing {
    my @tokens = @_;
    my $passed = 0;
    while (my @some = splice @tokens, 0, 500) {
        my @r = pipelined([map { "GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $_\r\n\r\n" } @some]);
        $passed += grep { $_->[0] == 200 } @r;
    }
    return $passed;
}

sub restart {
    $t->stop;
    $t->start;
}

my @tokens = issue(1000);
is passing(@tokens), 1000, 'all pass before';

subtest 'a revoked token stays refused after a restart' => sub {
    my ($r) = pipelined([post('/revoke', "token=$tokens[0]")]);
    is $r->[0], 200, 'revoked';
    is passing($tokens[0]), 0, 'refused';
};

subtest 'a stop and start keep every live token' => sub {
    my $offset = $t->error_log_size;
    restart();
    is passing(@tokens[1 .. $#tokens]), 999, 'all 999 pass after the restart';
    is passing($tokens[0]), 0, 'the revoked one is still refused';
    like $t->error_log_since($offset), qr/999 tokens and 1 revocations loaded from "\Q$file\E"/,
        'the load is logged';
};

subtest 'the files: mode 0600, no token, no secret' => sub {
    # the first change after a start writes a snapshot of this zone; what
    # is issued after it, a second later, is in the journal
    my @later = issue(20);
    sleep 1.5;
    push @later, issue(20);
    sleep 1.5;
    for my $path ($file, "$file.journal") {
        ok -f $path, "$path exists";
        is sprintf('%04o', (stat $path)[2] & 07777), '0600', 'mode 0600';
        is((stat $path)[4], $worker_uid, "owned by the workers' user");
        open my $fh, '<:raw', $path or die;
        local $/;
        my $bytes = <$fh>;
        is scalar(grep { index($bytes, $_) >= 0 } @tokens, @later), 0, 'no issued token in it';
        is index($bytes, $secret), -1, 'no client secret in it';
    }
    ok -s "$file.journal" > 20 * 44, 'the journal holds the 20 tokens issued since the snapshot';
};

subtest 'kill -9 of every nginx process after a second of quiet' => sub {
    my @more = issue(100);
    my ($r) = pipelined([post('/revoke', "token=$more[0]")]);
    sleep 2;
    my @pids = ($t->master_pid, $t->worker_pids);
    kill 'KILL', @pids;
    sleep 0.1 while grep { OAuthTest::alive($_) } @pids;
    # killed on purpose: under valgrind their logs end mid-run, with nothing to read
    unlink map { $t->prefix . "/logs/valgrind.$_.log" } @pids;
    delete $t->{master};
    unlink $t->prefix . '/logs/nginx.pid';
    $t->start;
    is passing(@tokens[1 .. $#tokens], @more[1 .. $#more]), 1098, 'every token passes';
    is passing($tokens[0], $more[0]), 0, 'the revoked ones stay refused';
};

subtest 'nginx -t checks the directory' => sub {
    my $bad = $http =~ s{state=state/}{state=missing/}r;
    my ($rc, $out) = $t->test_config(http => $bad);
    isnt $rc, 0, 'a missing directory fails nginx -t';
    like $out, qr/oauth_token_zone "tokens": the directory of state=\S*missing\/tokens.state does not exist in \S+nginx.conf:\d+/,
        'the message names the zone, the file and the line' or diag $out;
};

# A state file of the workers' user, mode 0600: only such a file is read.
sub as_the_workers_wrote {
    my ($bytes) = @_;
    open my $fh, '>:raw', $file or die;
    print $fh $bytes;
    close $fh;
    chown $worker_uid, -1, $file or die;
    chmod 0600, $file or die;
}

sub with_file {
    my ($name, $bytes, $reason) = @_;
    subtest "a state file $name" => sub {
        $t->stop;
        as_the_workers_wrote($bytes);
        my $offset = $t->error_log_size;
        $t->start;
        my $log = $t->error_log_since($offset);
        like $log, qr/\[error\].*state file "\Q$file\E" is not loaded: $reason; it is set aside as "\Q$file\E\.bad"/,
            'logged with the file and the reason' or diag $log;
        ok -f "$file.bad", 'set aside';
        is passing(@tokens[1 .. 10]), 0, 'the zone starts empty';
        my @fresh = issue(5);
        is passing(@fresh), 5, 'and serves';
        unlink "$file.bad", "$file.journal.bad";
    };
}

restart();
my $good = do { open my $fh, '<:raw', $file or die; local $/; <$fh> };
with_file('truncated', substr($good, 0, length($good) / 2), qr/truncated: \d+ bytes of \d+/);
with_file('in its header truncated', substr($good, 0, 60), qr/truncated in its header/);
with_file('zeroed', "\0" x length $good, qr/not a state file of this module/);
with_file('of random bytes', join('', map { chr int rand 256 } 1 .. 4096), qr/not a state file of this module/);
with_file('damaged', do { my $d = $good; substr($d, 300, 1) ^= "\x01"; $d }, qr/damaged: checksum mismatch/);
with_file('from a future version', do { my $d = $good; substr($d, 8, 1) = "\x05"; $d },
    qr/format version 5, this module reads versions 1 to 4/);

subtest 'a journal cut short by a crash: what is whole loads, the rest is cut off' => sub {
    issue(1);  # the first change since the start: a snapshot of this zone
    sleep 1.5;
    my @fresh = issue(30);
    sleep 1.5;
    $t->stop;
    my $journal = "$file.journal";
    my $whole = -s $journal;
    ok $whole > 30 * 44, 'the journal holds them';
    # what a write cut short leaves: the start of an image
    open my $fh, '>>:raw', $journal or die;
    print $fh substr($good, 0, 150);
    close $fh;
    my $offset = $t->error_log_size;
    $t->start;
    like $t->error_log_since($offset),
        qr/\[warn\].*the journal "\Q$journal\E" is read up to byte $whole, and cut there: byte $whole on: truncated/,
        'the torn end is logged';
    is -s $journal, $whole, 'and cut off';
    is passing(@fresh), 30, 'the tokens before it pass';
};

subtest 'a state file from another zone' => sub {
    $t->stop;
    $t->write_conf(http => $http =~ s/tokens:4m/others:4m/r);
    $t->start;
    $t->stop;
    as_the_workers_wrote($good);
    $t->start;
    like $t->error_log, qr/state file "\Q$file\E" is not loaded: written for oauth_token_zone "tokens"/,
        'refused, naming the zone it was written for';
    $t->write_conf(http => $http);
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
