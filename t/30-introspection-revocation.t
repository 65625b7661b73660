# Token introspection (RFC 7662) and revocation (RFC 7009): who may call, what
# they answer, and that a revoked token is refused everywhere at once
# (SPEC "Introspection, revocation, metadata").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use OAuthTest qw(need_module sha256_hash pbkdf2_hash random_secret basic_credentials form_body
    token_ok error_ok show invalid_client_ok);

need_module();

my %secret = map { $_ => random_secret() } qw(app other rs plain);
my ($odd_id, $odd_secret) = ('rs:eu+1', 'p@ss w+rd/%:');    # need form-encoding

my $port2 = OAuthTest::free_port();
my $t = OAuthTest->new(
    clients => {
        clients => [
            {client_id => 'app', client_secret_hash => sha256_hash($secret{app}),
             scope => 'reports:read reports:write'},
            {client_id => 'other', client_secret_hash => sha256_hash($secret{other}),
             scope => 'reports:read'},
            {client_id => 'rs', client_secret_hash => sha256_hash($secret{rs}), scope => '',
             introspection => JSON::PP::true},
            {client_id => $odd_id, client_secret_hash => pbkdf2_hash($odd_secret, 1000),
             scope => 'reports:read', introspection => JSON::PP::true},
            {client_id => 'plain', client_secret_hash => sha256_hash($secret{plain}),
             scope => 'reports:read', introspection => JSON::PP::false},
        ],
    },
    # the second server has no oauth_issuer: introspection answers carry no "iss"
    http => <<"EOF",
oauth_token_zone tokens:1m;
oauth_token_zone other:1m;
oauth_clients clients.json;
oauth_realm "test";

server {
    # reuseport: each worker has its own socket, so connections spread over both
    listen 127.0.0.1:%%PORT%% reuseport;
    oauth_issuer http://127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint zone=tokens; }
    location = /token-short { oauth_token_endpoint zone=tokens ttl=1s; }
    location = /token-other { oauth_token_endpoint zone=other; }
    location = /introspect { oauth_introspection_endpoint zone=tokens; }
    location = /introspect-other { oauth_introspection_endpoint zone=other; }
    location = /revoke { oauth_revocation_endpoint zone=tokens; }
    # a static file: `return` would answer in the rewrite phase, before any access check
    location /api/ {
        oauth_require_scope zone=tokens reports:read;
        root %%PREFIX%%/html;
        default_type text/plain;
        add_header X-Client-Id \$oauth_client_id;
        add_header X-Worker \$pid always;
    }
}

server {
    listen 127.0.0.1:$port2;
    location = /introspect { oauth_introspection_endpoint zone=tokens; }
}
EOF
);
mkdir $t->prefix . "/$_" for qw(html html/api);
$t->write_file('html/api/reports', 'ok');
$t->start;
my $issuer = 'http://127.0.0.1:' . $t->port;

my @app   = (basic => ['app', $secret{app}]);
my @other = (basic => ['other', $secret{other}]);
my @rs    = (basic => ['rs', $secret{rs}]);
my $challenge = 'Basic realm="test"';

sub new_token {
    my (%o) = @_;
    my $path = delete $o{path} // '/token';
    my $who = delete $o{as} // \@app;
    my $r = $t->token_request(@$who, path => $path, %o);
    my $tok = $r->{json} && $r->{json}{access_token};
    die 'no token from ' . $path . ': ' . show($r) . "\n" unless defined $tok;
    return $tok;
}

# POST /introspect (or another path), the caller from %o, token => ...
sub introspect {
    my ($token, %o) = @_;
    my $who = delete $o{as} // \@rs;
    my $form = delete $o{form} // [token => $token];
    return $t->token_request(@$who, path => '/introspect', form => $form, %o);
}

sub revoke {
    my ($token, %o) = @_;
    my $who = delete $o{as} // \@app;
    my $form = delete $o{form} // [token => $token];
    return $t->token_request(@$who, path => '/revoke', form => $form, %o);
}

sub api {
    my ($token) = @_;
    return $t->request('GET', '/api/reports', {headers => {Authorization => "Bearer $token"}});
}

# The protected location accepts the token: 200 and the client id of its grant.
sub api_ok {
    my ($token, $client_id, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = api($token);
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= is($r->{headers}{'x-client-id'}, $client_id, "$name: \$oauth_client_id is $client_id");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

sub inactive_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= like($r->{headers}{'content-type'} // '', qr{^application/json\s*(?:;\s*charset=utf-8)?$}i,
        "$name: Content-Type application/json");
    $ok &&= is($r->{headers}{'cache-control'}, 'no-store', "$name: Cache-Control no-store");
    $ok &&= is($r->{content}, '{"active":false}', "$name: exactly {\"active\":false}");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

# An active answer: exactly the RFC 7662 members the SPEC lists.
sub active_ok {
    my ($r, %e) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $name = $e{name} // 'active';
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= like($r->{headers}{'content-type'} // '', qr{^application/json\s*(?:;\s*charset=utf-8)?$}i,
        "$name: Content-Type application/json");
    $ok &&= is($r->{headers}{'cache-control'}, 'no-store', "$name: Cache-Control no-store");
    my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
    # aud (RFC 8707): these clients list no "resource", so it is the issuer of the token endpoint
    my @keys = (qw(active client_id scope token_type exp iat sub aud), exists $e{iss} ? 'iss' : ());
    $ok &&= is_deeply([sort keys %$j], [sort @keys], "$name: exactly the members @keys");
    $ok &&= ok(JSON::PP::is_bool($j->{active}) && $j->{active}, "$name: active is JSON true");
    $ok &&= is($j->{client_id}, $e{client_id}, "$name: client_id");
    $ok &&= is($j->{sub}, $e{client_id}, "$name: sub is the client id");
    $ok &&= is(join(' ', sort split / /, $j->{scope} // ''), join(' ', sort split / /, $e{scope}),
        "$name: scope '$e{scope}'");
    $ok &&= is($j->{token_type}, 'Bearer', "$name: token_type Bearer");
    $ok &&= like($r->{content}, qr/"exp"\s*:\s*[1-9][0-9]*\s*[,}]/, "$name: exp is a JSON integer");
    $ok &&= like($r->{content}, qr/"iat"\s*:\s*[1-9][0-9]*\s*[,}]/, "$name: iat is a JSON integer");
    $ok &&= cmp_ok(abs(($j->{iat} // 0) - time), '<=', 5, "$name: iat is now");
    $ok &&= is(($j->{exp} // 0) - ($j->{iat} // 0), $e{ttl} // 3600, "$name: exp - iat is the ttl");
    $ok &&= is($j->{iss}, $e{iss}, "$name: iss") if exists $e{iss};
    $ok &&= is_deeply($j->{aud}, [$issuer], "$name: aud is the issuer");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}


sub invalid_token_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 401, "$name: 401");
    $ok &&= like($r->{headers}{'www-authenticate'} // '',
        qr/^Bearer realm="test",\s*error="invalid_token"(?:,|$)/, "$name: error=\"invalid_token\"");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

# ---- introspection ---------------------------------------------------------------

subtest 'introspection: an active token answers its grant, with iss' => sub {
    my $tok = new_token();
    active_ok(introspect($tok), client_id => 'app', scope => 'reports:read reports:write', iss => $issuer);
    active_ok(introspect(new_token(form => [grant_type => 'client_credentials', scope => 'reports:read'])),
        client_id => 'app', scope => 'reports:read', iss => $issuer, name => 'narrowed scope');
    active_ok(introspect(new_token(as => \@other)), client_id => 'other', scope => 'reports:read',
        iss => $issuer, name => "another client's token");
};

subtest 'introspection: iss is left out where oauth_issuer is not set' => sub {
    my $tok = new_token();
    my $r = do { local $t->{port} = $port2; introspect($tok) };
    active_ok($r, client_id => 'app', scope => 'reports:read reports:write', name => 'second server');
};

subtest 'introspection: the caller may use client_secret_post, and form-encoded Basic' => sub {
    my $tok = new_token();
    active_ok(introspect($tok, as => [], form => [token => $tok, client_id => 'rs', client_secret => $secret{rs}]),
        client_id => 'app', scope => 'reports:read reports:write', iss => $issuer, name => 'client_secret_post');
    active_ok(introspect($tok, as => [basic => [$odd_id, $odd_secret]]),
        client_id => 'app', scope => 'reports:read reports:write', iss => $issuer, name => "Basic as '$odd_id'");
    active_ok(introspect($tok, as => [], form => [token => $tok, client_id => $odd_id, client_secret => $odd_secret]),
        client_id => 'app', scope => 'reports:read reports:write', iss => $issuer, name => "post as '$odd_id'");
};

subtest 'introspection: token_type_hint is accepted and does not change the answer' => sub {
    my $tok = new_token();
    for my $hint (qw(access_token refresh_token)) {
        active_ok(introspect($tok, form => [token => $tok, token_type_hint => $hint]),
            client_id => 'app', scope => 'reports:read reports:write', iss => $issuer, name => "hint $hint");
    }
    inactive_ok(introspect('x', form => [token => random_secret(), token_type_hint => 'access_token']),
        'unknown token with a hint');
};

subtest 'introspection: unknown and garbage tokens answer exactly {"active":false}' => sub {
    my $tok = new_token();
    inactive_ok(introspect(random_secret()), 'unknown token');
    inactive_ok(introspect(substr($tok, 0, -1)), 'token cut by one character');
    inactive_ok(introspect($tok . 'A'), 'token with one character more');
    inactive_ok(introspect('not a token !"#$%&\'()*,;<>[]{}'), 'garbage with punctuation');
    inactive_ok(introspect("\x{e9}t\x{e9}"), 'non-ASCII');
    inactive_ok(introspect('A' x 4000), '4000 characters');
};

subtest 'introspection: an expired token is inactive' => sub {
    my $tok = new_token(path => '/token-short');
    my $r = introspect($tok);
    my $j = $r->{json} // {};
    is $r->{status}, 200, 'fresh short-lived token: 200' or diag show($r);
    is $j->{exp} - $j->{iat}, 1, 'fresh short-lived token: exp - iat = 1' if $j->{active};
    my $deadline = time + 4;
    sleep 0.25 while time < $deadline && (introspect($tok)->{json} // {})->{active};
    inactive_ok(introspect($tok), 'after its expiry');
    invalid_token_ok(api($tok), 'protected location after expiry');
};

subtest 'introspection: a token of another zone is inactive' => sub {
    my $tok = new_token(path => '/token-other');
    inactive_ok(introspect($tok), 'zone=tokens does not know a token of zone=other');
    active_ok(introspect($tok, path => '/introspect-other'), client_id => 'app',
        scope => 'reports:read reports:write', iss => $issuer, name => 'zone=other knows it');
    inactive_ok(introspect(new_token(), path => '/introspect-other'),
        'zone=other does not know a token of zone=tokens');
};

subtest 'introspection: unauthenticated callers get 401 invalid_client' => sub {
    my $tok = new_token();
    invalid_client_ok(introspect($tok, as => []), 'no credentials', $challenge);
    invalid_client_ok(introspect($tok, as => [basic => ['rs', 'wrong']]), 'Basic, wrong secret', $challenge);
    invalid_client_ok(introspect($tok, as => [basic => ['nobody', $secret{rs}]]), 'Basic, unknown client',
        $challenge);
    invalid_client_ok(introspect($tok, as => [basic => ['RS', $secret{rs}]]), 'Basic, client id in another case',
        $challenge);
    invalid_client_ok(introspect($tok, as => [], form => [token => $tok, client_id => 'rs', client_secret => 'wrong']),
        'post, wrong secret', undef);
    invalid_client_ok(introspect($tok, as => [], form => [token => $tok, client_id => 'nobody',
        client_secret => $secret{rs}]), 'post, unknown client', undef);
    invalid_client_ok(introspect($tok, as => [basic => ['app', $tok]]), 'the token as a secret', $challenge);
    invalid_client_ok(introspect($tok, as => [], headers => {Authorization => "Bearer $tok"}),
        'Bearer credentials', $challenge);
};

subtest 'introspection: a known client without the right gets 403 unauthorized_client' => sub {
    my $tok = new_token();
    error_ok(introspect($tok, as => \@app), 403, 'unauthorized_client', 'app (no "introspection")');
    error_ok(introspect($tok, as => [basic => ['plain', $secret{plain}]]), 403, 'unauthorized_client',
        'plain ("introspection": false)');
    error_ok(introspect($tok, as => [], form => [token => $tok, client_id => 'app', client_secret => $secret{app}]),
        403, 'unauthorized_client', 'app with client_secret_post');
    error_ok(introspect(random_secret(), as => \@app), 403, 'unauthorized_client', 'app, unknown token');
};

subtest 'introspection: missing token parameter: 400 invalid_request' => sub {
    error_ok(introspect(undef, form => []), 400, 'invalid_request', 'empty body');
    error_ok(introspect(undef, form => [token_type_hint => 'access_token']), 400, 'invalid_request',
        'only a hint');
    error_ok(introspect(undef, form => [Token => new_token()]), 400, 'invalid_request',
        'parameter names are case-sensitive');
    # RFC 6749 §3.2: "Parameters sent without a value MUST be treated as if they
    # were omitted from the request."
    error_ok(introspect(''), 400, 'invalid_request', 'token with an empty value');
};

subtest 'introspection: request shape as at the token endpoint' => sub {
    my $tok = new_token();
    for my $m (qw(GET HEAD PUT DELETE PATCH)) {
        my $r = introspect($tok, method => $m, $m eq 'GET' || $m eq 'HEAD' ? (form => '', query => "token=$tok") : ());
        is $r->{status}, 405, "$m: 405" or diag show($r);
        is $r->{headers}{allow}, 'POST', "$m: Allow: POST";
    }
    error_ok(introspect($tok, content_type => 'application/json'), 400, 'invalid_request', 'JSON content type');
    error_ok(introspect($tok, content_type => undef), 400, 'invalid_request', 'no content type');
    error_ok(introspect($tok, form => "token=$tok&token=$tok"), 400, 'invalid_request', 'token given twice');
    error_ok(introspect($tok, form => "token=%zz"), 400, 'invalid_request', 'bad percent-encoding');
    error_ok(introspect($tok, form => "token=$tok&pad=" . ('x' x 16384)), 400, 'invalid_request',
        'body over 16 KiB');
    error_ok(introspect($tok, as => [], form => [token => $tok, client_id => 'rs'], query => "client_secret=$secret{rs}"),
        400, 'invalid_request', 'client_secret in the query string');
    error_ok(introspect($tok, form => [token => $tok, client_id => 'rs', client_secret => $secret{rs}]),
        400, 'invalid_request', 'Basic and client_secret_post at once');
    active_ok(introspect($tok, content_type => 'application/x-www-form-urlencoded; charset=UTF-8'),
        client_id => 'app', scope => 'reports:read reports:write', iss => $issuer, name => 'charset parameter');
};

# ---- revocation ----------------------------------------------------------------------

sub revoked_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= is($r->{content}, '', "$name: empty body");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

subtest 'revocation: own token, Basic: 200, then refused by introspection and the API' => sub {
    my $tok = new_token();
    my $keep = new_token();
    api_ok($tok, 'app', 'the API accepts the token before');
    revoked_ok(revoke($tok), 'revoke');
    inactive_ok(introspect($tok), 'introspection after revocation');
    invalid_token_ok(api($tok), 'API after revocation');
    active_ok(introspect($keep), client_id => 'app', scope => 'reports:read reports:write', iss => $issuer,
        name => 'another token of the same client stays active');
    api_ok($keep, 'app', 'the API still accepts that other token');
};

subtest 'revocation: own token, client_secret_post and token_type_hint' => sub {
    my $tok = new_token(as => \@other);
    revoked_ok(revoke($tok, as => [], form => [token => $tok, token_type_hint => 'access_token',
        client_id => 'other', client_secret => $secret{other}]), 'revoke with client_secret_post');
    inactive_ok(introspect($tok), 'introspection after revocation');
    invalid_token_ok(api($tok), 'API after revocation');
    my $tok2 = new_token(as => \@other);
    revoked_ok(revoke($tok2, as => \@other, form => [token => $tok2, token_type_hint => 'refresh_token']),
        'revoke with the hint refresh_token');
    inactive_ok(introspect($tok2), 'introspection after revocation (hint refresh_token)');
};

subtest 'revocation: a client without "introspection" revokes its own tokens' => sub {
    my $tok = new_token(as => [basic => ['plain', $secret{plain}]]);
    revoked_ok(revoke($tok, as => [basic => ['plain', $secret{plain}]]), 'plain revokes');
    inactive_ok(introspect($tok), 'introspection after revocation');
};

subtest 'revocation: refused at once in every worker' => sub {
    my @workers = $t->worker_pids;
    is scalar(@workers), 2, 'two workers';
    my $each_worker = sub { my ($tok) = @_; $t->in_each_worker(sub { api($tok) }) };
    my $tok = new_token();
    my ($seen, @before) = $each_worker->($tok);
    is_deeply [sort keys %$seen], [sort @workers], 'before: both workers answered';
    is scalar(grep { $_->{status} == 200 } @before), scalar(@before), 'before: every worker accepts the token';
    revoked_ok(revoke($tok), 'revoke');
    ($seen, my @after) = $each_worker->($tok);
    is_deeply [sort keys %$seen], [sort @workers], 'right after: both workers answered';
    my @bad = grep { $_->{status} != 401 } @after;
    is scalar(@bad), 0, 'right after: every worker refuses the token (' . scalar(@after) . ' requests)'
        or diag show($bad[0]);
    my @intro = map { introspect($tok)->{content} } 1 .. 10;
    is_deeply \@intro, [('{"active":false}') x 10], '10 introspections right after: inactive';
};

subtest 'revocation: foreign tokens answer 200 and change nothing' => sub {
    my $tok = new_token();
    revoked_ok(revoke($tok, as => \@other), 'other revokes the token of app');
    revoked_ok(revoke($tok, as => \@rs), 'rs (introspection right) revokes the token of app');
    revoked_ok(revoke($tok, as => [], form => [token => $tok, client_id => 'other',
        client_secret => $secret{other}]), 'other, client_secret_post');
    active_ok(introspect($tok), client_id => 'app', scope => 'reports:read reports:write', iss => $issuer,
        name => 'still active');
    api_ok($tok, 'app', 'the API still accepts it');
};

subtest 'revocation: unknown, garbage and already revoked tokens answer 200' => sub {
    revoked_ok(revoke(random_secret()), 'unknown token');
    revoked_ok(revoke('not a token !"#$%&'), 'garbage');
    my $tok = new_token();
    revoked_ok(revoke($tok), 'first revocation');
    revoked_ok(revoke($tok), 'second revocation');
    revoked_ok(revoke(new_token(path => '/token-other')), 'a token of another zone');
    my $short = new_token(path => '/token-short');
    my $deadline = time + 4;
    sleep 0.25 while time < $deadline && (introspect($short)->{json} // {})->{active};
    revoked_ok(revoke($short), 'an expired token');
};

subtest 'revocation: unauthenticated callers get 401 invalid_client and revoke nothing' => sub {
    my $tok = new_token();
    invalid_client_ok(revoke($tok, as => []), 'no credentials', $challenge);
    invalid_client_ok(revoke($tok, as => [basic => ['app', 'wrong']]), 'Basic, wrong secret', $challenge);
    invalid_client_ok(revoke($tok, as => [basic => ['nobody', $secret{app}]]), 'Basic, unknown client', $challenge);
    invalid_client_ok(revoke($tok, as => [], form => [token => $tok, client_id => 'app', client_secret => 'wrong']),
        'post, wrong secret', undef);
    invalid_client_ok(revoke($tok, as => [], form => [token => $tok, client_id => 'app']),
        'post, client_id without secret', undef);
    invalid_client_ok(revoke($tok, as => [], headers => {Authorization => "Bearer $tok"}),
        'the token itself as Bearer credentials', $challenge);
    active_ok(introspect($tok), client_id => 'app', scope => 'reports:read reports:write', iss => $issuer,
        name => 'still active');
};

subtest 'revocation: request shape as at the token endpoint' => sub {
    my $tok = new_token();
    for my $m (qw(GET HEAD PUT DELETE)) {
        my $r = revoke($tok, method => $m, $m eq 'GET' || $m eq 'HEAD' ? (form => '', query => "token=$tok") : ());
        is $r->{status}, 405, "$m: 405" or diag show($r);
        is $r->{headers}{allow}, 'POST', "$m: Allow: POST";
    }
    error_ok(revoke(undef, form => []), 400, 'invalid_request', 'missing token');
    error_ok(revoke(undef, form => [token_type_hint => 'access_token']), 400, 'invalid_request', 'only a hint');
    error_ok(revoke(''), 400, 'invalid_request', 'token with an empty value');
    error_ok(revoke($tok, content_type => 'application/json'), 400, 'invalid_request', 'JSON content type');
    error_ok(revoke($tok, form => "token=$tok&token=$tok"), 400, 'invalid_request', 'token given twice');
    error_ok(revoke($tok, form => [token => $tok, client_id => 'app', client_secret => $secret{app}]),
        400, 'invalid_request', 'Basic and client_secret_post at once');
    active_ok(introspect($tok), client_id => 'app', scope => 'reports:read reports:write', iss => $issuer,
        name => 'none of these revoked it');
};

subtest 'revocation: stays revoked across nginx -s reload' => sub {
    my $tok = new_token();
    my $keep = new_token();
    revoked_ok(revoke($tok), 'revoke');
    ok $t->reload, 'reload';
    inactive_ok(introspect($tok), 'introspection after reload');
    invalid_token_ok(api($tok), 'API after reload');
    api_ok($keep, 'app', 'an unrevoked token still works after reload');
};

subtest 'no token or secret in the error log' => sub {
    my $log = $t->error_log;
    for my $name (sort keys %secret) {
        unlike $log, qr/\Q$secret{$name}\E/, "no secret of $name";
    }
    unlike $log, qr/\Q$odd_secret\E/, "no secret of $odd_id";
};

done_testing;
