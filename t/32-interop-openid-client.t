# Interop: Node's openid-client v6 (npm, the repo's package.json) discovers
# the server from its RFC 8414 metadata, gets a token by the client
# credentials grant, introspects and revokes it, and sees the protected
# location refuse it (t/interop/openid_client.mjs); for opaque tokens and for
# JWTs of each algorithm. With JWTs, a resource server in Node
# (t/interop/jwt_resource_server.mjs) verifies them with oauth4webapi's
# validateJwtAccessToken and with jose, each fetching our JWK Set over HTTP,
# and both refuse a tampered one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use MIME::Base64 qw(decode_base64url encode_base64url);
use Test::More;
use OAuthTest qw(need_module need_or_skip show);

need_module();

my $root = "$FindBin::Bin/..";
my $script = "$FindBin::Bin/interop/openid_client.mjs";
my $rs_script = "$FindBin::Bin/interop/jwt_resource_server.mjs";
# `make integration` installs node and runs npm ci
need_or_skip(!grep({ !-f "$root/node_modules/$_/package.json" } qw(openid-client oauth4webapi jose))
    && system('node -e "" >/dev/null 2>&1') == 0,
    'node or node_modules/{openid-client,oauth4webapi,jose} is missing');

# openid-client 6 wants Node 20; Debian 12's Node 18 has WebCrypto behind a flag
my ($node_major) = `node -p process.versions.node` =~ /^(\d+)/;
my @node = ('node', ($node_major // 20) < 20 ? '--experimental-global-webcrypto' : ());

# The same signature over other claims: a wider scope.
sub tampered_payload {
    my ($jwt) = @_;
    my ($h, $c, $s) = split /\./, $jwt;
    my $claims = decode_json(decode_base64url($c));
    $claims->{scope} .= ' admin';
    return join '.', $h, encode_base64url(encode_json($claims)), $s;
}

# One byte of the signature changed (in the middle: the last character of
# base64url may carry only padding bits).
sub tampered_signature {
    my ($jwt) = @_;
    my ($h, $c, $s) = split /\./, $jwt;
    my $sig = decode_base64url($s);
    substr($sig, 10, 1) = chr(ord(substr $sig, 10, 1) ^ 1);
    return join '.', $h, $c, encode_base64url($sig);
}

# What jwt_resource_server.mjs says of each token: oauth4webapi's and jose's
# verdicts, one hash per token.
sub resource_server_verdicts {
    my ($t, @tokens) = @_;
    my $in = $t->write_file('tokens.txt', join '', map { "$_\n" } @tokens);
    my ($rc, $out) = OAuthTest::run_command(
        ['/bin/sh', '-c', join(' ', map { "'$_'" } @node, $rs_script, $t->url('')) . " < '$in'"],
        $t->prefix . '/logs/resource-server.out', 60);
    is $rc, 0, 'jwt_resource_server.mjs exits 0' or diag "output:\n$out";
    like $out, qr/^# oauth4webapi 3\.\d+\.\d+, jose 6\.\d+\.\d+/m, 'it runs oauth4webapi 3 and jose 6';
    return map { decode_json($_) } grep { /^\{/ } split /\n/, $out;
}

for my $variant (OAuthTest::interop_variants()) {
    my ($name, %o) = @$variant;
    subtest $name => sub {
        my ($t, $secret, $rs_secret) = OAuthTest->start_interop_server(%o);
        my $issuer = 'http://127.0.0.1:' . $t->port;
        my ($rc, $out) = OAuthTest::run_command(
            [@node, $script, $issuer, 'reporting', $secret, 'gateway', $rs_secret, $o{alg} // ()],
            $t->prefix . '/logs/openid-client.out', 60);
        is $rc, 0, 'openid_client.mjs exits 0' or diag "output:\n$out\nerror log:\n" . $t->error_log;
        like $out, qr/^# openid-client 6\.\d+\.\d+/m, 'it runs openid-client 6';
        diag(($out =~ /^# (openid-client .*)$/m)[0] // 'openid-client version unknown') if $name eq 'opaque';
        unlike $out, qr/^not ok/m, 'no check failed';
        for my $m (qw(client_secret_basic client_secret_post)) {
            like $out, qr/^ok - $m: discovery: issuer$/m, "$m: RFC 8414 discovery";
            like $out, qr/^ok - $m: clientCredentialsGrant: a bearer token$/m, "$m: client credentials grant";
            like $out, qr/^ok - $m: tokenIntrospection: active, with its grant$/m, "$m: introspection";
            like $out, qr/^ok - $m: tokenRevocation resolves$/m, "$m: revocation";
            like $out, qr/^ok - $m: the protected location answers 401 invalid_token$/m,
                "$m: revoked token refused";
            next unless $o{alg};
            like $out, qr/^ok - $m: discovery: jwks_uri$/m, "$m: discovery names the JWK Set";
            like $out, qr/^ok - $m: clientCredentialsGrant: a JWT, alg $o{alg}, typ at\+jwt$/m,
                "$m: the grant gives an $o{alg} JWT";
            like $out, qr/^ok - $m: tokenIntrospection: the JWT's jti, aud, exp, iat$/m,
                "$m: introspection answers the JWT's claims";
        }
        like $out, qr/^# all checks passed$/m, 'all checks ran';
        # 18 with Basic, 17 with post; with a JWT, 3 more each (jwks_uri, the
        # JWT's header and claims, introspection's claims)
        my ($basic, $post) = $o{alg} ? (21, 20) : (18, 17);
        is scalar(() = $out =~ /^ok - /mg), $basic + $post, "$basic checks passed with Basic, $post with post";
        return $t->stop unless $o{alg};

        # a resource server in Node: a live token, then two tampered ones
        my $r = $t->token_request(basic => ['reporting', $secret],
            form => [grant_type => 'client_credentials', scope => 'reports:read']);
        is $r->{status}, 200, 'a token from our token endpoint' or diag show($r);
        my $jwt = $r->{json}{access_token} // '';
        my ($live, $payload, $signature) =
            resource_server_verdicts($t, $jwt, tampered_payload($jwt), tampered_signature($jwt));
        for my $lib (qw(oauth4webapi jose)) {
            my $v = $live->{$lib} // {error => 'no verdict'};
            ok !$v->{error}, "$lib accepts our $o{alg} JWT" or diag $v->{error};
            is $v->{claims}{client_id}, 'reporting', "$lib: its client_id";
            is $v->{claims}{scope}, 'reports:read', "$lib: its scope";
            like $payload->{$lib}{error} // '', qr/signature/i, "$lib refuses a tampered payload";
            like $signature->{$lib}{error} // '', qr/signature/i, "$lib refuses a tampered signature";
        }
        is $live->{jose}{header}{alg}, $o{alg}, "jose: header alg $o{alg}";
        $t->stop;
    };
}

done_testing;
