# Token endpoint: the scope parameter (SPEC "Token endpoint"; RFC 6749 §3.3).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret token_ok error_ok);

need_module();

my $secret = random_secret();
my $t = OAuthTest->start(
    clients => {
        clients => [
            {client_id => 'app', client_secret_hash => sha256_hash($secret),
             scope => 'read write admin:all urn:x:y!#$', default_scope => 'read'},
            {client_id => 'multi-default', client_secret_hash => sha256_hash($secret),
             scope => 'read write admin', default_scope => 'write read'},
            {client_id => 'no-default', client_secret_hash => sha256_hash($secret), scope => 'read write'},
            {client_id => 'empty', client_secret_hash => sha256_hash($secret), scope => ''},
        ],
    },
    http => <<'EOF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_realm "test";
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
}
EOF
);

sub ask {
    my ($client, @scope) = @_;
    return $t->token_request(basic => [$client, $secret],
        form => [grant_type => 'client_credentials', map { (scope => $_) } @scope]);
}

subtest 'requested scopes among the client scope are granted' => sub {
    token_ok(ask(app => 'read'), scope => 'read');
    token_ok(ask(app => 'write'), scope => 'write', name => 'not the default');
    token_ok(ask(app => 'read write'), scope => 'read write');
    token_ok(ask(app => 'write read'), scope => 'read write', name => 'any order');
    token_ok(ask(app => 'admin:all read write urn:x:y!#$'), scope => 'admin:all read write urn:x:y!#$',
        name => 'all of them, with §3.3 punctuation');
    token_ok(ask(app => 'read read'), scope => 'read', name => 'a repeated scope is granted once');
    token_ok($t->token_request(basic => ['app', $secret], form => 'grant_type=client_credentials&scope=read+write'),
        scope => 'read write', name => "'+' decodes to a space");
    token_ok($t->token_request(basic => ['app', $secret], form => 'grant_type=client_credentials&scope=read%20write'),
        scope => 'read write', name => '%20 decodes to a space');
};

subtest 'a scope not among the client scope: 400 invalid_scope' => sub {
    error_ok(ask(app => 'delete'), 400, 'invalid_scope', 'unknown scope');
    error_ok(ask(app => 'read delete'), 400, 'invalid_scope', 'one known, one unknown');
    error_ok(ask(app => 'READ'), 400, 'invalid_scope', 'scopes are case-sensitive');
    error_ok(ask(app => 'rea'), 400, 'invalid_scope', 'a prefix of a scope');
    error_ok(ask(app => 'read write admin'), 400, 'invalid_scope', 'a prefix of admin:all');
    error_ok(ask(empty => 'read'), 400, 'invalid_scope', 'client with an empty scope');
    error_ok(ask('no-default' => 'admin'), 400, 'invalid_scope', 'scope of another client');
};

subtest 'characters outside RFC 6749 §3.3: 400 invalid_scope' => sub {
    for my $s ('read"', 'a"b', 'a\\b', "read\x01", "\x{e9}t\x{e9}", "snow\x{2603}", "read\x7f", "read\ttab") {
        (my $shown = $s) =~ s/([^\x21-\x7e])/sprintf '\\x%02x', ord $1/ge;
        error_ok(ask(app => $s), 400, 'invalid_scope', "scope '$shown'");
    }
    error_ok($t->token_request(basic => ['app', $secret],
        form => 'grant_type=client_credentials&scope=read%22'), 400, 'invalid_scope', 'quote, %22');
    error_ok($t->token_request(basic => ['app', $secret],
        form => 'grant_type=client_credentials&scope=read%5C'), 400, 'invalid_scope', 'backslash, %5C');
};

subtest 'no scope: default_scope, else all of the client scope' => sub {
    token_ok(ask('app'), scope => 'read', name => 'default_scope');
    token_ok(ask('multi-default'), scope => 'read write', name => 'default_scope with two scopes');
    token_ok(ask('no-default'), scope => 'read write', name => 'no default_scope');
    token_ok(ask('empty'), scope => undef, name => 'client with an empty scope: no scope in the response');
};

subtest 'scope= with an empty value is treated as omitted (RFC 6749 §3.1)' => sub {
    token_ok(ask(app => ''), scope => 'read', name => 'default_scope');
    token_ok(ask('no-default' => ''), scope => 'read write', name => 'no default_scope');
    token_ok(ask(empty => ''), scope => undef, name => 'client with an empty scope');
};

subtest "error log" => sub { $t->log_clean_ok };

done_testing;
