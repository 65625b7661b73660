# Configuring a fleet (SPEC "A fleet of nodes", issue 11 "What must hold" 1):
# `nginx -t` refuses a bad address, an unreadable password file, a bad db and
# the like, naming file:line; it warns when a fleet node issues opaque tokens.
# With password_file= the node authenticates (AUTH) to a Redis that requires a
# password, with db= it uses that database (SELECT), with key= that prefix; a
# wrong password is a logged link failure, never a stop, and never in the log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module show);
use OAuthFleet;

need_module();
OAuthFleet::need_redis();

my $password = OAuthTest::random_secret();
my $redis = OAuthFleet::Redis->start(password => $password);
my $fleet = OAuthFleet->start(redis => $redis, nodes => 0);
my $dir = $fleet->dir;
OAuthTest::write_file({}, "$dir/redis.pass", "$password\n");
OAuthTest::write_file({}, "$dir/wrong.pass", "not-$password\n");
mkdir "$dir/a-directory";

my $t = $fleet->add_node(start_later => 1);

# nginx -t on the node's configuration with this oauth_fleet_redis line (and
# extra server lines); returns (exit code, output, the directive's line).
sub nginx_t {
    my ($line, %o) = @_;
    my $http = $fleet->http(%o);
    $http =~ s/^oauth_fleet_redis .*$/$line/m;
    my $text = $t->conf_text(http => $http);
    my @lines = split /\n/, $text;
    my ($n) = grep { $lines[$_ - 1] =~ /^\Q$line\E/ } 1 .. @lines;
    my ($rc, $out) = $t->nginx_t($text, 'nginx.conf');
    return ($rc, $out, $n);
}

my $port = $redis->port;
for my $case (
    ['no port', 'oauth_fleet_redis 127.0.0.1;'],
    ['port 0', 'oauth_fleet_redis 127.0.0.1:0;'],
    ['port out of range', 'oauth_fleet_redis 127.0.0.1:65536;'],
    ['port not a number', 'oauth_fleet_redis 127.0.0.1:redis;'],
    ['empty host', "oauth_fleet_redis :$port;"],
    ['empty unix path', 'oauth_fleet_redis unix:;'],
    ['a missing password file', "oauth_fleet_redis 127.0.0.1:$port password_file=$dir/none.pass;"],
    ['a password file that is a directory', "oauth_fleet_redis 127.0.0.1:$port password_file=$dir/a-directory;"],
    ['db not a number', "oauth_fleet_redis 127.0.0.1:$port db=one;"],
    ['db negative', "oauth_fleet_redis 127.0.0.1:$port db=-1;"],
    ['db empty', "oauth_fleet_redis 127.0.0.1:$port db=;"],
    ['db overflowing', "oauth_fleet_redis 127.0.0.1:$port db=99999999999999999999;"],
    ['an empty key prefix', "oauth_fleet_redis 127.0.0.1:$port key=;"],
    ['an unknown parameter', "oauth_fleet_redis 127.0.0.1:$port tls=on;"],
    ['no address', 'oauth_fleet_redis;'],
) {
    my ($name, $line) = @$case;
    my ($rc, $out, $n) = nginx_t($line);
    isnt $rc, 0, "nginx -t refuses $name";
    like $out, qr/\[emerg\].*in \S*nginx\.conf:$n\b/, "... with an [emerg] naming nginx.conf:$n" or diag $out;
    unlike $out, qr/\Q$password\E/, '... and no password';
}

subtest 'twice, and without a signing key' => sub {
    my ($rc, $out) = nginx_t("oauth_fleet_redis 127.0.0.1:$port;\noauth_fleet_redis 127.0.0.1:$port;");
    isnt $rc, 0, 'nginx -t refuses oauth_fleet_redis twice';
    like $out, qr/\[emerg\].*duplicate/, '... as a duplicate' or diag $out;
    my $http = $fleet->http;
    $http =~ s/^\s*oauth_signing_key .*$//m;
    $http =~ s/format=jwt //;
    ($rc, $out) = $t->nginx_t($t->conf_text(http => $http), 'nginx.conf');
    isnt $rc, 0, 'nginx -t refuses a fleet node without oauth_signing_key (it signs the entries)';
    like $out, qr/\[emerg\]/, '... with an [emerg]' or diag $out;
};

subtest 'a fleet node that issues opaque tokens: a warning' => sub {
    my ($rc, $out) = nginx_t("oauth_fleet_redis 127.0.0.1:$port password_file=$dir/redis.pass;", opaque => 1);
    is $rc, 0, 'nginx -t accepts it' or diag $out;
    like $out, qr/\[warn\].*opaque/i, '... with a warning about opaque tokens' or diag $out;
    ($rc, $out) = nginx_t("oauth_fleet_redis 127.0.0.1:$port password_file=$dir/redis.pass;");
    is $rc, 0, 'JWTs only: accepted';
    unlike $out, qr/\[warn\]/, '... without a warning' or diag $out;
};

subtest 'AUTH, SELECT and the key prefix' => sub {
    my @fleet = (fleet => "password_file=$dir/redis.pass db=3 key=acme");
    my @n = map { $fleet->add_node(@fleet); $fleet->nodes - 1 } 1 .. 2;
    ok defined $fleet->wait_synced($_, '1', OAuthFleet::slow(5)), "node $_ authenticated and synced" for @n;
    my $jwt = $fleet->token($n[0]);
    $fleet->revoke($n[0], $jwt);
    ok defined $fleet->wait_refused($n[1], $jwt, OAuthFleet::slow(1)), 'a revocation travels through that Redis';
    ok $redis->cli('-n', 3, 'XLEN', 'acme:tokens') >= 1, 'the stream is acme:tokens in db 3';
    is $redis->cli('-n', 0, 'DBSIZE') + 0, 0, 'db 0 holds nothing';

    my $wrong = $fleet->add_node(fleet => "password_file=$dir/wrong.pass db=3 key=acme");
    my $w = $fleet->nodes - 1;
    is $fleet->synced($w), '0', 'a wrong password: the node starts, not synced';
    my $live = $fleet->token($n[0]);
    is $fleet->status($w, $live), 200, '... and serves';
    ok defined OAuthFleet::wait_for(OAuthFleet::slow(5), sub { $fleet->log_count($w, $OAuthFleet::LOG_LOST) }),
        'the failed link is logged';
    unlike $wrong->error_log, qr/\Q$password\E|not-\Q$password\E/, 'without a password';
    $_->log_clean_ok for $fleet->nodes;
};

$fleet->stop;
done_testing;
