# private_key_jwt (RFC 7523 §2.2, §3): clients that sign an assertion with
# their private key instead of sending a secret, at the token, introspection
# and revocation endpoints, against a real nginx with two workers. Assertions
# are signed by t/interop/client_assertion.py (PyJWT); real clients, Authlib
# and oauth4webapi, authenticate the same way. Every attack of the SPEC: a
# replayed assertion in either worker, a wrong aud, an exp too far or
# missing, iss other than sub, alg none, HS256 keyed with the public key, a
# key of another client, a secret for a private_key_jwt client, and a flood
# of one client's assertions while another keeps working.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module need_python need_or_skip token_ok error_ok invalid_client_ok
    sha256_hash random_secret show);

need_module();
my $python = need_python('jwt, cryptography', 'python3-jwt');
my $sign = "$FindBin::Bin/interop/client_assertion.py";
my $root = "$FindBin::Bin/..";
my $type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

my $t = OAuthTest->new;
my $p = $t->prefix;
my $issuer = 'http://127.0.0.1:' . $t->port;
my %pem = map { $_ => $t->genpkey("$_.pem", $_ =~ /rsa/ ? 'RS256' : 'ES256') }
    qw(signer rsa other flood victim);

sub run_python {
    my (@args) = @_;
    my ($rc, $out) = OAuthTest::run_command([$python, $sign, @args], "$p/logs/sign.out");
    die "client_assertion.py @args[0..1]: $out" if $rc != 0;
    chomp $out;
    return $out;
}

sub jwks { return JSON::PP->new->decode(run_python('jwks', $pem{ $_[0] }, "$_[0]-key")) }

# Assertions of VARIANT for CLIENT, signed with KEY's pem (default: its own).
sub assertions {
    my ($client, $variant, %o) = @_;
    my $key = $o{key} // $client;
    return split /\n/, run_python('sign', $pem{$key}, "$key-key", $client, $o{aud} // $issuer,
        $variant, $o{count} // 1);
}
sub assertion { return (assertions(@_))[0] }

my $secret = random_secret();
$t->write_file('rsa.jwks', JSON::PP->new->encode(jwks('rsa')));
my @clients = (
    {client_id => 'signer', token_endpoint_auth_method => 'private_key_jwt', jwks => jwks('signer'),
     scope => 'reports:read', introspection => JSON::PP::true},
    {client_id => 'rsa', token_endpoint_auth_method => 'private_key_jwt', jwks_file => 'rsa.jwks',
     scope => 'reports:read'},
    {client_id => 'other', token_endpoint_auth_method => 'private_key_jwt', jwks => jwks('other'),
     scope => 'reports:read'},
    {client_id => 'flood', token_endpoint_auth_method => 'private_key_jwt', jwks => jwks('flood'),
     scope => ''},
    {client_id => 'victim', token_endpoint_auth_method => 'private_key_jwt', jwks => jwks('victim'),
     scope => ''},
    {client_id => 'secretive', client_secret_hash => sha256_hash($secret), scope => 'reports:read'},
);
$t->write_clients({clients => \@clients});
$t->write_conf(http => <<'CONF');
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_issuer http://127.0.0.1:%%PORT%%;

server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; add_header X-Worker $pid always; }
    location = /introspect { oauth_introspection_endpoint; }
    location = /revoke { oauth_revocation_endpoint; }
    location = /.well-known/oauth-authorization-server { oauth_metadata; }
    location = /metrics { oauth_metrics; }
    location /api/ {
        oauth_require_scope reports:read;
        root %%PREFIX%%/html;
        default_type text/plain;
    }
}
CONF
mkdir "$p/$_" for qw(html html/api);
$t->write_file('html/api/reports', "ok\n");
$t->start;

sub with_assertion {
    my ($assertion, %o) = @_;
    my @form = (grant_type => 'client_credentials');
    @form = @{ $o{form} } if $o{form};
    return $t->token_request(path => $o{path}, basic => $o{basic},
        form => [@form, client_assertion_type => $o{type} // $type, client_assertion => $assertion,
                 @{ $o{extra} // [] }]);
}

sub refused_ok {
    my ($r, $name, $description) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    invalid_client_ok($r, $name);
    like $r->{json}{error_description} // '', $description, "$name: says why" if $description;
}

subtest 'an assertion gets a token; the token opens the protected location' => sub {
    my $token = token_ok(with_assertion(assertion('signer', 'good')), scope => 'reports:read');
    is $t->bearer_get('/api/reports', $token)->{status}, 200, 'the token works';
    token_ok(with_assertion(assertion('rsa', 'good')), scope => 'reports:read',
        name => 'RS256, keys from jwks_file');
    token_ok(with_assertion(assertion('signer', 'good', aud => "$issuer/token")),
        scope => 'reports:read', name => 'aud: the token endpoint URL');
    token_ok(with_assertion(assertion('signer', 'good'), extra => [client_id => 'signer']),
        scope => 'reports:read', name => 'with a client_id naming the same client');
};

subtest 'introspection and revocation take assertions too' => sub {
    my $token = token_ok(with_assertion(assertion('signer', 'good')), scope => 'reports:read');
    my $r = with_assertion(assertion('signer', 'good', aud => "$issuer/introspect"),
        path => '/introspect', form => [token => $token]);
    is $r->{status}, 200, 'introspection: 200' or diag show($r);
    is $r->{json}{active}, JSON::PP::true, 'the token is active';
    refused_ok(with_assertion(assertion('signer', 'good', aud => "$issuer/token"),
        path => '/introspect', form => [token => $token]), 'introspection: aud of another endpoint',
        qr/aud/);
    $r = with_assertion(assertion('signer', 'good'), path => '/revoke', form => [token => $token]);
    is $r->{status}, 200, 'revocation (aud: the issuer): 200' or diag show($r);
    is $t->bearer_get('/api/reports', $token)->{status}, 401, 'the revoked token is refused';
};

subtest 'a replayed assertion is refused in every worker' => sub {
    my $once = assertion('signer', 'good');
    token_ok(with_assertion($once), scope => 'reports:read', name => 'first use');
    my ($seen, @r) = $t->in_each_worker(sub { with_assertion($once) });
    is scalar(grep { ($seen->{$_} // 0) >= 2 } $t->worker_pids), 2, 'both workers answered';
    is scalar(grep { $_->{status} != 401 } @r), 0, 'every replay: 401';
    refused_ok($r[0], 'a replay', qr/used before/);
};

subtest 'the attacks of RFC 7523 §3 and RFC 8725 §3.1' => sub {
    refused_ok(with_assertion(assertion('signer', 'wrong-aud')), 'aud names another server', qr/aud/);
    refused_ok(with_assertion(assertion('signer', 'exp-far')), 'exp 10 minutes ahead', qr/300 seconds/);
    refused_ok(with_assertion(assertion('signer', 'no-exp')), 'no exp', qr/exp/);
    refused_ok(with_assertion(assertion('signer', 'expired')), 'exp past', qr/exp/);
    refused_ok(with_assertion(assertion('signer', 'no-jti')), 'no jti', qr/jti/);
    refused_ok(with_assertion(assertion('signer', 'iss-not-sub')), 'iss is not sub', qr/iss/);
    refused_ok(with_assertion(assertion('signer', 'alg-none')), 'alg none', qr/not a signed JWT/);
    refused_ok(with_assertion(assertion('signer', 'hs256-public-key')),
        'HS256 keyed with the public key', qr/alg/);
    refused_ok(with_assertion(assertion('signer', 'good', key => 'other')),
        "signed with another client's key (its kid)", qr/kid/);
    my $forged = assertion('signer', 'good', key => 'other');
    $forged =~ s/^[^.]+/OAuthTest::b64_nopad(encode_json({alg => 'ES256', kid => 'signer-key'}))/e;
    refused_ok(with_assertion($forged), "another client's key under this client's kid", qr/signature/);
    refused_ok(with_assertion(assertion('signer', 'good'), extra => [client_id => 'other']),
        'a client_id other than sub');
    refused_ok(with_assertion(assertion('signer', 'good'), type => 'urn:example:other'),
        'an unknown client_assertion_type', qr/client_assertion_type/);
    my $r = with_assertion(assertion('signer', 'good'), extra => [client_secret => 'x']);
    error_ok($r, 400, 'invalid_request', 'an assertion and a secret at once');
};

subtest 'no fallback between secrets and keys' => sub {
    invalid_client_ok($t->token_request(basic => ['signer', 'anything']),
        'a secret for a private_key_jwt client', 'Basic realm="oauth"');
    invalid_client_ok($t->token_request(form => [grant_type => 'client_credentials',
        client_id => 'signer', client_secret => 'anything']), 'the same in the body');
    # A secret client whose id an assertion names, signed by some key.
    refused_ok(with_assertion(assertion('secretive', 'good', key => 'signer')),
        'an assertion for a secret client', qr/not registered for this authentication method/);
    token_ok($t->token_request(basic => ['secretive', $secret]), scope => 'reports:read',
        name => 'the secret client still uses its secret');
};

subtest 'a replay-cache flood of one client leaves another working' => sub {
    # tokens:1m: a replay cache of 32k, some 740 jtis, a quarter per client.
    my @flood = assertions('flood', 'good', count => 200);
    my %status;
    $status{ with_assertion($_)->{status} }++ for @flood;
    ok $status{200} && $status{200} >= 150, "the flood's first assertions pass ($status{200})";
    ok $status{429}, "then its new ones are refused ($status{429} times)" or diag explain \%status;
    my $r = with_assertion(assertion('flood', 'good'));
    error_ok($r, 429, 'temporarily_unavailable', 'the flooding client');
    ok $r->{headers}{'retry-after'}, 'with a Retry-After';
    token_ok(with_assertion(assertion('victim', 'good')), scope => undef,
        name => 'another client still gets tokens') for 1 .. 5;
    like $t->error_log, qr/no room in the replay cache for an assertion of client_id "flood"/,
        'the refusal is logged';
};

subtest 'the metrics count each method and outcome' => sub {
    my $m = $t->request('GET', '/metrics')->{content};
    my $count = sub {
        my ($method, $result) = @_;
        my ($n) = $m =~ /^oauth_client_authentications_total\{zone="tokens",method="$method",result="$result"\} (\d+)$/m;
        return $n // -1;
    };
    cmp_ok $count->('private_key_jwt', 'ok'), '>=', 150, 'private_key_jwt ok';
    cmp_ok $count->('private_key_jwt', 'replayed'), '>=', 4, 'private_key_jwt replayed';
    cmp_ok $count->('private_key_jwt', 'no_room'), '>=', 1, 'private_key_jwt no_room';
    cmp_ok $count->('private_key_jwt', 'failed'), '>=', 10, 'private_key_jwt failed';
    cmp_ok $count->('client_secret_basic', 'ok'), '>=', 1, 'client_secret_basic ok';
};

subtest 'nothing of an assertion reaches the log' => sub {
    my $a = assertion('signer', 'good');
    with_assertion($a);
    with_assertion($a);
    my ($signature) = $a =~ /\.([^.]+)$/;
    unlike $t->error_log, qr/\Q$signature\E/, 'no assertion in the error log';
};

subtest 'real clients: Authlib and oauth4webapi' => sub {
    SKIP: {
        skip 'python3-authlib is missing', 1
            unless system("$python -c 'import authlib.oauth2.rfc7523' >/dev/null 2>&1") == 0;
        local $ENV{AUTHLIB_INSECURE_TRANSPORT} = 1;
        my ($rc, $out) = OAuthTest::run_command(
            [$python, "$FindBin::Bin/interop/authlib_private_key_jwt.py", $issuer, 'signer',
             $pem{signer}, 'ES256'], "$p/logs/authlib.out", 60);
        is $rc, 0, 'Authlib: exits 0' or diag $out;
        like $out, qr/^# all checks passed$/m, 'Authlib: all checks passed' or diag $out;
    }
    SKIP: {
        skip 'node or node_modules/oauth4webapi is missing', 1
            unless -f "$root/node_modules/oauth4webapi/package.json"
            && system('node -e "" >/dev/null 2>&1') == 0;
        my ($rc, $out) = OAuthTest::run_command(
            ['node', "$FindBin::Bin/interop/oauth4webapi_private_key_jwt.mjs", $issuer, 'signer',
             $pem{signer}, 'signer-key', 'ES256'], "$p/logs/oauth4webapi.out", 60);
        is $rc, 0, 'oauth4webapi: exits 0' or diag $out;
        like $out, qr/^# all checks passed$/m, 'oauth4webapi: all checks passed' or diag $out;
    }
};

$t->log_clean_ok;
$t->stop;

subtest 'bad keys fail nginx -t, naming the file and the client' => sub {
    my $bad = OAuthTest->new;
    my $private = jwks('signer');
    $private->{keys}[0]{d} = OAuthTest::b64_nopad('x' x 32);
    for my $case (
        [{jwks => $private}, qr/client "bad": "jwks": key #1 \(kid "signer-key"\): .*private/],
        [{jwks => {keys => [{kty => 'oct', k => 'c2VjcmV0'}]}}, qr/client "bad": "jwks": /],
        [{jwks_file => 'missing.jwks'}, qr/client "bad": "jwks_file" "missing.jwks": cannot open/],
        [{}, qr/client "bad": a private_key_jwt client needs "jwks" or "jwks_file"/],
        [{jwks => jwks('signer'), client_secret_hash => sha256_hash('s')},
         qr/client "bad": a private_key_jwt client has no secret: remove "client_secret_hash"/],
    ) {
        my ($fields, $message) = @$case;
        $bad->write_clients({clients => [{client_id => 'bad', scope => '',
            token_endpoint_auth_method => 'private_key_jwt', %$fields}]});
        my ($rc, $out) =
            $bad->test_config(http => "oauth_token_zone z:1m;\noauth_clients clients.json;\n");
        isnt $rc, 0, 'nginx -t fails';
        like $out, qr/\Q${\ $bad->clients_path}\E:\d+: /, 'naming the file and line';
        like $out, $message, 'and the client and the problem' or diag $out;
    }
    $bad->write_clients({clients => [{client_id => 'keyed', scope => '',
        token_endpoint_auth_method => 'private_key_jwt', jwks => jwks('signer')}]});
    my ($rc, $out) = $bad->test_config(http => <<'CONF');
oauth_token_zone z:1m;
oauth_clients clients.json;
server { listen 127.0.0.1:%%PORT%%; location = /token { oauth_token_endpoint; } }
CONF
    isnt $rc, 0, 'no oauth_issuer: nginx -t fails';
    like $out, qr/oauth_token_endpoint needs oauth_issuer in .*: client "keyed" uses private_key_jwt/,
        'naming the client that needs it' or diag $out;
};

done_testing;
