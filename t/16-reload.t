# Reload: the clients file is re-read, a broken one is refused while the old
# configuration keeps serving, and the token zones survive.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret token_ok error_ok show);

need_module();

my ($s1, $s2) = (random_secret(), random_secret());
# A cap above the zone "full"'s capacity: this one client fills it.
my $one = {client_id => 'one', client_secret_hash => sha256_hash($s1), scope => 'read', max_tokens => 1_000_000};
my $two = {client_id => 'two', client_secret_hash => sha256_hash($s2), scope => 'write'};

my $t = OAuthTest->start(
    clients => {clients => [$one]},
    http    => <<'EOF2',
oauth_token_zone tokens:1m;
oauth_token_zone full:128k;
oauth_clients clients.json;
oauth_realm "test";
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint zone=tokens; }
    location = /full { oauth_token_endpoint zone=full ttl=60s; }
}
EOF2
);

subtest 'the clients file is re-read on reload' => sub {
    token_ok($t->token_request(basic => ['one', $s1]), scope => 'read', name => 'before');
    error_ok($t->token_request(basic => ['two', $s2]), 401, 'invalid_client', 'two, before');
    ok $t->reload(clients => {clients => [$two]}), 'reload accepted' or diag $t->error_log;
    token_ok($t->token_request(basic => ['two', $s2]), scope => 'write', name => 'two, after');
    error_ok($t->token_request(basic => ['one', $s1]), 401, 'invalid_client', 'one, removed');
};

subtest 'a reload with a broken clients file is refused' => sub {
    my @workers = $t->worker_pids;
    my $offset = $t->error_log_size;
    for my $broken ('{"clients": [', '{"clients": [{"client_id": "x", "scope": ""}]}') {
        ok !$t->reload(clients => $broken), "reload refused for '$broken'";
        my $log = $t->error_log_since($offset);
        like $log, qr/\[emerg\].*\Q${\ $t->clients_path}\E/, 'the log names the clients file' or diag $log;
        is_deeply [$t->worker_pids], \@workers, 'the old workers keep running';
        for (1 .. 6) {
            token_ok($t->token_request(basic => ['two', $s2]), scope => 'write', name => "old clients, request $_");
        }
        error_ok($t->token_request(basic => ['one', $s1]), 401, 'invalid_client', 'the registry is unchanged');
    }
    ok $t->reload(clients => {clients => [$one, $two]}), 'a fixed file is accepted';
    token_ok($t->token_request(basic => ['one', $s1]), scope => 'read', name => 'one is back');
};

# A zone that stays full across a reload still holds its tokens. (Checking
# each token at a protected location belongs to the bearer-check tests.)
subtest 'token zones survive reload' => sub {
    my $ua = $t->agent(keep_alive => 1);
    my ($n, $r) = (0);
    while ($n < 100_000) {
        $r = $t->token_request(basic => ['one', $s1], path => '/full', ua => $ua);
        last unless $r->{status} == 200;
        $n++;
    }
    undef $ua;
    error_ok($r, 503, 'temporarily_unavailable', "zone full after $n tokens") or return;
    ok $t->reload, 'reload';
    error_ok($t->token_request(basic => ['one', $s1], path => '/full'), 503, 'temporarily_unavailable',
        'still full after reload');
    token_ok($t->token_request(basic => ['one', $s1]), scope => 'read', name => 'the other zone still issues');
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
