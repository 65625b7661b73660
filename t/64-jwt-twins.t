# A revoked JWT stays refused in every form that verifies (issue 18, items 1
# and 6): an ES256 signature's S may be replaced by n - S and still verify,
# so a JWT is revoked by what its signature covers, not by its text. The
# attack is the test: revoke a token, then present its twin, at the gate and
# at introspection, and again after a restart from the state file. A cached
# verdict counts only for the key that gave it: a key replaced under the same
# kid across a reload no longer lets the old key's tokens through. And an scp
# array element holding a space is no longer two scopes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Math::BigInt;
use MIME::Base64 ();
use Test::More;
use OAuthTest qw(need_module need_python sha256_hash random_secret bearer_challenge show);

need_module();

my $python = need_python('jwt, cryptography', 'python3-jwt');
my $idp = "$FindBin::Bin/interop/idp_jwt.py";

my $secret = random_secret();
my @clients = (
    {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read write'},
    {client_id => 'auditor', client_secret_hash => sha256_hash($secret), scope => '',
     introspection => JSON::PP::true},
);
my $t = OAuthTest->new(clients => {clients => \@clients});
my $p = $t->prefix;
sub run { $t->output_of(@_) }

$t->genpkey('es.pem', 'ES256');
$t->genpkey('es-replacement.pem', 'ES256');
$t->genpkey('idp-es.pem', 'ES256');
$t->genpkey('idp-replacement.pem', 'ES256');
$t->write_file('idp.json', run($python, $idp, 'jwks', "$p/idp-es.pem:es"));
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");
# nginx started by root runs its workers as nobody: they write the state file.
mkdir "$p/state" or die;
chown(($> == 0 ? (getpwnam 'nobody')[2] : $>), -1, "$p/state") or die;

my $issuer = 'http://127.0.0.1:' . $t->port;
my $iss = 'https://idp.example.com/realms/a';
my $http = <<"CONF";
oauth_token_zone tokens:1m state=state/tokens.state;
oauth_clients clients.json;
oauth_trust_issuer $iss jwks=idp.json;

server {
    listen 127.0.0.1:%%PORT%% reuseport;
    oauth_issuer $issuer;
    oauth_signing_key es.pem kid=es;

    location = /token      { oauth_token_endpoint format=jwt; }
    location = /introspect { oauth_introspection_endpoint; }
    location = /revoke     { oauth_revocation_endpoint; }
    location /read/        { oauth_require_scope read; alias %%PREFIX%%/html/; }
    location /admin/       { oauth_require_scope admin; alias %%PREFIX%%/html/; }
}
CONF
$t->write_conf(http => $http);
$t->start;

sub token {
    my $r = $t->token_request(path => '/token', basic => ['app', $secret],
        form => [grant_type => 'client_credentials', scope => 'read write']);
    is $r->{status}, 200, 'a JWT from /token' or diag show($r);
    return $r->{json}{access_token};
}

sub idp_token {
    my ($pem, %claims) = @_;
    return run($python, $idp, 'token', "$p/$pem", 'es', $iss, encode_json(\%claims));
}

sub revoke {
    my ($tok) = @_;
    my $r = $t->token_request(path => '/revoke', basic => ['app', $secret], form => [token => $tok]);
    is $r->{status}, 200, 'app revokes: 200' or diag show($r);
}

sub introspect {
    my ($tok) = @_;
    return $t->token_request(path => '/introspect', basic => ['auditor', $secret],
        form => [token => $tok])->{content};
}

# The same ES256 signature with S replaced by n - S: it verifies as well.
my $p256_order = Math::BigInt->from_hex(
    'FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
sub high_s_twin {
    my ($tok) = @_;
    my ($signed, $signature) = $tok =~ /^(.*\.)([^.]+)$/ or die "not a JWS: $tok";
    my $raw = MIME::Base64::decode_base64url($signature);
    my $s = Math::BigInt->from_hex(unpack 'H*', substr $raw, 32);
    my $twin_s = substr(('0' x 64) . ($p256_order - $s)->to_hex, -64);
    return $signed . MIME::Base64::encode_base64url(substr($raw, 0, 32) . pack 'H*', $twin_s);
}

# The last character with a bit set that base64url leaves zero there
# (RFC 4648 §3.5): the same signature bytes to a lax decoder.
my @alphabet = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_');
my %sextet = map { $alphabet[$_] => $_ } 0 .. 63;
sub non_canonical {
    my ($tok) = @_;
    return substr($tok, 0, -1) . $alphabet[$sextet{substr $tok, -1} | 1];
}

sub refused_everywhere {
    my ($tok, $name) = @_;
    my ($seen, @answers) = $t->in_each_worker(sub { $t->bearer_get('/read/', $tok) });
    my @bad = grep { $_->{status} != 401
        || ($_->{headers}{'www-authenticate'} // '') ne
            bearer_challenge('oauth', 'invalid_token', undef, 'it has been revoked') } @answers;
    is scalar(@bad), 0, "$name: every worker refuses it with invalid_token" or diag show($bad[0]);
    is introspect($tok), '{"active":false}', "$name: introspection answers exactly {\"active\":false}";
}

my $jwt = token();
my $twin = high_s_twin($jwt);
my $lax = non_canonical($jwt);

subtest 'an own ES256 JWT: once revoked, its twins are refused too' => sub {
    isnt $twin, $jwt, 'the twin differs from the token in its text';
    is $t->bearer_get('/read/', $jwt)->{status}, 200, 'the token passes';
    is $t->bearer_get('/read/', $twin)->{status}, 200, 'its n - S twin passes too: OpenSSL verifies it';
    like introspect($twin), qr/^\{"active":true,/, '... and is active';
    my $offset = $t->error_log_size;
    $t->invalid_token_ok('/read/', $lax, 'a non-canonical base64url signature');
    like $t->error_log_since($offset), qr/\[info\].*JWT access token refused: it is not a JWT: three base64url parts/,
        '... refused as malformed';

    revoke($jwt);
    refused_everywhere($jwt, 'the revoked token');
    refused_everywhere($twin, 'its n - S twin');
    refused_everywhere($lax, 'its non-canonical twin');
    like $t->error_log, qr/\[info\].*JWT access token refused: it has been revoked/, 'the twin is logged as revoked';

    my $other = token();
    my $other_twin = high_s_twin($other);
    revoke($other_twin);
    refused_everywhere($other, 'a token whose twin was revoked');
    is $t->bearer_get('/read/', token())->{status}, 200, 'another JWT of the same client still passes';
};

subtest 'after a restart from the state file, the twins stay refused' => sub {
    $t->stop;
    $t->start;
    refused_everywhere($jwt, 'the revoked token');
    refused_everywhere($twin, 'its n - S twin');
    is $t->bearer_get('/read/', token())->{status}, 200, 'a new JWT passes';
};

subtest "a trusted issuer's scp element with a space is not two scopes" => sub {
    my $two = idp_token('idp-es.pem', scp => ['read', 'admin']);
    is $t->bearer_get('/admin/', $two)->{status}, 200, 'scp ["read", "admin"] grants admin';
    my $spaced = idp_token('idp-es.pem', scp => ['read admin']);
    my $offset = $t->error_log_size;
    $t->invalid_token_ok('/admin/', $spaced, 'scp ["read admin"] at the admin location');
    $t->invalid_token_ok('/read/', $spaced, 'scp ["read admin"] at the read location');
    like $t->error_log_since($offset), qr/\[info\].*JWT access token refused: its scopes are not .*array of single scopes \(in scope, scp\)/,
        'the info log says why';
    $t->invalid_token_ok('/read/', idp_token('idp-es.pem', scp => ["read\tadmin"]), 'a tab in an element');
};

subtest 'a key replaced under the same kid: verdicts of the old key no longer count' => sub {
    my $own = token();
    my $theirs = idp_token('idp-es.pem', scp => ['read']);
    is $t->bearer_get('/read/', $own)->{status}, 200, 'an own token passes (its verdict in the zone)';
    is $t->bearer_get('/read/', $theirs)->{status}, 200, "the trusted issuer's token too";
    $t->write_file('idp.json', run($python, $idp, 'jwks', "$p/idp-replacement.pem:es"));
    ok $t->reload(http => $http =~ s/oauth_signing_key es\.pem kid=es;/oauth_signing_key es-replacement.pem kid=es;/r),
        'reload: both kids "es" now name other keys';
    my $offset = $t->error_log_size;
    $t->invalid_token_ok('/read/', $own, 'the own token of the replaced key');
    $t->invalid_token_ok('/read/', $theirs, "the trusted issuer's token of the replaced key");
    like $t->error_log_since($offset), qr/\[info\].*JWT access token refused: its signature does not verify with the issuer's keys/,
        'refused for its signature';
    is $t->bearer_get('/read/', token())->{status}, 200, 'a token of the new own key passes';
    is $t->bearer_get('/read/', idp_token('idp-replacement.pem', scp => ['read']))->{status}, 200,
        "a token of the issuer's new key passes";
};

$t->log_clean_ok;
done_testing;
