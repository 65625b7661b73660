# Metrics (SPEC "Metrics", README "Metrics"): oauth_metrics serves every
# zone's counters in Prometheus' text format 0.0.4; the counters are shared by
# the workers, kept across reload, and bounded by the registry.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use File::Temp qw(tempdir);
use IO::Socket::IP;
use JSON::PP;
use POSIX qw(WNOHANG);
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(time sleep);
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials form_body token_ok
    error_ok show);

need_module();

my $secret = random_secret();
my $weird = 'we"ird\\id';    # a registered id the format must escape
my $t = OAuthTest->new(
    clients => {
        clients => [
            {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write'},
            {client_id => $weird, client_secret_hash => sha256_hash($secret), scope => 'read'},
            {client_id => 'intro', client_secret_hash => sha256_hash($secret), scope => '',
                introspection => JSON::PP::true},
            {client_id => 'prometheus', client_secret_hash => sha256_hash($secret),
                scope => 'metrics:read'},
            {client_id => 'capped', client_secret_hash => sha256_hash($secret), scope => 'read',
                max_tokens => 3},
            # a cap above the tiny zone's capacity: this one client fills it
            {client_id => 'filler', client_secret_hash => sha256_hash($secret), scope => 'read',
                max_tokens => 1_000_000},
        ],
    },
    http => <<'CONF',
oauth_token_zone tokens:1m;
oauth_token_zone tiny:128k;
oauth_clients clients.json;
oauth_auth_failure_limit 3 window=1m block=1m;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint zone=tokens; }
    location = /token-tiny { oauth_token_endpoint zone=tiny ttl=1h; }
    location = /introspect { oauth_introspection_endpoint zone=tokens; }
    location = /revoke { oauth_revocation_endpoint zone=tokens; }
    location /api/ { oauth_require_scope zone=tokens read; alias %%PREFIX%%/html/; }
    location /admin/ { oauth_require_scope zone=tokens write; alias %%PREFIX%%/html/; }
    location = /metrics {
        allow 127.0.0.1;
        deny all;
        oauth_metrics;
    }
    location = /metrics-by-token {
        oauth_require_scope zone=tokens metrics:read;
        oauth_metrics;
    }
}
CONF
);
mkdir $t->prefix . '/html';
$t->write_file('html/index.html', "protected\n");
$t->start;

my $ua = $t->agent(keep_alive => 1);

# ---- reading the exposition ------------------------------------------------------

sub unescape {
    my ($v) = @_;
    $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
    return $v;
}

# {"name|label=value,..." => value}, labels sorted; dies on a line that is
# neither a comment nor a well-formed sample.
sub parse_exposition {
    my ($text) = @_;
    my %samples;
    for my $line (split /\n/, $text) {
        next if $line =~ /^# (?:HELP|TYPE) /;
        $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (\d+)$/
            or die "not a sample: $line\n";
        my ($name, $labels, $value) = ($1, $2, $3);
        my %l;
        while ($labels =~ /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g) { $l{$1} = unescape($2) }
        $samples{ join '|', $name, map {"$_=$l{$_}"} sort keys %l } = $value;
    }
    return \%samples;
}

sub scrape {
    my $r = $t->request('GET', '/metrics', {ua => $ua});
    is $r->{status}, 200, 'GET /metrics: 200' or diag show($r);
    return $r;
}

sub metrics { parse_exposition(scrape()->{content}) }

sub key {
    my ($name, %l) = @_;
    return join '|', $name, map {"$_=$l{$_}"} sort keys %l;
}

sub sample {
    my ($m, $name, %l) = @_;
    return $m->{ key($name, %l) };
}

sub token_count {
    my ($m, $zone, $client, $result) = @_;
    return sample($m, 'oauth_token_requests_total', zone => $zone, client => $client,
        result => $result);
}

sub promtool_ok {
    my ($text, $name) = @_;
    my $dir = tempdir(CLEANUP => 1);
    open my $fh, '>:raw', "$dir/metrics.txt" or die $!;
    print $fh $text;
    close $fh;
    my $out = `promtool check metrics < $dir/metrics.txt 2>&1`;
    my $rc = $? >> 8;
    ok $rc == 0 && $out eq '', "$name: promtool check metrics reports nothing" or diag "exit $rc: $out";
}

sub bearer {
    my ($path, $authorization) = @_;
    return $t->request('GET', $path,
        {ua => $ua, headers => defined $authorization ? {Authorization => $authorization} : {}});
}

# Token requests pipelined on connections of up to 500 (nginx closes one
# after keepalive_requests); returns their statuses.
sub pipelined_statuses {
    my ($path, $authorization, $count) = @_;
    my @statuses;
    while ($count > 0) {
        my $n = $count < 500 ? $count : 500;
        push @statuses, pipelined_on_one_connection($path, $authorization, $n);
        $count -= $n;
    }
    return @statuses;
}

sub pipelined_on_one_connection {
    my ($path, $authorization, $count) = @_;
    my $body = form_body([grant_type => 'client_credentials']);
    my $one = "POST $path HTTP/1.1\r\nHost: localhost\r\nAuthorization: $authorization\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: "
        . length($body) . "\r\n";
    my $bytes = join '', map { $one . ($_ == $count ? "Connection: close\r\n" : '') . "\r\n$body" }
        1 .. $count;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $t->port, Type => SOCK_STREAM)
        or die "connect: $@";
    binmode $s;
    my ($off, $buf, $deadline) = (0, '', time + 30);
    my $rin = '';
    vec($rin, fileno $s, 1) = 1;
    while (time < $deadline) {
        my $win = $off < length $bytes ? $rin : undef;
        next unless select(my $rout = $rin, my $wout = $win, undef, 0.1) > 0;
        if ($win && vec($wout, fileno $s, 1)) {
            my $n = syswrite $s, $bytes, 65536, $off;
            $off += $n if $n;
        }
        if (vec($rout, fileno $s, 1)) {
            my $got = sysread $s, $buf, 65536, length $buf;
            last unless $got;
        }
    }
    close $s;
    my @statuses;
    while ($buf =~ s/^HTTP\/1\.1 (\d{3})[^\r]*\r\n(.*?)\r\n\r\n//s) {
        push @statuses, $1;
        my ($length) = $2 =~ /^content-length:\s*(\d+)/im;
        substr($buf, 0, $length // 0, '');
    }
    return @statuses;
}

# ---- the scripted sequence -----------------------------------------------------------

subtest 'the endpoint speaks the text format 0.0.4 and promtool finds nothing' => sub {
    my $r = scrape();
    is $r->{headers}{'content-type'}, 'text/plain; version=0.0.4', 'Content-Type';
    like $r->{content}, qr/^# HELP oauth_token_requests_total .+\n# TYPE oauth_token_requests_total counter\n/m,
        'HELP and TYPE lines';
    for my $family (qw(oauth_token_requests_total oauth_bearer_checks_total
        oauth_introspection_requests_total oauth_revocation_requests_total oauth_zone_tokens
        oauth_zone_token_capacity oauth_throttle_blocks_total oauth_token_zone_full_total
        oauth_client_tokens oauth_client_token_cap oauth_client_authentications_total)) {
        like $r->{content}, qr/^# TYPE $family (?:counter|gauge)$/m, "family $family";
    }
    unlike $r->{content}, qr/^oauth_client_token/m, 'no client holds a token yet: no sample';
    promtool_ok($r->{content}, 'fresh zones');
    is $t->request('POST', '/metrics', {ua => $ua, body => 'x'})->{status}, 405, 'POST: 405';
};

my %token;
subtest 'a scripted sequence of requests' => sub {
    my $app = ['app', $secret];
    $token{read} = token_ok($t->token_request(basic => $app, form => [grant_type => 'client_credentials', scope => 'read'], ua => $ua), name => 'read');
    $token{write} = token_ok($t->token_request(basic => $app, ua => $ua), name => 'read write');
    $token{revoked} = token_ok($t->token_request(basic => $app, ua => $ua), name => 'to revoke');
    error_ok($t->token_request(basic => ['app', 'wrong'], ua => $ua), 401, 'invalid_client', "wrong secret $_")
        for 1 .. 2;
    error_ok($t->token_request(basic => ['nobody', $secret], ua => $ua), 401, 'invalid_client', 'unknown id');
    error_ok($t->token_request(basic => $app, form => [grant_type => 'client_credentials', scope => 'admin'], ua => $ua),
        400, 'invalid_scope', 'scope beyond the client');
    error_ok($t->token_request(method => 'GET', ua => $ua), 405, 'invalid_request', 'GET');
    error_ok($t->token_request(basic => [$weird, 'wrong'], ua => $ua), 401, 'invalid_client', "weird id, failure $_")
        for 1 .. 3;
    error_ok($t->token_request(basic => [$weird, $secret], ua => $ua), 429, 'temporarily_unavailable', 'blocked');

    my $intro = basic_credentials('intro', $secret);
    my $form = {'Content-Type' => 'application/x-www-form-urlencoded', Authorization => $intro};
    my $r = $t->request('POST', '/introspect', {ua => $ua, headers => $form, body => form_body([token => $token{read}])});
    is $r->{json}{active}, JSON::PP::true, 'introspection: active' or diag show($r);
    $r = $t->request('POST', '/introspect', {ua => $ua, headers => $form, body => form_body([token => 'nope'])});
    is $r->{content}, '{"active":false}', 'introspection: inactive';
    $r = $t->request('POST', '/revoke', {ua => $ua, body => form_body([token => $token{revoked}]),
        headers => {%$form, Authorization => basic_credentials(@$app)}});
    is $r->{status}, 200, 'revoked';

    is bearer('/api/', "Bearer $token{read}")->{status}, 200, 'bearer ok';
    is bearer('/admin/', "Bearer $token{write}")->{status}, 200, 'bearer ok, write';
    is bearer('/api/')->{status}, 401, 'no token';
    is bearer('/api/', 'Bearer nope')->{status}, 401, 'unknown token';
    is bearer('/api/', "Bearer $token{revoked}")->{status}, 401, 'revoked token';
    is bearer('/admin/', "Bearer $token{read}")->{status}, 403, 'insufficient scope';
    is bearer('/api/', 'Bearer a,b')->{status}, 400, 'malformed';

    my $m = metrics();
    my %expected = (
        key('oauth_token_requests_total', zone => 'tokens', client => 'app', result => 'issued') => 3,
        key('oauth_token_requests_total', zone => 'tokens', client => 'app', result => 'invalid_client') => 2,
        key('oauth_token_requests_total', zone => 'tokens', client => 'app', result => 'invalid_scope') => 1,
        key('oauth_token_requests_total', zone => 'tokens', client => '', result => 'invalid_client') => 1,
        key('oauth_token_requests_total', zone => 'tokens', client => '', result => 'invalid_request') => 1,
        key('oauth_token_requests_total', zone => 'tokens', client => $weird, result => 'invalid_client') => 3,
        key('oauth_token_requests_total', zone => 'tokens', client => $weird, result => 'temporarily_unavailable') => 1,
        key('oauth_throttle_blocks_total', zone => 'tokens') => 1,
        key('oauth_token_zone_full_total', zone => 'tokens') => 0,
        key('oauth_introspection_requests_total', zone => 'tokens', result => 'active') => 1,
        key('oauth_introspection_requests_total', zone => 'tokens', result => 'inactive') => 1,
        key('oauth_revocation_requests_total', zone => 'tokens', result => 'ok') => 1,
        key('oauth_bearer_checks_total', zone => 'tokens', result => 'ok') => 2,
        key('oauth_bearer_checks_total', zone => 'tokens', result => 'no_token') => 1,
        key('oauth_bearer_checks_total', zone => 'tokens', result => 'invalid_token') => 2,
        key('oauth_bearer_checks_total', zone => 'tokens', result => 'insufficient_scope') => 1,
        key('oauth_bearer_checks_total', zone => 'tokens', result => 'invalid_request') => 1,
        key('oauth_zone_tokens', zone => 'tokens') => 2,
    );
    my %got = map { $_ => $m->{$_} } keys %expected;
    is_deeply \%got, \%expected, 'every counter has its exact value';
    my @nonzero = sort grep { $m->{$_} && /^oauth_(?:token|bearer|introspection|revocation|throttle)/ && /zone=tokens/ && !exists $expected{$_} } keys %$m;
    is_deeply \@nonzero, [], 'and no other counter of the zone moved';
    is sample($m, 'oauth_token_requests_total', zone => 'tiny', client => '', result => 'issued'), 0,
        'the other zone counts apart';
};

subtest 'each client holding tokens: its tokens and its cap' => sub {
    my $capped = ['capped', $secret];
    token_ok($t->token_request(basic => $capped, ua => $ua), name => "capped, token $_") for 1 .. 2;
    my $m = metrics();
    my $capacity = sample($m, 'oauth_zone_token_capacity', zone => 'tokens');
    my %got = map { my $c = $_; $c => [map { sample($m, $_, zone => 'tokens', client => $c) }
        qw(oauth_client_tokens oauth_client_token_cap)] } qw(capped app);
    is_deeply \%got, {capped => [2, 3], app => [2, int($capacity / 4)]},
        "tokens and cap: max_tokens 3, and a quarter of $capacity without it";
    my @holders = sort map { /^oauth_client_tokens\|client=(.*?)\|zone=tokens$/s ? $1 : () } keys %$m;
    is_deeply \@holders, ['app', 'capped'], 'only the clients holding tokens';
    is scalar(grep { /^oauth_client_token.*zone=tiny/ } keys %$m), 0, 'none in the other zone';
};

subtest 'a full zone: issued up to the capacity, then zone full' => sub {
    my $capacity = sample(metrics(), 'oauth_zone_token_capacity', zone => 'tiny');
    ok $capacity > 0, "capacity $capacity";
    # the filler's record takes 2 entries: a head, and one for its id and scopes
    my $room = $capacity - 2;
    my @statuses = pipelined_statuses('/token-tiny', basic_credentials('filler', $secret), $room + 1);
    is scalar(@statuses), $room + 1, 'every pipelined request answered';
    is scalar(grep { $_ == 200 } @statuses), $room, 'the zone took tokens up to its capacity';
    is $statuses[-1], 503, 'then refused';
    my $m = metrics();
    is token_count($m, 'tiny', 'filler', 'issued'), $room, 'issued counted';
    is token_count($m, 'tiny', 'filler', 'temporarily_unavailable'), 1, 'the refusal counted';
    is sample($m, 'oauth_token_zone_full_total', zone => 'tiny'), 1, 'zone full counted';
    is sample($m, 'oauth_zone_tokens', zone => 'tiny'), $room, 'the zone is full';
    is sample($m, 'oauth_client_tokens', zone => 'tiny', client => 'filler'), $room,
        'all of them the filler\'s';
    is sample($m, 'oauth_client_token_cap', zone => 'tiny', client => 'filler'), 1_000_000,
        'under its max_tokens';
    promtool_ok(scrape()->{content}, 'a full zone');
};

subtest 'hostile client ids neither break the format nor grow the label set' => sub {
    my $before = metrics();
    my @hostile = (
        join('', map { ('A' x 100) . qq{"\\\n} } 1 .. 100),    # 10 KB, in the body
        join('', map { ('B' x 100) . qq{"\\} } 1 .. 100),      # 10 KB, printable
        qq{"} . ('\\' x 300) . qq{"\n} . '} 1' . "\n# TYPE x counter\n",
    );
    for my $id (@hostile) {
        my $r = $t->token_request(form => [grant_type => 'client_credentials', client_id => $id,
            client_secret => 'x'], ua => $ua);
        is $r->{status}, 401, sprintf('a %d-byte hostile id in the body: 401', length $id);
    }
    for my $id ($hostile[2], qq{"\\} x 600) {    # Basic: the id form-urlencoded
        my $r = $t->token_request(basic => [$id, 'x'], ua => $ua);
        is $r->{status}, 401, sprintf('a %d-byte hostile id in Basic: 401', length $id);
    }
    my $r = scrape();
    promtool_ok($r->{content}, 'after hostile ids');
    my $m = parse_exposition($r->{content});
    my %clients;
    /^oauth_token_requests_total\|client=(.*?)\|result=/s and $clients{$1} = 1 for keys %$m;
    is_deeply [sort keys %clients], [sort '', 'app', 'capped', 'filler', $weird],
        'only registered clients and the empty id';
    is token_count($m, 'tokens', '', 'invalid_client'),
        token_count($before, 'tokens', '', 'invalid_client') + 5, 'all counted under client=""';
    unlike $r->{content}, qr/AAAA|BBBB/, 'no hostile id in the output';
};

subtest 'a reload keeps the counters' => sub {
    my $before = metrics();
    ok $t->reload($t->{http}), 'reloaded' or diag $t->error_log;
    my $after = metrics();
    is_deeply $after, $before, 'every sample as before';
    token_ok($t->token_request(basic => ['app', $secret], ua => $t->agent), name => 'after reload');
    is token_count(metrics(), 'tokens', 'app', 'issued'),
        token_count($before, 'tokens', 'app', 'issued') + 1, 'and they go on counting';
};

# ---- a real Prometheus scrapes it ---------------------------------------------------

my $prometheus;
END { stop_prometheus() }

sub stop_prometheus {
    my $pid = $prometheus or return;
    undef $prometheus;
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid $pid, 0;
}

sub wait_for {
    my ($what, $seconds) = @_;
    my $deadline = time + $seconds;
    while (time < $deadline) {
        my $v = $what->();
        return $v if $v;
        sleep 0.2;
    }
    return;
}

subtest 'Prometheus scrapes the endpoint and answers a query' => sub {
    plan skip_all => 'no prometheus command' unless -x '/usr/bin/prometheus';
    my $dir = tempdir(CLEANUP => 1);
    my $port = OAuthTest::free_port();
    my $interval = $ENV{OAUTH_VALGRIND} ? '5s' : '1s';    # nginx under memcheck is slow
    my $wait = $ENV{OAUTH_VALGRIND} ? 90 : 30;
    my $target = '127.0.0.1:' . $t->port;
    open my $fh, '>', "$dir/prometheus.yml" or die $!;
    print $fh <<"YAML";
global:
  scrape_interval: $interval
  scrape_timeout: $interval
scrape_configs:
  - job_name: oauth
    metrics_path: /metrics
    static_configs:
      - targets: ['$target']
  - job_name: oauth-by-token
    metrics_path: /metrics-by-token
    oauth2:
      client_id: prometheus
      client_secret_file: $dir/secret
      token_url: http://$target/token
      scopes: [metrics:read]
    static_configs:
      - targets: ['$target']
YAML
    close $fh;
    open $fh, '>', "$dir/secret" or die $!;
    print $fh $secret;
    close $fh;
    $prometheus = fork // die "fork: $!";
    if (!$prometheus) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/prometheus.log" or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec 'prometheus', "--config.file=$dir/prometheus.yml", "--storage.tsdb.path=$dir/data",
            "--web.listen-address=127.0.0.1:$port" or POSIX::_exit(127);
    }
    my $api = HTTP::Tiny->new(timeout => 2);
    my $query = sub {
        my ($promql) = @_;
        my $r = $api->get("http://127.0.0.1:$port/api/v1/query?query=" . OAuthTest::form_encode($promql));
        return unless $r->{success};
        my $j = eval { decode_json($r->{content}) } or return;
        return @{ $j->{data}{result} // [] } ? $j->{data}{result} : undef;
    };
    my $issued = token_count(metrics(), 'tokens', 'app', 'issued');
    my $result = wait_for(sub {
        $query->('oauth_token_requests_total{job="oauth",zone="tokens",client="app",result="issued"}')
    }, $wait);
    ok $result, "the query answered within $wait s" or diag OAuthTest::slurp("$dir/prometheus.log");
    is $result && $result->[0]{metric}{client}, 'app', 'labelled by client';
    is $result && $result->[0]{value}[1], $issued, 'the value scraped';
    $result = wait_for(sub {
        $query->('oauth_token_requests_total{job="oauth-by-token",client="prometheus",result="issued"} > 0')
    }, $wait);
    ok $result, 'Prometheus got a token of its own and scraped the protected location'
        or diag OAuthTest::slurp("$dir/prometheus.log");
    $result = $query->('oauth_client_tokens{job="oauth",zone="tokens",client="capped"}'
        . ' / oauth_client_token_cap');
    is $result && sprintf('%.4f', $result->[0]{value}[1]), '0.6667',
        'the dashboard\'s fill against the cap: 2 tokens of 3';
    stop_prometheus();
};

subtest 'the Grafana dashboard uses only these metrics' => sub {
    my $text = OAuthTest::slurp("$FindBin::Bin/../contrib/grafana-dashboard.json");
    my $dashboard = eval { decode_json($text) };
    ok $dashboard, 'contrib/grafana-dashboard.json is JSON' or return;
    my %families = map { $_ => 1 } scrape()->{content} =~ /^# TYPE (\w+) /mg;
    my @exprs;
    my $walk;
    $walk = sub {
        my ($node) = @_;
        if (ref $node eq 'HASH') {
            push @exprs, $node->{expr} if defined $node->{expr};
            $walk->($_) for values %$node;
        } elsif (ref $node eq 'ARRAY') {
            $walk->($_) for @$node;
        }
    };
    $walk->($dashboard);
    ok @exprs >= 10, scalar(@exprs) . ' queries';
    my %used = map { $_ => 1 } map { /\b(oauth_\w+)/g } @exprs;
    is_deeply [grep { !$families{$_} } sort keys %used], [], 'every metric it queries exists';
    ok $used{$_}, "it shows $_" for sort keys %families;
};

subtest 'oauth_metrics is a content handler of its own' => sub {
    my ($rc, $out) = $t->nginx_t($t->conf_text(http => <<'CONF'));
oauth_token_zone tokens:1m;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /m { oauth_metrics; oauth_metrics; }
}
CONF
    isnt $rc, 0, 'twice in a location: nginx -t fails';
    like $out, qr/"oauth_metrics" directive is duplicate.* in \S+:\d+/, 'and says where' or diag $out;
};

subtest 'access control is nginx\'s own' => sub {
    my $r = $t->request('GET', '/metrics', {ua => $t->agent(local_address => '127.0.0.2')});
    is $r->{status}, 403, 'denied from another address';
};

$t->log_clean_ok;
$t->stop;
done_testing;
