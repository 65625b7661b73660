# Malformed requests at the token, introspection and revocation endpoints and
# at a protected location (README "Behaviour, RFC by RFC"): overlong headers
# and tokens, NUL bytes raw and escaped, invalid UTF-8, broken percent escapes,
# thousands of parameters, huge scope lists, duplicate headers, chunked bodies,
# bodies shorter than their Content-Length, other methods. Each gets its
# status and RFC error; after each, a real token still works; no worker exits
# on a signal.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);
use OAuthTest qw(need_module sha256_hash random_secret basic_credentials token_ok show);

need_module();

my $secret = random_secret();
my $auditor_secret = random_secret();
my $t = OAuthTest->start(
    files   => {'ok.txt' => 'ok'},
    clients => {clients => [
        {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write'},
        {client_id => 'auditor', client_secret_hash => sha256_hash($auditor_secret), scope => '',
            introspection => JSON::PP::true},
    ]},
    http => <<'EOF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_realm "bad";
# A body shorter than its Content-Length is waited for this long.
client_body_timeout 2s;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token      { oauth_token_endpoint; }
    location = /introspect { oauth_introspection_endpoint; }
    location = /revoke     { oauth_revocation_endpoint; }
    # not "return 200": it runs in the rewrite phase, before any access check
    location /api { oauth_require_scope read; root %%PREFIX%%; try_files /ok.txt =404; }
}
EOF
);

my $basic = basic_credentials('app', $secret);
my $token = token_ok($t->token_request(basic => ['app', $secret]), scope => 'read write', name => 'the real token');
my $grant = 'grant_type=client_credentials';
my $form = 'application/x-www-form-urlencoded';

# A raw HTTP/1.1 request closing its connection; Content-Length is added for
# a body unless headers name Content-Length or Transfer-Encoding.
sub request {
    my (%o) = @_;
    my @h = ('Host: localhost', 'Connection: close', @{ $o{headers} // [] });
    if (defined $o{body} && !grep { /^(?:content-length|transfer-encoding):/i } @h) {
        push @h, 'Content-Length: ' . length $o{body};
    }
    return join("\r\n", ($o{method} // 'POST') . ' ' . ($o{path} // '/token') . ' HTTP/1.1', @h) . "\r\n\r\n"
        . ($o{body} // '');
}

sub token_post {
    my ($body, @headers) = @_;
    return request(body => $body, headers => ["Authorization: $basic", "Content-Type: $form", @headers]);
}

sub api {
    my (@headers) = @_;
    return request(method => 'GET', path => '/api/x', headers => \@headers);
}

sub chunked {
    my ($body, $size) = @_;
    my $out = '';
    $out .= sprintf("%x\r\n%s\r\n", length($_), $_) for $body =~ /(.{1,$size})/gs;
    return $out . "0\r\n\r\n";
}

my $long_token = 'A' x 7000;
my $many_parameters = join '&', map { sprintf 'p%04d', $_ } 1 .. 2500;
my $huge_scope = join '+', map {"s$_"} 1 .. 2000;

# name, raw request, expected: status, and one of
#   error => RFC 6749 §5.2 code in a JSON body (with the cache headers),
#   bearer => the RFC 6750 error in WWW-Authenticate ('' for none),
#   nginx => 1 (nginx answers before the module, with its own page),
#   closed => 1 (no answer: nginx closes the connection).
my @cases = (
    # methods (RFC 6749 §3.2: POST only)
    ['GET at the token endpoint', request(method => 'GET'), 405, error => 'invalid_request', allow => 'POST'],
    ['PUT at the token endpoint', request(method => 'PUT', body => $grant, headers => ["Content-Type: $form"]),
        405, error => 'invalid_request', allow => 'POST'],
    ['DELETE at the token endpoint', request(method => 'DELETE'), 405, error => 'invalid_request', allow => 'POST'],
    ['an unknown method', request(method => 'BREW', body => $grant), 405, error => 'invalid_request', allow => 'POST'],
    ['HEAD at the token endpoint', request(method => 'HEAD'), 405, head => 1],
    ['GET at the introspection endpoint', request(method => 'GET', path => '/introspect'), 405,
        error => 'invalid_request', allow => 'POST'],
    ['lowercase method', request(method => 'post', body => $grant), 400, nginx => 1],

    # the body and its media type
    ['no Content-Type', request(body => $grant, headers => ["Authorization: $basic"]), 400, error => 'invalid_request'],
    ['text/plain body', request(body => $grant, headers => ["Authorization: $basic", 'Content-Type: text/plain']),
        400, error => 'invalid_request'],
    ['a media type that only starts like the form one',
        request(body => $grant, headers => ["Authorization: $basic", "Content-Type: ${form}x"]), 400, error => 'invalid_request'],
    ['form with a charset parameter',
        request(body => $grant, headers => ["Authorization: $basic", "Content-Type: $form; charset=UTF-8"]), 200, token => 1],
    ['a body over 16 KiB', token_post("$grant&pad=" . ('a' x 17000)), 400, error => 'invalid_request'],
    ['a percent sign at the end', token_post("$grant&scope=read%"), 400, error => 'invalid_request'],
    ['a percent escape with one digit', token_post("grant_type=client%5_credentials"), 400, error => 'invalid_request'],
    ['a percent escape that is not hex', token_post("$grant&scope=%zzread"), 400, error => 'invalid_request'],
    ['a raw NUL byte in the body', token_post("$grant&scope=re\0ad"), 400, error => 'invalid_request'],
    ['%00 in grant_type', token_post('grant_type=client_credentials%00'), 400, error => 'unsupported_grant_type'],
    ['%00 in the client_secret (body credentials)',
        request(body => "$grant&client_id=app&client_secret=$secret%00", headers => ["Content-Type: $form"]),
        401, error => 'invalid_client', challenge => undef],
    ['raw invalid UTF-8 in the body', token_post("$grant&scope=\xff\xfe"), 400, error => 'invalid_request'],
    ['escaped invalid UTF-8 in scope', token_post("$grant&scope=%C3%28"), 400, error => 'invalid_scope'],
    ['escaped invalid UTF-8 in client_id',
        request(body => "$grant&client_id=%C3%28&client_secret=x", headers => ["Content-Type: $form"]),
        401, error => 'invalid_client', challenge => undef],
    ['a raw space in a value', token_post("$grant&scope=read write"), 400, error => 'invalid_request'],
    ['2500 unknown parameters (ignored, RFC 6749 §3.2)', token_post("$grant&$many_parameters"), 200, token => 1],
    ['one parameter 2500 times', token_post("$grant&" . join('&', ('scope=read') x 1500)), 400, error => 'invalid_request'],
    ['grant_type twice, once encoded', token_post("$grant&gr%61nt_type=client_credentials"), 400, error => 'invalid_request'],
    ['2000 unknown scopes', token_post("$grant&scope=$huge_scope"), 400, error => 'invalid_scope'],
    ['one scope 2000 times', token_post("$grant&scope=" . join('+', ('read') x 2000)), 200, token => 1, scope => 'read'],
    ['doubled space in scope', token_post("$grant&scope=read++write"), 400, error => 'invalid_scope'],
    ['a scope with a quote', token_post("$grant&scope=%22read%22"), 400, error => 'invalid_scope'],
    ['client_secret in the query string',
        request(path => '/token?client_secret=x', body => $grant, headers => ["Authorization: $basic", "Content-Type: $form"]),
        400, error => 'invalid_request'],

    # chunked bodies and lengths
    ['a chunked body', token_post(chunked($grant, 5), 'Transfer-Encoding: chunked'), 200, token => 1],
    ['a chunked body over 16 KiB', token_post(chunked("$grant&pad=" . ('a' x 17000), 4000), 'Transfer-Encoding: chunked'),
        400, error => 'invalid_request'],
    ['a broken chunk size', token_post("zz\r\n$grant\r\n0\r\n\r\n", 'Transfer-Encoding: chunked'), 400, nginx => 1],
    ['Content-Length and Transfer-Encoding', token_post(chunked($grant, 8), 'Transfer-Encoding: chunked', 'Content-Length: 29'),
        400, nginx => 1],
    ['a body shorter than its Content-Length', token_post($grant, 'Content-Length: 500'), 0, closed => 1],
    ['a negative Content-Length', token_post($grant, 'Content-Length: -1'), 400, nginx => 1],
    ['two Content-Type headers, the first the form one',
        token_post($grant, 'Content-Type: text/plain'), 400, error => 'invalid_request'],
    ['two equal Content-Type headers', token_post($grant, "Content-Type: $form"), 400, error => 'invalid_request'],
    ['two Content-Length headers', token_post($grant, 'Content-Length: 29', 'Content-Length: 29'), 400, nginx => 1],

    # client credentials
    ['Basic credentials that are not base64', token_post($grant) =~ s/Authorization: Basic \S+/Authorization: Basic !!!!/r,
        401, error => 'invalid_client', challenge => qr/^Basic realm="bad"$/],
    ['Basic credentials of 6000 bytes', request(body => $grant,
        headers => ['Authorization: ' . basic_credentials('x' x 3000, 'y' x 1500), "Content-Type: $form"]),
        401, error => 'invalid_client', challenge => qr/^Basic realm="bad"$/],
    ['Basic credentials with an escaped NUL', request(body => $grant,
        headers => ['Authorization: ' . basic_credentials('app', "$secret\0", raw => 1), "Content-Type: $form"]),
        401, error => 'invalid_client', challenge => qr/^Basic realm="bad"$/],
    ['a client_id of 200 bytes in the body',
        request(body => "$grant&client_id=" . ('c' x 200) . "&client_secret=x", headers => ["Content-Type: $form"]),
        401, error => 'invalid_client', challenge => undef],
    ['two Authorization headers at the token endpoint', token_post($grant, "Authorization: $basic"), 400, nginx => 1],
    ['a header line of 10000 bytes', token_post($grant, 'X-Pad: ' . ('p' x 10000)), 400, nginx => 1],
    ['a raw NUL in a header', token_post($grant, "X-Nul: a\0b"), 400, nginx => 1],

    # introspection and revocation
    ['introspection without token',
        request(path => '/introspect', body => 'token_type_hint=access_token',
            headers => ['Authorization: ' . basic_credentials('auditor', $auditor_secret), "Content-Type: $form"]),
        400, error => 'invalid_request'],
    ['introspection of a token with an escaped NUL',
        request(path => '/introspect', body => "token=$token%00",
            headers => ['Authorization: ' . basic_credentials('auditor', $auditor_secret), "Content-Type: $form"]),
        200, json => {active => JSON::PP::false}],
    ['introspection of a token of 15000 bytes',
        request(path => '/introspect', body => 'token=' . ('t' x 15000),
            headers => ['Authorization: ' . basic_credentials('auditor', $auditor_secret), "Content-Type: $form"]),
        200, json => {active => JSON::PP::false}],
    ['revocation of garbage', request(path => '/revoke', body => 'token=%FF%FE%00', headers => ["Authorization: $basic", "Content-Type: $form"]),
        200, body => ''],
    ['revocation with a broken escape', request(path => '/revoke', body => 'token=%G0', headers => ["Authorization: $basic", "Content-Type: $form"]),
        400, error => 'invalid_request'],

    # the protected location (RFC 6750)
    ['no Authorization', api(), 401, bearer => ''],
    ['Basic at a protected location', api("Authorization: $basic"), 401, bearer => ''],
    ['lowercase bearer (the scheme is case-insensitive)', api("Authorization: bearer $token"), 200],
    ['Bearer without a token', api('Authorization: Bearer'), 400, bearer => 'invalid_request'],
    ['Bearer and spaces only', api('Authorization: Bearer     '), 400, bearer => 'invalid_request'],
    ['Bearer, tab, token', api("Authorization: Bearer\t$token"), 400, bearer => 'invalid_request'],
    ['a token with a space inside', api("Authorization: Bearer ab cd"), 400, bearer => 'invalid_request'],
    ['a token with an escaped NUL', api("Authorization: Bearer $token%00"), 400, bearer => 'invalid_request'],
    ['a token with raw invalid UTF-8', api("Authorization: Bearer $token\xff"), 400, bearer => 'invalid_request'],
    ['a token with "=" inside', api('Authorization: Bearer abc=def'), 400, bearer => 'invalid_request'],
    ['a token of 7000 bytes', api("Authorization: Bearer $long_token"), 401, bearer => 'invalid_token'],
    ['a token of 10000 bytes (over the header buffer)', api('Authorization: Bearer ' . ('A' x 10000)), 400, nginx => 1],
    ['the real token with one byte changed', api('Authorization: Bearer ' . (substr($token, 0, -1) . (substr($token, -1) eq 'A' ? 'B' : 'A'))),
        401, bearer => 'invalid_token'],
    ['the real token twice (two headers)', api("Authorization: Bearer $token", "Authorization: Bearer $token"), 400, nginx => 1],
    ['the token in the query string (RFC 6750 §2.3, not supported)',
        request(method => 'GET', path => "/api/x?access_token=$token"), 401, bearer => ''],
    ['the token in a form body (RFC 6750 §2.2, not supported)',
        request(path => '/api/x', body => "access_token=$token", headers => ["Content-Type: $form"]), 401, bearer => ''],
    ['a raw NUL in the Authorization header', api("Authorization: Bearer ab\0cd"), 400, nginx => 1],
);

my $ua = $t->agent(keep_alive => 1);
sub real_token_works {
    my $r = $t->request('GET', '/api/after', {ua => $ua, headers => {Authorization => "Bearer $token"}});
    return $r->{status} == 200 && $r->{content} eq 'ok';
}

# A challenge attribute's value (RFC 6750 §3).
sub attribute {
    my ($challenge, $name) = @_;
    return $challenge =~ /\b$name="([^"]*)"/ ? $1 : undef;
}

ok scalar(@cases) >= 40, scalar(@cases) . ' malformed or unusual requests';
for my $case (@cases) {
    my ($name, $bytes, $status, %e) = @$case;
    subtest $name => sub {
        my $start = time;
        my $r = $t->raw($bytes, timeout => $e{closed} ? 6 : 5);
        my $took = time - $start;
        my $ok = is $r->{status}, $status, "status $status";
        if ($e{closed}) {
            $ok &&= is $r->{raw}, '', 'no answer: the connection was closed';
            $ok &&= ok $took < 5, sprintf('closed after %.1f s (client_body_timeout 2s)', $took);
        }
        my $h = $r->{headers};
        if (defined $e{error}) {
            my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
            $ok &&= is $j->{error}, $e{error}, "error $e{error}";
            $ok &&= like $j->{error_description} // '', qr/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/,
                'error_description within RFC 6749 §5.2 characters';
            $ok &&= like $h->{'content-type'} // '', qr{^application/json}, 'JSON';
            $ok &&= is $h->{'cache-control'}, 'no-store', 'Cache-Control no-store';
        }
        if (exists $e{challenge}) {
            $ok &&= defined $e{challenge}
                ? like($h->{'www-authenticate'} // '', $e{challenge}, 'Basic challenge')
                : ok(!defined $h->{'www-authenticate'}, 'no challenge (body credentials)');
        }
        if (exists $e{allow}) {
            $ok &&= is $h->{allow}, $e{allow}, "Allow: $e{allow}";
        }
        if (defined $e{bearer}) {
            my $c = $h->{'www-authenticate'} // '';
            $ok &&= like $c, qr/^Bearer realm="bad"/, 'Bearer challenge';
            $ok &&= is attribute($c, 'error'), ($e{bearer} eq '' ? undef : $e{bearer}),
                $e{bearer} eq '' ? 'no error code' : "error=\"$e{bearer}\"";
        }
        if ($e{nginx}) {
            $ok &&= like $r->{content}, qr/<html>/i, "nginx's own error page";
        }
        if ($e{token}) {
            my $j = ref $r->{json} eq 'HASH' ? $r->{json} : {};
            $ok &&= like $j->{access_token} // '', qr/^[A-Za-z0-9_-]{43}$/, 'a token';
            $ok &&= is $j->{scope}, $e{scope}, "scope $e{scope}" if defined $e{scope};
        }
        if ($e{json}) {
            $ok &&= is_deeply $r->{json}, $e{json}, 'body ' . JSON::PP->new->canonical->encode($e{json});
        }
        if (defined $e{body}) {
            $ok &&= is $r->{content}, $e{body}, 'empty body';
        }
        diag 'response: ' . show($r) unless $ok;
        ok real_token_works(), 'the real token still works';
    };
}

subtest 'afterwards' => sub {
    token_ok($t->token_request(basic => ['app', $secret]), scope => 'read write', name => 'tokens are still issued');
    ok real_token_works(), 'the real token still works';
    unlike $t->error_log, qr/exited on signal/, 'no worker exited on a signal';
    $t->log_clean_ok;
};

done_testing;
