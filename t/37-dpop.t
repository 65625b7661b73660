# DPoP (RFC 9449; SPEC "Keys instead of shared secrets; sender-constrained
# tokens"), against a real nginx with two workers: the token endpoint
# checks the proof and binds the token to its key (a JWT's cnf.jkt, an opaque
# token's thumbprint kept in the zone), the gate takes `Authorization: DPoP`
# with a proof of that key. Proofs are
# signed by t/interop/dpop_proof.py (PyJWT), right and each way wrong; real
# clients, oauth4webapi and openid-client, go through it with their own DPoP
# handles (t/interop/dpop_clients.mjs), with server nonces too. Every attack
# of the issue: a replayed proof in both workers, a proof for another URL or
# method, a stolen token with the attacker's key, a bound token sent as
# Bearer, an unbound one as DPoP, alg none and HS256, a private key in the
# jwk, a stale or future iat, a missing or wrong ath, two DPoP headers, a
# trusted issuer's cnf.jkt token, htu behind oauth_dpop_origin, and a flood
# of one client's proofs while another keeps working.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use MIME::Base64 qw(decode_base64url);
use Test::More;
use OAuthTest qw(need_module need_python need_or_skip token_ok error_ok sha256_hash random_secret
    show www_authenticate);

need_module();
my $python = need_python('jwt, cryptography', 'python3-jwt');
my $prover = "$FindBin::Bin/interop/dpop_proof.py";
my $idp = "$FindBin::Bin/interop/idp_jwt.py";
my $root = "$FindBin::Bin/..";
my @ALGS = qw(ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA Ed25519);
my $REALM = 'dpop-test';

my $t = OAuthTest->new;
my $p = $t->prefix;
my $port2 = OAuthTest::free_port();
my $base = 'http://127.0.0.1:' . $t->port;
my $base2 = "http://127.0.0.1:$port2";
my $idp_issuer = 'https://idp.example.com/realms/a';

$t->genpkey('signing.pem', 'ES256');
$t->genpkey('idp.pem', 'ES256');
$t->write_file('idp.json', $t->output_of($python, $idp, 'jwks', "$p/idp.pem:idp"));
# DPoP keys: the clients', an attacker's, the flooding client's
my %pem = map { $_ => $t->genpkey("dpop-$_.pem", $_ eq 'rsa' ? 'RS256' : $_ eq 'ed' ? 'EdDSA' : 'ES256') }
    qw(alice rsa ed attacker flood victim);
my %jkt = map { $_ => $t->output_of($python, $prover, 'jkt', $pem{$_}) } keys %pem;
my $keyed_pem = $t->genpkey('keyed.pem', 'ES256');
my $keyed_jwks = $t->output_of($python, "$FindBin::Bin/interop/client_assertion.py", 'jwks',
    $keyed_pem, 'keyed-key');

my %secret = map { $_ => random_secret() } qw(app bound flood victim inspector);
sub secret_client {
    my ($id, %fields) = @_;
    return {client_id => $id, client_secret_hash => sha256_hash($secret{$id}), scope => 'reports:read',
        %fields};
}
$t->write_clients({clients => [
    secret_client('app'),
    secret_client('bound', dpop_bound_access_tokens => JSON::PP::true),
    {client_id => 'keyed', token_endpoint_auth_method => 'private_key_jwt',
     jwks => decode_json($keyed_jwks), scope => 'reports:read'},
]});
# the second server's registry, of its opaque endpoint and the flood's
$t->write_file('clients2.json', JSON::PP->new->canonical->encode({clients => [
    secret_client('app'), secret_client('flood'), secret_client('victim'),
    secret_client('bound', dpop_bound_access_tokens => JSON::PP::true),
    secret_client('inspector', introspection => JSON::PP::true)]}));
mkdir "$p/html";
$t->write_file('html/reports', "ok\n");

$t->write_conf(http => <<"CONF");
oauth_token_zone tokens:4m;
oauth_token_zone small:1m;
oauth_clients clients.json;
oauth_issuer $base;
oauth_signing_key signing.pem;
oauth_realm "$REALM";
oauth_trust_issuer $idp_issuer jwks=idp.json;

server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint zone=tokens format=jwt; add_header X-Worker \$pid always; }
    location = /.well-known/oauth-authorization-server { oauth_metadata; }
    location = /metrics { oauth_metrics; }
    location /api/ {
        oauth_require_scope zone=tokens reports:read;
        alias %%PREFIX%%/html/;
        default_type text/plain;
        add_header X-Worker \$pid always;
    }
    location /behind/ {
        oauth_dpop_origin https://api.example.com;
        oauth_require_scope zone=tokens reports:read;
        alias %%PREFIX%%/html/;
        default_type text/plain;
    }
}

# an opaque endpoint, and a small zone for the replay-cache flood
server {
    listen 127.0.0.1:$port2;
    oauth_clients clients2.json;
    location = /opaque-token { oauth_token_endpoint zone=tokens; }
    location = /introspect { oauth_introspection_endpoint zone=tokens; }
    location = /small/token { oauth_token_endpoint zone=small format=jwt; }
    location /small/api/ {
        oauth_require_scope zone=small reports:read;
        alias %%PREFIX%%/html/;
        default_type text/plain;
    }
}
CONF
$t->start;

# ---- proofs, requests and what they must get -------------------------------------

# COUNT proofs (default 1) by KEY (a name of %pem) for METHOD and URL; the
# other options are dpop_proof.py's (token, nonce, iat, variant, ...).
sub proofs {
    my ($key, $method, $url, %o) = @_;
    my $count = delete $o{count} // 1;
    $o{jwk_of} = $pem{ $o{jwk_of} } if $o{jwk_of};
    return split /\n/, $t->output_of($python, $prover, 'proof', $pem{$key}, $method, $url,
        encode_json(\%o), $count);
}
sub proof { return (proofs(@_))[0] }

# The request of OAuthTest's methods, sent to the second server.
sub at_port2 {
    my ($code) = @_;
    local $t->{port} = $port2;
    return $code->();
}

# A token request of a secret client, with these proofs (none, one, or a list).
sub token_request {
    my ($client, @proofs) = @_;
    my %o = (basic => [$client, $secret{$client}], form => [grant_type => 'client_credentials']);
    $o{headers} = {DPoP => @proofs == 1 ? $proofs[0] : [@proofs]} if @proofs;
    return $t->token_request(%o);
}

sub claims_of { return decode_json(decode_base64url((split /\./, $_[0])[1])) }

# A DPoP token response: 200, token_type DPoP, a JWT bound to KEY's thumbprint.
sub dpop_token_ok {
    my ($r, $key, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= is($r->{json}{token_type}, 'DPoP', "$name: token_type DPoP");
    my $claims = $ok ? eval { claims_of($r->{json}{access_token}) } : undef;
    $ok &&= is($claims->{cnf}{jkt}, $jkt{$key}, "$name: cnf.jkt is the proof key's thumbprint");
    diag('response: ' . show($r)) unless $ok;
    return $r->{json}{access_token};
}

# A token response without binding: token_type Bearer, a JWT with no cnf.
sub bearer_jwt_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= is($r->{json}{token_type}, 'Bearer', "$name: token_type Bearer");
    my $claims = $ok ? eval { claims_of($r->{json}{access_token}) } : undef;
    $ok &&= ok($claims && !exists $claims->{cnf}, "$name: a JWT without cnf");
    diag('response: ' . show($r)) unless $ok;
    return $r->{json}{access_token};
}

# A token bound to KEY, for client app unless said.
sub dpop_token {
    my ($key, $client) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return dpop_token_ok(token_request($client // 'app', proof($key, 'POST', "$base/token")), $key,
        "a token bound to $key");
}

# GET PATH with `Authorization: SCHEME TOKEN` and these DPoP headers.
sub gate_get {
    my ($path, $token, $proofs, %o) = @_;
    my %h = (Authorization => ($o{scheme} // 'DPoP') . " $token");
    $h{DPoP} = @$proofs == 1 ? $proofs->[0] : [@$proofs] if @$proofs;
    return $t->request('GET', $path, {headers => \%h});
}

# GET PATH with TOKEN and a right proof of KEY.
sub with_proof {
    my ($path, $token, $key, %o) = @_;
    return gate_get($path, $token, [proof($key, 'GET', "$base$path", token => $token, %o)]);
}

# The parameters of the DPoP challenge among the response's WWW-Authenticate.
sub dpop_challenge {
    my ($r) = @_;
    my @challenges = map { split /,\s*(?=(?:Bearer|DPoP)\s)/i } www_authenticate($r);
    my ($dpop) = grep {/^DPoP\s/} @challenges or return undef;
    my %param;
    $param{ lc $1 } = $2 while $dpop =~ /([A-Za-z_]+)="((?:[^"\\]|\\.)*)"/g;
    return \%param;
}

# Refused by the gate: 401 and one challenge, DPoP, with the realm, ERROR, a
# description (matching WHY when given) and the algorithms.
sub gate_refused_ok {
    my ($r, $error, $name, $why) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $c = dpop_challenge($r);
    my $ok = is($r->{status}, 401, "$name: 401");
    $ok &&= like(join(' || ', www_authenticate($r)), qr/^DPoP realm="[^|]*$/, "$name: one challenge, DPoP");
    $ok &&= ok($c, "$name: a DPoP challenge");
    $ok &&= is($c->{error}, $error, "$name: error=\"$error\"");
    $ok &&= is($c->{realm}, $REALM, "$name: the realm");
    $ok &&= is($c->{algs}, "@ALGS", "$name: algs");
    $ok &&= like($c->{error_description} // '', qr/^[\x20\x21\x23-\x5b\x5d-\x7e]+$/,
        "$name: an error_description");
    $ok &&= like($c->{error_description}, $why, "$name: the description names $why") if $why;
    $ok &&= isnt($r->{content}, "ok\n", "$name: not the protected content");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

sub passed_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $ok = is($r->{status}, 200, "$name: 200");
    $ok &&= is($r->{content}, "ok\n", "$name: the protected content");
    diag('response: ' . show($r)) unless $ok;
    return $ok;
}

sub proof_refused_ok {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return error_ok($r, 400, 'invalid_dpop_proof', $name);
}

# ---- the token endpoint ----------------------------------------------------------

subtest 'metadata: dpop_signing_alg_values_supported' => sub {
    my $r = $t->request('GET', '/.well-known/oauth-authorization-server');
    is $r->{status}, 200, 'the metadata' or diag show($r);
    is_deeply $r->{json}{dpop_signing_alg_values_supported}, \@ALGS, 'the ten asymmetric algorithms';
};

subtest 'a proof gets a DPoP token bound to its key; the key opens the gate' => sub {
    for my $key (qw(alice rsa ed)) {
        my $token = dpop_token($key);
        passed_ok(with_proof('/api/reports', $token, $key), "$key: the token with a proof");
    }
    my $token = dpop_token_ok(token_request('bound', proof('alice', 'POST', "$base/token")), 'alice',
        'a dpop_bound_access_tokens client');
    passed_ok(with_proof('/api/reports', $token, 'alice'), 'its token with a proof');
    passed_ok(gate_get('/api/reports?page=2', $token,
        [proof('alice', 'GET', "$base/api/reports", token => $token)]), 'htu leaves out the query');
    passed_ok(gate_get('/api/reports', $token,
        [proof('alice', 'GET', "HTTP://127.0.0.1:${\ $t->port}/api/reports", token => $token)]),
        'htu: the scheme compared in lower case');
    my $fresh = dpop_token('alice');
    passed_ok(with_proof('/api/reports', $fresh, 'alice', iat => -40), 'a proof 40 s old');
    passed_ok(with_proof('/api/reports', $fresh, 'alice', iat => 15), 'a proof 15 s ahead');
    dpop_token_ok(token_request('app', proof('alice', 'POST', "$base/token", jti => 'j' x 256)), 'alice',
        'a jti of 256 bytes');
    bearer_jwt_ok(token_request('app'), 'no proof: a Bearer token');
    my $r = $t->token_request(form => [grant_type => 'client_credentials',
        client_assertion_type => 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion => $t->output_of($python, "$FindBin::Bin/interop/client_assertion.py", 'sign',
            $keyed_pem, 'keyed-key', 'keyed', $base, 'good')],
        headers => {DPoP => proof('alice', 'POST', "$base/token")});
    dpop_token_ok($r, 'alice', 'private_key_jwt and a proof');
};

subtest 'the token endpoint refuses a bad proof with 400 invalid_dpop_proof' => sub {
    proof_refused_ok(token_request('bound'), 'a dpop_bound_access_tokens client without a proof');
    my $url = "$base/token";
    my %bad = (
        'a proof for GET'                => [qr/htm/, proof('alice', 'GET', $url)],
        'a proof for another URL'        => [qr/htu/, proof('alice', 'POST', "$base/other/token")],
        'a proof for another port'       => [qr/htu/, proof('alice', 'POST', "$base2/token")],
        'alg none'                       => [qr/alg/, proof('alice', 'POST', $url, variant => 'alg-none')],
        'HS256 with an oct jwk'          => [qr/alg/, proof('alice', 'POST', $url, variant => 'hs256-oct')],
        'HS256 keyed with the public key' =>
            [qr/alg/, proof('alice', 'POST', $url, variant => 'hs256-public-key')],
        'a jwk with the private key d'   => [qr/jwk/, proof('alice', 'POST', $url, variant => 'private-jwk')],
        'signed by a key not its jwk'    =>
            [qr/signature/, proof('attacker', 'POST', $url, jwk_of => 'alice')],
        'iat 5 minutes old'              => [qr/iat/, proof('alice', 'POST', $url, iat => -300)],
        'iat 5 minutes ahead'            => [qr/iat/, proof('alice', 'POST', $url, iat => 300)],
        'typ JWT'                        => [qr/typ/, proof('alice', 'POST', $url, header => {typ => 'JWT'})],
        'no jti'                         => [qr/jti/, proof('alice', 'POST', $url, drop => ['jti'])],
        'a jti of 257 bytes'             => [qr/jti/, proof('alice', 'POST', $url, jti => 'j' x 257)],
        'no htu'                         => [qr/htu/, proof('alice', 'POST', $url, drop => ['htu'])],
        'two DPoP headers'               =>
            [qr/more than one DPoP header/, proofs('alice', 'POST', $url, count => 2)],
        'a proof that is no JWT'         => [qr/./, 'not-a-jwt'],
    );
    for my $name (sort keys %bad) {
        my ($why, @proofs) = @{ $bad{$name} };
        my $r = token_request('bound', @proofs);
        proof_refused_ok($r, $name)
            and like $r->{json}{error_description}, $why, "$name: the description names $why";
        is token_request('app', @proofs)->{status}, 400, "$name: refused for a client free to use DPoP too";
    }
    my $once = proof('alice', 'POST', $url);
    dpop_token_ok(token_request('bound', $once), 'alice', 'a proof used once');
    my $r = token_request('bound', $once);
    proof_refused_ok($r, 'the same proof again')
        and like $r->{json}{error_description}, qr/used before/, 'the same proof again: says so';
};

subtest 'a replayed proof is refused in both workers' => sub {
    my $once = proof('alice', 'POST', "$base/token");
    dpop_token_ok(token_request('app', $once), 'alice', 'at the token endpoint: first use');
    my ($seen, @r) = $t->in_each_worker(sub { token_request('app', $once) });
    is scalar(grep { ($seen->{$_} // 0) >= 2 } $t->worker_pids), 2, 'token endpoint: both workers answered';
    is_deeply [grep { $_ != 400 } map { $_->{status} } @r], [], 'token endpoint: every replay 400';
    proof_refused_ok($r[0], 'token endpoint: a replay')
        and like $r[0]{json}{error_description}, qr/used before/, 'token endpoint: says so';

    my $token = dpop_token('alice');
    my $gate_once = proof('alice', 'GET', "$base/api/reports", token => $token);
    passed_ok(gate_get('/api/reports', $token, [$gate_once]), 'at the gate: first use');
    ($seen, @r) = $t->in_each_worker(sub { gate_get('/api/reports', $token, [$gate_once]) });
    is scalar(grep { ($seen->{$_} // 0) >= 2 } $t->worker_pids), 2, 'gate: both workers answered';
    is_deeply [grep { $_ != 401 } map { $_->{status} } @r], [], 'gate: every replay 401';
    gate_refused_ok($r[0], 'invalid_dpop_proof', 'gate: a replay', qr/used before/);
};

# ---- the gate ----------------------------------------------------------------------

subtest 'the gate refuses a bad proof: 401 DPoP error="invalid_dpop_proof"' => sub {
    my $token = dpop_token('alice');
    my $url = "$base/api/reports";
    my $of = sub { proof('alice', 'GET', $url, token => $token, @_) };
    my %bad = (
        'no proof'                        => [qr/required/],
        'a proof for POST'                => [qr/htm/, proof('alice', 'POST', $url, token => $token)],
        'a proof for another URL'         => [qr/htu/, proof('alice', 'GET', "$url/x", token => $token)],
        "a stolen token, the attacker's key" =>
            [qr/bound to/, proof('attacker', 'GET', $url, token => $token)],
        'no ath'                          => [qr/ath/, proof('alice', 'GET', $url)],
        'the ath of another token'        => [qr/ath/, $of->(token => dpop_token('alice'))],
        'alg none'                        => [qr/alg/, $of->(variant => 'alg-none')],
        'HS256 with an oct jwk'           => [qr/alg/, $of->(variant => 'hs256-oct')],
        'HS256 keyed with the public key' => [qr/alg/, $of->(variant => 'hs256-public-key')],
        'a jwk with the private key d'    => [qr/jwk/, $of->(variant => 'private-jwk')],
        'iat 5 minutes old'               => [qr/iat/, $of->(iat => -300)],
        'iat 5 minutes ahead'             => [qr/iat/, $of->(iat => 300)],
        'two DPoP headers'                =>
            [qr/more than one DPoP header/, proofs('alice', 'GET', $url, token => $token, count => 2)],
    );
    for my $name (sort keys %bad) {
        my ($why, @proofs) = @{ $bad{$name} };
        gate_refused_ok(gate_get('/api/reports', $token, \@proofs), 'invalid_dpop_proof', $name, $why);
    }
    passed_ok(with_proof('/api/reports', $token, 'alice'), 'the token still works with a right proof');
};

subtest 'the scheme must match the binding: invalid_token' => sub {
    my $bound = dpop_token('alice');
    gate_refused_ok(gate_get('/api/reports', $bound, [], scheme => 'Bearer'), 'invalid_token',
        'a DPoP-bound token sent as Bearer');
    gate_refused_ok(gate_get('/api/reports', $bound,
        [proof('alice', 'GET', "$base/api/reports", token => $bound)], scheme => 'Bearer'),
        'invalid_token', 'the same with a proof beside it');
    my $unbound = bearer_jwt_ok(token_request('app'), 'an unbound JWT');
    gate_refused_ok(with_proof('/api/reports', $unbound, 'alice'), 'invalid_token',
        'an unbound JWT sent as DPoP');
    my $r = at_port2(sub { $t->token_request(basic => ['app', $secret{app}], path => '/opaque-token') });
    my $opaque = token_ok($r, scope => 'reports:read', name => 'an opaque token without a proof');
    gate_refused_ok(with_proof('/api/reports', $opaque, 'alice'), 'invalid_token',
        'an unbound opaque token sent as DPoP');
    is $t->bearer_get('/api/reports', $opaque)->{status}, 200, 'the opaque token as Bearer works';
};

# An opaque token from the second server's endpoint, with these proofs.
sub opaque_request {
    my ($client, @proofs) = @_;
    my %o = (basic => [$client, $secret{$client}], path => '/opaque-token');
    $o{headers} = {DPoP => $proofs[0]} if @proofs;
    return at_port2(sub { $t->token_request(%o) });
}

subtest 'an opaque DPoP-bound token: the zone keeps its key thumbprint' => sub {
    my $r = opaque_request('app', proof('alice', 'POST', "$base2/opaque-token"));
    is $r->{status}, 200, 'issued' or diag show($r);
    is $r->{json}{token_type}, 'DPoP', 'token_type DPoP';
    my $opaque = $r->{json}{access_token};
    unlike $opaque, qr/\./, 'an opaque token';
    my $first = proof('alice', 'GET', "$base/api/reports", token => $opaque);
    passed_ok(gate_get('/api/reports', $opaque, [$first]), 'with a proof of its key');
    gate_refused_ok(gate_get('/api/reports', $opaque, [$first]), 'invalid_dpop_proof',
        'the same proof again', qr/jti|replay|used/i);
    gate_refused_ok(gate_get('/api/reports', $opaque, [], scheme => 'Bearer'), 'invalid_token',
        'sent as Bearer');
    gate_refused_ok(gate_get('/api/reports', $opaque, []), 'invalid_dpop_proof', 'no proof');
    gate_refused_ok(with_proof('/api/reports', $opaque, 'attacker'), 'invalid_dpop_proof',
        "with the attacker's key");
    $r = at_port2(sub { $t->token_request(basic => ['inspector', $secret{inspector}],
        path => '/introspect', form => [token => $opaque]) });
    my $answer = $r->{json} // {};
    ok $answer->{active}, 'introspection: active' or diag show($r);
    is $answer->{token_type}, 'DPoP', 'introspection: token_type DPoP';
    is $answer->{cnf}{jkt}, $jkt{alice}, "introspection: cnf.jkt is the proof key's thumbprint";

    proof_refused_ok(opaque_request('app', proof('alice', 'POST', "$base2/elsewhere")),
        'a proof for another URL');
    proof_refused_ok(opaque_request('bound'), 'a dpop_bound client without a proof');
    $r = opaque_request('bound', proof('rsa', 'POST', "$base2/opaque-token"));
    is $r->{status}, 200, 'the dpop_bound client with a proof' or diag show($r);
    is $r->{json}{token_type}, 'DPoP', 'gets a DPoP token';
    passed_ok(with_proof('/api/reports', $r->{json}{access_token}, 'rsa'), 'which opens the gate');
};

subtest "a trusted issuer's cnf.jkt token needs the proof too" => sub {
    my $claims = encode_json({cnf => {jkt => $jkt{alice}}, scp => ['reports:read']});
    my $token = $t->output_of($python, $idp, 'token', "$p/idp.pem", 'idp', $idp_issuer, $claims);
    passed_ok(with_proof('/api/reports', $token, 'alice'), 'with a proof of its key');
    gate_refused_ok(gate_get('/api/reports', $token, [], scheme => 'Bearer'), 'invalid_token',
        'sent as Bearer');
    gate_refused_ok(gate_get('/api/reports', $token, []), 'invalid_dpop_proof', 'sent as DPoP, no proof');
    gate_refused_ok(with_proof('/api/reports', $token, 'attacker'), 'invalid_dpop_proof',
        "with the attacker's key");
    my $plain = $t->output_of($python, $idp, 'token', "$p/idp.pem", 'idp', $idp_issuer,
        encode_json({scp => ['reports:read']}));
    gate_refused_ok(with_proof('/api/reports', $plain, 'alice'), 'invalid_token',
        'its token without cnf sent as DPoP');
};

subtest 'oauth_dpop_origin: proofs name the external URL' => sub {
    my $token = dpop_token('alice');
    my $proof_for =
        sub { gate_get('/behind/reports', $token, [proof('alice', 'GET', $_[0], token => $token)]) };
    passed_ok($proof_for->('https://api.example.com/behind/reports'), 'htu of the external origin');
    passed_ok($proof_for->('HTTPS://API.Example.COM:443/behind/reports'),
        'scheme and host in upper case, the default port');
    gate_refused_ok($proof_for->("$base/behind/reports"), 'invalid_dpop_proof', 'htu of the request');
    gate_refused_ok($proof_for->('https://api.example.com:8443/behind/reports'), 'invalid_dpop_proof',
        'another port');
    gate_refused_ok($proof_for->('http://api.example.com/behind/reports'), 'invalid_dpop_proof',
        'another scheme');
};

# ---- the replay cache --------------------------------------------------------------

subtest 'a replay-cache flood of one client leaves another working' => sub {
    my $url = "$base2/small/token";
    my $request = sub {
        my ($client, $proof) = @_;
        return at_port2(sub { $t->token_request(path => '/small/token',
            basic => [$client, $secret{$client}], headers => {DPoP => $proof}) });
    };
    my $flood_token = dpop_token_ok($request->('flood', proof('flood', 'POST', $url)), 'flood',
        "the flooding client's first token");
    # small:1m: a replay cache of some 740 jtis, a quarter of it per client
    my %status;
    $status{ $request->('flood', $_)->{status} }++ for proofs('flood', 'POST', $url, count => 300);
    ok $status{200} && $status{200} >= 150, 'the first proofs pass (' . ($status{200} // 0) . ')';
    ok $status{429}, 'then new ones are refused (' . ($status{429} // 0) . ')' or diag explain \%status;
    my $r = $request->('flood', proof('flood', 'POST', $url));
    error_ok($r, 429, 'temporarily_unavailable', 'the flooding client at the token endpoint');
    like $r->{headers}{'retry-after'} // '', qr/^\d+$/, 'with a Retry-After';
    $r = at_port2(sub { gate_get('/small/api/reports', $flood_token,
        [proof('flood', 'GET', "$base2/small/api/reports", token => $flood_token)]) });
    is $r->{status}, 429, 'the flooding client at the gate: 429' or diag show($r);
    like $r->{headers}{'retry-after'} // '', qr/^\d+$/, 'with a Retry-After';
    ok !defined $r->{headers}{'www-authenticate'},
        'and no challenge: its credentials were not refused' or diag show($r);
    for my $n (1 .. 5) {
        my $token = dpop_token_ok($request->('victim', proof('victim', 'POST', $url)), 'victim',
            "another client's token $n");
        passed_ok(at_port2(sub { gate_get('/small/api/reports', $token,
            [proof('victim', 'GET', "$base2/small/api/reports", token => $token)]) }),
            "another client at the gate $n");
    }
};

# ---- real clients ------------------------------------------------------------------

sub node_ready {
    return -f "$root/node_modules/oauth4webapi/package.json"
        && -f "$root/node_modules/openid-client/package.json"
        && system('node -e "" >/dev/null 2>&1') == 0;
}

# dpop_clients.mjs with LIBRARY, CLIENT, AUTH and DPOP_ALG against ISSUER.
sub real_client_ok {
    my ($server, $issuer, $library, $client, $auth, $alg, @mode) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out) = OAuthTest::run_command(['node', "$FindBin::Bin/interop/dpop_clients.mjs", $library,
        $issuer, $client, $auth, "$issuer/api/reports", $alg, @mode], $server->prefix . '/logs/node.out', 60);
    my $name = "$library, $client, DPoP key $alg" . (@mode ? ", @mode" : '');
    is $rc, 0, "$name: exits 0" or diag $out;
    like $out, qr/^# all checks passed$/m, "$name: all checks passed" or diag $out;
}

subtest 'real clients: oauth4webapi and openid-client' => sub {
    SKIP: {
        skip 'node or node_modules (npm ci) is missing', 1 unless node_ready();
        real_client_ok($t, $base, 'oauth4webapi', 'app', "secret:$secret{app}", 'ES256');
        real_client_ok($t, $base, 'oauth4webapi', 'keyed', "private_key_jwt:$keyed_pem:keyed-key", 'PS256');
        real_client_ok($t, $base, 'openid-client', 'bound', "secret:$secret{bound}", 'EdDSA');
        real_client_ok($t, $base, 'oauth4webapi', 'bound', "secret:$secret{bound}", 'ES384');
        real_client_ok($t, $base, 'openid-client', 'keyed', "private_key_jwt:$keyed_pem:keyed-key", 'ES256');
    }
};

# ---- what an operator sees ---------------------------------------------------------

subtest 'the metrics count each outcome' => sub {
    my $m = $t->request('GET', '/metrics')->{content};
    my $count = sub {
        my ($zone, $where, $result) = @_;
        my ($n) = $m =~ /^oauth_dpop_proofs_total\{zone="$zone",where="$where",result="$result"\} (\d+)$/m;
        return $n // -1;
    };
    cmp_ok $count->('tokens', 'token_endpoint', 'ok'), '>=', 10, 'token endpoint: ok';
    cmp_ok $count->('tokens', 'token_endpoint', 'invalid'), '>=', 10, 'token endpoint: invalid';
    cmp_ok $count->('tokens', 'token_endpoint', 'replayed'), '>=', 4, 'token endpoint: replayed';
    cmp_ok $count->('tokens', 'gate', 'ok'), '>=', 10, 'gate: ok';
    cmp_ok $count->('tokens', 'gate', 'invalid'), '>=', 10, 'gate: invalid';
    cmp_ok $count->('tokens', 'gate', 'replayed'), '>=', 4, 'gate: replayed';
    cmp_ok $count->('small', 'token_endpoint', 'no_room'), '>=', 1, 'token endpoint: no_room';
    cmp_ok $count->('small', 'gate', 'no_room'), '>=', 1, 'gate: no_room';
};

subtest 'no proof or token reaches the log' => sub {
    my $token = dpop_token('alice');
    my $once = proof('alice', 'GET', "$base/api/reports", token => $token);
    gate_get('/api/reports', $token, [$once]) for 1 .. 2;
    my ($proof_signature) = $once =~ /\.([^.]+)$/;
    my ($token_signature) = $token =~ /\.([^.]+)$/;
    my $log = $t->error_log;
    unlike $log, qr/\Q$proof_signature\E/, 'no proof in the error log';
    unlike $log, qr/\Q$token_signature\E/, 'no token in the error log';
};

$t->log_clean_ok;
$t->stop;

# ---- server nonces -----------------------------------------------------------------

my $n = OAuthTest->new;
my $nbase = 'http://127.0.0.1:' . $n->port;
$n->genpkey('signing.pem', 'ES256');
$n->write_clients({clients => [
    secret_client('app'),
    {client_id => 'keyed', token_endpoint_auth_method => 'private_key_jwt',
     jwks => decode_json($keyed_jwks), scope => 'reports:read'},
]});
mkdir $n->prefix . '/html';
$n->write_file('html/reports', "ok\n");
$n->write_conf(http => <<"CONF");
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_issuer $nbase;
oauth_signing_key signing.pem;
oauth_realm "$REALM";
oauth_dpop_nonce on;

server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint format=jwt; add_header X-Worker \$pid always; }
    location = /.well-known/oauth-authorization-server { oauth_metadata; }
    location = /.well-known/oauth-protected-resource { oauth_resource_metadata; }
    location = /metrics { oauth_metrics; }
    location /api/ {
        oauth_require_scope reports:read;
        alias %%PREFIX%%/html/;
        default_type text/plain;
        add_header X-Worker \$pid always;
    }
}
CONF
$n->start;

subtest 'oauth_dpop_nonce on: use_dpop_nonce, then the nonce works in every worker' => sub {
    my $token_with = sub {
        my (%o) = @_;
        return $n->token_request(basic => ['app', $secret{app}],
            headers => {DPoP => proof('alice', 'POST', "$nbase/token", %o)});
    };
    my $r = $token_with->();
    error_ok($r, 400, 'use_dpop_nonce', 'token endpoint, a proof without nonce');
    my $nonce = $r->{headers}{'dpop-nonce'};
    like $nonce // '', qr/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a DPoP-Nonce header' or diag show($r);
    error_ok($token_with->(nonce => 'not-the-nonce'), 400, 'use_dpop_nonce', 'a wrong nonce');
    $r = $token_with->(nonce => $nonce);
    my $token = dpop_token_ok($r, 'alice', 'the proof with the nonce');
    ok $r->{headers}{'dpop-nonce'}, 'a DPoP-Nonce on the success too';

    my $gate = sub {
        my (%o) = @_;
        return $n->request('GET', '/api/reports', {headers => {Authorization => "DPoP $token",
            DPoP => proof('alice', 'GET', "$nbase/api/reports", token => $token, %o)}});
    };
    $r = $gate->();
    is $r->{status}, 401, 'gate, a proof without nonce: 401' or diag show($r);
    is +(dpop_challenge($r) // {})->{error}, 'use_dpop_nonce', 'gate: DPoP error="use_dpop_nonce"';
    ok $r->{headers}{'dpop-nonce'}, 'gate: a DPoP-Nonce header';
    my ($seen, @r) = $n->in_each_worker(sub { $gate->(nonce => $nonce) });
    is scalar(grep { ($seen->{$_} // 0) >= 2 } $n->worker_pids), 2, 'both workers answered';
    is_deeply [grep { $_ != 200 } map { $_->{status} } @r], [], 'the nonce is good in each worker';
    ($seen, @r) = $n->in_each_worker(sub { $token_with->(nonce => $nonce) });
    is_deeply [grep { $_ != 200 } map { $_->{status} } @r], [], 'at the token endpoint too';

    my $m = $n->request('GET', '/metrics')->{content};
    like $m, qr/^oauth_dpop_proofs_total\{zone="tokens",where="token_endpoint",result="nonce"\} [1-9]/m,
        'metric: token endpoint nonce';
    like $m, qr/^oauth_dpop_proofs_total\{zone="tokens",where="gate",result="nonce"\} [1-9]/m,
        'metric: gate nonce';
};

subtest 'RFC 9728 metadata names DPoP' => sub {
    my $r = $n->request('GET', '/.well-known/oauth-protected-resource');
    is $r->{status}, 200, 'the document' or diag show($r);
    is_deeply $r->{json}{dpop_signing_alg_values_supported}, \@ALGS, 'dpop_signing_alg_values_supported';
    is $r->{json}{dpop_bound_access_tokens_required}, JSON::PP::false,
        'dpop_bound_access_tokens_required false';
};

subtest 'real clients recover from use_dpop_nonce by themselves' => sub {
    SKIP: {
        skip 'node or node_modules (npm ci) is missing', 1 unless node_ready();
        real_client_ok($n, $nbase, 'oauth4webapi', 'app', "secret:$secret{app}", 'ES256', 'nonce');
        real_client_ok($n, $nbase, 'openid-client', 'keyed', "private_key_jwt:$keyed_pem:keyed-key",
            'ES256', 'nonce');
    }
};

$n->log_clean_ok;
$n->stop;

# ---- configuration -----------------------------------------------------------------

subtest 'oauth-client-entry --dpop-bound' => sub {
    my $cmd = $ENV{OAUTH_CLIENT_ENTRY};
    plan skip_all => 'OAUTH_CLIENT_ENTRY is not set' unless $cmd && -x $cmd;
    # stdout only: the secret it makes is shown on stderr
    my ($rc, $out) = OAuthTest::run_command(['sh', '-c', '"$0" "$@" 2>/dev/null', $cmd, '--dpop-bound',
        '--scope', 'reports:read', 'holder'], "$p/logs/entry.out");
    is $rc, 0, 'exit 0' or diag $out;
    my $entry = eval { decode_json($out) } // {};
    is $entry->{client_id}, 'holder', 'the entry';
    is $entry->{dpop_bound_access_tokens}, JSON::PP::true, 'dpop_bound_access_tokens: true';
};

done_testing;
