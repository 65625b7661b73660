# 10 000 tokens over keep-alive connections, all distinct and well-formed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret show);

need_module();

my $secret = random_secret();
my $t = OAuthTest->start(
    clients => {clients => [{client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'}]},
    http    => <<'EOF2',
oauth_token_zone tokens:16m;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
}
EOF2
);

my $ua = $t->agent(keep_alive => 1);
my (%seen, $bad, $first_bad);
for (1 .. 10_000) {
    my $r = $t->token_request(basic => ['app', $secret], ua => $ua);
    my $tok = $r->{status} == 200 ? $r->{json}{access_token} // '' : '';
    if ($tok !~ /^[A-Za-z0-9_-]{43,}$/) {
        $bad++;
        $first_bad //= show($r);
        last if $bad > 10;
        next;
    }
    $seen{$tok}++;
}
ok !$bad, '10 000 token responses, each 200 with a base64url token' or diag "first bad: $first_bad";
is scalar keys %seen, 10_000, 'all distinct';
is scalar(grep { $_ > 1 } values %seen), 0, 'no token issued twice';

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
