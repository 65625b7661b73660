# A fleet for the tests of SPEC "A fleet of nodes": a real redis-server on a
# free loopback port in its own temporary directory, and nginx nodes
# (OAuthTest instances, each with its own prefix, port and zone) that share one
# signing key, one issuer and one client registry, issue JWTs, and name that
# Redis in oauth_fleet_redis.
#
#   my $redis = OAuthFleet::Redis->start(aof => 1, password => 'pw');
#   my $fleet = OAuthFleet->start(redis => $redis, nodes => 3);
#   my $jwt = $fleet->token(0);                       # issued by node A
#   ok $fleet->passes(1, $jwt);                       # checked on node B
#   $fleet->revoke(2, $jwt);                          # revoked on node C
#   my $delay = $fleet->wait_refused(0, $jwt, 1);     # seconds, undef past 1 s
#   $redis->kill; $redis->restart(empty => 1);
#
# Every wait is bounded; under valgrind the bounds are longer (slow()).
package OAuthFleet;

use strict;
use warnings;

use Digest::SHA ();
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use OAuthTest qw(sha256_hash random_secret show);

my $VALGRIND = $ENV{OAUTH_VALGRIND} ? 1 : 0;

# A bound for a wait of $s seconds on an unloaded machine, stretched under the
# sanitizers (about 3x slower) and valgrind (about 30x).
sub slow {
    my ($s) = @_;
    return $s * 30 if $VALGRIND;
    return $s * 3 if $ENV{OAUTH_SANITIZE};
    return $s;
}

sub need_redis {
    for my $cmd (qw(redis-server redis-cli)) {
        next if grep { -x "$_/$cmd" } split /:/, $ENV{PATH};
        fail("$cmd is not installed (make test installs redis-server and redis-tools)") if $ENV{CI};
        plan skip_all => "$cmd is not installed (make test installs redis-server and redis-tools)";
    }
}

# ---- the nodes ------------------------------------------------------------------

# start(redis => $r, nodes => N (3), workers => 2, fleet => 'password_file=... db=1'
#       (the rest of the oauth_fleet_redis line), opaque => 1 (also /opaque, an
#       opaque token endpoint), ttl => '1h', token_ttl => N (the registry's
#       token_ttl of client app), state => 1 (oauth_token_zone state=),
#       http => '...' (more http-level lines), server => '...' (more server lines))
sub start {
    my ($class, %o) = @_;
    my $count = delete $o{nodes} // 3;
    my $self = bless {%o, nodes => []}, $class;
    $self->{dir} = tempdir('oauth-fleet-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{OAUTH_KEEP});
    chmod 0755, $self->{dir};
    $self->{secret} = random_secret();
    my ($rc, $out) = OAuthTest::run_command(
        ['openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
         '-out', "$self->{dir}/es.pem"], "$self->{dir}/openssl.out");
    die "openssl genpkey: $out" unless $rc == 0;
    chmod 0600, "$self->{dir}/es.pem";
    $self->add_node for 1 .. $count;
    return $self;
}

sub clients {
    my ($self) = @_;
    my $hash = sha256_hash($self->{secret});
    return {clients => [
        {client_id => 'app', client_secret_hash => $hash, scope => 'read write',
         $self->{token_ttl} ? (token_ttl => $self->{token_ttl}) : ()},
        {client_id => 'other', client_secret_hash => $hash, scope => 'read write'},
        {client_id => 'auditor', client_secret_hash => $hash, scope => '',
         introspection => JSON::PP::true},
    ]};
}

sub key_path { "$_[0]->{dir}/es.pem" }
sub dir      { $_[0]->{dir} }
sub secret   { $_[0]->{secret} }
sub redis    { $_[0]->{redis} }
sub nodes    { @{ $_[0]->{nodes} } }
sub node     { $_[0]->{nodes}[$_[1]] }

# The oauth_fleet_redis line of the nodes.
sub fleet_line {
    my ($self, %o) = @_;
    my $args = $o{fleet} // $self->{fleet} // '';
    my $address = $o{address} // ('127.0.0.1:' . $self->{redis}->port);
    return "oauth_fleet_redis $address" . (length $args ? " $args" : '') . ';';
}

# The http block of a node; %o overrides what start() was given.
sub http {
    my ($self, %o) = @_;
    %o = (%$self, %o);
    delete $o{nodes};
    my $ttl = $o{ttl} // '1h';
    my $state = $o{state} ? ' state=%%PREFIX%%/state/tokens.state' : '';
    my $opaque = $o{opaque} ? "location = /opaque { oauth_token_endpoint ttl=$ttl; }" : '';
    my $fleet = $o{no_fleet} ? '' : $self->fleet_line(%o);
    my ($http, $server) = ($o{http} // '', $o{server} // '');
    my ($map, $synced) = ('', '');
    if ($fleet) {
        $map = 'map $oauth_fleet_synced $fleet_closed { "1" ""; default "closed"; }';
        $synced = <<'LOC';
location = /synced { default_type text/plain; return 200 "$oauth_fleet_synced\n"; }
    # fail closed: what an operator writes on a sensitive location
    location /sensitive/ {
        if ($fleet_closed) { return 503; }
        oauth_require_scope read;
        alias %%PREFIX%%/html/;
    }
LOC
    }
    return <<"CONF";
oauth_token_zone tokens:1m$state;
oauth_clients clients.json;
$fleet
$http
$map

server {
    # reuseport: each worker has its own socket, so connections spread over both
    listen 127.0.0.1:%%PORT%% reuseport;
    oauth_issuer http://fleet.test;
    oauth_signing_key $self->{dir}/es.pem kid=fleet;

    location = /token { oauth_token_endpoint format=jwt ttl=$ttl; }
    $opaque
    location = /introspect { oauth_introspection_endpoint; }
    location = /revoke { oauth_revocation_endpoint; }
    location = /metrics { oauth_metrics; }
    location /api/ { oauth_require_scope read; alias %%PREFIX%%/html/; }
    $synced
    $server
}
CONF
}

# A new node (not started unless start => 1 or the fleet's own start()).
sub add_node {
    my ($self, %o) = @_;
    my $t = OAuthTest->new(workers => $o{workers} // $self->{workers} // 2, clients => $self->clients);
    mkdir $t->prefix . '/html';
    # nginx started by root runs its workers as nobody: they write the state file
    mkdir $t->prefix . '/state';
    chown $> == 0 ? (getpwnam 'nobody')[2] : $>, -1, $t->prefix . '/state';
    $t->write_file('html/index.html', "ok\n");
    $t->write_conf(http => $self->http(%o));
    push @{ $self->{nodes} }, $t;
    $t->start unless $o{start_later} // $self->{start_later};
    return $t;
}

sub stop { $_->stop for $_[0]->nodes }

# ---- requests -------------------------------------------------------------------

# A JWT (or, with path => '/opaque', an opaque token) from node $i.
sub token {
    my ($self, $i, %o) = @_;
    my $r = $self->node($i)->token_request(path => $o{path} // '/token',
        basic => [$o{client} // 'app', $self->{secret}],
        form => [grant_type => 'client_credentials', scope => $o{scope} // 'read']);
    die "no token from node $i: " . show($r) unless $r->{status} == 200;
    return $r->{json}{access_token};
}

sub get {
    my ($self, $i, $token, $path) = @_;
    return $self->node($i)->request('GET', $path // '/api/', {headers => {Authorization => "Bearer $token"}});
}

sub status { $_[0]->get(@_[1 .. $#_])->{status} }
sub passes { $_[0]->status(@_[1 .. $#_]) == 200 }
sub refused { $_[0]->status(@_[1 .. $#_]) == 401 }

# RFC 7009: the revocation by its own client on node $i; returns the response.
sub revoke {
    my ($self, $i, $token, %o) = @_;
    my $r = $self->node($i)->token_request(path => '/revoke', basic => [$o{client} // 'app', $self->{secret}],
        form => [token => $token]);
    die "revocation on node $i: " . show($r) unless $r->{status} == 200;
    return $r;
}

# RFC 7662 on node $i, by the auditor; returns the decoded body.
sub introspect {
    my ($self, $i, $token) = @_;
    my $r = $self->node($i)->token_request(path => '/introspect', basic => ['auditor', $self->{secret}],
        form => [token => $token]);
    return $r->{json} // {};
}

sub synced {
    my ($self, $i) = @_;
    my $c = $self->node($i)->request('GET', '/synced')->{content};
    chomp $c;
    return $c;
}

# Polls $check->() every 5 ms for up to $bound seconds: the seconds it took, or
# undef.
sub wait_for {
    my ($bound, $check) = @_;
    my $t0 = time;
    while (1) {
        return time - $t0 if $check->();
        return undef if time - $t0 > $bound;
        sleep 0.005;
    }
}

# Seconds from now until node $i refuses $token (401), undef past $bound.
sub wait_refused {
    my ($self, $i, $token, $bound) = @_;
    return wait_for($bound, sub { $self->refused($i, $token) });
}

sub wait_synced {
    my ($self, $i, $value, $bound) = @_;
    return wait_for($bound, sub { $self->synced($i) eq $value });
}

# The digest field of a stream entry, base64url: SHA-256 of an opaque token,
# or of a JWT's signing input (header.payload, what its signature covers).
sub digest {
    my ($token) = @_;
    my $revoked_by = $token =~ /^([^.]*\.[^.]*)\.[^.]*$/ ? $1 : $token;
    my $d = OAuthTest::b64_nopad(Digest::SHA::sha256($revoked_by));
    $d =~ tr{+/}{-_};
    return $d;
}

# The value of a metric of node $i (the first sample of that name, any labels).
sub metric {
    my ($self, $i, $name) = @_;
    my $text = $self->node($i)->request('GET', '/metrics')->{content};
    return $text =~ /^\Q$name\E(?:\{[^}]*\})? (\S+)$/m ? $1 : undef;
}

# The log lines the tests look for (their texts are in FLEET.md): the link
# lost, the link up again, stream entries that did not verify, Redis without
# what the node read, the node's position trimmed away.
my $LINK = qr/oauth_fleet_redis: the link to Redis at \S+ for stream "[^"]+"/;
our $LOG_LOST      = qr/$LINK is lost/;
our $LOG_UP        = qr/$LINK is up again/;
our $LOG_REJECTED  = qr/oauth_fleet_redis: (\d+) entries of stream "[^"]+" rejected, the last \(id [^)]+\): (.*)/;
our $LOG_REPUBLISH = qr/oauth_fleet_redis: stream "[^"]+" lost what this node read .*published again/;
our $LOG_TRIMMED   = qr/oauth_fleet_redis: stream "[^"]+" was trimmed past this node's position/;
our $LOG_TRIMMED_REPUBLISH = qr/oauth_fleet_redis: stream "[^"]+" was trimmed past this node's position.*published again/;

# How many lines of node $i's error log, from byte $offset, match $re.
sub log_count {
    my ($self, $i, $re, $offset) = @_;
    return scalar grep { $_ =~ $re } split /\n/, $self->node($i)->error_log_since($offset // 0);
}

# ---- load -----------------------------------------------------------------------

# Starts $procs processes that, until stop_load, each check $token on every node
# in turn (and with issue => 1 take a token every tenth request), with a bound
# of $timeout seconds per request. stop_load returns {requests, failed (a list
# of "node status reason" lines), slowest (seconds)}.
sub start_load {
    my ($self, %o) = @_;
    my $procs = $o{procs} // 2;
    my $timeout = $o{timeout} // slow(2);
    my @nodes = @{ $o{nodes} // [0 .. $#{ $self->{nodes} }] };
    my $dir = tempdir('oauth-load-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my @pids;
    for my $p (1 .. $procs) {
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            my $stop = 0;
            local $SIG{TERM} = sub { $stop = 1 };
            my $ua = HTTP::Tiny->new(keep_alive => 0, timeout => $timeout);
            my ($n, $slowest, @failed) = (0, 0);
            while (!$stop) {
                my $i = $nodes[$n % @nodes];
                my $t0 = time;
                my ($r, $want);
                if ($o{issue} && $n % 10 == 0) {
                    $r = $ua->post_form($self->node($i)->url('/token'),
                        [grant_type => 'client_credentials', scope => 'read'],
                        {headers => {Authorization => OAuthTest::basic_credentials('app', $self->{secret})}});
                } else {
                    $r = $ua->get($self->node($i)->url('/api/'), {headers => {Authorization => "Bearer $o{token}"}});
                }
                my $took = time - $t0;
                $slowest = $took if $took > $slowest;
                push @failed, "node $i: $r->{status} $r->{reason}" . ($r->{status} == 599 ? " $r->{content}" : '')
                    unless $r->{status} == 200;
                $n++;
            }
            open my $fh, '>', "$dir/$p" or POSIX::_exit(1);
            print $fh JSON::PP->new->encode({requests => $n, slowest => $slowest, failed => \@failed});
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    return {pids => \@pids, dir => $dir};
}

sub stop_load {
    my ($self, $load) = @_;
    kill 'TERM', @{ $load->{pids} };
    my $deadline = time + slow(15);
    my %left = map { $_ => 1 } @{ $load->{pids} };
    while (%left && time < $deadline) {
        for my $pid (keys %left) { delete $left{$pid} if waitpid($pid, WNOHANG) == $pid }
        sleep 0.02;
    }
    kill 'KILL', keys %left;
    waitpid $_, 0 for keys %left;
    my $sum = {requests => 0, slowest => 0, failed => []};
    for my $f (glob "$load->{dir}/*") {
        my $r = JSON::PP->new->decode(OAuthTest::slurp($f));
        $sum->{requests} += $r->{requests};
        $sum->{slowest} = $r->{slowest} if $r->{slowest} > $sum->{slowest};
        push @{ $sum->{failed} }, @{ $r->{failed} };
    }
    push @{ $sum->{failed} }, scalar(keys %left) . ' load processes did not stop' if %left;
    return $sum;
}

# ---- processes of a node ----------------------------------------------------------

# The pid of the worker of node $i whose connection to Redis is blocked in
# XREAD (the reader), found through CLIENT LIST and the sockets in /proc.
sub reader_pid {
    my ($self, $i) = @_;
    my %workers = map { $_ => 1 } $self->node($i)->worker_pids;
    for my $line (split /\n/, $self->{redis}->cli('CLIENT', 'LIST')) {
        my ($port) = $line =~ /\baddr=127\.0\.0\.1:(\d+)\b/ or next;
        # blocked (flags=b), or between two blocks with XREAD its last command
        next unless $line =~ /\bcmd=xread\b/ || $line =~ /\bflags=\w*b/;
        my $inode = socket_inode($port, $self->{redis}->port) // next;
        for my $pid (keys %workers) {
            for my $fd (glob "/proc/$pid/fd/*") {
                my $l = readlink $fd // next;
                return $pid if $l eq "socket:[$inode]";
            }
        }
    }
    return undef;
}

# The inode of the open loopback TCP socket from local port $port to
# $remote_port. The local port alone is not enough: an earlier connection of
# the same port may linger in TIME_WAIT (inode 0), or go elsewhere.
sub socket_inode {
    my ($port, $remote_port) = @_;
    for my $line (split /\n/, OAuthTest::slurp('/proc/net/tcp')) {
        my @f = split ' ', $line;
        next unless @f > 9 && $f[9] && $f[1] =~ /^0100007F:([0-9A-F]{4})$/ && hex($1) == $port;
        return $f[9] if $f[2] =~ /^0100007F:([0-9A-F]{4})$/ && hex($1) == $remote_port;
    }
    return undef;
}

# ---- Redis ------------------------------------------------------------------------

package OAuthFleet::Redis;

use strict;
use warnings;

use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my %LIVE;

# start(aof => 1 (append-only file, fsync always), password => "pw" (requirepass),
#       port => N (default: a free one))
sub start {
    my ($class, %o) = @_;
    my $self = bless {%o}, $class;
    $self->{dir} = tempdir('oauth-redis-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{OAUTH_KEEP});
    $self->{port} //= OAuthTest::free_port();
    $self->launch;
    return $self;
}

sub port { $_[0]->{port} }
sub dir  { $_[0]->{dir} }
sub pid  { $_[0]->{pid} }
sub log_text { OAuthTest::slurp("$_[0]->{dir}/redis.log") }

sub write_conf {
    my ($self) = @_;
    my $aof = $self->{aof} ? "appendonly yes\nappendfsync always" : 'appendonly no';
    my $pass = defined $self->{password} ? "requirepass $self->{password}" : '';
    # no RDB snapshots: without AOF a restart is a Redis without its data
    OAuthTest::write_file($self, "$self->{dir}/redis.conf", <<"EOF");
bind 127.0.0.1
port $self->{port}
dir $self->{dir}
logfile $self->{dir}/redis.log
daemonize no
save ""
$aof
$pass
EOF
}

sub launch {
    my ($self) = @_;
    $self->write_conf;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/redis.out" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec 'redis-server', "$self->{dir}/redis.conf" or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $LIVE{"$self"} = $self;
    my $deadline = time + 10;
    until ($self->ping) {
        if (waitpid($pid, WNOHANG) == $pid || time > $deadline) {
            die "redis-server did not start on port $self->{port}:\n" . $self->log_text
                . OAuthTest::slurp("$self->{dir}/redis.out");
        }
        sleep 0.02;
    }
    return $self;
}

# redis-cli with these arguments, bounded by 5 s (a stopped Redis does not
# answer); returns its output (and the exit code in list context).
sub cli {
    my ($self, @args) = @_;
    my @auth = defined $self->{password} ? ('-a', $self->{password}, '--no-auth-warning') : ();
    my ($rc, $out) = OAuthTest::run_command(
        ['redis-cli', '-h', '127.0.0.1', '-p', $self->{port}, @auth, @args], "$self->{dir}/cli.out",
        $self->{cli_timeout} // 5);
    return wantarray ? ($out, $rc) : $out;
}

sub ping {
    my ($self) = @_;
    local $self->{cli_timeout} = 1;
    my ($out, $rc) = $self->cli('PING');
    return $rc == 0 && $out =~ /^PONG/;
}

# The stream's entries: [[id, {field => value}], ...] (XRANGE, raw output).
sub entries {
    my ($self, $key) = @_;
    my @lines = split /\n/, $self->cli('--no-raw', 'XRANGE', $key, '-', '+');
    my @out;
    # redis-cli --no-raw prints: 1) 1) "id"  2) 1) "field" 2) "value" ...
    for my $line (@lines) {
        if ($line =~ /^\s*\d+\)\s+1\)\s+"(\d+-\d+)"\s*$/) {
            push @out, [$1, []];
        } elsif (@out && $line =~ /^\s*(?:\d+\)\s+)+"((?:[^"\\]|\\.)*)"\s*$/) {
            push @{ $out[-1][1] }, unquote($1);
        }
    }
    return map { [$_->[0], {@{ $_->[1] }}] } @out;
}

sub unquote {
    my ($s) = @_;
    $s =~ s/\\x([0-9a-f]{2})/chr hex $1/gie;
    $s =~ s/\\(.)/$1 eq 'n' ? "\n" : $1 eq 'r' ? "\r" : $1 eq 't' ? "\t" : $1/ge;
    return $s;
}

sub xlen {
    my ($self, $key) = @_;
    my $n = $self->cli('XLEN', $key);
    return $n =~ /^(\d+)/ ? $1 : undef;
}

# Graceful: SIGTERM, as systemd stops it.
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $LIVE{"$self"};
    CORE::kill 'CONT', $pid;
    CORE::kill 'TERM', $pid;
    $self->_reap($pid, 10);
}

sub kill {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $LIVE{"$self"};
    CORE::kill 'KILL', $pid;
    $self->_reap($pid, 5);
}

sub pause  { CORE::kill 'STOP', $_[0]->{pid} }
sub resume { CORE::kill 'CONT', $_[0]->{pid} }

sub _reap {
    my ($self, $pid, $bound) = @_;
    my $deadline = time + $bound;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    CORE::kill 'KILL', $pid;
    waitpid $pid, 0;
}

# On the same port and directory; empty => 1 drops its data files first (a
# Redis restarted without its data, or without its AOF file).
sub restart {
    my ($self, %o) = @_;
    $self->stop if $self->{pid};
    if ($o{empty}) {
        require File::Path;
        File::Path::remove_tree("$self->{dir}/appendonlydir");
        unlink glob "$self->{dir}/*.aof $self->{dir}/*.rdb";
    }
    return $self->launch;
}

sub DESTROY { local $?; $_[0]->kill if $_[0]->{pid} }
END { local $?; $_->kill for values %LIVE }

1;
