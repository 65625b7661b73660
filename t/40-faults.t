# Faults under load (SPEC "Protected locations": a token stays valid across
# reload; README "Zone": the slab mutex is released when a worker dies holding
# it, and the store repairs a change a dead writer left half done):
#   - a reload every second while clients issue and use tokens: no request
#     fails, no token is lost;
#   - SIGKILL of a worker, again and again, during the same load: the master
#     respawns it, issuance never hangs on a lock, every token issued stays valid;
#   - a worker stopped by gdb inside an insert, holding the lock, then killed
#     (skipped without gdb): the lock is released, the store repaired;
#   - a clients file made invalid, then a reload: refused, the old clients and
#     their tokens keep working.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use HTTP::Tiny;
use IO::Socket::IP;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials token_ok show);

need_module();
plan skip_all => 'kills workers and loads nginx for seconds: not under valgrind'
    if $ENV{OAUTH_VALGRIND};

my $secret = random_secret();
my $app = {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write'};
my $t = OAuthTest->start(
    files   => {'ok.txt' => 'ok'},
    clients => {clients => [$app]},
    http    => <<'EOF',
oauth_token_zone tokens:16m;   # far more than the load issues: no 503
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint ttl=1h; }
    # not "return 200": it runs in the rewrite phase, before any access check
    location /api { oauth_require_scope; root %%PREFIX%%; try_files /ok.txt =404; }
}
EOF
);

my $CLIENTS = 4;
my $authorization = basic_credentials('app', $secret);

# One client process: until the deadline, gets a token on a fresh connection,
# then uses it at /api on another. Writes "ok TOKEN" per token issued and
# accepted, "fail WHAT STATUS REASON" per failed request, to its file. Leaves
# by _exit: the harness's END would stop nginx.
sub client {
    my ($file, $until) = @_;
    open my $out, '>', $file or POSIX::_exit(2);
    $out->autoflush(1);
    my $ua = HTTP::Tiny->new(keep_alive => 0, timeout => 10);
    my $url = $t->url('');
    while (time < $until) {
        my $r = $ua->request('POST', "$url/token", {
            headers => {Authorization => $authorization,
                'Content-Type' => 'application/x-www-form-urlencoded'},
            content => 'grant_type=client_credentials',
        });
        my ($token) = ($r->{content} // '') =~ /"access_token":"([^"]+)"/;
        if ($r->{status} != 200 || !$token) {
            print $out "fail token $r->{status} $r->{reason}\n";
            next;
        }
        my $api = $ua->request('GET', "$url/api/x", {headers => {Authorization => "Bearer $token"}});
        print $out $api->{status} == 200 ? "ok $token\n" : "fail api $api->{status} $api->{reason} $token\n";
    }
    close $out;
    POSIX::_exit(0);
}

# Runs $CLIENTS client processes for $seconds while $fault->() is called
# every $every seconds; returns the tokens issued and the failures.
sub under_load {
    my ($seconds, $every, $fault) = @_;
    my $until = time + $seconds;
    my @kids;
    for my $i (1 .. $CLIENTS) {
        my $file = $t->prefix . "/load-$i-" . int(rand 1e9);
        my $pid = fork // die "fork: $!";
        client($file, $until) unless $pid;
        push @kids, {pid => $pid, file => $file};
    }
    my $next = time + $every;
    while (time < $until) {
        if (time >= $next) {
            $fault->();
            $next += $every;
        }
        sleep 0.05;
    }
    my $deadline = time + 20;
    for my $kid (@kids) {
        sleep 0.05 while waitpid($kid->{pid}, WNOHANG) == 0 && time < $deadline;
        if (kill 0, $kid->{pid}) {
            kill 'KILL', $kid->{pid};
            waitpid $kid->{pid}, 0;
        }
    }
    my (@tokens, @failures);
    for my $kid (@kids) {
        for (split /\n/, OAuthTest::slurp($kid->{file})) {
            if (/^ok (\S+)$/) { push @tokens, $1 } else { push @failures, $_ }
        }
    }
    return (\@tokens, \@failures);
}

# Every token is accepted at /api, on one kept-alive connection.
sub all_accepted {
    my ($tokens) = @_;
    my $ua = $t->agent(keep_alive => 1);
    my @lost;
    for my $token (@$tokens) {
        my $r = $t->request('GET', '/api/after', {ua => $ua, headers => {Authorization => "Bearer $token"}});
        push @lost, "$r->{status} $token" unless $r->{status} == 200;
    }
    return @lost;
}

my @all_tokens;

subtest 'a reload every second under load: no failed request, no token lost' => sub {
    my ($reloads, $refused) = (0, 0);
    my ($tokens, $failures) = under_load(5, 1, sub {
        $t->reload ? $reloads++ : $refused++;
    });
    ok $reloads >= 3, "$reloads reloads done";
    is $refused, 0, 'none refused';
    ok @$tokens > 50, scalar(@$tokens) . ' tokens issued and used while reloading';
    is scalar(@$failures), 0, 'no request failed' or diag join "\n", @$failures[0 .. ($#$failures < 9 ? $#$failures : 9)];
    my @lost = all_accepted($tokens);
    is scalar(@lost), 0, 'every token issued is still accepted' or diag join "\n", @lost[0 .. ($#lost < 9 ? $#lost : 9)];
    push @all_tokens, @$tokens;
};

subtest 'SIGKILL of a worker under load: respawned, no stuck lock, no token lost' => sub {
    my $offset = $t->error_log_size;
    my $kills = 0;
    my ($tokens, $failures) = under_load(5, 0.4, sub {
        my @w = $t->worker_pids;
        return unless @w == 2;
        kill 'KILL', $w[rand @w] and $kills++;
    });
    ok $kills >= 8, "$kills workers killed";
    ok @$tokens > 50, scalar(@$tokens) . ' tokens issued and used meanwhile';
    # A request in flight on the killed worker loses its connection (HTTP::Tiny
    # reports 599); nothing else may fail.
    my @other = grep { !/ 599 / } @$failures;
    is scalar(@other), 0, scalar(@$failures) . ' requests lost their connection, none failed otherwise'
        or diag join "\n", @other[0 .. ($#other < 9 ? $#other : 9)];
    my @died = $t->error_log_since($offset) =~ /exited on signal 9/g;
    is scalar(@died), $kills, 'the master saw each worker die';

    my @workers = $t->_wait_workers(5);
    is scalar(@workers), 2, 'two workers again';
    # A lock left held would make every issuance hang: each one answers in time.
    my $ua = $t->agent(keep_alive => 0, timeout => 5);
    my $start = time;
    my @fresh;
    for (1 .. 40) {
        my $r = $t->token_request(basic => ['app', $secret], ua => $ua);
        last unless $r->{status} == 200;
        push @fresh, $r->{json}{access_token};
    }
    is scalar(@fresh), 40, sprintf('40 tokens issued after the kills, in %.2f s', time - $start);
    my @lost = all_accepted([@$tokens, @fresh]);
    is scalar(@lost), 0, 'every token issued is still accepted' or diag join "\n", @lost[0 .. ($#lost < 9 ? $#lost : 9)];
    push @all_tokens, @$tokens, @fresh;
};

# Deterministic: gdb stops a worker inside an insert, after it took the zone
# lock and made the store's sequence counter odd, before the new entry is
# whole; a reader in the other worker then waits for the lock; the stopped
# worker is killed. The master must release the lock, the next writer repair
# the store, and the waiting reader answer.
subtest 'a worker killed in the middle of an insert' => sub {
    my $gdb = (grep { -x "$_/gdb" } split /:/, $ENV{PATH})[0]
        or plan skip_all => 'no gdb';
    my @workers = $t->_wait_workers(5);
    my $victim = $workers[0];
    my $out = $t->prefix . '/gdb.out';
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT;
        exec("$gdb/gdb", '-p', $victim, '-batch', '-nx',
            '-ex', 'break oauth::slot_table::set_state',
            '-ex', 'continue', '-ex', 'bt 4', '-ex', 'shell sleep 1.5', '-ex', 'kill')
            or POSIX::_exit(127);
    }
    my $deadline = time + 20;
    sleep 0.1 until OAuthTest::slurp($out) =~ /Breakpoint 1 at|ptrace|No symbol|not defined/ || time > $deadline;
    if (OAuthTest::slurp($out) !~ /Breakpoint 1 at/) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
        plan skip_all => 'gdb cannot stop the worker in the token store: ' . OAuthTest::slurp($out);
    }
    my $offset = $t->error_log_size;
    my $before = $all_tokens[-1];
    # Token requests on connections left open, until one stops the victim.
    my $request = "POST /token HTTP/1.0\r\nAuthorization: " . basic_credentials('app', $secret)
        . "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\n\r\n"
        . "grant_type=client_credentials";
    my (@pending, $hit);
    for (1 .. 40) {
        my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port, Timeout => 2) or next;
        syswrite $s, $request;
        push @pending, $s;
        sleep 0.05;
        last if $hit = OAuthTest::slurp($out) =~ /Breakpoint 1[.\d]*,/;
    }
    ok $hit, 'a worker stopped inside an insert' or diag OAuthTest::slurp($out);
    # Sent while the victim holds the lock with the counter odd: the other worker takes it.
    my $reader = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port, Timeout => 2);
    syswrite $reader, "GET /api/during HTTP/1.0\r\nAuthorization: Bearer $before\r\n\r\n";
    ok kill(0, $pid), 'the reader was sent while the victim was stopped';
    $deadline = time + 20;
    sleep 0.05 while waitpid($pid, WNOHANG) == 0 && time < $deadline;
    like OAuthTest::slurp($out), qr/write_entry/, 'it was stopped writing the entry' or diag OAuthTest::slurp($out);
    my $answer = '';
    my $rin = '';
    vec($rin, fileno $reader, 1) = 1;
    $deadline = time + 5;
    while (time < $deadline && select(my $rout = $rin, undef, undef, 0.2) >= 0) {
        my $n = sysread $reader, $answer, 4096, length $answer;
        last if defined $n && $n == 0;
    }
    like $answer, qr{^HTTP/1\.1 200}, 'the reader that waited for the lock is answered 200' or diag $answer;

    my $log = $t->error_log_since($offset);
    like $log, qr/worker process $victim exited on signal 9/, 'the worker was killed';
    like $log, qr/shared memory zone "tokens" was locked by $victim/, 'holding the zone lock, which the master released';
    is scalar($t->_wait_workers(5)), 2, 'a new worker took its place';
    close $_ for @pending;
    my $ua = $t->agent(keep_alive => 0, timeout => 3);
    my @fresh;
    for (1 .. 20) {
        my $r = $t->token_request(basic => ['app', $secret], ua => $ua);
        push @fresh, $r->{json}{access_token} if $r->{status} == 200;
    }
    is scalar(@fresh), 20, 'tokens are issued again';
    my @lost = all_accepted(\@fresh);
    is scalar(@lost), 0, 'and accepted (the next subtest checks all the older ones)';
    push @all_tokens, @fresh;
};

subtest 'an invalid clients file: the reload is refused, old clients keep working' => sub {
    my @workers = $t->worker_pids;
    ok !$t->reload(clients => '{"clients": [{"client_id": "app", "scope": "read"'), 'reload refused';
    is_deeply [$t->worker_pids], \@workers, 'the workers were not replaced';
    token_ok($t->token_request(basic => ['app', $secret]), scope => 'read write', name => 'app still gets tokens');
    my @lost = all_accepted(\@all_tokens);
    is scalar(@lost), 0, scalar(@all_tokens) . ' tokens issued before are still accepted';
    ok $t->reload(clients => {clients => [$app]}), 'a valid file is taken again';
};

subtest 'error log' => sub {
    # nginx logs each kill, and a zone whose lock a killed worker held, at [alert]
    $t->log_clean_ok(qr/exited on signal 9/, qr/shared memory zone "tokens" was locked by \d+/);
    my @held = $t->error_log =~ /was locked by/g;
    note scalar(@held) . " kills caught a worker holding the zone lock";
};

done_testing;
