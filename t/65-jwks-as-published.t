# oauth_trust_issuer jwks=FILE with JWK Sets as the IdPs publish them (SPEC
# "Trusted issuers as the IdPs publish them", item 1): Keycloak's realm set
# with its RSA-OAEP encryption key passes nginx -t, the key skipped and
# named; tokens of the ten algorithms (RS, PS, ES 256-512, EdDSA) pass, each
# only on a key of its type and curve; a set with no signing key fails.
# The IdP is played by PyJWT with its own keys (t/interop/idp_jwks.py).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use OAuthTest qw(need_module need_python show);

need_module();

my $python = need_python('jwt, cryptography', 'python3-jwt');
my $idp = "$FindBin::Bin/interop/idp_jwks.py";

my $t = OAuthTest->new;
my $p = $t->prefix;
sub run { $t->output_of(@_) }
run($python, $idp, 'keys', $p);
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");

my $iss = 'https://idp.example.com/realms/a';
my $http = <<"CONF";
oauth_token_zone tokens:1m;

server {
    listen 127.0.0.1:%%PORT%%;
    location /kc/ { oauth_trust_issuer $iss jwks=keycloak.json;
                    oauth_require_scope read; alias %%PREFIX%%/html/; }
    location /api/ { oauth_trust_issuer $iss jwks=every.json;
                     oauth_require_scope read; alias %%PREFIX%%/html/; }
}
CONF
$t->write_conf(http => $http);

subtest "nginx -t: Keycloak's realm set passes, its encryption key skipped and named" => sub {
    my ($rc, $out) = $t->test_config;
    is $rc, 0, 'nginx -t passes' or diag $out;
    like $out, qr/\[notice\].*"\Q$p\E\/keycloak\.json": key 1 \(kid "kc-enc"\) skipped: use "enc": not a signing key/,
        'the RSA-OAEP key is skipped with its kid, at notice';
    unlike $out, qr/kc-sig/, 'its signing key is not';
    unlike $out, qr/every\.json/, 'nothing of the set of every type is skipped';
};

$t->start;
like $t->start_output, qr/\[notice\].*keycloak\.json": key 1 \(kid "kc-enc"\) skipped/,
    'start names the skipped key too';
my $tokens = decode_json(run($python, $idp, 'tokens', $p, $iss));

subtest 'tokens of each of the ten algorithms pass' => sub {
    for my $alg (qw(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA)) {
        my $r = $t->bearer_get('/api/', $tokens->{$alg});
        is $r->{status}, 200, "$alg" or diag show($r);
    }
    is $t->bearer_get('/kc/', $tokens->{keycloak})->{status}, 200, "Keycloak's RS256 token";
};

subtest "an alg off its key's type, curve or JWK alg is refused" => sub {
    $t->invalid_token_ok('/api/', $tokens->{'es384-on-p256'}, 'ES384 on a P-256 key');
    $t->invalid_token_ok('/api/', $tokens->{'es512-on-p384'}, 'ES512 on a P-384 key');
    $t->invalid_token_ok('/api/', $tokens->{'ps256-on-ec'}, 'PS256 on an EC key');
    $t->invalid_token_ok('/api/', $tokens->{'eddsa-on-rsa'}, 'EdDSA on an RSA key');
    $t->invalid_token_ok('/api/', $tokens->{'hs256-on-rsa'}, 'HS256 with the RSA public key as secret');
    $t->invalid_token_ok('/kc/', $tokens->{'keycloak-ps256'}, 'PS256 on a key whose JWK says RS256');
    $t->invalid_token_ok('/kc/', $tokens->{'encryption-key'}, 'a token naming the skipped encryption key');
    like $t->error_log, qr/\[info\].*its alg is not the algorithm of the issuer's key of its kid/, 'the reason, at info';
};

$t->log_clean_ok;
$t->stop;

subtest 'nginx -t: a set with no signing key fails, naming the file and each key' => sub {
    my ($rc, $out) = $t->test_config(http => $http =~ s/every\.json/unusable.json/r);
    isnt $rc, 0, 'nginx -t fails';
    like $out, qr/\[emerg\].*"\Q$p\E\/unusable\.json": no key to verify signatures with: each of its 3 keys is skipped.*nginx\.conf:\d+/,
        'says so, with the file and the line' or diag $out;
    like $out, qr/\[notice\].*unusable\.json": key 1 \(kid "kc-enc"\) skipped: use "enc"/, 'the encryption key';
    like $out, qr/\[warn\].*unusable\.json": key 2 \(kid "weak"\) skipped: a weak RSA key of 1024 bits/,
        'the weak RSA key, at warn';
    like $out, qr/\[warn\].*unusable\.json": key 3 \(kid "hmac"\) skipped: the private parameter "k"/,
        'the HMAC secret, at warn';
};

subtest 'nginx -t: a published private key is skipped with a warning, never trusted' => sub {
    my $every = decode_json(OAuthTest::slurp("$p/every.json"));
    my $ed = $every->{keys}[-1];
    $t->write_file('leaked.json', encode_json({keys => [
        $every->{keys}[0], {%$ed, d => 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A'}]}));
    my ($rc, $out) = $t->test_config(http => $http =~ s/every\.json/leaked.json/r);
    is $rc, 0, 'nginx -t passes on the other key' or diag $out;
    like $out, qr/\[warn\].*leaked\.json": key 2 \(kid "ed"\) skipped: the private parameter "d" is published/,
        'the leaked key is named at warn';
    unlike $out, qr/nWGxne/, 'the private part is not logged';
};

done_testing;
