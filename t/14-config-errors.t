# Configuration errors fail `nginx -t` with a message naming the file, the line
# and what is wrong (SPEC "Directives", "Client registry file").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash);

need_module();

my $hash = sha256_hash('x' x 32);
my $t = OAuthTest->new;
my $clients_path = $t->clients_path;

my $http = <<'EOF';
oauth_token_zone tokens:1m;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
}
EOF

# A clients file whose client entries stand one per line from line 5 on, so
# that an error in the N-th entry is on line 4 + N.
sub clients_text {
    my (@entries) = @_;
    my $text = "{\n\n  \"clients\":\n  [\n";
    $text .= '    ' . $entries[$_] . ($_ < $#entries ? ',' : '') . "\n" for 0 .. $#entries;
    return "$text  ]\n}\n";
}

my $good = qq({"client_id": "good", "client_secret_hash": "$hash", "scope": "read"});

subtest 'a valid configuration passes' => sub {
    my ($rc, $out) = $t->test_config(http => $http, clients => clients_text($good, $good =~ s/good/good2/r));
    is $rc, 0, 'nginx -t exit 0' or diag $out;
    like $out, qr/test is successful/;
};

subtest 'nginx -t -q: a valid configuration prints nothing' => sub {
    $t->write_clients(clients_text($good));
    my $path = $t->write_file('nginx.conf', $t->conf_text(http => $http));
    my ($rc, $out) = $t->run_nginx('-t', '-q', '-p', $t->prefix . '/', '-c', $path);
    is $rc, 0, 'nginx -t -q exit 0';
    is $out, '', 'no output, not even the zone capacity notice';
    ($rc, $out) = $t->run_nginx('-t', '-p', $t->prefix . '/', '-c', $path);
    like $out, qr/\[notice\].*oauth_token_zone "tokens" \(1m\) holds about \d+ tokens/,
        'without -q, nginx -t states the capacity';
};

sub fails_ok {
    my ($name, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out) = $t->test_config(http => $o{http} // $http, exists $o{clients} ? (clients => $o{clients}) : ());
    my $ok = isnt($rc, 0, "$name: nginx -t fails");
    $ok &&= like($out, qr/\[emerg\]/, "$name: an [emerg] message");
    for my $re (@{ $o{like} // [] }) {
        $ok &&= like($out, $re, "$name: output matches $re");
    }
    diag("nginx -t said:\n$out") unless $ok;
    return $out;
}

# "<clients path>:7" or "<clients path> ... line 7" and the like
sub at_line {
    my ($n) = @_;
    return qr/\Q$clients_path\E(?::$n\b|[^\n]*\bline:? $n\b)|\bline:? $n\b[^\n]*\Q$clients_path\E/;
}

subtest 'clients file: invalid JSON' => sub {
    fails_ok('missing comma', clients => clients_text($good, '{"client_id": "b" "scope": ""}'),
        like => [qr/\Q$clients_path\E/, at_line(6)]);
    fails_ok('truncated', clients => "{\"clients\": [\n", like => [qr/\Q$clients_path\E/]);
    fails_ok('empty file', clients => '', like => [qr/\Q$clients_path\E/]);
    fails_ok('not an object', clients => "[]\n", like => [qr/\Q$clients_path\E/]);
    fails_ok('no clients array', clients => "{\"client\": []}\n", like => [qr/\Q$clients_path\E/]);
};

subtest 'clients file: missing fields' => sub {
    fails_ok('no client_id', clients => clients_text($good, qq({"client_secret_hash": "$hash", "scope": ""})),
        like => [qr/\Q$clients_path\E/, at_line(6), qr/client_id/]);
    fails_ok('no secret', clients => clients_text($good, '{"client_id": "b", "scope": ""}'),
        like => [qr/\Q$clients_path\E/, at_line(6), qr/secret/]);
    fails_ok('no scope', clients => clients_text($good, qq({"client_id": "b", "client_secret_hash": "$hash"})),
        like => [qr/\Q$clients_path\E/, at_line(6), qr/scope/]);
};

subtest 'clients file: wrong values' => sub {
    fails_ok('unknown hash form', clients => clients_text($good,
        '{"client_id": "b", "client_secret_hash": "$md5$abc", "scope": ""}'),
        like => [qr/\Q$clients_path\E/, at_line(6)]);
    fails_ok('both client_secret and client_secret_hash', clients => clients_text($good,
        qq({"client_id": "b", "client_secret": "s", "client_secret_hash": "$hash", "scope": ""})),
        like => [qr/\Q$clients_path\E/, at_line(6)]);
    fails_ok('client_id not a string', clients => clients_text($good,
        qq({"client_id": 7, "client_secret_hash": "$hash", "scope": ""})),
        like => [qr/\Q$clients_path\E/, at_line(6)]);
    fails_ok('token_ttl not a number', clients => clients_text($good,
        qq({"client_id": "b", "client_secret_hash": "$hash", "scope": "", "token_ttl": "x"})),
        like => [qr/\Q$clients_path\E/, at_line(6)]);
    fails_ok('a misspelt key (README: any other key is an error)', clients => clients_text($good,
        qq({"client_id": "b", "client_secret_hash": "$hash", "scope": "", "token_tll": 5})),
        like => [qr/\Q$clients_path\E/, at_line(6), qr/token_tll/]);
    fails_ok('default_scope outside scope', clients => clients_text($good,
        qq({"client_id": "b", "client_secret_hash": "$hash", "scope": "a", "default_scope": "b"})),
        like => [qr/\Q$clients_path\E/, at_line(6)]);
};

subtest 'clients file: duplicate client_id' => sub {
    fails_ok('duplicate', clients => clients_text($good, $good =~ s/good/other/r, $good),
        like => [qr/\Q$clients_path\E/, at_line(7), qr/duplicate/i, qr/good/]);
};

subtest 'clients file: scope characters outside RFC 6749 §3.3' => sub {
    for my $scope ('a\\"b', 'a\\\\b', 'caf\\u00e9', 'a\\u0001') {
        fails_ok("scope \"$scope\"", clients => clients_text($good,
            qq({"client_id": "b", "client_secret_hash": "$hash", "scope": "read $scope"})),
            like => [qr/\Q$clients_path\E/, at_line(6), qr/scope/]);
    }
};

subtest 'clients file: missing' => sub {
    unlink $clients_path;
    fails_ok('missing file', like => [qr/\Q$clients_path\E/]);
    fails_ok('unreadable path', http => $http =~ s/clients\.json/no-such-dir\/c.json/r,
        like => [qr/\Q${\ $t->prefix}\E\/no-such-dir\/c\.json/]);
};

my $conf_path = $t->conf_path;
sub conf_place { qr/\Q$conf_path\E:\d+/ }

subtest 'zones' => sub {
    my $c = clients_text($good);
    fails_ok('unknown zone', clients => $c, http => $http =~ s/oauth_token_endpoint;/oauth_token_endpoint zone=nope;/r,
        like => [qr/nope/, conf_place()]);
    fails_ok('ambiguous zone', clients => $c, http => "oauth_token_zone second:1m;\n$http",
        like => [conf_place()]);
    fails_ok('no zone declared', clients => $c, http => $http =~ s/oauth_token_zone tokens:1m;//r,
        like => [conf_place()]);
    fails_ok('bad size', clients => $c, http => $http =~ s/tokens:1m/tokens:lots/r,
        like => [qr/lots/, conf_place()]);
    fails_ok('no size', clients => $c, http => $http =~ s/tokens:1m/tokens/r, like => [conf_place()]);
    fails_ok('zero size', clients => $c, http => $http =~ s/tokens:1m/tokens:0/r, like => [conf_place()]);
    fails_ok('empty name', clients => $c, http => $http =~ s/tokens:1m/:1m/r, like => [conf_place()]);
    my ($rc, $out) = $t->test_config(clients => $c,
        http => "oauth_token_zone second:1m;\n" . ($http =~ s/oauth_token_endpoint;/oauth_token_endpoint zone=second;/r));
    is $rc, 0, 'two zones with zone= passes' or diag $out;
};

subtest 'ttl' => sub {
    my $c = clients_text($good);
    fails_ok('bad time', clients => $c, http => $http =~ s/oauth_token_endpoint;/oauth_token_endpoint ttl=soon;/r,
        like => [qr/soon/, conf_place()]);
    fails_ok('unknown parameter', clients => $c,
        http => $http =~ s/oauth_token_endpoint;/oauth_token_endpoint lifetime=1h;/r,
        like => [qr/lifetime/, conf_place()]);
};

done_testing;
