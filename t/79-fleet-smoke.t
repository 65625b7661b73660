# The fleet's smallest whole path (SPEC "A fleet of nodes"): a real
# redis-server, two nodes sharing a signing key; a JWT issued on A and
# revoked on B is refused on A within a second; a node started afterwards
# refuses it from its first request; nginx -t names what is wrong in
# oauth_fleet_redis; a client assertion's replay window across nodes, whose
# replay caches are each their own. The fleet's full suite is t/80-fleet*.t.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use OAuthTest qw(need_module need_python sha256_hash random_secret show);

need_module();
if (!grep { -x "$_/redis-server" } split /:/, $ENV{PATH}) {
    fail('redis-server is not installed (make test installs it)') if $ENV{CI};
    plan skip_all => 'redis-server is not installed (make test installs it)';
}

my $slow = $ENV{OAUTH_VALGRIND} ? 30 : $ENV{OAUTH_SANITIZE} ? 3 : 1;

# ---- Redis on a free loopback port, in its own directory ---------------------------
my $dir = tempdir('oauth-fleet-smoke-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $redis_port = OAuthTest::free_port();
my $redis;
sub start_redis {
    $redis = fork // die "fork: $!";
    if (!$redis) {
        open STDOUT, '>>', "$dir/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', '--port', $redis_port, '--bind', '127.0.0.1', '--dir', $dir,
            '--save', '', '--appendonly', 'no';
        die "exec redis-server: $!";
    }
    my $deadline = time + 5 * $slow;
    until (IO::Socket::INET->new(PeerAddr => "127.0.0.1:$redis_port")) {
        die "redis-server does not listen on $redis_port" if time > $deadline;
        sleep 0.05;
    }
}
sub stop_redis {
    kill 'TERM', $redis;
    waitpid $redis, 0;
    undef $redis;
}
END { stop_redis() if $redis }
start_redis();

# ---- the nodes -------------------------------------------------------------------
my $secret = random_secret();
for my $key (qw(es keyed)) {
    (OAuthTest::run_command([qw(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out),
        "$dir/$key.pem"], "$dir/openssl.out"))[0] == 0 or die 'openssl genpkey failed';
}
# private_key_jwt, for the replay window (t/interop/client_assertion.py signs)
my $python = need_python('jwt, cryptography', 'python3-jwt');
my $signer = "$FindBin::Bin/interop/client_assertion.py";
sub run_signer {
    my ($rc, $out) = OAuthTest::run_command([$python, $signer, @_], "$dir/signer.out");
    die "client_assertion.py: $out" if $rc != 0;
    chomp $out;
    return $out;
}
my $clients = {clients => [
    {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'},
    {client_id => 'keyed', token_endpoint_auth_method => 'private_key_jwt', scope => 'read',
     jwks => JSON::PP->new->decode(run_signer('jwks', "$dir/keyed.pem", 'keyed-key'))}]};

sub node_conf {
    my (%o) = @_;
    my $fleet = $o{fleet} // "oauth_fleet_redis 127.0.0.1:$redis_port;";
    my $signing = $o{no_key} ? '' : "oauth_signing_key $dir/es.pem kid=fleet;";
    my $format = $o{opaque} ? '' : 'format=jwt';
    my $state = $o{state} ? ' state=state/tokens.state' : '';
    return <<"CONF";
oauth_token_zone tokens:1m$state;
oauth_clients clients.json;
$fleet
server {
    listen 127.0.0.1:%%PORT%%;
    oauth_issuer http://fleet.test;
    $signing
    location = /token { oauth_token_endpoint $format; }
    location = /revoke { oauth_revocation_endpoint; }
    location /api/ {
        oauth_require_scope read;
        add_header X-Fleet-Synced \$oauth_fleet_synced always;
        alias %%PREFIX%%/html/;
    }
    location = /metrics { oauth_metrics; }
}
CONF
}

sub node {
    my (%o) = @_;
    my $t = OAuthTest->new(clients => $clients);
    mkdir $t->prefix . '/html';
    $t->write_file('html/index.html', "ok\n");
    if ($o{state}) {
        # nginx started by root runs its workers as nobody: they write the file.
        mkdir $t->prefix . '/state' or die;
        chown $> == 0 ? (getpwnam 'nobody')[2] : $>, -1, $t->prefix . '/state' or die;
    }
    $t->write_conf(http => node_conf(%o));
    return $t->start;
}

sub jwt_of {
    my ($t) = @_;
    my $r = $t->token_request(basic => ['app', $secret], form => [grant_type => 'client_credentials']);
    return $r->{json}{access_token} // '';
}

sub revoke {
    my ($t, $token) = @_;
    return $t->request('POST', '/revoke', {
        headers => {Authorization => OAuthTest::basic_credentials('app', $secret),
                    'Content-Type' => 'application/x-www-form-urlencoded'},
        body => "token=$token"})->{status};
}

# Waits up to $seconds for $jwt to be refused on $t.
sub refused_within {
    my ($t, $jwt, $seconds) = @_;
    my $t0 = time;
    while (time - $t0 < $seconds) {
        return 1 if api($t, $jwt)->{status} == 401;
        sleep 0.02;
    }
    return 0;
}

sub api {
    my ($t, $jwt) = @_;
    return $t->request('GET', '/api/', {headers => {Authorization => "Bearer $jwt"}});
}

my @nodes = (node(), node());
my $r = $nodes[0]->token_request(basic => ['app', $secret], form => [grant_type => 'client_credentials']);
is $r->{status}, 200, 'a JWT from node A' or diag show($r);
my $jwt = $r->{json}{access_token} // '';
is api($_, $jwt)->{status}, 200, 'it passes on node ' . ($_ == $nodes[0] ? 'A' : 'B') for @nodes;

is revoke($nodes[1], $jwt), 200, 'revoked on node B';
is api($nodes[1], $jwt)->{status}, 401, 'refused on B at once';
my $t0 = time;
my $refused;
while (time - $t0 < $slow) {
    last if ($refused = api($nodes[0], $jwt)->{status} == 401);
    sleep 0.01;
}
ok $refused, 'refused on node A within 1 s';
diag(sprintf 'propagation: %.0f ms', 1000 * (time - $t0));

my $late = node();
is api($late, $jwt)->{status}, 401, 'a node started afterwards refuses it from its first request';
like $late->error_log, qr/oauth_fleet_redis: stream "oauth:tokens": \d+ entries applied at start/,
    'it read the stream at start';

my $synced;
for (1 .. 50) {
    last if ($synced = api($late, $jwt = $nodes[0]->token_request(basic => ['app', $secret],
        form => [grant_type => 'client_credentials'])->{json}{access_token})->{headers}{'x-fleet-synced'} eq '1');
    sleep 0.1;
}
ok $synced, '$oauth_fleet_synced is 1 on a node whose reader hears from Redis';
like $late->request('GET', '/metrics')->{content}, qr/^oauth_fleet_connected\{zone="tokens"\} 1$/m,
    'oauth_fleet_connected 1';

# A revocation made while Redis is away, on a node with state= that is then
# stopped, and Redis back without its data: the node's next life publishes
# it, and a node that never stopped refuses it.
my $stateful = node(state => 1);
my $kept = jwt_of($stateful);
stop_redis();
is revoke($stateful, $kept), 200, 'Redis away: revoked on a node with state=';
$stateful->stop;
start_redis();
$stateful->start;
ok refused_within($nodes[0], $kept, 10 * $slow),
    'Redis back empty, that node restarted: its revocation reaches the others';
is api($stateful, $kept)->{status}, 401, '... and it still refuses it itself';

# More revocations than the outbox holds (94 in a 1m zone) while Redis is
# away: the node publishes its whole revocation list once Redis is back.
my @many = map { jwt_of($nodes[0]) } 1 .. 100;
stop_redis();
revoke($nodes[0], $_) for @many;
start_redis();
my $all = 1;
$all &&= refused_within($nodes[1], $_, 10 * $slow) for @many;
ok $all, 'a full outbox: all 100 revocations reach the other node once Redis is back';
like $nodes[0]->error_log, qr/\[warn\].*oauth_fleet_redis: \d+ revocations did not fit in the outbox/,
    '... and the node says some did not fit';

$_->log_clean_ok for @nodes, $late, $stateful;
# The replay window (README, "The replay window"): each node's replay cache
# is its own, so an assertion taken on A is taken once more on B, then never
# again there; within its exp + 30 s, which t/35 holds to at most 5 minutes.
my $assertion = run_signer('sign', "$dir/keyed.pem", 'keyed-key', 'keyed', 'http://fleet.test',
    'ok');
my $by_assertion = sub {
    my ($t) = @_;
    return $t->token_request(form => [grant_type => 'client_credentials',
        client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion => $assertion])->{status};
};
is $by_assertion->($nodes[0]), 200, 'an assertion taken on node A';
is $by_assertion->($nodes[0]), 401, 'refused there the second time';
is $by_assertion->($nodes[1]), 200, 'taken once more on node B: its replay cache is its own';
is $by_assertion->($nodes[1]), 401, 'then refused there too';

$_->stop for @nodes, $late, $stateful;

# ---- nginx -t ----------------------------------------------------------------------
my $t = OAuthTest->new(clients => $clients);
$t->write_file('password', "s3cret\n");
my %errors = (
    'a bad address' => ['oauth_fleet_redis 127.0.0.1;', qr/invalid address "127\.0\.0\.1" in oauth_fleet_redis/],
    'an empty unix path' => ['oauth_fleet_redis unix:;', qr/invalid address "unix:"/],
    'an unreadable password file' => ["oauth_fleet_redis 127.0.0.1:$redis_port password_file=missing;",
        qr/cannot read password_file ".*missing"/],
    'a bad db' => ["oauth_fleet_redis 127.0.0.1:$redis_port db=x;", qr/invalid db "db=x"/],
    'a negative db' => ["oauth_fleet_redis 127.0.0.1:$redis_port db=-1;", qr/invalid db "db=-1"/],
    'an unknown parameter' => ["oauth_fleet_redis 127.0.0.1:$redis_port tls=on;", qr/invalid parameter "tls=on"/],
);
for my $name (sort keys %errors) {
    my ($line, $message) = @{ $errors{$name} };
    my ($rc, $out) = $t->nginx_t($t->conf_text(http => node_conf(fleet => $line)));
    isnt $rc, 0, "nginx -t fails on $name";
    like $out, qr/$message.* in \S+test\.conf:\d+/, "... and names it with file:line" or diag $out;
}
my ($rc, $out) = $t->nginx_t($t->conf_text(http => node_conf(no_key => 1, opaque => 1)));
isnt $rc, 0, 'nginx -t fails without an oauth_signing_key';
like $out, qr/oauth_fleet_redis needs an oauth_signing_key.* in \S+test\.conf:\d+/, '... and says so';
($rc, $out) = $t->nginx_t($t->conf_text(http => node_conf(opaque => 1,
    fleet => "oauth_fleet_redis 127.0.0.1:$redis_port password_file=password db=1 key=smoke;")));
is $rc, 0, 'password_file, db and key are taken' or diag $out;
like $out, qr/\[warn\].*oauth_token_endpoint issues opaque tokens on a fleet node.* in \S+test\.conf:\d+/,
    'nginx -t warns when a fleet node issues opaque tokens';

done_testing;
