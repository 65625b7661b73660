# A real RFC 9068 issuer, node oidc-provider, over https with a CA made here
# (SPEC "Trusted issuers as the IdPs publish them", "Keys from a URL"): its
# tokens, got with the client credentials grant, pass the gate with the keys
# found by discovery and by jwks_uri; when it rotates its signing key, the
# new tokens pass without a reload and the retired key's are refused.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use OAuthTest qw(need_module need_or_skip random_secret);
use TestIdP;

need_module();
my $root = "$FindBin::Bin/..";
# `make integration` installs node and runs npm ci
need_or_skip(-f "$root/node_modules/oidc-provider/package.json"
    && system('node -e "" >/dev/null 2>&1') == 0 && system('curl --version >/dev/null 2>&1') == 0,
    'node, curl or node_modules/oidc-provider is missing');
my $script = "$FindBin::Bin/interop/oidc_provider.mjs";

my $t = OAuthTest->new;
my $p = $t->prefix;
TestIdP::make_ca($t, 'ca');
TestIdP::make_certificate($t, 'ca', 'idp');
my $idp = TestIdP->new($t, 'oidc-provider');
my $issuer = $idp->base;
my $secret = random_secret();
my $resource = 'https://reports.example.com';

sub serve_with_key {
    my ($kid) = @_;
    $t->output_of('node', $script, 'key', "$p/$kid.json", $kid);
    $idp->stop;
    $idp->run('node', $script, 'serve', $idp->port, "$p/idp.crt", "$p/idp.key", "$p/$kid.json",
        'svc-reports', $secret, $resource);
}

# The grant, as any client sends it: curl with the test's CA.
sub idp_token {
    my $out = $t->output_of('curl', '-sS', '--cacert', "$p/ca.pem", '-u', "svc-reports:$secret",
        '-d', 'grant_type=client_credentials', '-d', 'scope=reports:read', "$issuer/token");
    my $json = OAuthTest::decode_json_or_undef($out) // {};
    return $json->{access_token} // die "no token from oidc-provider: $out";
}

serve_with_key('k1');

$t->{http} = <<"EOF_HTTP";
oauth_token_zone tokens:1m;
oauth_trusted_certificate ca.pem;
server {
    listen 127.0.0.1:%%PORT%%;
    location /echo/ { return 200 "client=\$http_x_client scope=\$http_x_scope\\n"; }
    location /discovery/ {
        oauth_trust_issuer $issuer discovery;
        oauth_require_audience $resource;
        oauth_require_scope reports:read;
        proxy_set_header X-Client \$oauth_client_id;
        proxy_set_header X-Scope \$oauth_scope;
        proxy_pass http://127.0.0.1:%%PORT%%/echo/;
    }
    location /jwks-uri/ {
        oauth_trust_issuer $issuer jwks_uri=$issuer/jwks;
        oauth_require_audience $resource;
        oauth_require_scope reports:read;
        proxy_set_header X-Client \$oauth_client_id;
        proxy_set_header X-Scope \$oauth_scope;
        proxy_pass http://127.0.0.1:%%PORT%%/echo/;
    }
    location /other-resource/ {
        oauth_trust_issuer $issuer discovery;
        oauth_require_audience https://other.example.com;
        proxy_pass http://127.0.0.1:%%PORT%%/echo/;
    }
}
EOF_HTTP
$t->start;

# The workers fetch the keys once started: a first request may find none yet.
sub status_when_settled {
    my ($path, $token, $want) = @_;
    my $deadline = time + 15;
    my $r;
    do {
        $r = $t->bearer_get($path, $token);
        return $r if $r->{status} == $want;
        sleep 0.2;
    } while (time < $deadline);
    return $r;
}

my $first = idp_token();
for my $path (qw(/discovery/ /jwks-uri/)) {
    subtest "oidc-provider's token passes, keys by $path" => sub {
        my $r = status_when_settled("${path}x", $first, 200);
        is $r->{status}, 200, 'the token passes' or diag explain $r;
        is $r->{content}, "client=svc-reports scope=reports:read\n",
            'the backend is told the client and the scope';
        is $t->bearer_get('/other-resource/x', $first)->{status}, 401,
            'refused where another audience is required';
    };
}

subtest 'a rotation is followed without a reload' => sub {
    my $master = $t->master_pid;
    serve_with_key('k2');
    my $second = idp_token();
    isnt $second, $first, 'a new token, signed with the new key';
    for my $path (qw(/discovery/ /jwks-uri/)) {
        my $r = $t->bearer_get("${path}x", $second);
        is $r->{status}, 200, "$path: the new key's token passes (an unknown kid fetched the set again)"
            or diag explain $r;
        $r = status_when_settled("${path}x", $first, 401);
        is $r->{status}, 401, "$path: the retired key's token is refused";
    }
    is $t->master_pid, $master, 'no reload, no restart';
};

subtest 'error log' => sub { $t->log_clean_ok };

done_testing;
