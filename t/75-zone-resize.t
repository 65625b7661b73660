# A reload that resizes a token zone gets a new zone from nginx: the tokens
# of the old one are copied into it, as many as fit, and the log says how many
# were kept and how many dropped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module random_secret);
use OAuthTokens qw(issue_tokens pass_in_each_worker_ok new_tokens_server tokens_http);

need_module();

my $secret = random_secret();
my $t = new_tokens_server($secret);
$t->start;

my @tokens;

# Issues `more` tokens, reloads with the zone at `size`, and checks that the
# log counts every token kept and that each passes in both new workers.
sub resize_keeps_all {
    my ($size, $more) = @_;
    push @tokens, issue_tokens($t, $more, ['app', $secret]);
    my $offset = $t->error_log_size;
    ok $t->reload(http => tokens_http $size), "reload with tokens:$size" or return;
    my $n = @tokens;
    like $t->error_log_since($offset),
        qr/\[notice\].*oauth_token_zone "tokens" \(\d+k, was \d+k\): kept its $n live tokens/,
        "the log says all $n tokens were kept";
    pass_in_each_worker_ok($t, \@tokens, $n, "each worker lets all $n tokens through");
}

subtest 'growing 1m to 4m keeps every token' => sub { resize_keeps_all('4m', 300) };
subtest 'shrinking 4m to 2m keeps every token that fits: all of them' => sub { resize_keeps_all('2m', 300) };

subtest 'a shrink that cannot hold them all keeps what fits and logs how many were dropped' => sub {
    push @tokens, issue_tokens($t, 900, ['app', $secret]);
    my $offset = $t->error_log_size;
    ok $t->reload(http => tokens_http '124k'), 'reload with tokens:124k' or return;
    my $log = $t->error_log_since($offset);
    my ($dropped, $kept) = $log =~
        /\[warn\].*oauth_token_zone "tokens" \(124k, was 2048k\): (\d+) live tokens do not fit and are dropped, (\d+) kept/;
    ok defined $dropped, 'a warning names the zone and counts the tokens dropped' or diag $log;
    return unless defined $dropped;
    cmp_ok $dropped, '>', 0, "$dropped dropped";
    is $dropped + $kept, scalar @tokens, 'kept and dropped add up to the tokens issued';
    pass_in_each_worker_ok($t, \@tokens, $kept, "each worker lets exactly the $kept kept through");
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
