# state=FILE: the workers' user may write the state directory, so it may put
# a link, a fifo or a file of its choosing at any name the module uses there.
# The master, as root, never follows such a link nor touches the file it
# leads to; a file that is not a regular file of the workers' user, writable
# by them alone, is refused with the reason in the error log, and the zone
# starts without it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use OAuthTest qw(need_module sha256_hash random_secret);
use OAuthTokens qw(count_passing wait_until);

need_module();
plan skip_all => 'the workers run as another user only when nginx is started as root' if $> != 0;

my $secret = random_secret();
my $client = {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'};
my $t = OAuthTest->new(clients => {clients => [$client]}, http => <<'EOF2');
oauth_token_zone tokens:4m state=state/tokens.state;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /api { oauth_require_scope read; root %%PREFIX%%/html; }
}
EOF2
# nginx started by root runs its workers as nobody: they own the directory.
my ($worker_uid, $worker_gid) = (getpwnam 'nobody')[2, 3];
my $dir = $t->prefix . '/state';
my $file = "$dir/tokens.state";
mkdir $t->prefix . "/$_" or die for qw(state html);
chown $worker_uid, -1, $dir or die;
$t->write_file('html/api', 'ok');

# What a link would lead root to: a file of root's outside the directory.
my $target = $t->prefix . '/precious';
my $precious = "root's own file, not to be touched\n" x 64;
sub write_target {
    $t->write_file('precious', $precious);
    chmod 0640, $target or die;
}

sub target_intact {
    my ($name) = @_;
    my @st = stat $target;
    is OAuthTest::slurp($target), $precious, "$name: the file the link leads to is unchanged";
    is sprintf('%04o', $st[2] & 07777), '0640', "$name: and so is its mode";
    is $st[4], 0, "$name: and its owner";
}

# What the workers' user could do: it runs as that user.
sub as_workers {
    my ($code) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        $) = "$worker_gid $worker_gid";
        $> = $worker_uid;
        POSIX::_exit($code->() ? 0 : 1);
    }
    waitpid $pid, 0;
    return $? == 0;
}

sub plant_link {
    my ($name) = @_;
    unlink "$dir/$name";
    ok as_workers(sub { symlink $target, "$dir/$name" }), "a link planted at $name by the workers' user";
}

my $ua = $t->agent(keep_alive => 1);
sub issue {
    my ($n) = @_;
    my @tokens;
    for (1 .. $n) {
        my $r = $t->token_request(basic => ['app', $secret], ua => $ua);
        push @tokens, $r->{json}{access_token} if $r->{status} == 200;
    }
    is scalar @tokens, $n, "$n tokens issued";
    return @tokens;
}

sub passing { count_passing($t, '/api', @_) }

# Starts nginx; the error log it wrote meanwhile.
sub start_logged {
    my $offset = $t->error_log_size;
    eval { $t->start; 1 } or do { fail "nginx starts: $@"; return '' };
    return $t->error_log_since($offset);
}

$t->start;
my @tokens = issue(5);
sleep 1.5;  # the first change after a start writes a snapshot of this zone
$t->stop;
ok -f $file && !-l $file, 'a snapshot written';
my $good = OAuthTest::slurp($file);

# The snapshot as the workers left it, and nothing else in the directory.
sub reset_files {
    write_target();
    unlink glob "$dir/*";
    open my $fh, '>:raw', $file or die;
    print $fh $good;
    close $fh;
    chown $worker_uid, -1, $file or die;
    chmod 0600, $file or die;
}

subtest 'a link at FILE.journal: not read, not cut' => sub {
    reset_files();
    plant_link('tokens.state.journal');
    my $log = start_logged();
    target_intact('journal');
    like $log, qr/\[error\].*the journal "\Q$file\E\.journal" is not loaded: a symbolic link, which is never followed; it is set aside as "\Q$file\E\.journal\.bad"/,
        'the refusal is logged with the reason' or diag $log;
    ok -l "$file.journal.bad", 'the link itself is set aside';
    is passing(@tokens), 5, 'the snapshot is loaded';
    $t->stop;
};

subtest 'a fifo at FILE.journal: not waited on' => sub {
    reset_files();
    ok as_workers(sub { POSIX::mkfifo("$file.journal", 0600) }), 'a fifo planted at tokens.state.journal';
    my $log = start_logged();
    like $log, qr/\[error\].*the journal "\Q$file\E\.journal" is not loaded: not a regular file; it is set aside/,
        'nginx starts, the refusal logged' or diag $log;
    is passing(@tokens), 5, 'the snapshot is loaded';
    $t->stop;
};

subtest 'a link at FILE: not read' => sub {
    reset_files();
    unlink $file;
    plant_link('tokens.state');
    my $log = start_logged();
    target_intact('snapshot');
    like $log, qr/\[error\].*state file "\Q$file\E" is not loaded: a symbolic link, which is never followed; it is set aside as "\Q$file\E\.bad"/,
        'the refusal is logged with the reason' or diag $log;
    ok -l "$file.bad", 'the link itself is set aside';
    $t->stop;
};

subtest 'a state file writable by group or others' => sub {
    reset_files();
    chmod 0666, $file or die;
    my $log = start_logged();
    like $log, qr/\[error\].*state file "\Q$file\E" is not loaded: writable by group or others \(mode 0666\); it is set aside/,
        'refused, the mode logged' or diag $log;
    is passing(@tokens), 0, 'its tokens are not loaded';
    $t->stop;
};

subtest "a state file of another user than the workers'" => sub {
    reset_files();
    chown 0, -1, $file or die;
    my $log = start_logged();
    like $log, qr/\[error\].*state file "\Q$file\E" is not loaded: owned by uid 0, not by the workers' user \(uid $worker_uid\); it is set aside/,
        'refused, the owner logged' or diag $log;
    is passing(@tokens), 0, 'its tokens are not loaded';
    $t->stop;
};

subtest 'links at the writer\'s temporary and journal: removed, never written through' => sub {
    reset_files();
    plant_link('tokens.state.tmp');
    my $offset = $t->error_log_size;
    my $removed = sub {
        my ($name) = @_;
        return sub {
            $t->error_log_since($offset) =~ /\[error\].*"\Q$file.$name\E" is not a state file the workers wrote, and is removed: a symbolic link, which is never followed/;
        };
    };
    $t->start;
    my @more = issue(3);    # the first change: a snapshot, through FILE.tmp
    wait_until('the link at FILE.tmp is logged', $removed->('tmp'));
    plant_link('tokens.state.journal');
    push @more, issue(3);   # appended to the journal
    wait_until('the link at FILE.journal is logged', $removed->('journal'));
    my $snapshot = (stat $file)[1];
    # the journal the link replaced is gone: a new snapshot holds what it held
    wait_until('a new snapshot is written', sub { ((stat $file)[1] // $snapshot) != $snapshot });
    push @more, issue(3);
    target_intact('writer');
    ok !-l "$file.$_", "the link at FILE.$_ is removed" for qw(tmp journal);
    $t->stop;
    $t->start;
    is passing(@tokens, @more), 14, 'what was issued meanwhile survives a restart all the same';
    $t->stop;
};

subtest 'a link at FILE.request before a binary upgrade' => sub {
    plan skip_all => 'a binary upgrade needs nginx as a daemon' if $ENV{OAUTH_VALGRIND};
    reset_files();
    my $snapshot = (stat $file)[1];
    $t->start;
    issue(1);  # the old generation's writer writes a snapshot: the new master asks it for more
    wait_until('the running writer wrote a snapshot', sub { ((stat $file)[1] // $snapshot) != $snapshot });
    my $old = $t->master_pid;
    my @old_workers = $t->worker_pids;
    # stopped, the old writer cannot take the link for a request and remove it first
    kill 'STOP', @old_workers;
    plant_link('tokens.state.request');
    my $offset = $t->error_log_size;
    my $pidfile = $t->prefix . '/logs/nginx.pid';
    kill 'USR2', $old;
    my $deadline = time + 10;
    sleep 0.05 until (-f "$pidfile.oldbin" && -s $pidfile && OAuthTest::slurp($pidfile) !~ /^$old\b/)
        || time > $deadline;
    my ($new) = OAuthTest::slurp($pidfile) =~ /(\d+)/;
    kill 'CONT', @old_workers;
    isnt $new, $old, 'the new master started';
    target_intact('request');
    like $t->error_log_since($offset),
        qr/\[error\].*"\Q$file\E\.request" is not a state file the workers wrote, and is removed: a symbolic link, which is never followed/,
        'the link is logged and replaced';
    kill 'QUIT', $old;
    sleep 0.05 while OAuthTest::alive($old) && time < $deadline + 10;
    $t->{master} = $new;
    $t->stop;
};

subtest 'error log' => sub { $t->log_clean_ok };

done_testing;
