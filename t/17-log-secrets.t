# Secrets and tokens never appear in the error log (SPEC "Token endpoint").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use MIME::Base64 qw(encode_base64);
use Test::More;
use OAuthTest qw(need_module sha256_hash pbkdf2_hash random_secret basic_credentials form_encode show);

need_module();

my ($s_hash, $s_pb, $s_clear) = (random_secret(), 'pbkdf2-secret-' . random_secret(), 'clear-' . random_secret());
my @wrong = ('wrong-' . random_secret(), 'Wrong-' . random_secret());
my $t = OAuthTest->start(
    clients => {
        clients => [
            {client_id => 'h', client_secret_hash => sha256_hash($s_hash), scope => 'read'},
            {client_id => 'p', client_secret_hash => pbkdf2_hash($s_pb, 1000), scope => 'read'},
            {client_id => 'c', client_secret => $s_clear, scope => 'read'},
        ],
    },
    http => <<'EOF2',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /short { oauth_token_endpoint ttl=1s; }
}
EOF2
);

my (@tokens, @needles);
my %secrets = (h => $s_hash, p => $s_pb, c => $s_clear);
for my $id (sort keys %secrets) {
    for my $secret ($secrets{$id}, @wrong) {
        for my $how ('basic', 'post', 'both', 'query') {
            my %req = $how eq 'basic' ? (basic => [$id, $secret])
                : $how eq 'post' ? (form => [grant_type => 'client_credentials', client_id => $id,
                    client_secret => $secret])
                : $how eq 'both' ? (basic => [$id, $secret], form => [grant_type => 'client_credentials',
                    client_id => $id, client_secret => $secret])
                : (basic => [$id, $secret], query => 'client_secret=' . form_encode($secret));
            for my $form (undef, [grant_type => 'password'], [grant_type => 'client_credentials', scope => 'nope']) {
                next if $form && $how ne 'basic';
                my $r = $t->token_request(%req, $form ? (form => $form) : ());
                push @tokens, $r->{json}{access_token} if $r->{status} == 200;
            }
        }
        push @needles, $secret, form_encode($secret), basic_credentials($id, $secret) =~ s/^Basic //r;
    }
}
push @tokens, $t->token_request(basic => ['h', $s_hash], path => '/short')->{json}{access_token} // ();
ok @tokens >= 6, scalar(@tokens) . ' tokens issued along the way';
# malformed requests with a secret in them (nginx itself logs a duplicate
# Authorization header at info, so that one is not sent here)
for my $body ("grant_type=client_credentials&client_id=h&client_secret=$s_hash%zz",
    "grant_type=client_credentials&client_id=h&client_secret=$s_hash&client_secret=$s_hash")
{
    $t->token_request(form => $body);
}
$t->token_request(basic => ['h', $s_hash], content_type => 'application/json', form => qq({"client_secret":"$s_hash"}));
ok $t->reload, 'reload';
$t->stop;

my $log = $t->start_output . $t->error_log;
ok length $log, 'the error log has content';
my @found;
for my $needle (@needles, @tokens) {
    push @found, $needle if index($log, $needle) >= 0;
    # token prefixes too: a truncated token is still a leak
    push @found, "prefix of $needle" if length $needle >= 43 && index($log, substr($needle, 0, 16)) >= 0;
}
is_deeply \@found, [], 'no secret, Basic credential or token in the error log' or diag $log;

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
