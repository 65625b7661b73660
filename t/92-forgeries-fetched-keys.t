# Every forgery of the JWT tests (t/lib/JwtForgeries.pm: those t/61 runs
# against own keys, and t/62's) against a trusted issuer, its keys from each
# source (SPEC "Trusted issuers as the IdPs publish them"): a file
# (jwks=FILE), a URL (jwks_uri=URL) and discovery, the latter two served over
# https by an IdP on loopback with a CA made here (t/interop/idp_https.py).
# Each issuer has an ES256 and an RS256 key of its own, known to nginx only
# from its source: a token each key signed right passes, so each forgery is
# refused for what it forges (401 invalid_token naming the check).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module need_python show);
use JwtForgeries;
use TestIdP;

need_module();
TestIdP::skip_under_valgrind();

my $python = need_python('jwt, cryptography', 'python3-jwt');
my $jwks_of = "$FindBin::Bin/interop/idp_jwt.py";

my $t = OAuthTest->new;
my $p = $t->prefix;
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");
TestIdP::make_ca($t, 'ca');
TestIdP::make_certificate($t, 'ca', 'idp');

my @sources = qw(file uri disc);
my %idp = map { $_ => TestIdP->new($t, $_, python => $python) } qw(uri disc);
my %issuer = (file => 'https://file.example/realms/a', map { $_ => $idp{$_}->base } keys %idp);

# Each source's issuer: its own keys, the set nginx learns them from.
for my $source (@sources) {
    $t->genpkey("$source-ec.pem", 'ES256');
    $t->genpkey("$source-rs.pem", 'RS256');
}
$t->genpkey('other-ec.pem', 'ES256');
$t->genpkey('other-rs.pem', 'RS256');
sub key_set { $t->output_of($python, $jwks_of, 'jwks', "$p/$_[0]-ec.pem:ec", "$p/$_[0]-rs.pem:rs") }
$t->write_file('file.json', key_set('file'));
$idp{uri}->set('jwks.json' => key_set('uri'));
# discovery's jwks_uri is a path of its own, to tell its fetch apart.
$idp{disc}->set('jwks.json' => key_set('disc'), 'openid-configuration' =>
    qq({"issuer":"$issuer{disc}","jwks_uri":"$issuer{disc}/discovered/jwks.json"}));
$_->start('idp') for values %idp;

my %trust = (
    file => "$issuer{file} jwks=file.json",
    uri  => "$issuer{uri} jwks_uri=$issuer{uri}/jwks",
    disc => "$issuer{disc} discovery",
);
my $locations = join '', map {
    "    location /$_/ { oauth_trust_issuer $trust{$_}; oauth_require_scope read; alias %%PREFIX%%/html/; }\n"
  . "    location /$_-lenient/ { oauth_trust_issuer $trust{$_}; oauth_require_scope read; "
  . "oauth_jwt_leeway 30s; alias %%PREFIX%%/html/; }\n"
} @sources;
$t->write_conf(http => "oauth_token_zone tokens:1m;\noauth_trusted_certificate ca.pem;\n"
    . "server {\n    listen 127.0.0.1:%%PORT%%;\n$locations}\n");
$t->start;

sub forge {
    my ($source, $type) = @_;
    my $kid = $type eq 'EC' ? 'ec' : 'rs';
    return JwtForgeries::forge($t, $python, key => "$p/$source-$kid.pem", kid => $kid,
        key_type => $type, other_ec => "$p/other-ec.pem", other_rsa => "$p/other-rs.pem",
        issuer => $issuer{$source}, client => 'svc', scope => 'read write');
}

my %control;
for my $source (@sources) {
    for my $type (qw(EC RSA)) {
        subtest "$source, $type: a token signed right passes, every forgery is refused" => sub {
            my %forged = forge($source, $type);
            my $r = TestIdP::wait_passes($t, "/$source/", $forged{control});
            is $r->{status}, 200, "/$source/: the control passes once the keys are in" or diag show($r);
            JwtForgeries::control_passes_ok($t, "/$source-lenient/", \%forged);
            JwtForgeries::refused_ok($t, "/$source/", \%forged, trusted => 1);
            JwtForgeries::leeway_ok($t, "/$source-lenient/", \%forged);
            JwtForgeries::control_passes_ok($t, "/$source/", \%forged);
            $control{$source}{$type} = $forged{control};
        };
    }
}

subtest "a location that trusts another issuer refuses the issuer's genuine tokens" => sub {
    for my $source (@sources) {
        for my $elsewhere (grep { $_ ne $source } @sources) {
            $t->invalid_token_ok("/$elsewhere/", $control{$source}{$_}, "a token of $source ($_) at /$elsewhere/",
                'its iss is not trusted here') for qw(EC RSA);
        }
    }
};

subtest 'the keys came from the URLs' => sub {
    cmp_ok $idp{uri}->hits(qr{^/jwks$}), '>=', 1, 'jwks_uri: the set was fetched';
    cmp_ok $idp{disc}->hits(qr{^/\.well-known/openid-configuration$}), '>=', 1,
        'discovery: the metadata was read';
    cmp_ok $idp{disc}->hits(qr{^/discovered/jwks\.json$}), '>=', 1, '... and the jwks_uri it names fetched';
};

$t->log_clean_ok;
$t->stop;
done_testing;
