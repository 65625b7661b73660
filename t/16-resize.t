# A reload that resizes a token zone gets a new zone from nginx: the tokens
# of the old one are copied into it, as many as fit, and the log says how many
# were kept and how many dropped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret);
use OAuthTokens qw(issue_tokens passes_in_each_worker);

need_module();

my $secret = random_secret();
my $http = <<'EOF2';
oauth_token_zone tokens:ZONE_SIZE;
oauth_clients clients.json;
server {
    # reuseport: each worker has its own socket, so connections spread over both
    listen 127.0.0.1:%%PORT%% reuseport;
    keepalive_requests 10000;  # every token checked on one connection
    location = /token { oauth_token_endpoint; }
    location /api/ {
        oauth_require_scope read;
        root %%PREFIX%%/html;
        add_header X-Worker $pid always;
    }
}
EOF2
sub http_with { (my $h = $http) =~ s/ZONE_SIZE/$_[0]/; $h }

my $t = OAuthTest->new(
    http    => http_with('1m'),
    clients => {clients => [{client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'}]},
);
mkdir $t->prefix . '/html';
mkdir $t->prefix . '/html/api';
$t->write_file('html/api/ok', "ok\n");
$t->start;

my @tokens;

# Issues `more` tokens, reloads with the zone at `size`, and checks that the
# log counts every token kept and that each passes in both new workers.
sub resize_keeps_all {
    my ($size, $more) = @_;
    push @tokens, issue_tokens($t, $more, ['app', $secret]);
    my $offset = $t->error_log_size;
    ok $t->reload(http => http_with $size), "reload with tokens:$size" or return;
    my $n = @tokens;
    like $t->error_log_since($offset),
        qr/\[notice\].*oauth_token_zone "tokens" \(\d+k, was \d+k\): kept its $n live tokens/,
        "the log says all $n tokens were kept";
    my %passed = passes_in_each_worker($t, \@tokens, '/api/ok');
    is_deeply [sort keys %passed], [$t->worker_pids], 'both new workers answered';
    is_deeply [values %passed], [($n) x keys %passed], "each worker lets all $n tokens through";
}

subtest 'growing 1m to 4m keeps every token' => sub { resize_keeps_all('4m', 300) };
subtest 'shrinking 4m to 2m keeps every token that fits: all of them' => sub { resize_keeps_all('2m', 300) };

subtest 'a shrink that cannot hold them all keeps what fits and logs how many were dropped' => sub {
    push @tokens, issue_tokens($t, 900, ['app', $secret]);
    my $offset = $t->error_log_size;
    ok $t->reload(http => http_with '124k'), 'reload with tokens:124k' or return;
    my $log = $t->error_log_since($offset);
    my ($dropped, $kept) = $log =~
        /\[warn\].*oauth_token_zone "tokens" \(124k, was 2048k\): (\d+) live tokens do not fit and are dropped, (\d+) kept/;
    ok defined $dropped, 'a warning names the zone and counts the tokens dropped' or diag $log;
    return unless defined $dropped;
    cmp_ok $dropped, '>', 0, "$dropped dropped";
    is $dropped + $kept, scalar @tokens, 'kept and dropped add up to the tokens issued';
    my %passed = passes_in_each_worker($t, \@tokens, '/api/ok');
    is_deeply [sort keys %passed], [$t->worker_pids], 'both new workers answered' or diag explain \%passed;
    is_deeply [values %passed], [($kept) x keys %passed], "each worker lets exactly the $kept kept through";
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
