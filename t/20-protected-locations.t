# Protected locations: the bearer check in the access phase (SPEC "Protected
# locations"; RFC 6750 §2.1, §3, §3.1), with satisfy/allow/deny/auth_basic,
# error_page, expiry, revocation, many tokens at once and reload.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials form_body token_ok show
    bearer_challenge www_authenticate passed_ok refused_ok);

need_module();

my $secret = random_secret();
my $http = <<'EOF';
oauth_token_zone tokens:4m;
oauth_clients clients.json;

server {
    listen 127.0.0.1:%%PORT%%;
    add_header X-Worker $pid always;

    location = /token    { oauth_token_endpoint; }
    location = /token-2s { oauth_token_endpoint ttl=2s; }
    location = /revoke   { oauth_revocation_endpoint; }

    location /open/  { alias %%PREFIX%%/html/; }
    location /any/   { oauth_require_scope zone=tokens; alias %%PREFIX%%/html/; }
    location /read/  { oauth_require_scope read; alias %%PREFIX%%/html/; }
    location /rw/    { oauth_require_scope read write; alias %%PREFIX%%/html/; }
    location /admin/ { oauth_require_scope admin:all; alias %%PREFIX%%/html/; }
    location /realm/ { oauth_require_scope read write; oauth_realm "other realm"; alias %%PREFIX%%/html/; }

    location /any-allow/ {
        satisfy any; allow 127.0.0.1; deny all;
        oauth_require_scope read write; alias %%PREFIX%%/html/;
    }
    location /any-deny/ {
        satisfy any; deny all;
        oauth_require_scope read write; alias %%PREFIX%%/html/;
    }
    location /all-allow/ {
        satisfy all; allow 127.0.0.1; deny all;
        oauth_require_scope read write; alias %%PREFIX%%/html/;
    }
    location /all-deny/ {
        satisfy all; deny all;
        oauth_require_scope read write; alias %%PREFIX%%/html/;
    }
    location /basic-any/ {
        satisfy any; auth_basic "basic"; auth_basic_user_file %%PREFIX%%/htpasswd;
        oauth_require_scope read; alias %%PREFIX%%/html/;
    }
    location /basic-all/ {
        satisfy all; auth_basic "basic"; auth_basic_user_file %%PREFIX%%/htpasswd;
        oauth_require_scope read; alias %%PREFIX%%/html/;
    }

    location /styled/ {
        oauth_require_scope read write; alias %%PREFIX%%/html/;
        error_page 400 /errors/400.txt;
        error_page 401 /errors/401.txt;
        error_page 403 /errors/403.txt;
    }
    location /errors/ { internal; alias %%PREFIX%%/html/errors/; }
}
EOF

my $t = OAuthTest->new(
    clients => {
        clients => [
            {client_id => 'app', client_secret_hash => sha256_hash($secret),
             scope => 'read write readonly admin:all', default_scope => 'read'},
            {client_id => 'other', client_secret_hash => sha256_hash($secret), scope => 'read write'},
            {client_id => 'empty', client_secret_hash => sha256_hash($secret), scope => ''},
        ],
    },
    http => $http,
);
mkdir $t->prefix . "/$_" for qw(html html/errors);
$t->write_file('html/ok.txt', "ok\n");
$t->write_file("html/errors/$_.txt", "styled $_\n") for 400, 401, 403;
$t->write_file('htpasswd', "user:{PLAIN}pass\n");
$t->start;

my $basic_ok  = basic_credentials('user', 'pass', raw => 1);
my $basic_bad = basic_credentials('user', 'wrong', raw => 1);

# A fresh token for a client and scope (undef: the client's default).
sub token {
    my ($client, $scope, %o) = @_;
    my $r = $t->token_request(basic => [$client // 'app', $secret], path => $o{path},
        form => [grant_type => 'client_credentials', defined $scope ? (scope => $scope) : ()]);
    is $r->{status}, 200, "token for $client" . (defined $scope ? " '$scope'" : '') or diag show($r);
    return $r->{json}{access_token} // 'no-token';
}

# GET on a fresh connection with the given Authorization (undef: none).
sub get {
    my ($path, $authorization) = @_;
    return $t->request(GET => $path,
        {headers => {defined $authorization ? (Authorization => $authorization) : ()}});
}

# GET with the header lines as given, over a raw connection.
sub raw_get {
    my ($path, @headers) = @_;
    return $t->raw(join '', "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n",
        map({"$_\r\n"} @headers), "\r\n");
}


my $none      = bearer_challenge('oauth');
my $malformed = bearer_challenge('oauth', 'invalid_request');
my $invalid   = bearer_challenge('oauth', 'invalid_token');
sub insufficient { bearer_challenge('oauth', 'insufficient_scope', $_[0]) }

my $read  = token('app', 'read');
my $rw    = token('app', 'read write');
my $write = token('app', 'write');

subtest 'a valid token with the required scopes passes' => sub {
    passed_ok(get('/read/ok.txt', "Bearer $read"), 'read token at a read location');
    passed_ok(get('/read/ok.txt', "Bearer $rw"), 'read write token at a read location');
    passed_ok(get('/rw/ok.txt', "Bearer $rw"), 'read write token at a read write location');
    passed_ok(get('/admin/ok.txt', 'Bearer ' . token('app', 'admin:all')), 'scope with a colon');
    passed_ok(get('/any/ok.txt', "Bearer $write"), 'no scope listed: any valid token');
    passed_ok(get('/any/ok.txt', 'Bearer ' . token('empty')), 'no scope listed: a token with no scope');
    passed_ok(get('/read/ok.txt', 'Bearer ' . token('other', 'read')), 'another client');
    passed_ok(get('/open/ok.txt'), 'an unprotected location needs no token');
};

subtest 'the scheme is case-insensitive; one or more spaces after it (RFC 6750 §2.1)' => sub {
    passed_ok(get('/read/ok.txt', "$_ $read"), "scheme '$_'") for qw(bearer BEARER BeArEr);
    passed_ok(get('/read/ok.txt', "Bearer  $read"), 'two spaces');
    passed_ok(get('/read/ok.txt', "Bearer   $read"), 'three spaces');
};

subtest 'no credentials: 401 Bearer realm="oauth" without an error' => sub {
    refused_ok(get('/read/ok.txt'), 401, $none, 'no Authorization');
    refused_ok(get('/any/ok.txt'), 401, $none, 'no Authorization, any token');
    refused_ok(get('/rw/ok.txt'), 401, $none, 'no Authorization, two scopes');
    for my $m (qw(HEAD POST PUT DELETE)) {
        my $r = $t->request($m => '/read/ok.txt', {body => $m eq 'HEAD' ? undef : 'x'});
        is $r->{status}, 401, "$m: 401" or diag show($r);
        is_deeply [www_authenticate($r)], [$none], "$m: bare challenge";
    }
};

subtest 'another scheme counts as no bearer credentials: 401 bare challenge' => sub {
    refused_ok(get('/read/ok.txt', $basic_ok), 401, $none, 'Basic');
    refused_ok(get('/read/ok.txt', "Digest username=\"u\", realm=\"r\""), 401, $none, 'Digest');
    refused_ok(get('/read/ok.txt', "Token $read"), 401, $none, 'Token scheme with a valid token');
    refused_ok(get('/read/ok.txt', "MAC $read"), 401, $none, 'MAC scheme');
};

subtest 'a token in the query string is not a credential (only the header is read)' => sub {
    refused_ok(get("/read/ok.txt?access_token=$read"), 401, $none, 'access_token in the query');
};

subtest 'malformed credentials: 400 invalid_request' => sub {
    refused_ok(get('/read/ok.txt', 'Bearer'), 400, $malformed, 'scheme without a token');
    refused_ok(raw_get('/read/ok.txt', 'Authorization: Bearer '), 400, $malformed,
        'scheme and a space, no token');
    for my $tok ('abc def', "$read extra", 'abc,def', 'a=b', '=abc', '==', 'abc!', 'abc@def', 'abc%20',
        'ab"c', 'tok;en', 'a:b', 'a*b', '(abc)', 'abc\\', "\xc3\xa9t\xc3\xa9", "abc\tdef")
    {
        (my $shown = $tok) =~ s/([^\x21-\x7e ])/sprintf '\\x%02x', ord $1/ge;
        refused_ok(raw_get('/read/ok.txt', "Authorization: Bearer $tok"), 400, $malformed,
            "token '$shown'");
    }
    refused_ok(raw_get('/any/ok.txt', 'Authorization: Bearer a b'), 400, $malformed,
        'malformed at a location requiring no scope');
    refused_ok(raw_get('/rw/ok.txt', "Authorization: Bearer $rw,"), 400, $malformed,
        'a valid token with a trailing comma');
};

subtest 'well-formed but unknown tokens: 401 invalid_token' => sub {
    for my $tok ('abc', 'a-b.c_d~e+f/g', 'abc=', 'abc==', 'x' x 43, substr($read, 0, -1), "${read}A",
        "$read=", lc $read eq $read ? uc $read : lc $read, 'A' x 4000)
    {
        refused_ok(get('/read/ok.txt', "Bearer $tok"), 401, $invalid,
            'token ' . (length $tok > 50 ? length($tok) . ' chars' : "'$tok'"));
    }
    refused_ok(get('/any/ok.txt', 'Bearer abc'), 401, $invalid, 'unknown token, any-token location');
};

subtest 'a valid token lacking a required scope: 403 insufficient_scope' => sub {
    refused_ok(get('/read/ok.txt', "Bearer $write"), 403, insufficient('read'), 'write token, read required');
    refused_ok(get('/rw/ok.txt', "Bearer $read"), 403, insufficient('read write'),
        'read token, read write required');
    refused_ok(get('/rw/ok.txt', "Bearer $write"), 403, insufficient('read write'),
        'write token, read write required');
    refused_ok(get('/admin/ok.txt', "Bearer $rw"), 403, insufficient('admin:all'), 'admin:all required');
    refused_ok(get('/read/ok.txt', 'Bearer ' . token('app', 'readonly')), 403, insufficient('read'),
        "'readonly' is not 'read'");
    refused_ok(get('/read/ok.txt', 'Bearer ' . token('empty')), 403, insufficient('read'),
        'a token with no scope');
};

subtest 'oauth_realm sets the realm of every challenge' => sub {
    my $realm = 'other realm';
    refused_ok(get('/realm/ok.txt'), 401, bearer_challenge($realm), 'no credentials');
    refused_ok(get('/realm/ok.txt', 'Bearer'), 400, bearer_challenge($realm, 'invalid_request'), 'malformed');
    refused_ok(get('/realm/ok.txt', 'Bearer abc'), 401, bearer_challenge($realm, 'invalid_token'), 'unknown');
    refused_ok(get('/realm/ok.txt', "Bearer $read"), 403,
        bearer_challenge($realm, 'insufficient_scope', 'read write'), 'insufficient scope');
    passed_ok(get('/realm/ok.txt', "Bearer $rw"), 'valid');
};

subtest 'two Authorization headers: 400 and nothing passes' => sub {
    # nginx 1.22 refuses a repeated Authorization header itself
    # (ngx_http_process_unique_header_line) before any module runs, so the
    # 400 carries no Bearer challenge.
    for my $case (["Bearer $rw", "Bearer $rw"], ["Bearer $rw", "Bearer $read"], ["Bearer $rw", $basic_ok],
        [$basic_ok, "Bearer $rw"], ["Bearer $rw", 'Bearer'])
    {
        my $r = raw_get('/read/ok.txt', map {"Authorization: $_"} @$case);
        is $r->{status}, 400, "two headers: 400" or diag show($r);
        unlike $r->{content}, qr/^ok$/m, 'not the protected content';
    }
    my $r = raw_get('/open/ok.txt', "Authorization: Bearer $rw", "Authorization: Bearer $rw");
    is $r->{status}, 400, 'also refused by nginx at an unprotected location';
};

subtest 'expiry: a token from a ttl=2s endpoint is refused after 2 s' => sub {
    my $issued = time;
    my $r = $t->token_request(basic => ['app', $secret], path => '/token-2s',
        form => [grant_type => 'client_credentials', scope => 'read write']);
    my $short = token_ok($r, expires_in => 2, scope => 'read write') // 'no-token';
    passed_ok(get('/rw/ok.txt', "Bearer $short"), 'right after issuance');
    # expiry has a resolution of one second
    my $wait = $issued + 3.2 - time;
    sleep $wait if $wait > 0;
    refused_ok(get('/rw/ok.txt', "Bearer $short"), 401, $invalid, "after 3 s ($_)") for 1 .. 6;
    refused_ok(get('/any/ok.txt', "Bearer $short"), 401, $invalid, 'after 3 s, any-token location');
    passed_ok(get('/rw/ok.txt', "Bearer $rw"), 'a 1h token is still valid');
};

subtest 'a revoked token: 401 invalid_token at once, in every worker' => sub {
    my $victim = token('app', 'read write');
    passed_ok(get('/rw/ok.txt', "Bearer $victim"), 'before revocation');
    my $r = $t->request(POST => '/revoke', {
        headers => {Authorization => basic_credentials('app', $secret),
                    'Content-Type' => 'application/x-www-form-urlencoded'},
        body => form_body([token => $victim]),
    });
    is $r->{status}, 200, 'revocation answered 200' or diag show($r);
    refused_ok(get('/rw/ok.txt', "Bearer $victim"), 401, $invalid, "after revocation ($_)") for 1 .. 6;
    passed_ok(get('/rw/ok.txt', "Bearer $rw"), 'another token of the same client is untouched');
};

subtest 'satisfy any with allow: the address alone lets every request through' => sub {
    passed_ok(get('/any-allow/ok.txt'), 'no credentials');
    passed_ok(get('/any-allow/ok.txt', 'Bearer abc'), 'unknown token');
    passed_ok(get('/any-allow/ok.txt', "Bearer $read"), 'insufficient scope');
    passed_ok(get('/any-allow/ok.txt', "Bearer $rw"), 'valid token');
    passed_ok(get('/any-allow/ok.txt', 'Bearer a b'), 'malformed bearer credentials');
};

subtest 'satisfy any with deny all: the bearer check decides' => sub {
    passed_ok(get('/any-deny/ok.txt', "Bearer $rw"), 'valid token');
    refused_ok(get('/any-deny/ok.txt'), 401, $none, 'no credentials');
    refused_ok(get('/any-deny/ok.txt', 'Bearer abc'), 401, $invalid, 'unknown token');
    refused_ok(get('/any-deny/ok.txt', "Bearer $read"), 403, insufficient('read write'), 'insufficient scope');
    my $r = get('/any-deny/ok.txt', 'Bearer a b');
    isnt $r->{status}, 200, 'malformed: refused';
    is_deeply [www_authenticate($r)], [$malformed], 'malformed: invalid_request challenge' or diag show($r);
};

subtest 'satisfy all: allow/deny and the bearer check must both pass' => sub {
    passed_ok(get('/all-allow/ok.txt', "Bearer $rw"), 'allowed address, valid token');
    refused_ok(get('/all-allow/ok.txt'), 401, $none, 'allowed address, no credentials');
    refused_ok(get('/all-allow/ok.txt', 'Bearer abc'), 401, $invalid, 'allowed address, unknown token');
    refused_ok(get('/all-allow/ok.txt', "Bearer $read"), 403, insufficient('read write'),
        'allowed address, insufficient scope');
    refused_ok(get('/all-allow/ok.txt', 'Bearer a b'), 400, $malformed, 'allowed address, malformed');
    my $r = get('/all-deny/ok.txt', "Bearer $rw");
    is $r->{status}, 403, 'denied address, valid token: 403' or diag show($r);
    is_deeply [www_authenticate($r)], [], 'denied address, valid token: no challenge';
    $r = get('/all-deny/ok.txt');
    ok $r->{status} == 401 || $r->{status} == 403, 'denied address, no credentials: refused'
        or diag show($r);
};

subtest 'satisfy any with auth_basic: either credential lets through' => sub {
    passed_ok(get('/basic-any/ok.txt', $basic_ok), 'valid Basic credentials');
    passed_ok(get('/basic-any/ok.txt', "Bearer $read"), 'valid bearer token');
    for my $case ([undef, $none, 'no credentials'], [$basic_bad, $none, 'wrong Basic password'],
        ['Bearer abc', $invalid, 'unknown bearer token'])
    {
        my ($auth, $bearer, $name) = @$case;
        my $r = get('/basic-any/ok.txt', $auth);
        is $r->{status}, 401, "$name: 401" or diag show($r);
        is_deeply [sort(www_authenticate($r))], [sort('Basic realm="basic"', $bearer)],
            "$name: both challenges" or diag show($r);
    }
    my $r = get('/basic-any/ok.txt', "Bearer $write");
    isnt $r->{status}, 200, 'insufficient scope, no Basic credentials: refused' or diag show($r);
};

subtest 'satisfy all with auth_basic: one Authorization header cannot carry both' => sub {
    refused_ok(get('/basic-all/ok.txt', "Bearer $read"), 401, 'Basic realm="basic"',
        'valid bearer token only: the Basic challenge');
    refused_ok(get('/basic-all/ok.txt', $basic_ok), 401, $none,
        'valid Basic credentials only: the Bearer challenge');
};

subtest 'error_page styles the refusals and keeps status and challenge' => sub {
    my @cases = (
        [undef, 401, $none, 'no credentials'],
        ['Bearer a b', 400, $malformed, 'malformed'],
        ['Bearer abc', 401, $invalid, 'unknown token'],
        ["Bearer $read", 403, insufficient('read write'), 'insufficient scope'],
    );
    for my $case (@cases) {
        my ($auth, $status, $challenge, $name) = @$case;
        my $r = defined $auth ? raw_get('/styled/ok.txt', "Authorization: $auth") : get('/styled/ok.txt');
        refused_ok($r, $status, $challenge, $name);
        is $r->{content}, "styled $status\n", "$name: the error_page body";
    }
    passed_ok(get('/styled/ok.txt', "Bearer $rw"), 'valid token');
};

subtest 'hundreds of tokens, each used at once on a fresh connection, in any worker' => sub {
    my $n = 300;
    my (%use_workers, $cross, @bad);
    for my $i (1 .. $n) {
        my $r = $t->token_request(basic => ['app', $secret],
            form => [grant_type => 'client_credentials', scope => 'read write']);
        my $tok = $r->{json}{access_token};
        if ($r->{status} != 200 || !$tok) { push @bad, "issue $i: " . show($r); next }
        my $u = get('/rw/ok.txt', "Bearer $tok");
        push @bad, "use $i: " . show($u) unless $u->{status} == 200 && $u->{content} eq "ok\n";
        my ($wi, $wu) = ($r->{headers}{'x-worker'} // '?', $u->{headers}{'x-worker'} // '?');
        $use_workers{$wu}++;
        $cross++ if $wi ne $wu;
    }
    is scalar @bad, 0, "all $n tokens issued and accepted" or diag join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)];
    is scalar keys %use_workers, 2, 'both workers answered' or diag explain \%use_workers;
    ok $cross, 'tokens accepted by a worker other than the issuing one (' . ($cross // 0) . ')';
};

subtest 'hundreds of tokens issued concurrently, then used concurrently' => sub {
    my $n = 300;
    my $body = form_body([grant_type => 'client_credentials', scope => 'read']);
    my $post = "POST /token HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . 'Authorization: ' . basic_credentials('other', $secret) . "\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " . length($body)
        . "\r\n\r\n$body";
    my @issued = $t->raw_parallel([($post) x $n]);
    my @tokens = map { $_->{json} && $_->{json}{access_token} } @issued;
    my @failed = grep { $_->{status} != 200 } @issued;
    is scalar @failed, 0, "$n token requests at once: all 200" or diag show($failed[0]);
    my %distinct = map { ($_ // '') => 1 } @tokens;
    is scalar keys %distinct, $n, 'all distinct';
    my @used = $t->raw_parallel([map {
        "GET /read/ok.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            . 'Authorization: Bearer ' . ($_ // 'none') . "\r\n\r\n"
    } @tokens]);
    my @refused = grep { $_->{status} != 200 || $_->{content} ne "ok\n" } @used;
    is scalar @refused, 0, "$n uses at once: all 200" or diag show($refused[0]);
    my %workers = map { ($_->{headers}{'x-worker'} // '') => 1 } @issued, @used;
    is scalar keys %workers, 2, 'both workers answered';
};

subtest 'tokens stay valid across nginx -s reload' => sub {
    my $before = token('app', 'read write');
    my $revoked = token('app', 'read');
    $t->request(POST => '/revoke', {
        headers => {Authorization => basic_credentials('app', $secret),
                    'Content-Type' => 'application/x-www-form-urlencoded'},
        body => form_body([token => $revoked]),
    });
    my @old = $t->worker_pids;
    ok $t->reload(http => $http . "\n# reloaded\n"), 'reload done';
    my %workers;
    for (1 .. 40) {
        my $r = get('/rw/ok.txt', "Bearer $before");
        passed_ok($r, 'token issued before the reload') or last;
        $workers{ $r->{headers}{'x-worker'} }++;
        last if keys %workers == 2 && $_ >= 6;
    }
    is scalar keys %workers, 2, 'accepted by both new workers';
    ok !(grep { $workers{$_} } @old), 'answered by new workers only';
    passed_ok(get('/rw/ok.txt', "Bearer $rw"), 'token issued at the start of the test');
    refused_ok(get('/read/ok.txt', "Bearer $revoked"), 401, $invalid, 'revoked before the reload');
    refused_ok(get('/rw/ok.txt', 'Bearer abc'), 401, $invalid, 'unknown token');
    my $after = token('app', 'read write');
    passed_ok(get('/rw/ok.txt', "Bearer $after"), 'token issued after the reload');

    ok $t->reload(http => $http), 'second reload';
    passed_ok(get('/rw/ok.txt', "Bearer $before"), 'first token after two reloads');
    passed_ok(get('/rw/ok.txt', "Bearer $after"), 'second token after the second reload');
};

done_testing;
