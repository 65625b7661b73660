# Variables $oauth_client_id, $oauth_scope, $oauth_token_expires (SPEC
# "Variables"): set after a successful bearer check, empty everywhere else,
# usable in proxy_set_header, add_header, log_format, map and if.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use OAuthTest qw(need_module sha256_hash random_secret show);

need_module();

my $secret = random_secret();
my $t = OAuthTest->new(
    clients => {
        clients => [
            {client_id => 'app', client_secret_hash => sha256_hash($secret),
             scope => 'read write admin', default_scope => 'read'},
            {client_id => 'svc.reports-01', client_secret_hash => sha256_hash($secret),
             scope => 'read urn:x:metrics!'},
            {client_id => 'empty', client_secret_hash => sha256_hash($secret), scope => ''},
        ],
    },
    http => <<'EOF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;

log_format oauth '$request_uri $status [$oauth_client_id] [$oauth_scope] [$oauth_token_expires]';

map $oauth_scope $scope_class {
    "~(^| )admin( |$)"  admin;
    "~(^| )write( |$)"  writer;
    ""                  none;
    default             reader;
}
map $oauth_client_id $tenant {
    app             acme;
    svc.reports-01  globex;
    ""              nobody;
    default         unknown;
}

server {
    listen 127.0.0.1:%%PORT%%;
    access_log %%PREFIX%%/logs/oauth.log oauth;
    add_header X-Worker $pid always;
    add_header X-Conn $connection always;

    proxy_set_header Host echo;
    proxy_set_header X-Client $oauth_client_id;
    proxy_set_header X-Scope $oauth_scope;
    proxy_set_header X-Expires $oauth_token_expires;

    location = /token { oauth_token_endpoint; }

    location /api/ { oauth_require_scope read; proxy_pass http://127.0.0.1:%%PORT%%; }
    location /any/ { oauth_require_scope zone=tokens; proxy_pass http://127.0.0.1:%%PORT%%; }
    location /allow/ {
        satisfy any; allow 127.0.0.1; deny all;
        oauth_require_scope read;
        proxy_pass http://127.0.0.1:%%PORT%%;
    }
    location /open/ { proxy_pass http://127.0.0.1:%%PORT%%; }

    location /map/ {
        oauth_require_scope zone=tokens;
        proxy_set_header Host echo;
        proxy_set_header X-Client $tenant;
        proxy_set_header X-Scope $scope_class;
        proxy_pass http://127.0.0.1:%%PORT%%;
    }

    location /if/ {
        oauth_require_scope read;
        set $mode "ro";
        if ($oauth_scope ~ "(^| )write( |$)") {
            set $mode "rw";
        }
        proxy_set_header Host echo;
        proxy_set_header X-Client $mode;
        proxy_pass http://127.0.0.1:%%PORT%%;
    }

    location /hdr/ {
        oauth_require_scope read;
        add_header X-Client "[$oauth_client_id]" always;
        add_header X-Scope "[$oauth_scope]" always;
        add_header X-Expires "[$oauth_token_expires]" always;
        alias %%PREFIX%%/html/;
    }

    location = /vars { return 200 "[$oauth_client_id|$oauth_scope|$oauth_token_expires]"; }
}

server {
    listen 127.0.0.1:%%PORT%%;
    server_name echo;
    access_log off;
    location / { return 200 "$http_x_client|$http_x_scope|$http_x_expires"; }
}
EOF
);
mkdir $t->prefix . '/html';
$t->write_file('html/ok.txt', "ok\n");
$t->start;

# A fresh token: (token, expires_in, time before, time after the request).
sub token {
    my ($client, $scope) = @_;
    my $before = time;
    my $r = $t->token_request(basic => [$client, $secret],
        form => [grant_type => 'client_credentials', defined $scope ? (scope => $scope) : ()]);
    my $after = time;
    is $r->{status}, 200, "token for $client" or diag show($r);
    return ($r->{json}{access_token} // 'no-token', $r->{json}{expires_in} // 0, $before, $after);
}

sub get {
    my ($path, $token, %o) = @_;
    return $t->request(GET => $path,
        {headers => {defined $token ? (Authorization => "Bearer $token") : ()}, ua => $o{ua}});
}

# The echoed "client|scope|expires"; checks the token's values.
sub echoed_ok {
    my ($r, $client, $scope, $exp_range, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 200, "$name: 200");
    my ($c, $s, $e) = split /\|/, $r->{content}, -1;
    $ok &&= is($c, $client, "$name: client '$client'");
    $ok &&= like($s // '', qr/^(?:[^ ]+(?: [^ ]+)*)?$/, "$name: scope space-separated");
    $ok &&= is(join(' ', sort split / /, $s // ''), join(' ', sort split / /, $scope), "$name: scope '$scope'");
    $ok &&= like($e // '', qr/^[1-9][0-9]*$/, "$name: expires is a Unix time");
    $ok &&= ok(($e // 0) >= $exp_range->[0] && ($e // 0) <= $exp_range->[1],
        "$name: expires $e within [$exp_range->[0], $exp_range->[1]]");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

# issue time + expires_in, with one second of slack either side
sub expiry_range { my (undef, $ttl, $before, $after) = @_; [int($before) + $ttl - 1, int($after) + $ttl + 1] }

my @read = token('app', 'read');
my @rw = token('app', 'read write');
my @svc = token('svc.reports-01', 'read urn:x:metrics!');
my @empty = token('empty');

subtest 'proxy_set_header: the variables reach the upstream' => sub {
    echoed_ok(get('/api/x', $read[0]), 'app', 'read', expiry_range(@read), 'read token');
    echoed_ok(get('/api/x', $rw[0]), 'app', 'read write', expiry_range(@rw),
        'read write token: all granted scopes, not only the required one');
    echoed_ok(get('/api/x', $svc[0]), 'svc.reports-01', 'read urn:x:metrics!', expiry_range(@svc),
        'another client, a scope with punctuation');
    echoed_ok(get('/any/x', $empty[0]), 'empty', '', expiry_range(@empty), 'a token without scope');
};

subtest '$oauth_token_expires is the issue time plus expires_in' => sub {
    is $read[1], 3600, 'expires_in 3600';
    my $r = get('/api/x', $read[0]);
    my (undef, undef, $e) = split /\|/, $r->{content}, -1;
    my $range = expiry_range(@read);
    ok defined $e && $e >= $range->[0] && $e <= $range->[1], "expires within [@$range]"
        or diag show($r);
    is get('/api/x', $read[0])->{content}, $r->{content}, 'the same value on every use';
};

subtest 'empty without a successful check' => sub {
    is get('/allow/x')->{content}, '||', 'protected location passed by allow, no token';
    is get('/allow/x', 'abc')->{content}, '||', 'passed by allow, unknown token';
    is get('/open/x', $rw[0])->{content}, '||', 'unprotected location, valid token sent';
    is get('/vars', $rw[0])->{content}, '[||]', 'return in an unprotected location, valid token sent';
    is get('/vars')->{content}, '[||]', 'return in an unprotected location, no token';
};

subtest 'a request without a token never sees the values of the previous one' => sub {
    my $ua = $t->agent(keep_alive => 1);
    my $values = qr/^app\|read write\|[0-9]+$/;
    my @seq = (
        ['/api/x', $rw[0], $values],
        ['/allow/x', undef, '||'],
        ['/api/x', $svc[0], qr/^svc\.reports-01\|(?:read urn:x:metrics!|urn:x:metrics! read)\|[0-9]+$/],
        ['/vars', undef, '[||]'],
        ['/api/x', $rw[0], $values],
        ['/allow/x', 'abc', '||'],
        ['/api/x', $rw[0], $values],
        ['/open/x', undef, '||'],
    );
    my %conn;
    for my $s (@seq) {
        my ($path, $token, $want) = @$s;
        my $r = get($path, $token, ua => $ua);
        my $name = "$path " . (defined $token ? 'with a token' : 'without a token');
        if (ref $want) {
            like $r->{content}, $want, "$name: its own values" or diag show($r);
        } else {
            is $r->{content}, $want, "$name: empty" or diag show($r);
        }
        $conn{ $r->{headers}{'x-conn'} // '' }++;
    }
    is scalar keys %conn, 1, 'all on one keep-alive connection' or diag explain \%conn;

    my @leaks;
    for my $i (1 .. 40) {
        my $with = get('/api/x', $i % 2 ? $rw[0] : $svc[0]);
        push @leaks, "with $i: " . show($with) unless $with->{content} =~ /^(?:app|svc\.reports-01)\|/;
        my $without = get('/allow/x');
        push @leaks, "without $i: " . show($without) unless $without->{content} eq '||';
    }
    is scalar @leaks, 0, 'fresh connections, alternating, both workers: no leak'
        or diag join "\n", @leaks[0 .. ($#leaks < 4 ? $#leaks : 4)];
};

subtest 'log_format: values for a passed request, empty for the others' => sub {
    my $id = int rand 1e9;
    my @reqs = (
        ["/api/log-$id-1", $rw[0], 200],
        ["/api/log-$id-2", undef, 401],
        ["/api/log-$id-3", 'abc', 401],
        ["/allow/log-$id-4", undef, 200],
        ["/vars?log-$id-5", $rw[0], 200],
        ["/any/log-$id-6", $svc[0], 200],
    );
    for my $q (@reqs) {
        my $r = get($q->[0], $q->[1]);
        is $r->{status}, $q->[2], "$q->[0]: $q->[2]" or diag show($r);
    }
    my $log = '';
    my $deadline = time + 3;
    while (time < $deadline) {
        $log = OAuthTest::slurp($t->prefix . '/logs/oauth.log');
        last if (() = $log =~ /log-$id-\d/g) >= @reqs;
        sleep 0.05;
    }
    my %line = map { /log-$id-(\d) (.*)$/ ? ($1 => $2) : () } split /\n/, $log;
    my $range = expiry_range(@rw);
    like $line{1} // '', qr/^200 \[app\] \[read write\] \[(\d+)\]$/, 'passed: all three values';
    ok $line{1} && $line{1} =~ /\[(\d+)\]$/ && $1 >= $range->[0] && $1 <= $range->[1], 'passed: the expiry';
    # an empty variable; nginx logs a value that was not found as "-"
    my $empty = qr/\[-?\] \[-?\] \[-?\]/;
    like $line{2} // '', qr/^401 $empty$/, 'no token: empty';
    like $line{3} // '', qr/^401 $empty$/, 'unknown token: empty';
    like $line{4} // '', qr/^200 $empty$/, 'let through by allow without a token: empty';
    like $line{5} // '', qr/^200 $empty$/, 'unprotected location: empty';
    like $line{6} // '', qr/^200 \[svc\.reports-01\] \[(?:read urn:x:metrics!|urn:x:metrics! read)\] \[\d+\]$/,
        'another client';
};

subtest 'add_header: values on the passed response, empty on refusals' => sub {
    my $r = get('/hdr/ok.txt', $rw[0]);
    is $r->{status}, 200;
    is $r->{headers}{'x-client'}, '[app]', 'client';
    is join(' ', sort split / /, ($r->{headers}{'x-scope'} // '') =~ s/^\[|\]$//gr), 'read write', 'scope';
    like $r->{headers}{'x-expires'} // '', qr/^\[\d+\]$/, 'expires';
    for my $case ([undef, 401], ['abc', 401], [$empty[0], 403]) {
        my $x = get('/hdr/ok.txt', $case->[0]);
        is $x->{status}, $case->[1], "refused with $case->[1]" or diag show($x);
        is $x->{headers}{'x-client'}, '[]', "refused with $case->[1]: client empty" if $case->[1] == 401;
    }
};

subtest 'map over the variables' => sub {
    is get('/map/x', $read[0])->{content}, 'acme|reader|', 'read token';
    is get('/map/x', $rw[0])->{content}, 'acme|writer|', 'read write token';
    is get('/map/x', (token('app', 'admin read'))[0])->{content}, 'acme|admin|', 'admin token';
    is get('/map/x', $svc[0])->{content}, 'globex|reader|', 'another client';
    is get('/map/x', $empty[0])->{content}, 'unknown|none|', 'a token without scope';
    my $r = get('/map/x');
    is $r->{status}, 401, 'no token: refused, the map is never reached';
};

subtest 'if over the variables in the protected location' => sub {
    is get('/if/x', $rw[0])->{content}, 'rw||', 'read write token: the if branch';
    is get('/if/x', $read[0])->{content}, 'ro||', 'read token: not the if branch';
    my $r = get('/if/x');
    is $r->{status}, 401, 'no token: still refused' or diag show($r);
    $r = get('/if/x', (token('app', 'write'))[0]);
    is $r->{status}, 403, 'write-only token: still refused (read required)' or diag show($r);
};

done_testing;
