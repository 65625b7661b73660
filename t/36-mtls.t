# Mutual-TLS client authentication and certificate-bound tokens (RFC 8705;
# SPEC "Keys instead of shared secrets; sender-constrained tokens"), against
# a real nginx doing the TLS handshake (ssl_verify_client optional_no_ca)
# and curl --cert as the client. Every certificate is made here with openssl:
# a CA nginx trusts, clients it signed (by DN, by SAN), one signed by a CA
# nginx does not trust, and a self-signed one registered as x5c.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256);
use JSON::PP;
use MIME::Base64 qw(decode_base64url encode_base64url encode_base64);
use Test::More;
use OAuthTest qw(need_module need_or_skip need_python sha256_hash random_secret show);

need_module();
need_or_skip(system('curl --version >/dev/null 2>&1') == 0, 'curl is not installed');

my $t = OAuthTest->new;
my $p = $t->prefix;

sub openssl {
    my (@args) = @_;
    my ($rc, $out) = OAuthTest::run_command(['openssl', @args], "$p/logs/openssl.out");
    die "openssl @args failed:\n$out" if $rc != 0;
}

# A key and a certificate NAME.pem / NAME.key: signed by CA (a NAME of this
# test) or self-signed, with SUBJ (openssl's /C=../CN=.. form) and SAN.
sub certificate {
    my ($name, %o) = @_;
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256',
        '-out', "$p/$name.key");
    my @ext = ('-addext', 'basicConstraints=' . ($o{ca} ? 'critical,CA:TRUE' : 'CA:FALSE'));
    push @ext, '-addext', "subjectAltName=$o{san}" if $o{san};
    if (!$o{signer}) {
        openssl('req', '-new', '-x509', '-key', "$p/$name.key", '-subj', $o{subj},
            '-days', '2', @ext, '-out', "$p/$name.pem");
        return;
    }
    openssl('req', '-new', '-key', "$p/$name.key", '-subj', $o{subj}, @ext,
        '-out', "$p/$name.csr");
    openssl('x509', '-req', '-in', "$p/$name.csr", '-CA', "$p/$o{signer}.pem",
        '-CAkey', "$p/$o{signer}.key", '-CAcreateserial', '-days', '2', '-copy_extensions',
        'copy', '-out', "$p/$name.pem");
}

sub der_of {
    my ($name) = @_;
    openssl('x509', '-in', "$p/$name.pem", '-outform', 'DER', '-out', "$p/$name.der");
    return OAuthTest::slurp("$p/$name.der");
}

certificate('ca', subj => '/CN=Test Client CA', ca => 1);
certificate('rogue-ca', subj => '/CN=Rogue CA', ca => 1);
certificate('server', subj => '/CN=localhost', signer => 'ca', san => 'IP:127.0.0.1');
certificate('dn', subj => '/C=DE/O=Example/OU=payments, EU/CN=client one', signer => 'ca');
certificate('san', subj => '/CN=whatever', signer => 'ca',
    san => 'DNS:client.example.com,URI:spiffe://example/client');
certificate('other', subj => '/CN=someone else', signer => 'ca', san => 'DNS:other.example.com');
# Same subject and SAN as 'san', but signed by a CA nginx does not trust.
certificate('forged', subj => '/CN=whatever', signer => 'rogue-ca',
    san => 'DNS:client.example.com');
certificate('self', subj => '/CN=self-signed client');

my $self_x5c = encode_base64(der_of('self'), '');
my $secret = random_secret();
$t->write_clients({clients => [
    {client_id => 'by-dn', scope => 'read', token_endpoint_auth_method => 'tls_client_auth',
     tls_client_auth_subject_dn => 'CN=client one,OU=payments\, EU,O=Example,C=DE',
     introspection => JSON::PP::true},
    {client_id => 'by-san', scope => 'read', token_endpoint_auth_method => 'tls_client_auth',
     tls_client_auth_san_dns => 'client.example.com'},
    {client_id => 'bound', scope => 'read', token_endpoint_auth_method => 'tls_client_auth',
     tls_client_auth_san_uri => 'spiffe://example/client',
     tls_client_certificate_bound_access_tokens => JSON::PP::true},
    {client_id => 'self', scope => 'read',
     token_endpoint_auth_method => 'self_signed_tls_client_auth',
     jwks => {keys => [{kty => 'EC', x5c => [$self_x5c]}]},
     tls_client_certificate_bound_access_tokens => JSON::PP::true},
    {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read',
     introspection => JSON::PP::true},
]});
$t->genpkey('signing.pem', 'ES256');
# A trusted issuer (Keycloak, Auth0, Okta put cnf x5t#S256 in bound tokens).
my $python = need_python('jwt, cryptography', 'python3-jwt');
my $idp = "$FindBin::Bin/interop/idp_jwt.py";
my $idp_issuer = 'https://idp.example.com/realms/a';
$t->genpkey('idp.pem', 'ES256');
$t->write_file('idp.json', $t->output_of($python, $idp, 'jwks', "$p/idp.pem:idp"));
mkdir "$p/html";
$t->write_file('html/index.html', "ok\n");
# nginx started by root runs its workers as nobody: they write the state file.
mkdir "$p/state" or die;
chown $> == 0 ? (getpwnam 'nobody')[2] : $>, -1, "$p/state" or die;

my $port = $t->port;
my $http = <<"CONF";
oauth_token_zone tokens:1m state=state/tokens.state;
oauth_clients clients.json;
oauth_auth_failure_limit off;
oauth_trust_issuer $idp_issuer jwks=idp.json;
server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate %%PREFIX%%/server.pem;
    ssl_certificate_key %%PREFIX%%/server.key;
    ssl_client_certificate %%PREFIX%%/ca.pem;
    ssl_verify_client optional_no_ca;
    oauth_issuer https://127.0.0.1:$port;
    oauth_signing_key signing.pem;
    location = /token { oauth_token_endpoint format=jwt; }
    location = /opaque-token { oauth_token_endpoint; }
    location = /introspect { oauth_introspection_endpoint; }
    location = /.well-known/oauth-authorization-server { oauth_metadata; }
    location = /metrics { oauth_metrics; }
    location /api/ { oauth_require_scope read; alias %%PREFIX%%/html/; }
}
CONF
$t->write_conf(http => $http);
$t->start;

# curl over TLS with CERT (a NAME of this test, or none); returns the status
# and the body as JSON when it is JSON, else as text.
sub curl {
    my ($method, $path, %o) = @_;
    my @args = ('curl', '-s', '-o', "$p/curl.body", '-D', "$p/curl.headers", '-w', '%{http_code}',
        '--cacert', "$p/ca.pem",
        '-X', $method, "https://127.0.0.1:$port$path");
    push @args, '--cert', "$p/$o{cert}.pem", '--key', "$p/$o{cert}.key" if $o{cert};
    push @args, '-H', 'Content-Type: application/x-www-form-urlencoded', '--data', $o{form}
        if defined $o{form};
    push @args, '-H', "Authorization: $o{authorization}" if $o{authorization};
    push @args, '-u', $o{basic} if $o{basic};
    my ($rc, $status) = OAuthTest::run_command(\@args, "$p/logs/curl.out");
    my $body = -e "$p/curl.body" ? OAuthTest::slurp("$p/curl.body") : '';
    my $headers = -e "$p/curl.headers" ? OAuthTest::slurp("$p/curl.headers") : '';
    unlink "$p/curl.body", "$p/curl.headers";
    my ($challenge) = $headers =~ /^WWW-Authenticate: (.*?)\r?$/mi;
    return {status => $status + 0, text => $body, challenge => $challenge // '',
            json => OAuthTest::decode_json_or_undef($body)};
}

sub token_with {
    my ($cert, $client, %o) = @_;
    return curl('POST', $o{path} // '/token', cert => $cert,
        form => "grant_type=client_credentials&client_id=$client");
}

sub claims_of {
    my ($jwt) = @_;
    return decode_json(decode_base64url((split /\./, $jwt)[1]));
}

sub thumbprint { encode_base64url(sha256(der_of($_[0]))) }

subtest 'tls_client_auth by subject DN and by SAN, self_signed_tls_client_auth' => sub {
    for my $case (['dn', 'by-dn'], ['san', 'by-san'], ['san', 'bound'], ['self', 'self']) {
        my $r = token_with(@$case);
        is $r->{status}, 200, "$case->[1] with its certificate $case->[0].pem" or diag show($r);
        ok $r->{json} && $r->{json}{access_token}, 'a token';
    }
};

subtest 'attacks on client authentication: 401 invalid_client' => sub {
    my $size = $t->error_log_size;
    my @cases = (
        [undef, 'by-san', 'no certificate at all'],
        ['other', 'by-san', "another client's certificate of the same CA"],
        ['forged', 'by-san', 'the right SAN under a CA nginx does not trust'],
        ['dn', 'by-san', 'a certificate of the right CA with another SAN'],
        ['san', 'self', 'a CA-signed certificate for a self-signed client'],
        ['other', 'self', 'another certificate for a self-signed client'],
        ['self', 'by-dn', 'a self-signed certificate for tls_client_auth'],
        ['san', 'app', 'a certificate for a client of a secret'],
    );
    for my $case (@cases) {
        my $r = token_with($case->[0], $case->[1]);
        is $r->{status}, 401, "$case->[2]: 401" or diag show($r);
        is $r->{json} && $r->{json}{error}, 'invalid_client', "$case->[2]: invalid_client";
    }
    my $log = $t->error_log_since($size);
    like $log, qr/client authentication failed for client_id "by-san": nginx did not verify/,
        'the log says the chain was not verified';
    like $log, qr/client_id "by-san": no client certificate was presented/, 'or that none came';
    my $r = curl('POST', '/token', cert => 'san',
        form => 'grant_type=client_credentials&client_id=by-san&client_secret=guess');
    is $r->{status}, 401, 'a certificate client cannot fall back to a secret';
};

subtest 'a bound token carries cnf x5t#S256 and needs its certificate at the gate' => sub {
    for my $case (['san', 'bound', 'other'], ['self', 'self', 'san']) {
        my ($cert, $client, $stranger) = @$case;
        my $token = token_with($cert, $client)->{json}{access_token};
        is claims_of($token)->{cnf}{'x5t#S256'}, thumbprint($cert),
            "$client: cnf x5t#S256 is the SHA-256 of $cert.pem";
        my $r = curl('GET', '/api/', cert => $cert, authorization => "Bearer $token");
        is $r->{status}, 200, "$client: the token on a connection with its certificate"
            or diag show($r);
        for my $with ([$stranger, 'another certificate'], [undef, 'no certificate']) {
            $r = curl('GET', '/api/', cert => $with->[0], authorization => "Bearer $token");
            is $r->{status}, 401, "$client: the token on a connection with $with->[1]: 401";
            like $r->{challenge}, qr/error="invalid_token".*RFC 8705/, 'invalid_token';
        }
    }
    my $unbound = token_with('san', 'by-san')->{json}{access_token};
    ok !exists claims_of($unbound)->{cnf}, 'an unbound client gets no cnf';
    is curl('GET', '/api/', authorization => "Bearer $unbound")->{status}, 200,
        'and its token works on any connection';
};

subtest "a trusted issuer's bound token is held to its certificate" => sub {
    my $token = $t->output_of($python, $idp, 'token', "$p/idp.pem", 'idp', $idp_issuer,
        encode_json({scope => 'read', cnf => {'x5t#S256' => thumbprint('san')}}));
    chomp $token;
    is curl('GET', '/api/', cert => 'san', authorization => "Bearer $token")->{status}, 200,
        'with its certificate: 200';
    for my $with (['other', 'another certificate'], [undef, 'no certificate']) {
        my $r = curl('GET', '/api/', cert => $with->[0], authorization => "Bearer $token");
        is $r->{status}, 401, "with $with->[1]: 401";
        like $r->{challenge}, qr/error="invalid_token"/, 'invalid_token';
    }
    $token = $t->output_of($python, $idp, 'token', "$p/idp.pem", 'idp', $idp_issuer,
        encode_json({scope => 'read', cnf => {'x5t#S256' => 'not-a-thumbprint'}}));
    chomp $token;
    my $r = curl('GET', '/api/', cert => 'san', authorization => "Bearer $token");
    is $r->{status}, 401, 'a cnf x5t#S256 that is no SHA-256: 401';
    like $r->{challenge}, qr/x5t#S256/, 'which the description names';
};

subtest 'oauth4webapi: tls_client_auth through customFetch, and its bound token' => sub {
    my $root = "$FindBin::Bin/..";
    if (!-f "$root/node_modules/oauth4webapi/package.json" || system('node -e "" >/dev/null 2>&1') != 0) {
        plan skip_all => 'node or node_modules/oauth4webapi is missing (make integration installs them)'
            unless $ENV{CI};
    }
    my ($rc, $out) = OAuthTest::run_command(['node', "$FindBin::Bin/interop/oauth4webapi_mtls.mjs",
        "https://127.0.0.1:$port", 'bound', "$p/ca.pem", "$p/san.pem", "$p/san.key",
        "$p/other.pem", "$p/other.key"], "$p/logs/node.out", 60);
    like $out, qr/^ok - a token by tls_client_auth$/m, 'oauth4webapi got a token' or diag $out;
    is $rc, 0, 'every check of the script passed' or diag $out;
    unlike $out, qr/^not ok/m, 'none failed';
};

subtest 'introspection answers cnf' => sub {
    my $token = token_with('san', 'bound')->{json}{access_token};
    my $r = curl('POST', '/introspect', cert => 'dn',
        form => "token=$token&client_id=by-dn");
    is $r->{status}, 200, 'by-dn introspects with its certificate' or diag show($r);
    is $r->{json}{active} ? 1 : 0, 1, 'the token is active';
    is $r->{json}{cnf}{'x5t#S256'}, thumbprint('san'), 'cnf names the certificate';
};

subtest 'metrics count each method, authenticated or not' => sub {
    my $text = curl('GET', '/metrics')->{text};
    my %count = $text =~ /^oauth_client_authentications_total\{zone="tokens",(method="[a-z_]+",result="[a-z]+")\} (\d+)$/mg;
    cmp_ok $count{'method="tls_client_auth",result="ok"'} // 0, '>=', 3, 'tls_client_auth ok';
    cmp_ok $count{'method="tls_client_auth",result="failed"'} // 0, '>=', 5, 'tls_client_auth failed';
    cmp_ok $count{'method="self_signed_tls_client_auth",result="ok"'} // 0, '>=', 1,
        'self_signed_tls_client_auth ok';
    cmp_ok $count{'method="self_signed_tls_client_auth",result="failed"'} // 0, '>=', 2,
        'self_signed_tls_client_auth failed';
    cmp_ok $count{'method="other",result="failed"'} // 0, '>=', 1,
        'a certificate for a client of a secret: other, failed';
};

subtest 'metadata' => sub {
    my $r = curl('GET', '/.well-known/oauth-authorization-server');
    is_deeply $r->{json}{token_endpoint_auth_methods_supported},
        [qw(client_secret_basic client_secret_post private_key_jwt tls_client_auth
            self_signed_tls_client_auth)],
        'the certificate methods of the registry are listed';
    ok $r->{json}{tls_client_certificate_bound_access_tokens},
        'tls_client_certificate_bound_access_tokens';
};

subtest 'oauth-client-entry makes entries of certificate clients, without a secret' => sub {
    my $cmd = $ENV{OAUTH_CLIENT_ENTRY};
    plan skip_all => 'OAUTH_CLIENT_ENTRY is not set' unless $cmd && -x $cmd;
    unlink "$p/cli.json";
    for my $args (['--tls-client-auth', 'san_dns=client.example.com', '--bound-tokens', 'cli-san'],
                  ['--self-signed-cert', "$p/self.pem", 'cli-self']) {
        my ($rc, $out) = OAuthTest::run_command([$cmd, '--scope', 'read', '--add', "$p/cli.json",
            @$args], "$p/logs/cli.out");
        is $rc, 0, "oauth-client-entry @$args[0 .. $#$args - 1]" or diag $out;
        unlike $out, qr/client_secret/, 'no secret printed';
    }
    my $entries = decode_json(OAuthTest::slurp("$p/cli.json"))->{clients};
    is $entries->[0]{tls_client_auth_san_dns}, 'client.example.com', 'the SAN';
    ok $entries->[0]{tls_client_certificate_bound_access_tokens}, 'bound tokens';
    is $entries->[1]{jwks}{keys}[0]{x5c}[0], $self_x5c, 'the x5c is the certificate';
    ok !grep({ exists $_->{client_secret_hash} } @$entries), 'no secret hash';
};

# After the metrics: it restarts nginx, which starts them anew.
subtest 'an opaque bound token: the zone keeps its thumbprint, through a restart and a resize' => sub {
    my %token;
    for my $case (['san', 'bound'], ['self', 'self']) {
        my ($cert, $client) = @$case;
        my $r = token_with($cert, $client, path => '/opaque-token');
        is $r->{status}, 200, "$client: an opaque token" or diag show($r);
        $token{$client} = $r->{json}{access_token};
        unlike $token{$client}, qr/\./, 'not a JWT';
        is $r->{json}{token_type}, 'Bearer', 'token_type Bearer';
    }
    my $unbound = token_with('san', 'by-san', path => '/opaque-token')->{json}{access_token};
    my $gate_ok = sub {
        my ($when) = @_;
        for my $case (['san', 'bound', 'other'], ['self', 'self', 'san']) {
            my ($cert, $client, $stranger) = @$case;
            my $r = curl('GET', '/api/', cert => $cert, authorization => "Bearer $token{$client}");
            is $r->{status}, 200, "$when, $client: with its certificate" or diag show($r);
            for my $with ([$stranger, 'another certificate'], [undef, 'no certificate']) {
                $r = curl('GET', '/api/', cert => $with->[0],
                    authorization => "Bearer $token{$client}");
                is $r->{status}, 401, "$when, $client: with $with->[1]: 401";
                like $r->{challenge}, qr/error="invalid_token".*RFC 8705/, 'invalid_token';
            }
            $r = curl('POST', '/introspect', cert => 'dn',
                form => "token=$token{$client}&client_id=by-dn");
            is $r->{json}{cnf}{'x5t#S256'}, thumbprint($cert), "$when, $client: introspection's cnf"
                or diag show($r);
        }
        is curl('GET', '/api/', authorization => "Bearer $unbound")->{status}, 200,
            "$when, an unbound opaque token works on any connection";
        my $r = curl('POST', '/introspect', cert => 'dn', form => "token=$unbound&client_id=by-dn");
        ok $r->{json}{active} && !exists $r->{json}{cnf}, "$when, and has no cnf";
    };
    $gate_ok->('issued');
    $t->stop;
    $t->start;
    $gate_ok->('after a restart from the state file');
    ok $t->reload(http => $http =~ s/tokens:1m/tokens:2m/r), 'a reload that resizes the zone';
    $gate_ok->('after a resize');
};

subtest 'nginx -t names a registry entry that cannot authenticate' => sub {
    my ($rc, $out) = $t->test_config(clients => {clients => [
        {client_id => 'half', scope => 'read', token_endpoint_auth_method => 'tls_client_auth'}]});
    isnt $rc, 0, 'nginx -t fails';
    like $out, qr/clients\.json:\d+: client "half": tls_client_auth takes exactly one of/,
        'it names the client, the rule and the line';
};

done_testing;
