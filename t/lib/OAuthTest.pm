# Integration test harness: each test file starts its own nginx from a
# templated config in a temporary prefix and talks to it over the loopback.
#
#   my $t = OAuthTest->start(http => $snippet, clients => {clients => [...]});
#   my $r = $t->token_request(basic => [$id, $secret], form => [scope => 'a']);
#   is $r->{status}, 200;
#
# Environment: OAUTH_MODULE (the .so), OAUTH_CLIENT_ENTRY (the client-entry
# command), NGINX_BIN (default /usr/sbin/nginx), OAUTH_KEEP (keep the prefix).
# OAUTH_SANITIZE (the ASan/UBSan runtimes to preload into nginx) and
# OAUTH_VALGRIND=1 (nginx as one process under memcheck): see "sanitizers and
# valgrind" below; `make sanitize` and `make valgrind` set them.
package OAuthTest;

use strict;
use warnings;

use Digest::SHA qw(sha256 hmac_sha256);
use Exporter qw(import);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::IP;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(form_encode form_body basic_credentials sha256_hash pbkdf2_sha256
    pbkdf2_hash random_secret b64_nopad need_module need_or_skip need_python token_ok error_ok show
    www_authenticate passed_ok refused_ok invalid_client_ok);

my $NGINX = $ENV{NGINX_BIN} || '/usr/sbin/nginx';
my $VALGRIND = $ENV{OAUTH_VALGRIND} ? 1 : 0;
my %LIVE;    # running instances, stopped at END even when a test dies

# ---- helpers that need no nginx ---------------------------------------------

# application/x-www-form-urlencoded, as RFC 6749 §2.3.1 / appendix B use it.
sub form_encode {
    my ($s) = @_;
    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^A-Za-z0-9\-._* ])/sprintf('%%%02X', ord $1)/ge;
    $s =~ tr/ /+/;
    return $s;
}

# [k => v, ...] -> "k=v&...", each side form-encoded.
sub form_body {
    my ($pairs) = @_;
    my @p = @$pairs;
    my @out;
    while (@p) {
        my ($k, $v) = splice @p, 0, 2;
        push @out, form_encode($k) . '=' . form_encode($v);
    }
    return join '&', @out;
}

# The Authorization header value for client_secret_basic (RFC 6749 §2.3.1).
sub basic_credentials {
    my ($id, $secret, %o) = @_;
    my $pair = $o{raw} ? "$id:$secret" : form_encode($id) . ':' . form_encode($secret);
    return 'Basic ' . encode_base64($pair, '');
}

sub b64_nopad {
    my $b = encode_base64($_[0], '');
    $b =~ s/=+$//;
    return $b;
}

sub sha256_hash { return '$sha256$' . b64_nopad(sha256($_[0])) }

# PBKDF2-HMAC-SHA256 (RFC 8018 §5.2), $len <= 32.
sub pbkdf2_sha256 {
    my ($password, $salt, $iterations, $len) = @_;
    $len //= 32;
    my $u = hmac_sha256($salt . pack('N', 1), $password);
    my $t = $u;
    for (2 .. $iterations) {
        $u = hmac_sha256($u, $password);
        $t ^= $u;
    }
    return substr($t, 0, $len);
}

sub pbkdf2_hash {
    my ($secret, $iterations, $salt) = @_;
    $iterations //= 1000;
    $salt //= join '', map { chr int rand 256 } 1 .. 16;
    return sprintf '$pbkdf2-sha256$i=%d$%s$%s', $iterations, b64_nopad($salt),
        b64_nopad(pbkdf2_sha256($secret, $salt, $iterations));
}

# A secret of 256 random bits, base64url (fine for $sha256$ hashes).
sub random_secret {
    my $bytes;
    if (open my $fh, '<:raw', '/dev/urandom') {
        read $fh, $bytes, 32;
        close $fh;
    } else {
        $bytes = join '', map { chr int rand 256 } 1 .. 32;
    }
    my $s = b64_nopad($bytes);
    $s =~ tr{+/}{-_};
    return $s;
}

sub need_module {
    my $m = $ENV{OAUTH_MODULE};
    plan skip_all => 'OAUTH_MODULE is not set to the built module' unless $m && -f $m;
}

# A test file that drives a tool `make test` installs skips when it is missing
# (MISSING says what), but fails under CI, which must not skip silently.
sub need_or_skip {
    my ($have, $missing) = @_;
    return if $have;
    plan skip_all => "$missing (make integration installs it)" unless $ENV{CI};
    fail($missing);
    done_testing;
    exit;
}

# Debian's /usr/bin/python3 (not a pyenv python3 first on PATH), once it
# imports MODULES (Python's import list) from the Debian PACKAGE.
my $PYTHON = '/usr/bin/python3';
sub need_python {
    my ($modules, $package) = @_;
    need_or_skip(system("$PYTHON -c 'import $modules' >/dev/null 2>&1") == 0,
        "$package is not importable by $PYTHON");
    return $PYTHON;
}

# ---- lifecycle ----------------------------------------------------------------

sub new {
    my ($class, %opts) = @_;
    # module => 0 leaves the module out (the harness's own self-test)
    my $self = bless {workers => 2, log_level => 'info', %opts}, $class;
    $self->{module} = (exists $opts{module} && !$opts{module}) ? undef : $ENV{OAUTH_MODULE};

    $self->{prefix} = tempdir('oauth-t-XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{OAUTH_KEEP});
    chmod 0755, $self->{prefix};
    mkdir "$self->{prefix}/$_" for qw(logs tmp);
    chmod 0755, "$self->{prefix}/$_" for qw(logs tmp);
    diag("prefix: $self->{prefix}") if $ENV{OAUTH_KEEP};
    $self->{port} = $opts{port} // free_port();
    $self->write_clients($opts{clients}) if exists $opts{clients};
    if (my $files = $opts{files}) {
        $self->write_file($_, $files->{$_}) for keys %$files;
    }
    return $self;
}

# OAuthTest->start(%opts) builds and starts; $t->start starts a built one.
sub start {
    my ($self, %opts) = @_;
    $self = $self->new(%opts) unless ref $self;
    $self->write_conf;
    my ($rc, $out) = $VALGRIND ? $self->_start_under_valgrind
        : $self->run_nginx('-p', "$self->{prefix}/", '-c', $self->conf_path);
    $self->{start_output} = $out;
    if ($rc != 0) {
        die "nginx failed to start (exit $rc):\n$out\n" . $self->error_log;
    }
    $LIVE{"$self"} = $self;
    $self->{master} = $self->_read_pid(5);
    die "nginx wrote no pid file\n$out\n" . $self->error_log unless $self->{master};
    my $deadline = time + ($VALGRIND ? 60 : 5);
    until ($self->_port_open) {
        die "nginx does not accept on port $self->{port}\n" . $self->error_log
            if time > $deadline;
        sleep 0.02;
    }
    $self->_wait_workers($VALGRIND ? 60 : 5);
    return $self;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{master} or return;
    delete $LIVE{"$self"};
    my @workers = $self->_children($pid);
    kill 'TERM', $pid;
    my $deadline = time + ($VALGRIND ? 120 : 5);
    while (grep({ alive($_) } $pid, @workers) && time < $deadline) { sleep 0.02 }
    # whatever outlived the bound is killed, so no nginx stays behind
    for my $p (grep { alive($_) } $pid, @workers) {
        kill 'KILL', $p;
    }
    waitpid $pid, 0 if delete $self->{child};
    $self->_analysis_ok;
    return;
}

# A daemon is not our child: whoever reaps it may leave a zombie for a while.
sub alive {
    my ($pid) = @_;
    return 0 unless kill 0, $pid;
    return slurp("/proc/$pid/stat") =~ /^\d+ \(.*\) Z /s ? 0 : 1;
}

sub DESTROY { $_[0]->stop if $_[0]->{master} }

END { $_->stop for values %LIVE }
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

# ---- files and config -------------------------------------------------------

sub prefix { $_[0]->{prefix} }
sub port   { $_[0]->{port} }
sub url    { "http://127.0.0.1:$_[0]->{port}$_[1]" }
sub conf_path    { "$_[0]->{prefix}/nginx.conf" }
sub clients_path { "$_[0]->{prefix}/" . ($_[0]->{clients_file} // 'clients.json') }
sub start_output { $_[0]->{start_output} // '' }
sub master_pid   { $_[0]->{master} }

sub write_file {
    my ($self, $name, $text) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{prefix}/$name";
    open my $fh, '>:raw', $path or die "$path: $!";
    print $fh $text;
    close $fh or die "$path: $!";
    chmod 0644, $path;
    return $path;
}

# A Perl structure is written as JSON; a plain string as is (broken files).
sub write_clients {
    my ($self, $clients) = @_;
    my $text = ref $clients ? JSON::PP->new->canonical->pretty->encode($clients) : $clients;
    return $self->write_file($self->clients_path, $text);
}

sub substitute {
    my ($self, $text) = @_;
    $text =~ s/%%PORT%%/$self->{port}/g;
    $text =~ s/%%PREFIX%%/$self->{prefix}/g;
    return $text;
}

sub conf_text {
    my ($self, %o) = @_;
    my $p = $self->{prefix};
    my $http = $self->substitute($o{http} // $self->{http} // '');
    my $load = $self->{module} ? "load_module $self->{module};\n" : '';
    # nginx hands a binary upgrade's new master only the variables `env` names:
    # without these, the new master would load the sanitized module bare.
    my $env = $ENV{OAUTH_SANITIZE} ? "env LD_PRELOAD;\nenv ASAN_OPTIONS;\nenv UBSAN_OPTIONS;\n" : '';
    return <<"EOF";
${load}${env}worker_processes $self->{workers};
error_log $p/logs/error.log $self->{log_level};
pid $p/logs/nginx.pid;
daemon ${\ ($VALGRIND ? 'off' : 'on')};
master_process on;

events {
    worker_connections 1024;
}

http {
    access_log off;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;

$http
}
EOF
}

sub write_conf {
    my ($self, %o) = @_;
    $self->{http} = $o{http} if defined $o{http};
    return $self->write_file($self->conf_path, $self->conf_text);
}

# Runs nginx with arguments; returns (exit code, stdout + stderr). The output
# goes to a file: a daemon keeps inherited descriptors open.
sub run_nginx {
    my ($self, @args) = @_;
    local %ENV = (%ENV, $self->_sanitizer_env);
    return run_command([$NGINX, @args], "$self->{prefix}/logs/command.out");
}

sub run_command {
    my ($argv, $out_path, $timeout) = @_;
    $timeout //= 15;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out_path or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec @$argv or POSIX::_exit(127);
    }
    my $deadline = time + $timeout;
    my $rc;
    while (1) {
        my $w = waitpid $pid, WNOHANG;
        if ($w == $pid) { $rc = $? >> 8; last }
        if (time > $deadline) { kill 'KILL', $pid; waitpid $pid, 0; $rc = -1; last }
        sleep 0.01;
    }
    return ($rc, slurp($out_path));
}

# The output of a command the test needs to succeed (within 30 s), its
# trailing newline removed; dies with the output otherwise.
sub output_of {
    my ($self, @argv) = @_;
    my ($rc, $out) = run_command(\@argv, "$self->{prefix}/logs/run.out", 30);
    die "@argv failed: $out" if $rc != 0;
    chomp $out;
    return $out;
}

# `nginx -t` on a whole config text (%%PORT%% / %%PREFIX%% substituted).
sub nginx_t {
    my ($self, $text, $name) = @_;
    my $path = $self->write_file($name // 'test.conf', $self->substitute($text));
    return $self->run_nginx('-t', '-p', "$self->{prefix}/", '-c', $path);
}

# `nginx -t` on this instance's own config, rewritten with the given options.
sub test_config {
    my ($self, %o) = @_;
    $self->write_clients($o{clients}) if exists $o{clients};
    return $self->nginx_t($self->conf_text(%o), 'nginx.conf');
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<:raw', $path or return '';
    local $/;
    my $s = <$fh>;
    return $s // '';
}

sub error_log { slurp("$_[0]->{prefix}/logs/error.log") }

# The part of the error log written since the given offset (bytes).
sub error_log_since { substr($_[0]->error_log, $_[1] // 0) }
sub error_log_size  { -s "$_[0]->{prefix}/logs/error.log" // 0 }

# ---- processes ----------------------------------------------------------------

sub _read_pid {
    my ($self, $wait) = @_;
    my $deadline = time + $wait;
    while (time < $deadline) {
        my $pid = slurp("$self->{prefix}/logs/nginx.pid");
        return $1 if $pid =~ /(\d+)/ && alive($1);
        sleep 0.02;
    }
    return;
}

sub _children {
    my ($self, $ppid) = @_;
    $ppid //= $self->{master} or return ();
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = slurp($stat);
        next unless $s =~ /^(\d+) \(.*\) ([^Z]) (\d+) /s;
        push @kids, $1 if $3 == $ppid;
    }
    return sort { $a <=> $b } @kids;
}

sub worker_pids { $_[0]->_children }

sub _wait_workers {
    my ($self, $wait, @old) = @_;
    my %old = map { $_ => 1 } @old;
    my $deadline = time + $wait;
    while (time < $deadline) {
        my @w = $self->worker_pids;
        return @w if @w == $self->{workers} && !grep { $old{$_} } @w;
        sleep 0.02;
    }
    return;
}

sub _port_open {
    my ($self) = @_;
    my $s = IO::Socket::IP->new(
        PeerHost => '127.0.0.1', PeerPort => $self->{port}, Type => SOCK_STREAM, Timeout => 1);
    return $s ? 1 : 0;
}

sub free_port {
    my $s = IO::Socket::IP->new(
        LocalHost => '127.0.0.1', LocalPort => 0, Type => SOCK_STREAM, Listen => 1, ReuseAddr => 1)
        or die "cannot bind a loopback port: $@";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Rewrites the config (http => snippet) and/or the clients file (clients =>
# ...; or reload($snippet) / reload({clients => [...]})) and sends SIGHUP to
# the master named in the pid file (`nginx -s reload` would parse the new
# config itself and stop at a broken one). Returns 1 once the new workers
# replaced the old ones, 0 when nginx refused the new configuration ([emerg]
# in the log, old workers still serving).
sub reload {
    my ($self, @args) = @_;
    # one argument: a Perl structure is the clients, a string the http snippet
    my %o = @args == 1 ? ((ref $args[0] ? 'clients' : 'http') => $args[0]) : @args;
    $self->write_clients($o{clients}) if exists $o{clients};
    $self->write_conf(http => $o{http}) if exists $o{http};
    my $offset = $self->error_log_size;
    my @old = $self->worker_pids;
    my $master = $self->_read_pid(1) or die "no nginx master to reload";
    kill 'HUP', $master or die "kill HUP $master: $!";
    my $deadline = time + ($VALGRIND ? 60 : 10);
    while (time < $deadline) {
        my $log = $self->error_log_since($offset);
        if ($log =~ /\[emerg\]/) {
            return 0;
        }
        my @now = $self->worker_pids;
        my %old = map { $_ => 1 } @old;
        return 1 if @now == $self->{workers} && !grep { $old{$_} } @now;
        sleep 0.02;
    }
    die "reload did not finish within 10 s\n" . $self->error_log_since($offset);
}

# ---- HTTP -----------------------------------------------------------------------

# HTTP::Tiny writes the request head and body in two writes; on a kept-alive
# connection Nagle's algorithm then waits for a delayed ACK (40 ms a request).
{
    no warnings 'redefine';
    my $connect = \&HTTP::Tiny::Handle::connect;
    *HTTP::Tiny::Handle::connect = sub {
        my $handle = $connect->(@_);
        setsockopt($handle->{fh}, Socket::IPPROTO_TCP(), Socket::TCP_NODELAY(), 1) if $handle->{fh};
        return $handle;
    };
}

sub agent {
    my ($self, %o) = @_;
    return HTTP::Tiny->new(keep_alive => 0, timeout => 10, max_redirect => 0, %o);
}

# request($method, $path, {headers => {...}, body => ..., ua => $http_tiny})
sub request {
    my ($self, $method, $path, $o) = @_;
    $o //= {};
    my $ua = $o->{ua} // ($self->{ua} //= $self->agent);
    my %args = (headers => $o->{headers} // {});
    $args{content} = $o->{body} if defined $o->{body};
    my $r = $ua->request($method, $self->url($path), \%args);
    my $res = {
        status  => $r->{status},
        reason  => $r->{reason},
        headers => $r->{headers},
        content => $r->{content} // '',
    };
    $res->{json} = decode_json_or_undef($res->{content});
    return $res;
}

# GET with the bearer token.
sub bearer_get {
    my ($self, $path, $token) = @_;
    return $self->request('GET', $path, {headers => {Authorization => "Bearer $token"}});
}

# Sends $request->() (each on a fresh connection) until every worker has
# answered twice, 200 requests at most; the location answers X-Worker: $pid.
# Returns ({worker pid => answers}, the responses).
sub in_each_worker {
    my ($self, $request) = @_;
    my @workers = $self->worker_pids;
    my (%seen, @r);
    while (@r < 200 && grep { ($seen{$_} // 0) < 2 } @workers) {
        my $r = $request->();
        push @r, $r;
        $seen{ $r->{headers}{'x-worker'} // 'none' }++;
    }
    return (\%seen, @r);
}

sub decode_json_or_undef {
    my ($text) = @_;
    return undef unless defined $text && length $text;
    my $v = eval { JSON::PP->new->utf8->decode($text) };
    return $v;
}

# token_request(basic => [$id, $secret] | basic_raw => [$id, $secret],
#               authorization => 'header value', form => [k => v, ...] | 'raw body',
#               headers => {...}, query => 'a=b', path => '/token', method => 'POST',
#               content_type => '...' (undef: none), ua => $http_tiny)
sub token_request {
    my ($self, %o) = @_;
    my %h = %{ $o{headers} // {} };
    $h{'Content-Type'} = exists $o{content_type} ? $o{content_type}
        : 'application/x-www-form-urlencoded';
    delete $h{'Content-Type'} unless defined $h{'Content-Type'};
    $h{Authorization} = basic_credentials(@{ $o{basic} }) if $o{basic};
    $h{Authorization} = basic_credentials(@{ $o{basic_raw} }, raw => 1) if $o{basic_raw};
    $h{Authorization} = $o{authorization} if defined $o{authorization};
    my $form = $o{form} // [grant_type => 'client_credentials'];
    my $body = ref $form ? form_body($form) : $form;
    my $path = $o{path} // '/token';
    $path .= "?$o{query}" if defined $o{query};
    return $self->request($o{method} // 'POST', $path,
        {headers => \%h, body => $body, ua => $o{ua}});
}

# Sends raw bytes on a fresh connection and reads until the server closes it
# (or a complete response has arrived); returns the parsed response with the
# bytes in {raw}.
sub raw {
    my ($self, $bytes, %o) = @_;
    my $timeout = $o{timeout} // 5;
    my $s = IO::Socket::IP->new(
        PeerHost => '127.0.0.1', PeerPort => $self->{port}, Type => SOCK_STREAM, Timeout => 2)
        or die "connect: $@";
    $s->autoflush(1);
    binmode $s;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $s, $bytes, length($bytes) - $off, $off;
        last unless defined $n;    # the server may answer and close early
        $off += $n;
    }
    my $buf = '';
    my $deadline = time + $timeout;
    my $rin = '';
    vec($rin, fileno $s, 1) = 1;
    while (time < $deadline) {
        my $n = select(my $rout = $rin, undef, undef, 0.1);
        next unless $n;
        my $got = sysread $s, $buf, 65536, length $buf;
        last unless $got;
        last if response_complete($buf);
    }
    close $s;
    my $res = parse_response($buf);
    $res->{raw} = $buf;
    return $res;
}

sub response_complete {
    my ($buf) = @_;
    my $end = index $buf, "\r\n\r\n";
    return 0 if $end < 0;
    my $head = substr $buf, 0, $end;
    return 1 if $head =~ m{^HTTP/\S+ (?:1\d\d|204|304)};
    return length($buf) >= $end + 4 + $1 if $head =~ /\r\ncontent-length:\s*(\d+)/i;
    return $buf =~ /\r\n0\r\n\r\n\z/ if $head =~ /\r\ntransfer-encoding:\s*chunked/i;
    return 0;
}

sub parse_response {
    my ($buf) = @_;
    my $res = {status => 0, headers => {}, content => ''};
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    return $res unless defined $head && $head =~ m{^HTTP/\d\.\d (\d{3})};
    $res->{status} = $1;
    for my $line (split /\r\n/, $head) {
        next unless $line =~ /^([^:\s]+):\s*(.*?)\s*$/;
        my ($k, $v) = (lc $1, $2);
        if (exists $res->{headers}{$k}) {
            $res->{headers}{$k} = [ref $res->{headers}{$k} ? @{ $res->{headers}{$k} } : $res->{headers}{$k}, $v];
        } else {
            $res->{headers}{$k} = $v;
        }
    }
    $body //= '';
    if (($res->{headers}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr $body, 0, $n, '';
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    $res->{content} = $body;
    $res->{json} = decode_json_or_undef($body);
    return $res;
}

# ---- assertions ------------------------------------------------------------------

# One line per response, for failure diagnostics.
sub show {
    my ($r) = @_;
    my $h = $r->{headers} // {};
    my @h = map {
        my $k = $_;
        map {"$k: $_"} ref $h->{$k} ? @{ $h->{$k} } : $h->{$k}
    } grep { !/^(?:date|server|connection|content-length)$/ } sort keys %$h;
    return "$r->{status} | " . join(' | ', @h) . " | $r->{content}";
}

sub _shared_headers_ok {
    my ($r, $name) = @_;
    my $ok = 1;
    $ok &&= like($r->{headers}{'content-type'} // '', qr{^application/json\s*(?:;\s*charset=utf-8)?$}i,
        "$name: Content-Type application/json");
    $ok &&= is($r->{headers}{'cache-control'}, 'no-store', "$name: Cache-Control no-store");
    $ok &&= is($r->{headers}{pragma}, 'no-cache', "$name: Pragma no-cache");
    return $ok;
}

# A successful token response (RFC 6749 §5.1). Options: scope => 'a b' (the
# granted scopes, any order) or undef when no scope may be in the body;
# expires_in => N. Returns the access token.
sub token_ok {
    my ($r, %e) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $name = $e{name} // 'token response';
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= _shared_headers_ok($r, $name);
    my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
    my @keys = (qw(access_token expires_in token_type), exists $e{scope} && !defined $e{scope} ? () : 'scope');
    $ok &&= is_deeply([sort keys %$j], [sort @keys], "$name: exactly the fields @keys");
    $ok &&= is($j->{token_type}, 'Bearer', "$name: token_type Bearer");
    $ok &&= like($j->{access_token} // '', qr/^[A-Za-z0-9_-]{43,}$/,
        "$name: access_token is base64url without padding, >= 256 bits");
    $ok &&= like($r->{content}, qr/"expires_in"\s*:\s*[1-9][0-9]*\s*[,}]/, "$name: expires_in is a JSON integer");
    if (defined $e{expires_in}) {
        $ok &&= is($j->{expires_in}, $e{expires_in}, "$name: expires_in $e{expires_in}");
    }
    if (defined $e{scope}) {
        $ok &&= like($j->{scope} // '', qr/^[^ ]+(?: [^ ]+)*$/, "$name: scope is space-delimited");
        $ok &&= is(join(' ', sort split / /, $j->{scope} // ''), join(' ', sort split / /, $e{scope}),
            "$name: scope '$e{scope}'");
    }
    diag('response: ' . show($r)) unless $ok;
    return $j->{access_token};
}

# No worker crashed, and nothing went wrong on the server's side: no [alert]
# or [crit] in the startup output or the error log, except lines matching
# the given patterns (a test that fills a zone on purpose).
sub log_clean_ok {
    my ($self, @allowed) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @bad = grep {
        my $l = $_;
        ($l =~ /\[(?:alert|crit)\]/ || $l =~ /exited on signal/) && !grep { $l =~ $_ } @allowed
    } split /\n/, $self->start_output . "\n" . $self->error_log;
    return is(join("\n", @bad), '', 'no crash, [alert] or [crit] in the error log');
}

# An error response (RFC 6749 §5.2): status, error code, the JSON body
# {"error","error_description"} and the cache headers.
sub error_ok {
    my ($r, $status, $error, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $name //= "$status $error";
    my $ok = is($r->{status}, $status, "$name: status $status");
    $ok &&= _shared_headers_ok($r, $name);
    my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
    $ok &&= is_deeply([sort keys %$j], [qw(error error_description)],
        "$name: body has exactly error and error_description");
    $ok &&= is($j->{error}, $error, "$name: error $error");
    $ok &&= like($j->{error_description} // '', qr/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/,
        "$name: error_description within RFC 6749 §5.2 characters");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

# ---- protected locations (RFC 6750) ---------------------------------------------

push @EXPORT_OK, qw(bearer_challenge);

# The WWW-Authenticate value of a Bearer challenge as the module writes it
# (RFC 6750 §3): no error without credentials, else the error, its
# description and, for insufficient_scope, the required scopes.
my %BEARER_DESCRIPTION = (
    invalid_request    => 'malformed bearer credentials',
    invalid_token      => 'the access token is unknown, expired or revoked',
    insufficient_scope => 'the access token lacks a required scope',
);

sub bearer_challenge {
    my ($realm, $error, $scope, $description) = @_;
    my $c = qq{Bearer realm="$realm"};
    return $c unless defined $error;
    $description //= $BEARER_DESCRIPTION{$error};
    $c .= qq{, error="$error", error_description="$description"};
    $c .= qq{, scope="$scope"} if defined $scope;
    return $c;
}

# Sends each request (raw bytes) on its own connection, with all connections
# open at once, then reads every response; returns them parsed, in order.
sub raw_parallel {
    my ($self, $requests, %o) = @_;
    my $deadline = time + ($o{timeout} // 10);
    my @c;
    for my $bytes (@$requests) {
        my $s = IO::Socket::IP->new(
            PeerHost => '127.0.0.1', PeerPort => $self->{port}, Type => SOCK_STREAM, Timeout => 2)
            or die "connect: $@";
        binmode $s;
        push @c, {s => $s, buf => ''};
        my $off = 0;
        while ($off < length $bytes) {
            my $n = syswrite $s, $bytes, length($bytes) - $off, $off;
            last unless defined $n;
            $off += $n;
        }
    }
    while (time < $deadline) {
        my @open = grep { !$_->{done} } @c or last;
        my $rin = '';
        vec($rin, fileno $_->{s}, 1) = 1 for @open;
        next unless select(my $rout = $rin, undef, undef, 0.1) > 0;
        for my $c (grep { vec($rout, fileno $_->{s}, 1) } @open) {
            my $got = sysread $c->{s}, $c->{buf}, 65536, length $c->{buf};
            $c->{done} = 1 if !$got || response_complete($c->{buf});
        }
    }
    return map {
        close $_->{s};
        my $r = parse_response($_->{buf});
        $r->{raw} = $_->{buf};
        $r;
    } @c;
}

# ---- sanitizers and valgrind ------------------------------------------------------
#
# OAUTH_SANITIZE="libasan.so libubsan.so": every nginx the harness runs gets
# them in LD_PRELOAD (the stock binary is not instrumented; the module is), and
# writes any report to logs/asan.PID or logs/ubsan.PID. Leak detection is off:
# nginx leaves its own pools to the exit.
#
# OAUTH_VALGRIND=1: the master runs in the foreground (daemon off) under
# memcheck, and so do the workers it forks; each process logs to
# logs/valgrind.PID.log. (With master_process off nginx cannot reload: the new
# cycle gets no connections.)
#
# Either way, stop() fails the test file on a report: for valgrind, any
# invalid read, write or free, and any other error or leak (definite or
# possible) whose stack passes through the module; nginx's own are left.

sub _sanitizer_env {
    my ($self) = @_;
    my $preload = $ENV{OAUTH_SANITIZE} or return ();
    my $logs = "$self->{prefix}/logs";
    return (
        LD_PRELOAD    => $preload,
        ASAN_OPTIONS  => "detect_leaks=0:halt_on_error=1:log_path=$logs/asan",
        UBSAN_OPTIONS => "halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan",
    );
}

# Starts nginx in the foreground under valgrind as a child; returns like
# run_nginx once it wrote its pid file, or exited.
sub _start_under_valgrind {
    my ($self) = @_;
    my $logs = "$self->{prefix}/logs";
    unlink "$logs/nginx.pid";
    my @argv = ('valgrind', '--tool=memcheck', "--log-file=$logs/valgrind.%p.log", '--leak-check=full',
        '--show-leak-kinds=definite,possible', '--errors-for-leak-kinds=definite', '--num-callers=40',
        '--error-limit=no', $NGINX, '-p', "$self->{prefix}/", '-c', $self->conf_path);
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$logs/command.out" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec @argv or POSIX::_exit(127);
    }
    my $deadline = time + 60;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            return ($? >> 8 || 1, slurp("$logs/command.out") . slurp("$logs/valgrind.$pid.log"));
        }
        if (slurp("$logs/nginx.pid") =~ /^(\d+)/ && $1 == $pid) {
            $self->{child} = $pid;
            return (0, slurp("$logs/command.out"));
        }
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
    return (-1, "nginx under valgrind wrote no pid file within 60 s");
}

# Valgrind's records that fail a test: see above.
sub valgrind_problems {
    my ($log) = @_;
    return ('valgrind wrote no log') unless length $log;
    $log =~ s/^==\d+==[ ]?//mg;
    my @problems = $log =~ /ERROR SUMMARY/ ? () : ('valgrind did not finish (nginx was killed?)');
    for my $record (split /\n\s*\n/, $log) {
        my $ours = $record =~ /oauth/;
        if ($record =~ /^Invalid (?:read|write|free)/m
            || ($ours && $record =~ /(?:definitely|possibly) lost|^Conditional jump|^Use of uninitialised|^Syscall param|^Mismatched|^Source and destination overlap/m)) {
            push @problems, $record;
        }
    }
    return @problems;
}

sub _analysis_ok {
    my ($self) = @_;
    my $logs = "$self->{prefix}/logs";
    my @problems = map { "$_:\n" . slurp($_) } grep { -s $_ } glob "$logs/asan.* $logs/ubsan.*";
    if ($VALGRIND && $self->{module}) {
        push @problems, map { my $f = $_; map {"$f:\n$_"} valgrind_problems(slurp($f)) }
            glob "$logs/valgrind.*.log";
    }
    return 1 unless @problems;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::ok(0, 'nginx: no sanitizer or valgrind report');
    Test::More::diag($_) for @problems;
    return 0;
}


# ---- a complete authorization server, for the interop tests -----------------

# The token formats the interop tests run for: opaque, and a JWT signed with
# each algorithm the module signs with. Each is [name, start_interop_server's
# options].
sub interop_variants {
    return (['opaque', format => 'opaque'],
        map { ["jwt $_", format => 'jwt', alg => $_] } qw(ES256 RS256 EdDSA));
}

# Every endpoint, discovery, and a static protected /api/reports ("ok"): a
# static file, since `return` would answer before the access phase checks
# anything. Client "reporting" (reports:read metrics:read) and the resource
# server "gateway" (may introspect). format => 'jwt' issues JWTs signed by a
# new key of alg (ES256, RS256 or EdDSA), published at /jwks. Returns ($t,
# $reporting_secret, $gateway_secret).
sub start_interop_server {
    my ($class, %o) = @_;
    my $jwt = ($o{format} // 'opaque') eq 'jwt';
    my ($secret, $rs_secret) = (random_secret(), random_secret());
    my $t = $class->new(
        clients => {clients => [
            {client_id => 'reporting', client_secret_hash => sha256_hash($secret),
             scope => 'reports:read metrics:read'},
            {client_id => 'gateway', client_secret_hash => sha256_hash($rs_secret), scope => '',
             introspection => JSON::PP::true},
        ]});
    $t->genpkey('signing.pem', $o{alg}) if $jwt;
    my ($key, $format, $jwks) = $jwt
        ? ('oauth_signing_key signing.pem;', ' format=jwt', 'location = /jwks { oauth_jwks; }')
        : ('', '', '');
    $t->write_conf(http => <<"CONF");
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_realm "interop";
oauth_issuer http://127.0.0.1:%%PORT%%;

server {
    listen 127.0.0.1:%%PORT%%;
    $key
    location = /token { oauth_token_endpoint$format; }
    location = /introspect { oauth_introspection_endpoint; }
    location = /revoke { oauth_revocation_endpoint; }
    location = /.well-known/oauth-authorization-server { oauth_metadata; }
    $jwks
    location /api/ {
        oauth_require_scope reports:read;
        root %%PREFIX%%/html;
        default_type text/plain;
        add_header X-Client-Id \$oauth_client_id;
    }
}
CONF
    mkdir $t->prefix . "/$_" for qw(html html/api);
    $t->write_file('html/api/reports', "ok\n");
    $t->start;
    return ($t, $secret, $rs_secret);
}

# ---- JWT signing keys ---------------------------------------------------------

# What openssl genpkey makes for each algorithm the module signs with.
my %GENPKEY = (
    ES256 => [qw(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)],
    RS256 => [qw(-algorithm RSA -pkeyopt rsa_keygen_bits:2048)],
    EdDSA => [qw(-algorithm ED25519)],
);

# A new private key in FILE of the prefix, mode 0600 (nginx -t warns of one
# that others may read): of one of %GENPKEY's algorithms, or made by the
# openssl genpkey arguments given instead. Returns its path.
#   $t->genpkey('es.pem', 'ES256');
#   $t->genpkey('p384.pem', qw(-algorithm EC -pkeyopt ec_paramgen_curve:P-384));
sub genpkey {
    my ($self, $file, @args) = @_;
    @args = @{ $GENPKEY{$args[0]} // die "no key type for $args[0]" } if @args == 1;
    my $path = "$self->{prefix}/$file";
    my ($rc, $out) = run_command(['openssl', 'genpkey', @args, '-out', $path],
        "$self->{prefix}/logs/openssl.out");
    die "openssl genpkey @args failed: $out" if $rc != 0;
    chmod 0600, $path;
    return $path;
}


# ---- protected locations: the answers of RFC 6750 §3 -------------------------

# The WWW-Authenticate values of a response, as a list.
sub www_authenticate {
    my $v = $_[0]{headers}{'www-authenticate'};
    return ref $v ? @$v : defined $v ? ($v) : ();
}

# Let through: 200 with the protected file ("ok\n") and no challenge.
sub passed_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= is($r->{content}, "ok\n", "$name: the protected content");
    $ok &&= is_deeply([www_authenticate($r)], [], "$name: no WWW-Authenticate");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

# Refused with the status and exactly this one challenge.
sub refused_ok {
    my ($r, $status, $challenge, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, $status, "$name: $status");
    $ok &&= is_deeply([www_authenticate($r)], [$challenge], "$name: WWW-Authenticate: $challenge");
    $ok &&= unlike($r->{content}, qr/^ok$/m, "$name: not the protected content");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

# The error_description of a refused JWT names the failed check (SPEC
# "Diagnosis"): any text RFC 6750 §3 allows there but the opaque tokens' one.
my $JWT_REFUSAL = qr/^(?!\Q$BEARER_DESCRIPTION{invalid_token}\E)[\x20\x21\x23-\x5b\x5d-\x7e]+$/;

# GET path with the token: refused with 401 invalid_token in the default realm,
# with `description` when given; else the opaque tokens' one, or for a JWT
# one that names the failed check.
sub invalid_token_ok {
    my ($self, $path, $token, $name, $description) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $self->bearer_get($path, $token);
    if (!defined $description && $token =~ /^[^.]*\.[^.]*\.[^.]*$/) {
        ($description) = ((www_authenticate($r))[0] // '') =~ /error_description="([^"]*)"/;
        like $description // '', $JWT_REFUSAL, "$name: a JWT's error_description names its check";
    }
    return refused_ok($r, 401, bearer_challenge('oauth', 'invalid_token', undef, $description), $name);
}


# 401 invalid_client, with exactly this Basic challenge, or none when undef.
sub invalid_client_ok {
    my ($r, $name, $challenge_expected) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    error_ok($r, 401, 'invalid_client', $name);
    if (defined $challenge_expected) {
        is $r->{headers}{'www-authenticate'}, $challenge_expected, "$name: WWW-Authenticate";
    } else {
        ok !exists $r->{headers}{'www-authenticate'}, "$name: no WWW-Authenticate" or diag show($r);
    }
}

1;
