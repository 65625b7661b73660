# oauth_trust_issuer ISSUER jwks_uri=URL | discovery (SPEC "Trusted issuers
# as the IdPs publish them", "Keys from a URL"): an IdP on loopback over
# https with a CA made here (t/interop/idp_https.py); keys fetched by the
# workers, shared, rotated without a reload on an unknown kid, kept when the
# IdP is down, hung, answers HTML or a huge body, or has a certificate of
# another CA; the unknown-kid refetch rate limited; nginx -t never waits; the
# keys survive a reload with the IdP down. The forgeries of the JWT tests
# through a fetched set are t/92's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Time::HiRes qw(time sleep);
use Test::More;
use OAuthTest qw(need_module need_python show passed_ok);
use TestIdP;

need_module();
TestIdP::skip_under_valgrind();


my $python = need_python('jwt, cryptography', 'python3-jwt');
my $idp_script = "$FindBin::Bin/interop/idp_https.py";

my $t = OAuthTest->new;
my $p = $t->prefix;
sub run { $t->output_of(@_) }
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

# Two CAs: the one nginx trusts, and another.
TestIdP::make_ca($t, $_) for qw(ca rogue-ca);
TestIdP::make_certificate($t, 'ca', 'idp');
TestIdP::make_certificate($t, 'rogue-ca', 'rogue');

run($python, $idp_script, 'key', $p, $_) for qw(k1 k2);

# One IdP process per issuer, each with its own directory of files.
my %idp = map { $_ => TestIdP->new($t, $_, python => $python) } qw(main html huge hang down rogue);
sub idp_dir { $idp{$_[0]}->dir }
sub issuer  { $idp{$_[0]}->base }
sub hits    { $idp{$_[0]}->hits(qr{^/jwks$}) }
sub set_idp { my $name = shift; $idp{$name}->set(@_) }
sub jwks    { run($python, $idp_script, 'jwks', $p, @_) }
sub start_idp { $idp{$_[0]}->start($_[1]) }
sub stop_idp  { $idp{$_[0]}->stop }

set_idp($_, 'jwks.json' => jwks('k1')) for keys %idp;
set_idp('main', 'openid-configuration' =>
        qq({"issuer":"@{[issuer('main')]}","jwks_uri":"@{[issuer('main')]}/jwks"}));
start_idp($_, 'idp') for qw(main html huge hang down);
start_idp('rogue', 'rogue');

sub token { run($python, $idp_script, 'token', $p, @_) }

sub location {
    my ($path, $how) = @_;
    return "    location /$path/ { oauth_trust_issuer $how; oauth_require_scope read; "
        . "alias %%PREFIX%%/html/; }\n";
}
my $http = "oauth_token_zone tokens:1m;\noauth_trusted_certificate ca.pem;\n"
    . "server {\n    listen 127.0.0.1:%%PORT%%;\n    location = /metrics { oauth_metrics; }\n"
    . location('uri', issuer('main') . ' jwks_uri=' . issuer('main') . '/jwks')
    . location('disc', issuer('main') . ' discovery')
    . join('', map { location($_, issuer($_) . ' jwks_uri=' . issuer($_) . '/jwks') }
        qw(html huge hang down rogue))
    . "}\n";
$t->write_conf(http => $http);

subtest 'nginx -t: a URL is checked for its form only, never fetched' => sub {
    my $closed = OAuthTest::free_port();
    my $started = time;
    my ($rc, $out) = $t->test_config(http => $http =~ s/jwks_uri=\Q@{[issuer('main')]}\E/jwks_uri=https:\/\/127.0.0.1:$closed/r);
    is $rc, 0, 'an unreachable IdP passes' or diag $out;
    cmp_ok time - $started, '<', 2, 'at once';
    ($rc, $out) = $t->test_config(http => $http =~ s/ jwks_uri=/ jwks=/r);
    isnt $rc, 0, 'jwks=https://... fails';
    like $out, qr/\[emerg\].*jwks= takes a file; for keys from a URL, write jwks_uri=https:/,
        'and says to write jwks_uri=' or diag $out;
    ($rc, $out) = $t->test_config(http => $http =~ s{jwks_uri=https://}{jwks_uri=http://}r);
    is $rc, 0, 'http passes';
    like $out, qr/\[warn\].*jwks_uri "http:\/\/127\.0\.0\.1:\d+\/jwks" is plain http/, 'with a warning';
    ($rc, $out) = $t->test_config(http => $http =~ s{ discovery;}{ discovery refresh=10s;}r);
    like $out, qr/\[emerg\].*refresh=10s: a time from 1m to 7d is expected/, 'refresh= below 1m fails';
    ($rc, $out) = $t->test_config(http => $http =~ s{ca\.pem}{missing.pem}r);
    like $out, qr/\[emerg\].*oauth_trusted_certificate: cannot open/, 'a missing CA file fails';
};

$t->start;

my $iss = issuer('main');
subtest 'jwks_uri and discovery: the keys are fetched at start, over verified https' => sub {
    passed_ok(TestIdP::wait_passes($t, '/uri/', token('k1', $iss)), 'jwks_uri');
    passed_ok(TestIdP::wait_passes($t, '/disc/', token('k1', $iss)), 'discovery');
    my $hits = OAuthTest::slurp(idp_dir('main') . '/hits');
    like $hits, qr{^/\.well-known/openid-configuration$}m, 'discovery read the metadata';
    like $t->error_log, qr/\[notice\].*oauth_trust_issuer "\Q$iss\E": keys fetched \(version 1\)/,
        'logged at notice';
    passed_ok(TestIdP::wait_passes($t, "/$_/", token('k1', issuer($_))), "$_: keys while the IdP behaves")
        for qw(html huge hang down);
};

subtest 'a key rotation is picked up without a reload: unknown kid, refetch, 200' => sub {
    set_idp('main', 'jwks.json' => jwks('k2'));
    my $before = hits('main');
    passed_ok($t->bearer_get('/uri/', token('k2', $iss)), 'a token of the new key, at once');
    cmp_ok hits('main') - $before, '>=', 1, 'after a refetch';
    $t->invalid_token_ok('/uri/', token('k1', $iss), 'the removed key no longer verifies');
};

subtest 'a flood of random kids refetches at most once per 30 s' => sub {
    my @flood = map { token('k2', $iss, "random-$_-" . int(rand 1e9)) } 1 .. 40;
    my $before = hits('main');
    my $slowest = 0;
    for my $i (1 .. 40) {
        my $sent = time;
        my $r = $t->bearer_get('/uri/', $flood[$i - 1]);
        $slowest = time - $sent if time - $sent > $slowest;
        is $r->{status}, 401, "kid $i refused" or diag show($r);
    }
    cmp_ok hits('main') - $before, '<=', 1, 'at most one fetch for all of them';
    cmp_ok $slowest, '<', 2.5, 'no request waits more than the 2 s bound';
};

sub warnings_about { my $i = issuer($_[0]); scalar(() = $t->error_log =~ /\[warn\].*oauth_trust_issuer "\Q$i\E": cannot fetch its keys/g) }

subtest 'an IdP down, hung, answering HTML or a huge body: the last good keys serve on' => sub {
    set_idp('html', mode => 'html');
    set_idp('huge', mode => 'huge');
    set_idp('hang', mode => 'hang');
    stop_idp('down');
    for my $name (qw(html huge hang down)) {
        my $token = token('k2', issuer($name));  # a kid the IdP never published: a refetch
        my $started = time;
        my $r = $t->bearer_get("/$name/", $token);
        is $r->{status}, 401, "$name: a token of a key never published is refused";
        cmp_ok time - $started, '<', 3, "$name: within the 2 s wait";
    }
    my $token = token('k1', issuer('hang'));
    my $started = time;
    passed_ok($t->bearer_get('/hang/', $token), 'hang: served while the fetch hangs');
    cmp_ok time - $started, '<', 1, 'hang: at once: the worker is not blocked';
    sleep 11;  # the hung fetch's deadline
    for my $name (qw(html huge hang down)) {
        passed_ok($t->bearer_get("/$name/", token('k1', issuer($name))), "$name: the last good keys");
        is warnings_about($name), 1, "$name: the failure is logged once";
    }
    my $log = $t->error_log;
    my %why = (html => qr/no usable JWK Set/, huge => qr/larger than 252 KiB/,
               hang => qr/[Tt]imeout|timed out/, down => qr/[Cc]ouldn't connect|Connection refused|Failed to connect/);
    for my $name (sort keys %why) {
        my $i = issuer($name);
        like $log, qr/\[warn\].*"\Q$i\E": cannot fetch its keys from \S+: .*$why{$name}.*the last good keys stay in service/,
            "$name: the reason is logged";
    }
    my $metrics = $t->request("GET", "/metrics")->{content};
    diag $metrics if $ENV{SHOW_METRICS};
    for my $name (qw(html huge hang down)) {
        my $labels = sprintf 'issuer="%s",source="%s/jwks"', issuer($name), issuer($name);
        like $metrics, qr/^oauth_trusted_key_fetches_total\{\Q$labels\E,result="failed"\} [1-9]/m,
            "$name: the failure is counted";
        like $metrics, qr/^oauth_trusted_key_fetches_total\{\Q$labels\E,result="ok"\} 1$/m,
            "$name: the one good fetch too";
        my ($at) = $metrics =~ /^oauth_trusted_keys_last_success_timestamp_seconds\{\Q$labels\E\} (\d+)$/m;
        cmp_ok $at // 0, '>', time - 120, "$name: the keys' last success";
    }
};

subtest 'an IdP whose certificate is of another CA: its keys are not taken' => sub {
    my $r = $t->bearer_get('/rogue/', token('k1', issuer('rogue')));
    is $r->{status}, 401, 'its token is refused';
    like $t->error_log, qr/\[info\].*the issuer's keys are not available yet/, 'the keys are not there yet';
    my $i = issuer('rogue');
    like $t->error_log, qr/\[warn\].*"\Q$i\E": cannot fetch its keys from \S+: .*(?:certificate|SSL).*its tokens are refused until a fetch succeeds/,
        'the TLS failure is logged';
};

subtest 'the keys survive a reload with the IdP down' => sub {
    stop_idp('main');
    ok $t->reload, 'reloaded';
    passed_ok($t->bearer_get('/uri/', token('k2', $iss)), 'jwks_uri: the fetched keys serve on');
    passed_ok($t->bearer_get('/disc/', token('k1', $iss)), 'discovery: the fetched keys serve on');
};

$t->log_clean_ok;
$t->stop;
done_testing;
