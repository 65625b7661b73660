# Token endpoint: a full token zone (SPEC "Token endpoint": 503
# temporarily_unavailable with Retry-After, an error-log line, live tokens are
# never evicted, expired tokens are dropped).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use OAuthTest qw(need_module sha256_hash random_secret token_ok error_ok show);

need_module();

my $secret = random_secret();
my $ttl = 8;    # long enough to fill the zone twice on a loaded machine (valgrind, two cores shared)
my $t = OAuthTest->start(
    # a cap above the zone's capacity: this one client fills the zone
    clients => {clients => [{client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read', max_tokens => 1_000_000}]},
    http    => <<"EOF",
oauth_token_zone tiny:128k;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint ttl=${ttl}s; }
}
EOF
);

my $ua = $t->agent(keep_alive => 1);

# Issues tokens until the zone answers something else; bounded well inside
# the ttl so that no token expires while filling.
sub fill {
    my $start = time;
    my ($n, $r, $last_ok) = (0);
    while (time - $start < $ttl - 0.5 && $n < 200_000) {
        $r = $t->token_request(basic => ['app', $secret], ua => $ua);
        last unless $r->{status} == 200;
        $n++;
        $last_ok = time;
    }
    return ($n, $r, $last_ok // $start);
}

my $offset = $t->error_log_size;
my $fill_start = time;
my ($n, $r, $last_ok) = fill();
note sprintf "a 128k zone took %d tokens in %.2f s", $n, $last_ok - $fill_start;

subtest 'a full zone answers 503 temporarily_unavailable with Retry-After' => sub {
    ok $n > 0, "tokens issued before the zone filled ($n)";
    error_ok($r, 503, 'temporarily_unavailable', 'zone full') or return;
    my $ra = $r->{headers}{'retry-after'} // '';
    like $ra, qr/^[1-9][0-9]*$/, 'Retry-After is a positive number of seconds';
    ok $ra <= $ttl + 1, "Retry-After ($ra) within the ttl, when the oldest token expires";
};

subtest 'live tokens are not evicted' => sub {
    my $again = $t->token_request(basic => ['app', $secret], ua => $ua);
    error_ok($again, 503, 'temporarily_unavailable', 'still full');
    $again = $t->token_request(basic => ['app', $secret]);
    error_ok($again, 503, 'temporarily_unavailable', 'still full, other connection');
};

subtest 'the error log says the zone is full' => sub {
    my @lines = grep { /\[(?:warn|error|crit|alert|emerg)\]/ && /tiny/ } split /\n/, $t->error_log_since($offset);
    ok @lines, 'a line naming the zone "tiny"' or diag $t->error_log_since($offset);
};

subtest 'after the ttl, expired tokens are dropped and issuance works again' => sub {
    # token expiry has a resolution of one second
    my $wait = $last_ok + $ttl + 1.2 - time;
    sleep $wait if $wait > 0;
    token_ok($t->token_request(basic => ['app', $secret], ua => $ua), scope => 'read', expires_in => $ttl);
    my ($n2, $r2) = fill();
    $n2++;    # the token just above
    ok $n2 >= $n * 0.9, "the whole zone was freed: $n2 tokens fit again (first fill: $n)";
    error_ok($r2, 503, 'temporarily_unavailable', 'full again');
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
