# IdPs on loopback for the tests of keys fetched from a URL: a CA made with
# openssl, a server certificate for 127.0.0.1 signed by it, and one
# t/interop/idp_https.py process per IdP, serving the files of its own
# directory (see that script for which file answers which path).
package TestIdP;
use strict;
use warnings;
use FindBin;
use IO::Socket::IP;
use POSIX ();
use Test::More ();
use Time::HiRes qw(time sleep);

my $SCRIPT = "$FindBin::Bin/interop/idp_https.py";
my %RUNNING;

# A request waits at most 2 s for a refetch, which a TLS fetch under
# memcheck outlasts: the tests of keys from a URL do not run under valgrind.
sub skip_under_valgrind {
    Test::More::plan(skip_all => 'a request waits at most 2 s for a refetch, and a TLS fetch '
        . 'under memcheck takes longer: not under valgrind') if $ENV{OAUTH_VALGRIND};
}

# CA NAME (NAME.pem, NAME.key) in the test's prefix.
sub make_ca {
    my ($t, $ca) = @_;
    my $p = $t->prefix;
    $t->output_of('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
        "$p/$ca.key", '-out', "$p/$ca.pem", '-days', '2', '-subj', "/CN=test $ca");
}

# NAME.crt and NAME.key, for 127.0.0.1 and localhost, signed by CA.
sub make_certificate {
    my ($t, $ca, $name) = @_;
    my $p = $t->prefix;
    $t->write_file("$name.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    $t->output_of('openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$p/$name.key",
        '-out', "$p/$name.csr", '-subj', '/CN=127.0.0.1');
    $t->output_of('openssl', 'x509', '-req', '-in', "$p/$name.csr", '-CA', "$p/$ca.pem",
        '-CAkey', "$p/$ca.key", '-CAcreateserial', '-out', "$p/$name.crt", '-days', '2',
        '-extfile', "$p/$name.ext");
}

# An IdP named NAME, not started yet: its directory and port.
sub new {
    my ($class, $t, $name, %opts) = @_;
    my $self = bless {t => $t, name => $name, python => $opts{python},
        port => $opts{port} // OAuthTest::free_port(), dir => $t->prefix . "/idp-$name"}, $class;
    mkdir $self->{dir};
    return $self;
}

sub dir  { $_[0]{dir} }
sub port { $_[0]{port} }
sub base { "https://127.0.0.1:$_[0]{port}" }

# Writes each file atomically: a request sees the old text or the new.
sub set {
    my ($self, %files) = @_;
    while (my ($file, $text) = each %files) {
        my $path = "$self->{dir}/$file";
        open my $f, '>', "$path.tmp" or die "$path.tmp: $!";
        print $f $text;
        close $f;
        rename "$path.tmp", $path or die "$path: $!";
    }
}

# The paths requested so far that match RE.
sub hits {
    my ($self, $re) = @_;
    my $log = OAuthTest::slurp("$self->{dir}/hits") // '';
    return scalar grep { $_ =~ $re } split /\n/, $log;
}

# Serves https with CERT (CERT.crt, CERT.key in the prefix); waits until it listens.
sub start {
    my ($self, $cert) = @_;
    my $p = $self->{t}->prefix;
    return $self->run($self->{python}, $SCRIPT, 'serve', $self->{dir}, $self->{port},
        "$p/$cert.crt", "$p/$cert.key");
}

# Runs ARGV, an IdP that listens on this one's port (its output into its
# directory's log), and waits until it listens.
sub run {
    my ($self, @argv) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/log";
        open STDERR, '>&', \*STDOUT;
        { exec @argv }
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $RUNNING{$pid} = $self;
    my $deadline = time + 20;
    until (IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $self->{port})) {
        die "the IdP $self->{name} does not listen:\n" . OAuthTest::slurp("$self->{dir}/log")
            if time > $deadline || waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }
    return $self;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    delete $RUNNING{$pid};
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

END { local $?; $_->stop for values %RUNNING }

# The workers fetch an issuer's keys after the start: sends TOKEN to $t's
# PATH until it passes, for SECONDS (10) at most; returns the last response.
sub wait_passes {
    my ($t, $path, $token, $seconds) = @_;
    my $deadline = time + ($seconds // 10);
    my $r;
    do { $r = $t->bearer_get($path, $token); return $r if $r->{status} == 200; sleep 0.1 }
        while time < $deadline;
    return $r;
}

1;
