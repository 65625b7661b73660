# Protected locations, configuration (SPEC "Directives": oauth_require_scope,
# oauth_realm): inheritance http -> server -> location, `off`, zone=
# selection, and the nginx -t errors.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials form_body show bearer_challenge
    www_authenticate passed_ok refused_ok);

need_module();

my $secret = random_secret();
my $clients = {
    clients => [
        {client_id => 'app', client_secret_hash => sha256_hash($secret),
         scope => 'read write admin', default_scope => 'read'},
    ],
};

my $t = OAuthTest->new(
    clients => $clients,
    http => <<'EOF',
oauth_token_zone z1:1m;
oauth_token_zone z2:1m;
oauth_clients clients.json;
oauth_realm "http-realm";
oauth_require_scope zone=z1 read;

# a: inherits everything from http
server {
    listen 127.0.0.1:%%PORT%%;
    root %%PREFIX%%/html;

    location = /token1 { oauth_require_scope off; oauth_token_endpoint zone=z1; }
    location = /token2 { oauth_require_scope off; oauth_token_endpoint zone=z2; }

    location /inherit/ { }
    location /off/     { oauth_require_scope off; }
    location /write/   { oauth_require_scope zone=z1 write; }
    location /any/     { oauth_require_scope zone=z1; }
    location /z2/      { oauth_require_scope zone=z2 read; }
    location /realm/   { oauth_realm "location-realm"; }
    location /nested/  {
        oauth_require_scope off;
        location /nested/open/  { }
        location /nested/admin/ { oauth_require_scope zone=z1 admin; }
    }
    location /parent/ {
        oauth_require_scope zone=z1 write;
        location /parent/child/ { }
    }
}

# b: the server replaces what it inherited
server {
    listen 127.0.0.1:%%PORT%%;
    server_name b.test;
    root %%PREFIX%%/html;
    oauth_require_scope zone=z2 write;
    oauth_realm "server-realm";

    location /inherit/ { }
    location /off/     { oauth_require_scope off; }
    location /z1/      { oauth_require_scope zone=z1 admin; }
}

# c: the server turns it off
server {
    listen 127.0.0.1:%%PORT%%;
    server_name c.test;
    root %%PREFIX%%/html;
    oauth_require_scope off;

    location /inherit/ { }
    location /on/      { oauth_require_scope zone=z2; }
}
EOF
);
for my $dir (qw(inherit off write any z2 z1 realm nested nested/open nested/admin parent parent/child on)) {
    mkdir $t->prefix . "/html";
    mkdir $t->prefix . "/html/$dir";
    $t->write_file("html/$dir/ok.txt", "ok\n");
}
$t->start;

sub token {
    my ($zone, $scope) = @_;
    my $r = $t->token_request(basic => ['app', $secret], path => "/token$zone",
        form => [grant_type => 'client_credentials', scope => $scope]);
    is $r->{status}, 200, "token from z$zone, '$scope'" or diag show($r);
    return $r->{json}{access_token} // 'no-token';
}

# GET on server a (default), b.test or c.test, with an optional bearer token.
sub get {
    my ($host, $path, $token) = @_;
    my $head = "GET $path HTTP/1.1\r\nHost: " . ($host // 'a.test') . "\r\nConnection: close\r\n";
    $head .= "Authorization: Bearer $token\r\n" if defined $token;
    return $t->raw("$head\r\n");
}


my $z1_read  = token(1, 'read');
my $z1_write = token(1, 'write');
my $z1_admin = token(1, 'admin');
my $z1_all   = token(1, 'read write admin');
my $z2_read  = token(2, 'read');
my $z2_write = token(2, 'write');
my $z2_all   = token(2, 'read write admin');

subtest 'http level: inherited by a server and its locations' => sub {
    my $realm = 'http-realm';
    refused_ok(get(undef, '/inherit/ok.txt'), 401, bearer_challenge($realm), 'no token');
    passed_ok(get(undef, '/inherit/ok.txt', $z1_read), 'z1 read token');
    refused_ok(get(undef, '/inherit/ok.txt', $z1_write), 403,
        bearer_challenge($realm, 'insufficient_scope', 'read'), 'z1 write token');
    refused_ok(get(undef, '/inherit/ok.txt', $z2_all), 401, bearer_challenge($realm, 'invalid_token'),
        'z2 token: the inherited zone is z1');
    refused_ok(get(undef, '/index.html'), 401, bearer_challenge($realm),
        'a URI outside every location block of the server');
};

subtest 'off in a location cancels the inherited check' => sub {
    passed_ok(get(undef, '/off/ok.txt'), 'no token');
    passed_ok(get(undef, '/off/ok.txt', 'abc'), 'an unknown token is not even looked at');
    passed_ok(get(undef, '/nested/open/ok.txt'), 'nested location inherits off');
};

subtest 'a location replaces the inherited scopes, it does not add to them' => sub {
    passed_ok(get(undef, '/write/ok.txt', $z1_write), 'write token where write replaces read');
    refused_ok(get(undef, '/write/ok.txt', $z1_read), 403,
        bearer_challenge('http-realm', 'insufficient_scope', 'write'), 'read token');
    passed_ok(get(undef, '/any/ok.txt', $z1_admin), 'zone only: any token of z1');
    refused_ok(get(undef, '/any/ok.txt'), 401, bearer_challenge('http-realm'), 'zone only: no token');
    passed_ok(get(undef, '/nested/admin/ok.txt', $z1_admin), 'nested location turns it back on');
    refused_ok(get(undef, '/nested/admin/ok.txt'), 401, bearer_challenge('http-realm'),
        'nested location turns it back on: no token');
    passed_ok(get(undef, '/parent/child/ok.txt', $z1_write), 'nested location inherits from its parent');
    refused_ok(get(undef, '/parent/child/ok.txt', $z1_read), 403,
        bearer_challenge('http-realm', 'insufficient_scope', 'write'), 'nested location: parent scopes');
};

subtest 'oauth_realm is inherited and replaced like the check' => sub {
    refused_ok(get(undef, '/realm/ok.txt'), 401, bearer_challenge('location-realm'), 'location realm');
    refused_ok(get('b.test', '/inherit/ok.txt'), 401, bearer_challenge('server-realm'), 'server realm');
    refused_ok(get('c.test', '/on/ok.txt'), 401, bearer_challenge('http-realm'), 'http realm');
};

subtest 'server level: replaces the http check for its locations' => sub {
    passed_ok(get('b.test', '/inherit/ok.txt', $z2_write), 'z2 write token');
    refused_ok(get('b.test', '/inherit/ok.txt', $z2_read), 403,
        bearer_challenge('server-realm', 'insufficient_scope', 'write'), 'z2 read token');
    refused_ok(get('b.test', '/inherit/ok.txt', $z1_all), 401, bearer_challenge('server-realm', 'invalid_token'),
        'z1 token at a z2 server');
    passed_ok(get('b.test', '/off/ok.txt'), 'off in a location of that server');
    passed_ok(get('b.test', '/z1/ok.txt', $z1_admin), 'a location back on z1');
    refused_ok(get('b.test', '/z1/ok.txt', $z2_all), 401, bearer_challenge('server-realm', 'invalid_token'),
        'z2 token at a z1 location');
};

subtest 'off at server level; a location turns it back on' => sub {
    passed_ok(get('c.test', '/inherit/ok.txt'), 'no token');
    passed_ok(get('c.test', '/on/ok.txt', $z2_read), 'z2 token');
    refused_ok(get('c.test', '/on/ok.txt', $z1_read), 401, bearer_challenge('http-realm', 'invalid_token'),
        'z1 token');
};

subtest 'zone=: a token from one zone is refused in a location bound to another' => sub {
    passed_ok(get(undef, '/z2/ok.txt', $z2_read), 'z2 token at z2');
    refused_ok(get(undef, '/z2/ok.txt', $z1_read), 401, bearer_challenge('http-realm', 'invalid_token'),
        'z1 token at z2');
    refused_ok(get(undef, '/z2/ok.txt', $z1_all), 401, bearer_challenge('http-realm', 'invalid_token'),
        'z1 token with every scope at z2');
    passed_ok(get(undef, '/inherit/ok.txt', $z1_read), 'z1 token at z1');
    refused_ok(get(undef, '/inherit/ok.txt', $z2_read), 401, bearer_challenge('http-realm', 'invalid_token'),
        'z2 token at z1');
};

# ---- nginx -t ----------------------------------------------------------------

my $load = "load_module $ENV{OAUTH_MODULE};\n";

# nginx -t on a config of an http block; returns (exit code, output, file, text).
sub check {
    my ($http, $name) = @_;
    my $text = "${load}error_log %%PREFIX%%/logs/check.log;\nevents {}\nhttp {\n$http\n}\n";
    my $file = "$name.conf";
    my ($rc, $out) = $t->nginx_t($text, $file);
    return ($rc, $out, $t->prefix . "/$file", $text);
}

sub line_of {
    my ($text, $re) = @_;
    my @lines = split /\n/, $text;
    for my $i (0 .. $#lines) { return $i + 1 if $lines[$i] =~ $re }
    return 0;
}

my $CHECKS = 0;

# nginx -t fails naming the file and the line of the directive
sub refused_config_ok {
    my ($http, $marker, $what, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $file_name = 'check' . ++$CHECKS;
    my ($rc, $out, $file, $text) = check($http, $file_name);
    my $line = line_of($text, $marker);
    (my $message = $out) =~ s/\Q$file\E//g;
    my $ok = isnt($rc, 0, "$name: nginx -t fails");
    $ok &&= like($out, qr/\[emerg\]/, "$name: an [emerg] message");
    $ok &&= like($out, qr/\Q$file\E:$line\b/, "$name: names $file_name.conf:$line");
    $ok &&= like($message, $what, "$name: says what is wrong");
    diag($out) unless $ok;
    note($out) if $ENV{SHOW_MESSAGES};
    return $ok;
}

sub accepted_config_ok {
    my ($http, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out) = check($http, 'check' . ++$CHECKS);
    is($rc, 0, "$name: nginx -t succeeds") or diag $out;
}

my $one_zone = "oauth_token_zone z1:1m;\nserver { listen 127.0.0.1:%%PORT%%;\n";
my $two_zones = "oauth_token_zone z1:1m;\noauth_token_zone z2:1m;\nserver { listen 127.0.0.1:%%PORT%%;\n";

subtest 'nginx -t: an unknown zone' => sub {
    refused_config_ok("$one_zone location / { oauth_require_scope zone=nope read; } }",
        qr/zone=nope/, qr/nope/, 'unknown zone in a location');
    refused_config_ok("$one_zone oauth_require_scope zone=nope; }", qr/zone=nope/, qr/nope/,
        'unknown zone in a server, no scope');
    refused_config_ok("oauth_require_scope zone=nope read;\n$one_zone }", qr/zone=nope/, qr/nope/,
        'unknown zone at http level');
    refused_config_ok("server { listen 127.0.0.1:%%PORT%%;\n location / { oauth_require_scope read; } }",
        qr/oauth_require_scope/, qr/zone/, 'no zone declared at all');
};

subtest 'nginx -t: an ambiguous zone' => sub {
    refused_config_ok("$two_zones location / { oauth_require_scope read; } }", qr/oauth_require_scope/,
        qr/zone/, 'two zones, no zone= in a location');
    refused_config_ok("$two_zones oauth_require_scope; }", qr/oauth_require_scope/, qr/zone/,
        'two zones, no zone= and no scope in a server');
    refused_config_ok("oauth_require_scope read;\n$two_zones }", qr/oauth_require_scope/, qr/zone/,
        'two zones, no zone= at http level');
};

subtest 'nginx -t: a scope with characters outside RFC 6749 §3.3' => sub {
    for my $case (['"a\\"b"', 'a"b', 'a double quote'], ['"a\\\\b"', 'a\\b', 'a backslash'],
        ["\"r\xc3\xa9ad\"", "r\xc3\xa9ad", 'a non-ASCII character'], ["\"a\\tb\"", "a\tb", 'a tab'],
        ['"a b"', 'a b', 'a space inside one argument'], ['""', '', 'an empty scope'])
    {
        my ($arg, $scope, $name) = @$case;
        refused_config_ok("$one_zone location / { oauth_require_scope read $arg; } }",
            qr/oauth_require_scope read/, length $scope ? qr/\Q$scope\E/ : qr/scope/, $name);
    }
};

subtest 'nginx -t: oauth_require_scope twice at one level' => sub {
    refused_config_ok("$one_zone location / { oauth_require_scope read;\n oauth_require_scope write; } }",
        qr/oauth_require_scope write/, qr/duplicate/, 'twice in a location');
};

subtest 'nginx -t: oauth_require_audience where no token is checked' => sub {
    refused_config_ok("$one_zone location / { oauth_require_audience https://api.test; } }",
        qr/oauth_require_audience/, qr/oauth_require_scope/, 'a location without oauth_require_scope');
    refused_config_ok("$one_zone location / { oauth_require_scope off;\n oauth_require_audience https://api.test; } }",
        qr/oauth_require_audience/, qr/oauth_require_scope/, 'a location whose check is off');
    accepted_config_ok("oauth_require_audience https://api.test;\n$one_zone location / { oauth_require_scope read; }\n"
        . " location /open/ { } }", 'inherited from http by a location that checks nothing');
    accepted_config_ok("oauth_require_scope read;\n$one_zone location / { oauth_require_audience https://api.test; } }",
        'in a location that inherits its check');
    accepted_config_ok("$one_zone location / { oauth_require_audience off; } }", 'off');
};

subtest 'nginx -t: accepted forms' => sub {
    accepted_config_ok("$one_zone location / { oauth_require_scope; } }", 'no argument, one zone');
    accepted_config_ok("$one_zone location / { oauth_require_scope read write; } }", 'scopes without zone=, one zone');
    accepted_config_ok("$two_zones location / { oauth_require_scope zone=z2; } }", 'zone= only');
    accepted_config_ok("$two_zones location / { oauth_require_scope zone=z1 read write; } }", 'zone= and scopes');
    accepted_config_ok("$one_zone location / { oauth_require_scope off; } }", 'off');
    accepted_config_ok("oauth_require_scope off;\n$one_zone }", 'off at http level');
    accepted_config_ok("$one_zone location / { oauth_require_scope \"urn:x:y!#\$%&'()*+,-./;<=>?\@[]^_`{|}~\"; } }",
        'a scope with every punctuation §3.3 allows');
    accepted_config_ok("oauth_require_scope zone=z2 read;\n$two_zones location / { oauth_require_scope off; } }",
        'http level with zone=');
    accepted_config_ok("$one_zone location / { oauth_require_scope read; oauth_realm \"my api\"; } }", 'oauth_realm');
};

subtest 'oauth_require_scope with no argument: any valid token of the only zone' => sub {
    my $u = OAuthTest->new(
        clients => $clients,
        http => <<'EOF',
oauth_token_zone only:1m;
oauth_clients clients.json;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location /p/ { oauth_require_scope; alias %%PREFIX%%/html/; }
}
EOF
    );
    mkdir $u->prefix . '/html';
    $u->write_file('html/ok.txt', "ok\n");
    ok eval { $u->start; 1 }, 'starts' or return diag $@;
    my $r = $u->token_request(basic => ['app', $secret], form => [grant_type => 'client_credentials', scope => 'admin']);
    my $tok = $r->{json}{access_token} // 'none';
    my $x = $u->request(GET => '/p/ok.txt', {headers => {Authorization => "Bearer $tok"}});
    is $x->{status}, 200, 'any valid token' or diag show($x);
    $x = $u->request(GET => '/p/ok.txt');
    is $x->{status}, 401, 'no token';
    is $x->{headers}{'www-authenticate'}, bearer_challenge('oauth'), 'default realm "oauth"';
    $u->stop;
};

done_testing;
