# Keys from a URL with a real RFC 9068 issuer: node oidc-provider over https
# on loopback, with a CA made here (t/interop/oidc_provider.mjs), issuing JWT
# access tokens by the client credentials grant. discovery and jwks_uri both
# take its keys; a flood of tokens naming random kids refetches its keys at
# most once per 30 s, while its own tokens pass at once; its key rotation
# (restarted with a new key) is picked up without a reload; its tokens keep
# passing with it stopped, and across a reload.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use Test::More;
use OAuthTest qw(need_module need_or_skip need_python show passed_ok);
use TestIdP;

need_module();
TestIdP::skip_under_valgrind();


my $root = "$FindBin::Bin/..";
my $script = "$FindBin::Bin/interop/oidc_provider.mjs";
# `make integration` installs node and runs npm ci
need_or_skip(-f "$root/node_modules/oidc-provider/package.json"
    && system('node -e "" >/dev/null 2>&1') == 0 && system('curl --version >/dev/null 2>&1') == 0,
    'node, curl or node_modules/oidc-provider is missing');
my $python = need_python('jwt, cryptography', 'python3-jwt');

my $t = OAuthTest->new;
my $p = $t->prefix;
sub run { $t->output_of(@_) }
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

run('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$p/ca.key", '-out',
    "$p/ca.pem", '-days', '2', '-subj', '/CN=test CA');
run('openssl', 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', "$p/idp.key", '-out',
    "$p/idp.csr", '-subj', '/CN=127.0.0.1');
$t->write_file('idp.ext', "subjectAltName=IP:127.0.0.1\n");
run('openssl', 'x509', '-req', '-in', "$p/idp.csr", '-CA', "$p/ca.pem", '-CAkey', "$p/ca.key",
    '-CAcreateserial', '-out', "$p/idp.crt", '-days', '2', '-extfile', "$p/idp.ext");
run('node', $script, 'key', "$p/$_.json", $_) for qw(first second);

my $port = OAuthTest::free_port();
my $issuer = "https://127.0.0.1:$port";
my $idp;
sub start_idp {
    my @keys = map { "$p/$_.json" } @_;
    $idp = fork // die "fork: $!";
    if (!$idp) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$p/idp.log";
        open STDERR, '>&', \*STDOUT;
        { exec 'node', $script, 'serve', $port, "$p/idp.crt", "$p/idp.key", @keys }
        POSIX::_exit(127);
    }
    my $deadline = time + 15;
    until (IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $port)) {
        die "oidc-provider does not listen:\n" . OAuthTest::slurp("$p/idp.log") if time > $deadline;
        sleep 0.05;
    }
}
sub stop_idp {
    return unless $idp;
    kill 'TERM', $idp;
    waitpid $idp, 0;
    undef $idp;
}
END { local $?; stop_idp() }

# A token from oidc-provider, by the client credentials grant, for the API.
sub token {
    my $json = run('curl', '-sS', '--fail', '--cacert', "$p/ca.pem", '-u', 'svc:svc-secret',
        '-d', 'grant_type=client_credentials', '-d', 'scope=read', '-d',
        'resource=https://api.example', "$issuer/token");
    return decode_json($json)->{access_token};
}
sub kid_of { my ($h) = split /\./, $_[0]; decode_json(MIME::Base64::decode_base64url($h))->{kid} }
use MIME::Base64 ();

sub location {
    my ($path, $how) = @_;
    return "    location /$path/ { oauth_trust_issuer $issuer $how; oauth_require_scope read;\n"
        . "        oauth_require_audience https://api.example; alias %%PREFIX%%/html/; }\n";
}
$t->write_conf(http => "oauth_token_zone tokens:1m;\noauth_trusted_certificate ca.pem;\n"
    . "server {\n    listen 127.0.0.1:%%PORT%%;\n    location = /metrics { oauth_metrics; }\n"
    . location('disc', 'discovery') . location('uri', "jwks_uri=$issuer/jwks") . "}\n");

start_idp('first');
$t->start;

my $first = token();
is kid_of($first), 'first', "oidc-provider signs with its first key";
passed_ok(TestIdP::wait_passes($t, '/disc/', $first), 'discovery: its token passes');
passed_ok(TestIdP::wait_passes($t, '/uri/', $first), 'jwks_uri: its token passes');

my $second;
subtest 'its key rotation is picked up without a reload' => sub {
    stop_idp();
    start_idp('second');
    $second = token();
    is kid_of($second), 'second', 'restarted with a new key';
    passed_ok($t->bearer_get('/disc/', $second), 'discovery: a token of the new key, at once');
    passed_ok($t->bearer_get('/uri/', $second), 'jwks_uri: a token of the new key, at once');
    $t->invalid_token_ok('/uri/', $first, 'a token of the key it no longer publishes');
    like $t->error_log, qr/\[notice\].*oauth_trust_issuer "\Q$issuer\E": keys fetched \(version 2\)/,
        'the new set is logged';
};

# The fetches of its key set from jwks_uri, as nginx counts them.
sub uri_fetches {
    my $metrics = $t->request('GET', '/metrics')->{content};
    my $labels = sprintf 'issuer="%s",source="%s/jwks"', $issuer, $issuer;
    my $count = 0;
    $count += $1 while $metrics =~ /^oauth_trusted_key_fetches_total\{\Q$labels\E,result="\w+"\} (\d+)$/mg;
    return $count;
}

subtest 'a flood of random kids: at most one refetch, and its own tokens pass throughout' => sub {
    my $idp_https = "$FindBin::Bin/interop/idp_https.py";
    run($python, $idp_https, 'key', $p, 'flooder');
    my @flood = map { run($python, $idp_https, 'token', $p, 'flooder', $issuer,
        "random-$_-" . int(rand 1e9)) } 1 .. 40;
    my $before = uri_fetches();
    cmp_ok $before, '>=', 1, 'its keys were fetched from jwks_uri before';
    my ($started, $slowest, @bad) = (time, 0);
    for my $forged (@flood) {
        my $sent = time;
        my $r = $t->bearer_get('/uri/', $forged);
        $slowest = time - $sent if time - $sent > $slowest;
        push @bad, $r if $r->{status} != 401;
        my $genuine = $t->bearer_get('/uri/', $second);
        push @bad, $genuine if $genuine->{status} != 200;
    }
    is scalar(@bad), 0, 'every random kid refused, every token of its key passed' or diag show($bad[0]);
    cmp_ok uri_fetches() - $before, '<=', 1, 'at most one refetch for the 40 kids';
    cmp_ok $slowest, '<', 2.5, 'no request waited more than the 2 s bound';
    cmp_ok time - $started, '<', 10, 'nor did the flood wait for each kid';
};

subtest 'with it stopped, its tokens pass, and across a reload' => sub {
    stop_idp();
    passed_ok($t->bearer_get('/uri/', $second), 'with oidc-provider stopped, its tokens pass');
    ok $t->reload, 'reloaded with it stopped';
    passed_ok($t->bearer_get('/disc/', $second), 'and after the reload');
};

$t->log_clean_ok;
$t->stop;
done_testing;
