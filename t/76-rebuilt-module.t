# A rebuilt module loaded by a reload from a new path runs its own code: the
# module exports only what nginx looks up, so nothing of it binds to the copy
# already loaded. Its module struct has a new address, so nginx gives it a new
# zone, and the tokens of the old zone are copied into it.
use strict;
use warnings;
use File::Copy qw(copy);
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module random_secret);
use OAuthTokens qw(issue_tokens pass_in_each_worker_ok new_tokens_server);

need_module();

subtest 'the module exports only the symbols nginx looks up' => sub {
    my @symbols = map { /^\S+\s+[A-Za-z]\s+(\S+)$/ ? $1 : () } `nm -D --defined-only $ENV{OAUTH_MODULE}`;
    is $? >> 8, 0, 'nm -D --defined-only';
    is_deeply [sort @symbols], [sort qw(ngx_modules ngx_module_names ngx_module_order ngx_http_oauth_module)],
        'exactly ngx_modules, ngx_module_names, ngx_module_order and the module struct';
};

my $secret = random_secret();
my $t = new_tokens_server($secret);
mkdir $t->prefix . '/rebuilt';
$t->start;

subtest 'a reload that loads the module from a new path keeps the tokens' => sub {
    my @tokens = issue_tokens($t, 200, ['app', $secret]);
    my $rebuilt = $t->prefix . '/rebuilt/ngx_http_oauth_module.so';
    copy($ENV{OAUTH_MODULE}, $rebuilt) or die "copy: $!";
    $t->{module} = $rebuilt;
    my $offset = $t->error_log_size;
    ok $t->reload(http => $t->{http}), 'reload with load_module of the copy' or return;
    my @workers = $t->worker_pids;
    for my $w (@workers) {
        like OAuthTest::slurp("/proc/$w/maps"), qr/\Q$rebuilt\E/, "worker $w has the copy mapped";
    }
    like $t->error_log_since($offset),
        qr/\[notice\].*oauth_token_zone "tokens" \(1024k, was 1024k\): kept its 200 live tokens/,
        'the copy made a zone of its own, and kept every token of the old one';
    pass_in_each_worker_ok($t, \@tokens, 200, 'each worker lets all 200 tokens through');
    my $fresh = (issue_tokens($t, 1, ['app', $secret]))[0];
    pass_in_each_worker_ok($t, [$fresh], 1, 'a token issued after the reload passes in both workers');
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
