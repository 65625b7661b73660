# JWT access tokens (SPEC "JWT access tokens"): oauth_signing_key, the token
# endpoint's format=jwt, oauth_jwks and jwks_uri. Tokens of each algorithm are
# verified by PyJWT (t/interop/pyjwt_verify.py) against the JWK Set it reads
# over HTTP; two keys rotate; every nginx -t error of the keys.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA;
use JSON::PP;
use MIME::Base64 qw(decode_base64url encode_base64url);
use Test::More;
use OAuthTest qw(need_module need_python sha256_hash random_secret basic_credentials show);

need_module();

my $python = need_python('jwt, cryptography', 'python3-jwt');
my $verifier = "$FindBin::Bin/interop/pyjwt_verify.py";

my $secret = random_secret();
my $t = OAuthTest->new(clients => {clients => [
    {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write',
     default_scope => 'read'},
    {client_id => 'bare', client_secret_hash => sha256_hash($secret), scope => ''},
]});
my $p = $t->prefix;

$t->genpkey('es.pem', 'ES256');
$t->genpkey('es2.pem', 'ES256');
$t->genpkey('rs.pem', 'RS256');
$t->genpkey('ed.pem', 'EdDSA');
$t->genpkey('rs1024.pem', qw(-algorithm RSA -pkeyopt rsa_keygen_bits:1024));
$t->genpkey('p384.pem', qw(-algorithm EC -pkeyopt ec_paramgen_curve:P-384));
$t->genpkey('ed448.pem', qw(-algorithm ED448));
(OAuthTest::run_command(['openssl', 'pkey', '-in', "$p/es.pem", '-pubout', '-out', "$p/es.pub.pem"],
    "$p/logs/openssl.out"))[0] == 0 or die 'openssl pkey -pubout failed';

my %port = (es => $t->port, rs => OAuthTest::free_port(), ed => OAuthTest::free_port());
my %alg_of = (es => 'ES256', rs => 'RS256', ed => 'EdDSA');

sub server {
    my ($alg, $keys) = @_;
    return <<"CONF";
server {
    listen 127.0.0.1:$port{$alg};
    oauth_issuer http://127.0.0.1:$port{$alg};
    $keys
    location = /token { oauth_token_endpoint format=jwt; }
    location = /opaque { oauth_token_endpoint; }
    location = /jwks { oauth_jwks; }
    location = /.well-known/oauth-authorization-server { oauth_metadata; }
}
CONF
}

my $http = "oauth_token_zone tokens:1m;\noauth_clients clients.json;\n"
    . server(es => 'oauth_signing_key es.pem kid=es-1;')
    . server(rs => 'oauth_signing_key rs.pem;')
    . server(ed => 'oauth_signing_key ed.pem kid=ed-1;');
$t->write_conf(http => $http);
$t->start;

sub token_on {
    my ($alg, %o) = @_;
    my $r = $t->agent->request('POST', "http://127.0.0.1:$port{$alg}" . ($o{path} // '/token'), {
        headers => {'Content-Type' => 'application/x-www-form-urlencoded',
                    Authorization => basic_credentials($o{client} // 'app', $secret)},
        content => $o{form} // 'grant_type=client_credentials'});
    $r->{json} = OAuthTest::decode_json_or_undef($r->{content});
    return $r;
}

sub jwt_parts {
    my ($token) = @_;
    my ($h, $c) = split /\./, $token;
    return (decode_json(decode_base64url($h)), decode_json(decode_base64url($c)));
}

# Each token through PyJWT, which fetches the JWK Set from $jwks_url.
sub pyjwt_verify {
    my ($jwks_url, $issuer, @tokens) = @_;
    my $in = "$p/tokens.txt";
    open my $fh, '>', $in or die $!;
    print $fh "$_\n" for @tokens;
    close $fh;
    my ($rc, $out) = OAuthTest::run_command(
        ['/bin/sh', '-c', "$python $verifier '$jwks_url' '$issuer' < '$in'"],
        "$p/logs/pyjwt.out", 30);
    is $rc, 0, 'pyjwt_verify.py exits 0' or diag $out;
    return map { decode_json($_) } grep { /^\{/ } split /\n/, $out;
}

for my $alg (qw(es rs ed)) {
    subtest "$alg_of{$alg}: PyJWT verifies our token against our JWKS" => sub {
        my $issuer = "http://127.0.0.1:$port{$alg}";
        my $r = token_on($alg, form => 'grant_type=client_credentials&scope=read%20write');
        is $r->{status}, 200, 'token endpoint 200' or diag show($r);
        my $j = $r->{json} // {};
        is_deeply [sort keys %$j], [qw(access_token expires_in scope token_type)],
            'the fields of an opaque token response';
        is $j->{token_type}, 'Bearer', 'token_type Bearer';
        is $j->{expires_in}, 3600, 'expires_in';
        my ($v) = pyjwt_verify("$issuer/jwks", $issuer, $j->{access_token});
        ok !$v->{error}, 'PyJWT accepts it' or diag $v->{error};
        my ($h, $c) = ($v->{header} // {}, $v->{claims} // {});
        is_deeply [sort keys %$h], [qw(alg kid typ)], 'header alg, typ, kid';
        is $h->{alg}, $alg_of{$alg}, "header alg $alg_of{$alg}";
        is $h->{typ}, 'at+jwt', 'header typ at+jwt';
        is_deeply [sort keys %$c], [qw(aud client_id exp iat iss jti scope sub)],
            'exactly the claims the spec lists';
        is $c->{iss}, $issuer, 'iss is oauth_issuer';
        is $c->{sub}, 'app', 'sub is the client';
        is $c->{client_id}, 'app', 'client_id is the client';
        is $c->{aud}, $issuer, 'aud is the issuer';
        is $c->{exp} - $c->{iat}, 3600, 'exp is iat + ttl';
        ok abs($c->{iat} - time) < 60, 'iat is now';
        is $c->{scope}, 'read write', 'scope';
        cmp_ok length(decode_base64url($c->{jti} // '')), '>=', 16, 'jti of 128 bits or more';
    };
}

subtest 'kid defaults to the RFC 7638 thumbprint; the JWKS has no private parameter' => sub {
    my $issuer = "http://127.0.0.1:$port{rs}";
    my $jwks = $t->agent->get("$issuer/jwks");
    is $jwks->{status}, 200, 'GET /jwks 200';
    my $set = decode_json($jwks->{content});
    is scalar @{ $set->{keys} }, 1, 'one key';
    my $k = $set->{keys}[0];
    is_deeply [sort keys %$k], [qw(alg e kid kty n use)], 'kty, kid, alg, use and n, e only';
    my $canonical = qq({"e":"$k->{e}","kty":"RSA","n":"$k->{n}"});
    my $thumb = encode_base64url(Digest::SHA::sha256($canonical));
    is $k->{kid}, $thumb, 'kid is the thumbprint';
    my ($h) = jwt_parts(token_on('rs')->{json}{access_token});
    is $h->{kid}, $thumb, 'the token names it';
    for my $alg (qw(es ed)) {
        my $s = decode_json($t->agent->get("http://127.0.0.1:$port{$alg}/jwks")->{content});
        is_deeply [sort keys %{ $s->{keys}[0] }], [qw(alg crv kid kty use x), $alg eq 'es' ? 'y' : ()],
            "$alg: the public members only";
        is $s->{keys}[0]{use}, 'sig', "$alg: use sig";
    }
    is $t->agent->request('POST', "$issuer/jwks")->{status}, 405, 'POST /jwks 405';
};

subtest 'no scope: no scope claim; the opaque endpoint still issues opaque tokens' => sub {
    my $r = token_on('es', client => 'bare');
    is $r->{status}, 200, 'token endpoint 200';
    ok !exists $r->{json}{scope}, 'no scope in the response';
    my (undef, $c) = jwt_parts($r->{json}{access_token});
    ok !exists $c->{scope}, 'no scope claim';
    my $o = token_on('es', path => '/opaque');
    like $o->{json}{access_token}, qr/^[A-Za-z0-9_-]{43}$/, 'opaque token';
};

subtest 'metadata names the JWK Set' => sub {
    my $issuer = "http://127.0.0.1:$port{ed}";
    my $m = decode_json($t->agent->get("$issuer/.well-known/oauth-authorization-server")->{content});
    is $m->{jwks_uri}, "$issuer/jwks", 'jwks_uri';
};

subtest 'rotation: tokens of the old key still verify after the new one signs' => sub {
    my $issuer = "http://127.0.0.1:$port{es}";
    my $old = token_on('es')->{json}{access_token};
    my $rotated = $http =~ s{oauth_signing_key es.pem kid=es-1;}
        {oauth_signing_key es2.pem kid=es-2;\n    oauth_signing_key es.pem kid=es-1;}r;
    ok $t->reload(http => $rotated), 'reload with a new first key';
    my $new = token_on('es')->{json}{access_token};
    is +(jwt_parts($new))[0]{kid}, 'es-2', 'the new key signs';
    is +(jwt_parts($old))[0]{kid}, 'es-1', 'the old token names the old key';
    my $set = decode_json($t->agent->get("$issuer/jwks")->{content});
    is_deeply [map { $_->{kid} } @{ $set->{keys} }], [qw(es-2 es-1)], 'both are published';
    my @v = pyjwt_verify("$issuer/jwks", $issuer, $old, $new);
    ok !$v[0]{error}, 'the old token verifies' or diag $v[0]{error};
    ok !$v[1]{error}, 'the new token verifies' or diag $v[1]{error};
};

$t->log_clean_ok;
$t->stop;

# ---- nginx -t --------------------------------------------------------------------

sub conf_with {
    my ($server_lines, $location) = @_;
    $location //= 'location = /token { oauth_token_endpoint format=jwt; }';
    return "oauth_token_zone tokens:1m;\noauth_clients clients.json;\n"
        . "server {\n    listen 127.0.0.1:%%PORT%%;\n    $server_lines\n    $location\n}\n";
}

sub fails_ok {
    my ($name, $conf, @like) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my ($rc, $out) = $t->test_config(http => $conf);
    my $ok = isnt($rc, 0, "$name: nginx -t fails");
    $ok &&= like($out, qr/\[emerg\]/, "$name: [emerg]");
    for my $re (@like) {
        $ok &&= like($out, $re, "$name: says $re");
    }
    diag $out unless $ok;
}

# The http snippet starts on line 19 of nginx.conf: the server's lines follow.
my ($rc0, $out0) = $t->test_config(http => conf_with("oauth_signing_key missing.pem;"));
my ($key_line) = $out0 =~ /\[emerg\].*?nginx\.conf:(\d+)/;
my $iss = 'oauth_issuer http://127.0.0.1:%%PORT%%;';
sub at { my ($n) = @_; return qr{in \Q$p\E/nginx\.conf:$n\b} }
my $line = $key_line + 1;    # with the oauth_issuer line before the key

fails_ok('an unreadable file', conf_with("$iss\n    oauth_signing_key missing.pem;"),
    qr/cannot open "\Q$p\E\/missing\.pem"/, at($line));
fails_ok('an EC key of another curve', conf_with("$iss\n    oauth_signing_key p384.pem;"),
    qr/P-256/, at($line));
fails_ok('an unsupported key type', conf_with("$iss\n    oauth_signing_key ed448.pem;"),
    qr/unsupported key type/, at($line));
fails_ok('a public key', conf_with("$iss\n    oauth_signing_key es.pub.pem;"),
    qr/a public key, where a private key is needed/, at($line));
fails_ok('a weak RSA key', conf_with("$iss\n    oauth_signing_key rs1024.pem;"),
    qr/weak RSA key of 1024 bits/, at($line));
fails_ok('a duplicate kid',
    conf_with("$iss\n    oauth_signing_key es.pem kid=a;\n    oauth_signing_key es2.pem kid=a;"),
    qr/duplicate kid "a"/, at($line + 1));
fails_ok('the same key twice (its thumbprint)',
    conf_with("$iss\n    oauth_signing_key es.pem;\n    oauth_signing_key es.pem;"),
    qr/duplicate kid/, at($line + 1));
fails_ok('a bad parameter', conf_with("$iss\n    oauth_signing_key es.pem id=a;"),
    qr/invalid parameter "id=a"/, at($line));
fails_ok('format=jwt without oauth_issuer', conf_with('oauth_signing_key es.pem;'),
    qr/format=jwt needs oauth_issuer/, at($key_line + 1));
fails_ok('format=jwt without a signing key', conf_with($iss),
    qr/format=jwt needs oauth_signing_key/, at($key_line + 1));
fails_ok('a bad format', conf_with("$iss\n    oauth_signing_key es.pem;",
    'location = /token { oauth_token_endpoint format=xml; }'), qr/invalid format "format=xml"/);
fails_ok('oauth_jwks without a signing key', conf_with($iss, 'location = /jwks { oauth_jwks; }'),
    qr/oauth_jwks needs oauth_signing_key/, at($key_line + 1));

fails_ok('a leeway longer than a revocation is remembered',
    conf_with("$iss\n    oauth_signing_key es.pem;\n    oauth_jwt_leeway 6m;"),
    qr/"oauth_jwt_leeway" directive is longer than 5m/, at($line + 1));

subtest 'a public key readable by other users: the key error alone, no permissions warning' => sub {
    chmod 0644, "$p/es.pub.pem";
    my ($rc, $out) = $t->test_config(http => conf_with("$iss\n    oauth_signing_key es.pub.pem;"));
    isnt $rc, 0, 'nginx -t fails';
    like $out, qr/a public key, where a private key is needed/, 'says it is a public key';
    unlike $out, qr/readable by other users/, 'no warning about who may read a public key';
};

subtest 'a key file readable by other users passes with a warning' => sub {
    chmod 0644, "$p/es.pem";
    my ($rc, $out) = $t->test_config(http => conf_with("$iss\n    oauth_signing_key es.pem;"));
    is $rc, 0, 'nginx -t passes' or diag $out;
    like $out, qr/\[warn\].*"\Q$p\E\/es\.pem" is readable by other users.*\Q$p\E\/nginx\.conf:$line/,
        'a warning names the file and the directive';
    chmod 0600, "$p/es.pem";
    ($rc, $out) = $t->test_config(http => conf_with("$iss\n    oauth_signing_key es.pem;"));
    unlike $out, qr/readable by other users/, 'no warning at 0600';
};

done_testing;
