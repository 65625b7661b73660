# Token endpoint: client authentication (SPEC "Client registry file", "Token
# endpoint"; RFC 6749 §2.3.1, RFC 7617).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Test::More;
use OAuthTest qw(need_module sha256_hash pbkdf2_hash random_secret basic_credentials form_body
    token_ok error_ok show invalid_client_ok);

need_module();

my $secret = random_secret();
my ($weird_id, $weird_secret) = ('we:ird+id%x y', 's:e+c%r et');
my ($plus_id, $plus_secret) = ('a+b', 'c d');
my ($pb_secret, $rot1, $rot2) = ('pbkdf2 secret', random_secret(), 'rotated secret');
my $legacy_secret = 'legacy-clear-secret-1234';
my $alt_secret = random_secret();

my $clients = {
    clients => [
        {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'},
        {client_id => $weird_id, client_secret_hash => pbkdf2_hash($weird_secret, 1000), scope => 'read'},
        {client_id => $plus_id, client_secret_hash => pbkdf2_hash($plus_secret, 1000), scope => 'read'},
        {client_id => 'pb', client_secret_hash => pbkdf2_hash($pb_secret, 1000), scope => 'read'},
        {client_id => 'pb-array', client_secret_hash => [pbkdf2_hash($pb_secret, 1200)], scope => 'read'},
        {client_id => 'rot', client_secret_hash => [sha256_hash($rot1), pbkdf2_hash($rot2, 1000)],
         scope => 'read'},
        {client_id => 'legacy', client_secret => $legacy_secret, scope => 'read'},
        {client_id => 'CaseClient', client_secret_hash => sha256_hash($secret), scope => 'read'},
    ],
};

my $http = <<'EOF';
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_realm "test";

server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /token-alt {
        oauth_clients alt-clients.json;
        oauth_realm "alt realm";
        oauth_token_endpoint;
    }
}
EOF

my $t = OAuthTest->start(
    clients => $clients,
    files   => {'alt-clients.json' => encode_json(
        {clients => [{client_id => 'alt', client_secret_hash => sha256_hash($alt_secret), scope => 'x'}]})},
    http => $http,
);

my $grant = 'grant_type=client_credentials';
my $challenge = 'Basic realm="test"';


subtest 'client_secret_basic' => sub {
    token_ok($t->token_request(basic => ['app', $secret]), scope => 'read');
    token_ok($t->token_request(authorization => 'basic ' . encode_base64("app:$secret", '')),
        scope => 'read', name => 'scheme is case-insensitive (basic)');
    token_ok($t->token_request(authorization => 'BASIC ' . encode_base64("app:$secret", '')),
        scope => 'read', name => 'scheme is case-insensitive (BASIC)');
};

# curl -u, requests-oauthlib and Authlib 1.2 send Basic without the
# form-encoding: the 401 says so, and so does an info line that quotes
# neither the id nor the secret.
subtest 'Basic credentials that are not form-urlencoded are diagnosed' => sub {
    my $raw_id = 'raw-client-id';
    my $raw_secret = 'raw secret-' . random_secret();
    my $log_at = $t->error_log_size;
    my $r = $t->token_request(basic_raw => [$raw_id, $raw_secret]);
    invalid_client_ok($r, 'an unescaped space', $challenge);
    like $r->{json}{error_description} // '', qr/not form-urlencoded \(RFC 6749 section 2\.3\.1\)/,
        'error_description: not form-urlencoded';
    $r = $t->token_request(basic_raw => ['app', '50%off']);
    invalid_client_ok($r, 'a bad %-escape', $challenge);
    like $r->{json}{error_description} // '', qr/not form-urlencoded/, 'the same description';
    my $log = $t->error_log_since($log_at);
    like $log, qr/\[info\].*client authentication failed: the Basic credentials are not form-urlencoded \(RFC 6749 section 2\.3\.1\)/,
        'an info line says why';
    unlike $log, qr/\Q$raw_id\E|raw secret|50%off/, 'neither the id nor the secret is logged';
  SKIP: {
        skip 'no curl', 2 unless system('curl --version >/dev/null 2>&1') == 0;
        my $out = `curl -s -u 'app:ab cd' -d grant_type=client_credentials ${\ $t->url('/token')}`;
        my $j = eval { decode_json($out) } // {};
        is $j->{error}, 'invalid_client', "curl -u 'app:ab cd' is refused";
        like $j->{error_description} // '', qr/not form-urlencoded/, 'curl -u sends raw Basic';
    }
};

subtest 'client_secret_post' => sub {
    token_ok($t->token_request(form => [grant_type => 'client_credentials', client_id => 'app',
        client_secret => $secret]), scope => 'read');
    token_ok($t->token_request(form => [client_secret => $secret, scope => 'read', client_id => 'app',
        grant_type => 'client_credentials']), scope => 'read', name => 'any parameter order');
    token_ok($t->token_request(form => [grant_type => 'client_credentials', client_id => $weird_id,
        client_secret => $weird_secret]), scope => 'read', name => 'special characters, form-encoded');
};

subtest 'Basic credentials are form-encoded before base64 (RFC 6749 §2.3.1)' => sub {
    token_ok($t->token_request(basic => [$weird_id, $weird_secret]), scope => 'read',
        name => "id '$weird_id', secret '$weird_secret'");
    token_ok($t->token_request(basic => [$plus_id, $plus_secret]), scope => 'read',
        name => "id '$plus_id', secret '$plus_secret'");
    # "a+b:c d" un-encoded decodes to the id "a b", which is no client
    invalid_client_ok($t->token_request(basic_raw => [$plus_id, $plus_secret]),
        'un-encoded "a+b:c d" is refused', $challenge);
    my $r = $t->token_request(basic_raw => [$weird_id, $weird_secret]);
    ok(($r->{status} == 401 && ($r->{json}{error} // '') eq 'invalid_client')
        || ($r->{status} == 400 && ($r->{json}{error} // '') eq 'invalid_request'),
        'un-encoded id and secret with ":", "+", "%" and spaces are refused')
        or diag show($r);
    # %20 is as good as '+' for a space
    token_ok($t->token_request(authorization => 'Basic ' . encode_base64('a%2Bb:c%20d', '')),
        scope => 'read', name => 'space as %20');
};

subtest 'wrong secret: 401 invalid_client' => sub {
    invalid_client_ok($t->token_request(basic => ['app', 'wrong']), 'Basic', $challenge);
    invalid_client_ok($t->token_request(basic => ['app', '']), 'Basic, empty secret', $challenge);
    invalid_client_ok($t->token_request(basic => ['app', "$secret "]), 'Basic, secret plus a space',
        $challenge);
    invalid_client_ok($t->token_request(basic => ['app', substr($secret, 0, -1)]),
        'Basic, secret minus a character', $challenge);
    invalid_client_ok($t->token_request(form => [grant_type => 'client_credentials', client_id => 'app',
        client_secret => 'wrong']), 'body credentials');
    invalid_client_ok($t->token_request(form => [grant_type => 'client_credentials', client_id => 'app',
        client_secret => '']), 'body credentials, empty secret');
};

subtest 'unknown client: 401 invalid_client' => sub {
    invalid_client_ok($t->token_request(basic => ['nobody', $secret]), 'Basic', $challenge);
    invalid_client_ok($t->token_request(basic => ['', $secret]), 'Basic, empty id', $challenge);
    invalid_client_ok($t->token_request(form => [grant_type => 'client_credentials', client_id => 'nobody',
        client_secret => $secret]), 'body credentials');
};

subtest 'client_id is case-sensitive' => sub {
    token_ok($t->token_request(basic => ['CaseClient', $secret]), scope => 'read');
    invalid_client_ok($t->token_request(basic => ['caseclient', $secret]), 'caseclient', $challenge);
    invalid_client_ok($t->token_request(basic => ['APP', $secret]), 'APP', $challenge);
};

subtest 'no credentials: 401 invalid_client with a Basic challenge' => sub {
    invalid_client_ok($t->token_request(), 'no credentials at all', $challenge);
    my $r = $t->token_request(form => [grant_type => 'client_credentials', client_id => 'app']);
    error_ok($r, 401, 'invalid_client', 'client_id without a secret');
};

subtest 'malformed Basic credentials are refused' => sub {
    for my $auth ('Basic', 'Basic ', 'Basic !!!not-base64!!!', 'Basic ' . encode_base64('nocolon', ''),
        'Basic ' . encode_base64("app:$secret", '') . ' extra')
    {
        my $r = $t->token_request(authorization => $auth);
        ok(($r->{status} == 401 && ($r->{json}{error} // '') eq 'invalid_client')
            || ($r->{status} == 400 && ($r->{json}{error} // '') eq 'invalid_request'),
            "Authorization: $auth") or diag show($r);
    }
};

subtest 'Basic and body credentials at once: 400 invalid_request' => sub {
    error_ok($t->token_request(basic => ['app', $secret], form => [grant_type => 'client_credentials',
        client_id => 'app', client_secret => $secret]), 400, 'invalid_request', 'same client both ways');
    error_ok($t->token_request(basic => ['app', $secret], form => [grant_type => 'client_credentials',
        client_secret => $secret]), 400, 'invalid_request', 'Basic plus a body client_secret');
    error_ok($t->token_request(basic => ['app', 'wrong'], form => [grant_type => 'client_credentials',
        client_id => 'pb', client_secret => $pb_secret]), 400, 'invalid_request',
        'different clients both ways');
};

subtest 'body client_id next to Basic' => sub {
    token_ok($t->token_request(basic => ['app', $secret], form => [grant_type => 'client_credentials',
        client_id => 'app']), scope => 'read', name => 'the same client_id is allowed');
    token_ok($t->token_request(basic => [$weird_id, $weird_secret], form => [grant_type => 'client_credentials',
        client_id => $weird_id]), scope => 'read', name => 'the same (encoded) client_id is allowed');
    error_ok($t->token_request(basic => ['app', $secret], form => [grant_type => 'client_credentials',
        client_id => 'pb']), 400, 'invalid_request', 'a different client_id');
};

# nginx itself refuses a repeated Authorization header with its own 400 page
# before any handler runs, so only the status is the module's to keep.
subtest 'two Authorization headers: 400, no token' => sub {
    my $auth = basic_credentials('app', $secret);
    my $body = $grant;
    my $r = $t->raw("POST /token HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " . length($body) . "\r\n"
        . "Authorization: $auth\r\nAuthorization: $auth\r\n\r\n$body");
    is $r->{status}, 400, 'status 400' or diag show($r);
    unlike $r->{content}, qr/access_token/, 'no token';
};

subtest 'pbkdf2-sha256 hashed secrets' => sub {
    token_ok($t->token_request(basic => ['pb', $pb_secret]), scope => 'read');
    token_ok($t->token_request(basic => ['pb', $pb_secret]), scope => 'read', name => 'again');
    invalid_client_ok($t->token_request(basic => ['pb', 'pbkdf2 secreT']), 'wrong secret', $challenge);
    token_ok($t->token_request(basic => ['pb', $pb_secret]), scope => 'read', name => 'right after a wrong one');
    token_ok($t->token_request(basic => ['pb-array', $pb_secret]), scope => 'read',
        name => 'client_secret_hash as a one-element array');
};

subtest 'sha256 hashed secrets' => sub {
    token_ok($t->token_request(basic => ['app', $secret]), scope => 'read');
    invalid_client_ok($t->token_request(basic => ['app', sha256_hash($secret)]),
        'the hash itself is not the secret', $challenge);
};

subtest 'two secrets valid at once (rotation)' => sub {
    token_ok($t->token_request(basic => ['rot', $rot1]), scope => 'read', name => 'first secret');
    token_ok($t->token_request(basic => ['rot', $rot2]), scope => 'read', name => 'second secret');
    invalid_client_ok($t->token_request(basic => ['rot', $secret]), 'a third secret', $challenge);
};

subtest 'clear client_secret works, with a startup warning naming the client' => sub {
    token_ok($t->token_request(basic => ['legacy', $legacy_secret]), scope => 'read');
    invalid_client_ok($t->token_request(basic => ['legacy', 'nope']), 'wrong secret', $challenge);
    my $startup = $t->start_output . $t->error_log;
    my @warn = grep { /\[warn\]/ && /legacy/ } split /\n/, $startup;
    ok @warn, 'a [warn] line names the client "legacy"' or diag $startup;
    unlike $startup, qr/\Q$legacy_secret\E/, 'the warning does not quote the secret';
    ok !(grep { /\[warn\]/ && /\bapp\b/ } split /\n/, $startup), 'no warning for hashed clients';
};

subtest 'oauth_clients and oauth_realm at location level' => sub {
    token_ok($t->token_request(basic => ['alt', $alt_secret], path => '/token-alt'), scope => 'x');
    invalid_client_ok($t->token_request(basic => ['app', $secret], path => '/token-alt'),
        'client of the http-level file', 'Basic realm="alt realm"');
    invalid_client_ok($t->token_request(basic => ['alt', $alt_secret]), 'alt client at /token', $challenge);
};

subtest 'default realm is "oauth"' => sub {
    my $d = OAuthTest->start(
        clients => $clients,
        http    => <<'EOF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
}
EOF
    );
    invalid_client_ok($d->token_request(basic => ['app', 'wrong']), 'wrong secret', 'Basic realm="oauth"');
    token_ok($d->token_request(basic => ['app', $secret]), scope => 'read');
    $d->stop;
};

subtest 'the client-entry command makes a working entry' => sub {
    my $cmd = $ENV{OAUTH_CLIENT_ENTRY};
    plan skip_all => 'OAUTH_CLIENT_ENTRY is not set' unless $cmd && -x $cmd;
    my @entries;
    for my $run (1, 2) {
        my $out = $t->prefix . "/entry$run";
        my $resources = $run == 2 ? "--resource https://api.test --resource=urn:x" : '';
        my $rc = system("'$cmd' svc-$run --scope 'a b' $resources > '$out.json' 2> '$out.err'") >> 8;
        is $rc, 0, "run $run: exit 0";
        my $json = OAuthTest::slurp("$out.json");
        my $err = OAuthTest::slurp("$out.err");
        my $entry = eval { JSON::PP->new->decode($json) };
        ok ref $entry eq 'HASH', "run $run: stdout is a JSON object" or diag $json;
        my ($s) = $err =~ /^client_secret: (\S+)$/m;
        ok defined $s, "run $run: stderr has client_secret: <secret>" or diag $err;
        unlike $json, qr/\Q$s\E/, "run $run: the secret is not on stdout" if defined $s;
        ok length($s // '') >= 22, "run $run: secret of >= 128 bits";
        push @entries, [$entry, $s];
    }
    my ($e, $s) = @{ $entries[0] };
    is $e->{client_id}, 'svc-1';
    is $e->{scope}, 'a b';
    ok exists $e->{client_secret_hash} && !exists $e->{client_secret}, 'stores a hash, not the secret';
    isnt $entries[0][1], $entries[1][1], 'fresh secret each run';
    ok !exists $e->{resource}, 'no --resource: no "resource"';
    is_deeply $entries[1][0]{resource}, ['https://api.test', 'urn:x'], '--resource, twice: an array';
    my $bad = system("'$cmd' svc-3 --resource 'https://api.test/#f' >/dev/null 2>&1") >> 8;
    is $bad, 2, 'a resource nginx would refuse: exit 2';

    my $c = OAuthTest->start(
        clients => {clients => [map { $_->[0] } @entries]},
        http    => <<'EOF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
}
EOF
    );
    token_ok($c->token_request(basic => ['svc-1', $s]), scope => 'a b', name => 'entry 1');
    token_ok($c->token_request(basic => ['svc-2', $entries[1][1]], form => [grant_type =>
        'client_credentials', scope => 'b', resource => 'urn:x']), scope => 'b', name => 'entry 2');
    error_ok($c->token_request(basic => ['svc-2', $entries[1][1]], form => [grant_type =>
        'client_credentials', resource => 'urn:y']), 400, 'invalid_target', 'entry 2, another resource');
    invalid_client_ok($c->token_request(basic => ['svc-1', $entries[1][1]]), 'swapped secret',
        'Basic realm="oauth"');
    $c->stop;
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
