# Brute-force protection at the endpoints (RFC 6749 §2.3.1; README
# "Brute-force protection"): failures counted per client id and address.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash pbkdf2_hash random_secret basic_credentials error_ok token_ok);

need_module();

my $secret = random_secret();
my $t = OAuthTest->start(
    clients => {
        clients => [
            {client_id => 'app', client_secret_hash => pbkdf2_hash($secret, 1000), scope => 'read'},
            {client_id => 'other', client_secret_hash => sha256_hash($secret), scope => 'read'},
        ],
    },
    http => <<'CONF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_auth_failure_limit 3 window=1m block=2s;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /token-unlimited {
        oauth_auth_failure_limit off;
        oauth_token_endpoint;
    }
    location = /introspect { oauth_introspection_endpoint; }
}
CONF
);

# The same request from another loopback address.
sub from_address {
    my ($address, $id, $pass) = @_;
    return $t->token_request(basic => [$id, $pass], ua => $t->agent(local_address => $address));
}

subtest 'failures up to the limit answer 401, then the pair is blocked with 429' => sub {
    error_ok($t->token_request(basic => ['app', 'wrong']), 401, 'invalid_client', "failure $_")
        for 1 .. 3;
    my $r = $t->token_request(basic => ['app', 'wrong']);
    error_ok($r, 429, 'temporarily_unavailable', 'blocked');
    like $r->{headers}{'retry-after'} // '', qr/^[12]$/, 'Retry-After counts down the block';
    error_ok($t->token_request(basic => ['app', $secret]), 429, 'temporarily_unavailable',
        'even the right secret waits: it is refused before the secret is checked');
    like $t->error_log,
        qr/\[warn\].*client_id "app" failed to authenticate 3 times; blocked at this address for 2s/,
        'the block is logged at warn';
};

subtest 'other clients and other addresses are unaffected' => sub {
    token_ok($t->token_request(basic => ['other', $secret]), name => 'another client, same address');
    token_ok(from_address('127.0.0.2', 'app', $secret), name => 'same client, another address');
};

subtest 'the block ends after its time, and success clears the count' => sub {
    sleep 2.2;
    token_ok($t->token_request(basic => ['app', $secret]), name => 'served again');
    error_ok($t->token_request(basic => ['app', 'wrong']), 401, 'invalid_client', "fresh failure $_")
        for 1 .. 2;
    token_ok($t->token_request(basic => ['app', $secret]), name => 'success clears the two failures');
    error_ok($t->token_request(basic => ['app', 'wrong']), 401, 'invalid_client', "counted anew $_")
        for 1 .. 2;
};

subtest 'unknown client ids are counted too' => sub {
    error_ok($t->token_request(basic => ['ghost', 'x']), 401, 'invalid_client', "ghost $_") for 1 .. 3;
    error_ok($t->token_request(basic => ['ghost', 'x']), 429, 'temporarily_unavailable', 'blocked');
};

subtest 'the introspection endpoint shares the counters of its zone' => sub {
    my $r = $t->request('POST', '/introspect', {headers => {
        Authorization => basic_credentials('ghost', 'x'),
        'Content-Type' => 'application/x-www-form-urlencoded'}, body => 'token=abc'});
    error_ok($r, 429, 'temporarily_unavailable', 'ghost is blocked there as well');
};

subtest 'oauth_auth_failure_limit off' => sub {
    error_ok($t->token_request(basic => ['other', 'wrong'], path => '/token-unlimited'), 401,
        'invalid_client', "failure $_") for 1 .. 6;
};

subtest 'nginx -t refuses bad values' => sub {
    for my $bad ('0', 'x', '3 window=0s', '3 block=2d', '3 burst=1') {
        my ($rc, $out) = $t->nginx_t($t->conf_text(http => <<"CONF"), 'bad.conf');
oauth_token_zone tokens:1m;
oauth_auth_failure_limit $bad;
CONF
        isnt $rc, 0, "'$bad' refused";
        like $out, qr/\[emerg\] (?:\d+#\d+: )?invalid .* in .*bad\.conf:\d+/, 'with a message naming the place';
    }
};

done_testing;
