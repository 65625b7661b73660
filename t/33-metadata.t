# RFC 8414 authorization server metadata: oauth_issuer and oauth_metadata
# (SPEC "Introspection, revocation, metadata").
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret show);

need_module();

my $secret = random_secret();
my $wk = '/.well-known/oauth-authorization-server';
my $auth_methods = [qw(client_secret_basic client_secret_post private_key_jwt)];
my $signing_algs = [qw(ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA Ed25519)];

my $clients = {
    clients => [
        {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'reports:read reports:write'},
        {client_id => 'other', client_secret_hash => sha256_hash($secret), scope => 'metrics:read reports:read'},
        {client_id => 'none', client_secret_hash => sha256_hash($secret), scope => ''},
    ],
};
my ($port2, $port3, $port4) = map { OAuthTest::free_port() } 1 .. 3;

# Server 1: issuer from the http level, the usual paths.
# Server 2: its own issuer with a path, endpoints under other paths (a nested
#           location included), a regex location that must not be named.
# Server 3: an https issuer with no port, and only a token endpoint.
# Server 4: its own clients file (scopes_supported comes from that registry).
my $t = OAuthTest->start(
    clients => $clients,
    files => {'alt-clients.json' => encode_json({clients => [
        {client_id => 'alt', client_secret_hash => sha256_hash($secret), scope => 'alt:one alt:two'}]})},
    http => <<"EOF",
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_issuer http://127.0.0.1:%%PORT%%;

server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location = /introspect { oauth_introspection_endpoint; }
    location = /revoke { oauth_revocation_endpoint; }
    location = $wk { oauth_metadata; }
}

server {
    listen 127.0.0.1:$port2;
    oauth_issuer http://localhost:$port2/tenant/a;
    location ~ ^/regex/token\$ { oauth_token_endpoint; }
    location /oauth2/ {
        location /oauth2/token { oauth_token_endpoint; }
        location = /oauth2/introspect { oauth_introspection_endpoint; }
    }
    location = /oauth2/revoke { oauth_revocation_endpoint; }
    location = /token-second { oauth_token_endpoint; }
    location = $wk { oauth_metadata; }
    location = $wk/tenant/a { oauth_metadata; }
}

server {
    listen 127.0.0.1:$port3;
    oauth_issuer https://auth.example.com;
    location = /t { oauth_token_endpoint; }
    location = $wk { oauth_metadata; }
}

server {
    listen 127.0.0.1:$port4;
    oauth_clients alt-clients.json;
    location = /token { oauth_token_endpoint; }
    location = $wk { oauth_metadata; }
}
EOF
);
my $issuer = 'http://127.0.0.1:' . $t->port;

sub get_on {
    my ($port, $method, $path) = @_;
    local $t->{port} = $port // $t->port;
    return $t->request($method // 'GET', $path // $wk);
}

sub metadata_ok {
    my ($r, $expect, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= like($r->{headers}{'content-type'} // '', qr{^application/json\s*(?:;\s*charset=utf-8)?$}i,
        "$name: Content-Type application/json");
    my $j = ref $r->{json} eq 'HASH' ? {%{ $r->{json} }} : {};
    # scopes_supported: a set; compared sorted, and with no duplicates
    if (ref $j->{scopes_supported} eq 'ARRAY') {
        my @s = @{ $j->{scopes_supported} };
        my %seen;
        $ok &&= is(scalar(grep { !$seen{$_}++ } @s), scalar(@s), "$name: scopes_supported has no duplicates");
        $j->{scopes_supported} = [sort @s];
    }
    my %e = %$expect;
    $e{scopes_supported} = [sort @{ $e{scopes_supported} }];
    $ok &&= is_deeply($j, \%e, "$name: the document") or diag explain $j;
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

my %common = (
    grant_types_supported => ['client_credentials'],
    response_types_supported => [],
    token_endpoint_auth_methods_supported => $auth_methods,
    introspection_endpoint_auth_methods_supported => $auth_methods,
    revocation_endpoint_auth_methods_supported => $auth_methods,
    token_endpoint_auth_signing_alg_values_supported => $signing_algs,
    introspection_endpoint_auth_signing_alg_values_supported => $signing_algs,
    revocation_endpoint_auth_signing_alg_values_supported => $signing_algs,
    # every server here has a token endpoint, which binds tokens (RFC 8705 §3, RFC 9449 §5)
    tls_client_certificate_bound_access_tokens => JSON::PP::true,
    dpop_signing_alg_values_supported => $signing_algs,
);

subtest 'the document: issuer, endpoints, grants, scopes, auth methods' => sub {
    metadata_ok(get_on(), {
        %common,
        issuer => $issuer,
        token_endpoint => "$issuer/token",
        introspection_endpoint => "$issuer/introspect",
        revocation_endpoint => "$issuer/revoke",
        scopes_supported => [qw(reports:read reports:write metrics:read)],
    }, 'server 1');
};

subtest 'JSON types: arrays are arrays, response_types_supported is []' => sub {
    my $r = get_on();
    like $r->{content}, qr/"response_types_supported"\s*:\s*\[\s*\]/, 'response_types_supported is an empty array';
    like $r->{content}, qr/"grant_types_supported"\s*:\s*\[\s*"client_credentials"\s*\]/,
        'grant_types_supported is ["client_credentials"]';
    unlike $r->{content}, qr{\\/}, 'no escaped slashes (the URLs are compared as strings)';
};

subtest 'issuer with a path: URLs are scheme://host:port + each location path' => sub {
    my $iss2 = "http://localhost:$port2/tenant/a";
    my %doc = (
        %common,
        issuer => $iss2,
        token_endpoint => "http://localhost:$port2/oauth2/token",
        introspection_endpoint => "http://localhost:$port2/oauth2/introspect",
        revocation_endpoint => "http://localhost:$port2/oauth2/revoke",
        scopes_supported => [qw(reports:read reports:write metrics:read)],
    );
    metadata_ok(get_on($port2), \%doc, 'server 2, /.well-known/oauth-authorization-server');
    metadata_ok(get_on($port2, 'GET', "$wk/tenant/a"), \%doc,
        'server 2, the RFC 8414 §3.1 path /.well-known/oauth-authorization-server/tenant/a');
};

subtest 'an https issuer without a port; endpoints not served are left out' => sub {
    metadata_ok(get_on($port3), {
        %common,
        issuer => 'https://auth.example.com',
        token_endpoint => 'https://auth.example.com/t',
        scopes_supported => [qw(reports:read reports:write metrics:read)],
    }, 'server 3');
};

subtest 'scopes_supported comes from the registry of the metadata location' => sub {
    metadata_ok(get_on($port4), {
        %common,
        issuer => $issuer,    # inherited from the http level
        token_endpoint => "$issuer/token",
        scopes_supported => [qw(alt:one alt:two)],
    }, 'server 4 (http-level issuer, its own clients file)');
};

subtest 'HEAD: 200, the same headers, no body' => sub {
    my $get = get_on();
    my $r = get_on(undef, 'HEAD');
    is $r->{status}, 200, 'HEAD: 200' or diag show($r);
    is $r->{content}, '', 'HEAD: no body';
    is $r->{headers}{'content-type'}, $get->{headers}{'content-type'}, 'HEAD: the Content-Type of GET';
    is $r->{headers}{'content-length'}, length($get->{content}), 'HEAD: the Content-Length of GET';
};

subtest 'other methods: 405 with Allow: GET, HEAD' => sub {
    for my $m (qw(POST PUT DELETE PATCH OPTIONS)) {
        my $r = $t->request($m, $wk, {headers => {'Content-Type' => 'application/x-www-form-urlencoded'},
            body => 'a=b'});
        is $r->{status}, 405, "$m: 405" or diag show($r);
        is join(',', sort split /\s*,\s*/, $r->{headers}{allow} // ''), 'GET,HEAD', "$m: Allow: GET, HEAD";
    }
};

subtest 'a query string does not change the document' => sub {
    my $r = get_on(undef, 'GET', "$wk?x=1");
    is $r->{status}, 200, 'status 200' or diag show($r);
    is $r->{content}, get_on()->{content}, 'the same document';
};

subtest 'reload re-reads the registry into scopes_supported' => sub {
    my $c = JSON::PP->new->decode(encode_json($clients));
    push @{ $c->{clients} }, {client_id => 'new', client_secret_hash => sha256_hash($secret), scope => 'new:scope'};
    ok $t->reload(clients => $c), 'reload with one more client';
    my $r = get_on();
    is_deeply [sort @{ ($r->{json} // {})->{scopes_supported} // [] }],
        [sort qw(reports:read reports:write metrics:read new:scope)], 'the new scope is listed'
        or diag show($r);
};

# ---- nginx -t --------------------------------------------------------------------------

sub conf_with {
    my ($issuer_line, $metadata) = @_;
    $metadata //= 1;
    my $loc = $metadata ? "location = $wk { oauth_metadata; }" : '';
    return $t->conf_text(http => <<"EOF");
oauth_token_zone tokens:1m;
oauth_clients clients.json;
$issuer_line
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    $loc
}
EOF
}

subtest 'nginx -t: oauth_metadata without oauth_issuer fails' => sub {
    my ($rc, $out) = $t->nginx_t(conf_with(''));
    isnt $rc, 0, 'nginx -t fails';
    like $out, qr/\[emerg\].*oauth_issuer/, 'the message names oauth_issuer';
    like $out, qr/test\.conf:\d+/, 'the message names the file and line';
};

subtest 'nginx -t: an issuer that is not an http(s) URL, or has a query or fragment, fails' => sub {
    for my $bad ('ftp://auth.example.com', 'auth.example.com', '/relative', 'urn:example:issuer',
        'https://', 'http://', 'https://auth.example.com?tenant=a', 'https://auth.example.com/x?',
        'https://auth.example.com#frag', 'https://auth.example.com/#')
    {
        for my $where ('http', 'server') {
            my $text = $where eq 'http' ? conf_with(qq{oauth_issuer "$bad";}, 0)
                : conf_with('', 0) =~ s{(listen [^\n]*\n)}{$1    oauth_issuer "$bad";\n}r;
            my ($rc, $out) = $t->nginx_t($text);
            isnt $rc, 0, "'$bad' at $where level: nginx -t fails" or next;
            like $out, qr/\[emerg\].*oauth_issuer/, "'$bad' at $where level: the message names oauth_issuer";
        }
    }
    my ($rc, $out) = $t->nginx_t(conf_with(q{oauth_issuer "ftp://auth.example.com";}, 0));
    like $out, qr/must be an https URL \(http is accepted for testing\)/,
        'a scheme that is neither: the message says http is accepted too, as it is';
};

subtest 'nginx -t: good issuers pass' => sub {
    for my $good ('https://auth.example.com', 'https://auth.example.com/', 'https://auth.example.com:8443/tenant/a',
        'http://127.0.0.1:8080')
    {
        my ($rc, $out) = $t->nginx_t(conf_with(qq{oauth_issuer "$good";}));
        is $rc, 0, "'$good': nginx -t passes" or diag $out;
    }
};

subtest 'nginx -t: oauth_metadata where it does not belong fails' => sub {
    my $iss = 'oauth_issuer https://auth.example.com;';
    my ($rc, $out) = $t->nginx_t($t->conf_text(http => "oauth_token_zone tokens:1m;\noauth_clients clients.json;\n"
        . "$iss\noauth_metadata;\nserver { listen 127.0.0.1:%%PORT%%; }"));
    isnt $rc, 0, 'oauth_metadata at the http level: nginx -t fails';
    ($rc, $out) = $t->nginx_t($t->conf_text(http => "oauth_token_zone tokens:1m;\noauth_clients clients.json;\n"
        . "$iss\nserver { listen 127.0.0.1:%%PORT%%; location = /x { oauth_metadata; oauth_token_endpoint; } }"));
    isnt $rc, 0, 'oauth_metadata and oauth_token_endpoint in one location: nginx -t fails';
    ($rc, $out) = $t->nginx_t($t->conf_text(http => "oauth_token_zone tokens:1m;\noauth_clients clients.json;\n"
        . "server { listen 127.0.0.1:%%PORT%%; location = /x { oauth_issuer https://a.example; } }"));
    isnt $rc, 0, 'oauth_issuer in a location: nginx -t fails';
};

done_testing;
