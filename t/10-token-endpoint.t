# Token endpoint: request shape, grant type, success and error responses
# (SPEC "Token endpoint"; RFC 6749 §3.2, §4.4, §5).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw(encode_base64);
use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials form_body token_ok
    error_ok show);

need_module();

my $secret = random_secret();
my @app = (basic => ['app', $secret]);

my $t = OAuthTest->start(
    clients => {
        clients => [
            {client_id => 'app', client_secret_hash => sha256_hash($secret),
             scope => 'read write', default_scope => 'read'},
            {client_id => 'all-scope', client_secret_hash => sha256_hash($secret),
             scope => 'read write'},
            {client_id => 'no-scope', client_secret_hash => sha256_hash($secret), scope => ''},
            {client_id => 'ttl900', client_secret_hash => sha256_hash($secret), scope => 'read',
             token_ttl => 900},
            {client_id => 'cc', client_secret_hash => sha256_hash($secret), scope => 'read',
             grant_types => ['client_credentials']},
            {client_id => 'other-grant', client_secret_hash => sha256_hash($secret), scope => 'read',
             grant_types => ['urn:example:other']},
        ],
    },
    http => <<'EOF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_realm "test";

server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /token-short { oauth_token_endpoint ttl=2s; }
    location = /token-10m { oauth_token_endpoint zone=tokens ttl=10m; }
}
EOF
);

my $grant = 'grant_type=client_credentials';

sub raw_post {
    my (%o) = @_;
    my $body = $o{body} // $grant;
    my $head = "POST " . ($o{path} // '/token') . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . 'Authorization: ' . basic_credentials('app', $secret) . "\r\n";
    $head .= "$_\r\n" for @{ $o{headers} // [] };
    if ($o{chunked}) {
        $head .= "Transfer-Encoding: chunked\r\n";
        my $chunks = '';
        for (my $i = 0; $i < length $body; $i += 4000) {
            my $c = substr $body, $i, 4000;
            $chunks .= sprintf("%x\r\n", length $c) . "$c\r\n";
        }
        return $t->raw("$head\r\n${chunks}0\r\n\r\n");
    }
    $head .= 'Content-Length: ' . length($body) . "\r\n" unless $o{no_length};
    return $t->raw("$head\r\n$body");
}

subtest 'POST only: other methods get 405 with Allow: POST' => sub {
    for my $m (qw(GET HEAD PUT DELETE OPTIONS PATCH)) {
        my $r = $t->token_request(@app, method => $m,
            $m eq 'GET' || $m eq 'HEAD' ? (form => '', query => $grant) : ());
        is $r->{status}, 405, "$m: 405" or diag show($r);
        is $r->{headers}{allow}, 'POST', "$m: Allow: POST";
    }
};

subtest 'success: 200 with the token response of RFC 6749 §5.1' => sub {
    my $r = $t->token_request(@app);
    token_ok($r, scope => 'read', expires_in => 3600);
    ok !exists $r->{json}{refresh_token}, 'no refresh_token';
};

subtest 'access tokens are base64url, >= 256 bits, and distinct' => sub {
    my %seen;
    for (1 .. 50) {
        my $tok = token_ok($t->token_request(@app), scope => 'read');
        $seen{ $tok // '' }++;
    }
    is scalar keys %seen, 50, '50 distinct tokens';
};

subtest 'Content-Type must be application/x-www-form-urlencoded' => sub {
    for my $ct ('application/json', 'text/plain', 'application/octet-stream',
        'multipart/form-data; boundary=xyz', 'application/x-www-form-urlencodedx',
        'application/x-www-form', 'x-www-form-urlencoded')
    {
        error_ok($t->token_request(@app, content_type => $ct), 400, 'invalid_request', "Content-Type: $ct");
    }
    error_ok(raw_post(), 400, 'invalid_request', 'no Content-Type');
    for my $ct ('application/x-www-form-urlencoded; charset=UTF-8',
        'application/x-www-form-urlencoded;charset=utf-8',
        'Application/X-WWW-Form-URLEncoded', 'APPLICATION/X-WWW-FORM-URLENCODED; CHARSET=UTF-8')
    {
        token_ok($t->token_request(@app, content_type => $ct), scope => 'read', name => "Content-Type: $ct");
    }
};

subtest 'body over 16 KiB: 400 invalid_request' => sub {
    my $ct = 'Content-Type: application/x-www-form-urlencoded';
    # unknown parameters are ignored (RFC 6749 §3.2), so padding makes any size
    my $pad = sub { my $n = shift; "$grant&pad=" . ('x' x ($n - length("$grant&pad="))) };
    token_ok($t->token_request(@app, form => $pad->(16384)), scope => 'read', name => 'exactly 16384 bytes');
    error_ok($t->token_request(@app, form => $pad->(16385)), 400, 'invalid_request', '16385 bytes');
    error_ok($t->token_request(@app, form => $pad->(1 << 20)), 400, 'invalid_request', '1 MiB');
    token_ok(raw_post(headers => [$ct], chunked => 1, body => $pad->(16384)),
        scope => 'read', name => 'chunked, 16384 bytes');
    error_ok(raw_post(headers => [$ct], chunked => 1, body => $pad->(16385)), 400, 'invalid_request',
        'chunked, 16385 bytes');
};

subtest 'empty or missing body: 400 invalid_request (grant_type missing)' => sub {
    my $ct = 'Content-Type: application/x-www-form-urlencoded';
    error_ok(raw_post(headers => [$ct], body => ''), 400, 'invalid_request', 'Content-Length: 0');
    error_ok(raw_post(headers => [$ct], body => '', no_length => 1), 400, 'invalid_request', 'no body at all');
    error_ok(raw_post(headers => [$ct], body => '', chunked => 1), 400, 'invalid_request', 'empty chunked body');
};

subtest 'bad percent-encoding: 400 invalid_request' => sub {
    for my $body ("$grant&scope=%zz", "$grant&scope=read%4", "$grant&scope=read%", "$grant&scope=%G1",
        "grant_type=client%ZZcredentials", "grant%5_type=client_credentials", "$grant&pad=%")
    {
        error_ok($t->token_request(@app, form => $body), 400, 'invalid_request', "body '$body'");
    }
    token_ok($t->token_request(@app, form => 'grant_type=client%5Fcredentials&scope=%72ead'),
        scope => 'read', name => 'valid percent-encoding is decoded');
    token_ok($t->token_request(@app, form => 'grant_type=client%5fcredentials'),
        scope => 'read', name => 'lower-case hex digits');
};

subtest 'a parameter given twice: 400 invalid_request' => sub {
    for my $body ("$grant&$grant", "$grant&grant_type=password", "$grant&scope=read&scope=read",
        "$grant&scope=read&scope=write", "$grant&scope=&scope=read", "grant_type=client_credentials&grant_type=")
    {
        error_ok($t->token_request(@app, form => $body), 400, 'invalid_request', "body '$body'");
    }
    my $post = form_body([grant_type => 'client_credentials', client_id => 'app', client_secret => $secret]);
    error_ok($t->token_request(form => "$post&client_id=app"), 400, 'invalid_request', 'client_id twice');
    error_ok($t->token_request(form => "$post&client_secret=$secret"), 400, 'invalid_request',
        'client_secret twice');
};

subtest 'client_secret or client_id in the query string: 400 invalid_request' => sub {
    error_ok($t->token_request(@app, query => "client_secret=$secret"), 400, 'invalid_request',
        'client_secret in the query, Basic in the header');
    error_ok($t->token_request(form => $grant, query => "client_id=app&client_secret=$secret"),
        400, 'invalid_request', 'client_id and client_secret in the query only');
    error_ok($t->token_request(form => "$grant&client_id=app", query => "client_secret=$secret"),
        400, 'invalid_request', 'client_secret in the query, client_id in the body');
    error_ok($t->token_request(@app, query => 'client_id=app'), 400, 'invalid_request',
        'client_id in the query');
    error_ok($t->token_request(@app, query => 'client_secret='), 400, 'invalid_request',
        'empty client_secret in the query');
    token_ok($t->token_request(@app, query => 'foo=bar'), scope => 'read',
        name => 'another query parameter is ignored');
};

subtest 'grant_type' => sub {
    error_ok($t->token_request(@app, form => ''), 400, 'invalid_request', 'empty body');
    error_ok($t->token_request(@app, form => 'scope=read'), 400, 'invalid_request', 'grant_type missing');
    for my $g ('password', 'authorization_code', 'refresh_token', 'Client_Credentials',
        'client_credentials ', 'urn:ietf:params:oauth:grant-type:jwt-bearer')
    {
        error_ok($t->token_request(@app, form => [grant_type => $g]), 400, 'unsupported_grant_type',
            "grant_type '$g'");
    }
    error_ok($t->token_request(basic => ['other-grant', $secret]), 400, 'unauthorized_client',
        'client whose grant_types lacks client_credentials');
    token_ok($t->token_request(basic => ['cc', $secret]), scope => 'read',
        name => 'client with grant_types ["client_credentials"]');
};

subtest 'ttl: endpoint default 1h, ttl= parameter, per-client token_ttl' => sub {
    token_ok($t->token_request(@app), expires_in => 3600, scope => 'read', name => 'default ttl');
    token_ok($t->token_request(@app, path => '/token-short'), expires_in => 2, scope => 'read',
        name => 'ttl=2s');
    token_ok($t->token_request(@app, path => '/token-10m'), expires_in => 600, scope => 'read',
        name => 'ttl=10m, zone=tokens');
    token_ok($t->token_request(basic => ['ttl900', $secret]), expires_in => 900, scope => 'read',
        name => 'token_ttl over the default ttl');
    token_ok($t->token_request(basic => ['ttl900', $secret], path => '/token-short'), expires_in => 900,
        scope => 'read', name => 'token_ttl over ttl=2s');
};

subtest 'scope in the response' => sub {
    token_ok($t->token_request(@app), scope => 'read', name => 'default_scope');
    token_ok($t->token_request(basic => ['all-scope', $secret]), scope => 'read write',
        name => 'no default_scope: all of the client scope');
    token_ok($t->token_request(basic => ['no-scope', $secret]), scope => undef,
        name => 'empty granted scope is left out');
};

subtest 'error responses carry the cache headers and JSON' => sub {
    error_ok($t->token_request(basic => ['app', 'wrong']), 401, 'invalid_client', 'invalid_client');
    error_ok($t->token_request(@app, form => 'grant_type=password'), 400, 'unsupported_grant_type');
};

subtest 'both workers issue tokens (fresh connections)' => sub {
    my %tokens;
    for (1 .. 40) {
        my $r = $t->token_request(@app);
        is $r->{status}, 200 or diag show($r);
        $tokens{ $r->{json}{access_token} // '' }++;
    }
    is scalar keys %tokens, 40, 'all distinct';
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
