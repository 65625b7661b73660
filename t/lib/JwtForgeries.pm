# The JWTs a gate must refuse, made by t/interop/forge_jwt.py, and the check
# each one fails (SPEC "Diagnosis": the 401's error_description names it,
# the info log says the same with the issuer and kid, never the token).
# Shared by the tests of own JWTs (t/61) and of trusted issuers' keys from a
# file, a jwks_uri and discovery (t/92).
#
#   my %forged = JwtForgeries::forge($t, $python, key => "$p/es.pem", kid => 'es', ...);
#   JwtForgeries::control_passes_ok($t, '/read/', \%forged);
#   JwtForgeries::refused_ok($t, '/read/', \%forged, trusted => 1);
#   JwtForgeries::leeway_ok($t, '/lenient/', \%forged);   # a location with oauth_jwt_leeway 30s
package JwtForgeries;

use strict;
use warnings;
use FindBin;
use Test::More;

use OAuthTest qw(show);

my $SCRIPT = "$FindBin::Bin/interop/forge_jwt.py";

my $SHAPE = 'it is not a JWT: three base64url parts, a JSON header and claims with an iss';
my $ALG = "its alg is not the algorithm of the issuer's key of its kid";
my $KID = "its kid is not in the issuer's JWK Set";
my $SIGNATURE = "its signature does not verify with the issuer's keys";
my $CRIT = 'its header has a crit extension this server does not know';
my $EXP = 'it has expired, or has no exp';

# Each forgery (of any key) => the check it fails; wrong-typ's words depend
# on whose token it is (refused_ok). undef: with one dot it is no JWT to the
# gate, but an opaque token it does not know (RFC 6750's words).
my %CHECK = (
    'alg-none'                => $SHAPE,  # no signature at all
    'alg-none-signed'         => $ALG,
    'hs256-public-key'        => $ALG,
    'alg-of-other-key-type'   => $ALG,
    'wrong-kid'               => $KID,
    'kid-not-a-string'        => $KID,
    'tampered'                => $SIGNATURE,
    'other-key'               => $SIGNATURE,
    'header-jwk'              => $SIGNATURE,
    'header-jku'              => $SIGNATURE,
    'header-x5u'              => $SIGNATURE,
    'crit'                    => $CRIT,
    'b64-false'               => $CRIT,
    'two-segments'            => undef,
    'four-segments'           => $SHAPE,
    'padded-signature'        => $SHAPE,
    'non-canonical-signature' => $SHAPE,
    'duplicate-iss'           => $SHAPE,
    'scp-element-with-space'  =>
        'its scopes are not space-separated scope tokens or an array of single scopes (in scope, scp)',
    'wrong-iss'               => 'its iss is not trusted here',
    'expired'                 => $EXP,
    'no-exp'                  => $EXP,
    'nbf-future'              => 'it is not valid yet (nbf): check the clocks',
    'iat-future'              => 'it was issued in the future (iat): check the clocks',
);
# Of one key type only.
my %CHECK_OF_TYPE = (
    EC  => {'der-signature' => $SIGNATURE},
    RSA => {'ps256-for-rs256-key' => $ALG},
);

# Runs forge_jwt.py: key (a PEM path), kid, other_ec, other_rsa, issuer,
# client, scope, and valid (a token of the issuer to tamper with; default the
# control). Returns name => token, after checking it made each forgery.
sub forge {
    my ($t, $python, %o) = @_;
    my @argv = ($python, $SCRIPT, @o{qw(key kid other_ec other_rsa issuer client scope)},
        defined $o{valid} ? $o{valid} : ());
    my ($rc, $out) = OAuthTest::run_command(\@argv, $t->prefix . '/logs/forge.out', 30);
    is $rc, 0, 'forge_jwt.py exits 0' or diag $out;
    my %forged = map { split / /, $_, 2 } grep { /^\S+ \S+$/ } split /\n/, $out;
    my $type = $o{key_type} // 'EC';
    is_deeply [sort keys %forged],
        [sort 'control', 'wrong-typ', keys %CHECK, keys %{ $CHECK_OF_TYPE{$type} }],
        "every forgery of an $type key made";
    $forged{_type} = $type;
    return %forged;
}

# The control, signed right, passes: the forgeries fail for what they forge.
sub control_passes_ok {
    my ($t, $path, $forged) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $r = $t->bearer_get($path, $forged->{control});
    is $r->{status}, 200, "$path: the control, signed right, passes" or diag show($r);
}

# Every forgery is refused with 401 invalid_token naming its check, logged at
# info with it, the token and its signature never in the log. `trusted`: the
# location trusts the issuer, whose typ message names oauth_trust_issuer.
sub refused_ok {
    my ($t, $path, $forged, %o) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my %check = (%CHECK, %{ $CHECK_OF_TYPE{ $forged->{_type} } },
        'wrong-typ' => $o{trusted}
            ? 'its typ JWT is not accepted from this issuer: add typ=jwt to oauth_trust_issuer'
            : 'its typ JWT is not at+jwt');
    for my $name (sort keys %check) {
        my $offset = $t->error_log_size;
        $t->invalid_token_ok($path, $forged->{$name}, "$path $name", $check{$name});
        my $log = $t->error_log_since($offset);
        like $log, qr/\[info\].*JWT access token refused: \Q$check{$name}\E \(iss \S*, kid \S*\)/,
            "$path $name: logged" if defined $check{$name};
        unlike $log, qr/\Q$forged->{$name}\E/, "$path $name: the token is not in the log";
        my ($signature) = $forged->{$name} =~ /([^.]+)$/;
        unlike $log, qr/\Q$signature\E/, "$path $name: nor its signature" if $signature;
    }
}

# PATH has oauth_jwt_leeway 30s: the token expired 10 s ago passes, those
# valid in 100 s still do not.
sub leeway_ok {
    my ($t, $path, $forged) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is $t->bearer_get($path, $forged->{expired})->{status}, 200,
        "$path: oauth_jwt_leeway 30s lets the token expired 10 s ago through";
    $t->invalid_token_ok($path, $forged->{'nbf-future'}, "$path: nbf in 100 s, leeway 30 s");
    $t->invalid_token_ok($path, $forged->{'iat-future'}, "$path: iat in 100 s, leeway 30 s");
}

1;
