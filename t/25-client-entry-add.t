# oauth-client-entry --add FILE: the entry goes into a registry file, which a
# real nginx then loads, and the new clients get tokens. A duplicate client_id
# or a broken file is refused and the file is left as it was.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use POSIX ();
use Test::More;
use OAuthTest qw(need_module token_ok invalid_client_ok);

need_module();
my $cmd = $ENV{OAUTH_CLIENT_ENTRY};
plan skip_all => 'OAUTH_CLIENT_ENTRY is not set' unless $cmd && -x $cmd;

my $t = OAuthTest->new;
my $p = $t->prefix;
mkdir "$p/oauth" or die "mkdir: $!";
my $registry = "$p/oauth/clients.json";

# Runs the command; (exit status, stdout, stderr, the secret it showed).
sub client_entry {
    my (@args) = @_;
    my $out = "$p/logs/entry";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$out.stdout" or POSIX::_exit(127);
        open STDERR, '>', "$out.stderr" or POSIX::_exit(127);
        exec $cmd, @args or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $stderr = OAuthTest::slurp("$out.stderr");
    my ($secret) = $stderr =~ /^client_secret: (\S+)$/m;
    return ($? >> 8, OAuthTest::slurp("$out.stdout"), $stderr, $secret);
}

sub registry_ids {
    my $doc = eval { JSON::PP->new->decode(OAuthTest::slurp($registry)) };
    return $doc ? [map { $_->{client_id} } @{ $doc->{clients} }] : undef;
}

sub mode_of { return sprintf '%04o', (stat $_[0])[2] & 07777 }

my %secret;

subtest 'no file yet: created with the entry alone, mode 0600' => sub {
    my ($rc, $stdout, $stderr, $s) = client_entry('--add', $registry, '--scope', 'read write', 'first');
    is $rc, 0, 'exit 0' or diag $stderr;
    is $stdout, '', 'nothing on stdout: the entry is in the file';
    ok defined $s, 'the secret is shown once on stderr';
    like $stderr, qr/added client "first" to \Q$registry\E/, 'says where the entry went';
    is_deeply registry_ids(), ['first'], 'the file is {"clients": [entry]}';
    is mode_of($registry), '0600', 'readable by its owner only';
    unlike OAuthTest::slurp($registry), qr/\Q$s\E/, 'the file holds a hash, not the secret' if $s;
    $secret{first} = $s;
};

subtest 'an existing file: the entry is appended, the mode kept' => sub {
    chmod 0640, $registry or die;
    my ($rc, $stdout, $stderr, $s) = client_entry('--add', $registry, '--scope', 'read', 'second');
    is $rc, 0, 'exit 0' or diag $stderr;
    is_deeply registry_ids(), ['first', 'second'], 'both clients, in order: valid JSON, the comma in place';
    is mode_of($registry), '0640', 'the mode is kept';
    $secret{second} = $s;
};

subtest 'a client_id the file already has: refused, the file unchanged' => sub {
    my $before = OAuthTest::slurp($registry);
    my ($rc, $stdout, $stderr, $s) = client_entry('--add', $registry, 'first');
    is $rc, 2, 'exit 2';
    like $stderr, qr/\Q$registry\E already has client_id "first"/, 'names the file and the client';
    ok !defined $s, 'no secret shown for an entry that was not added';
    is OAuthTest::slurp($registry), $before, 'the file is unchanged';
};

subtest 'a broken file: refused with its line, the file unchanged' => sub {
    my $broken = "$p/oauth/broken.json";
    my $text = qq({"clients": [\n  {"client_id": "a", "client_secret_hash": "\$sha256\$x", "scope": ""}\n  {"client_id": "b"}\n]}\n);
    $t->write_file($broken, $text);
    my ($rc, $stdout, $stderr) = client_entry('--add', $broken, 'c');
    is $rc, 1, 'exit 1';
    like $stderr, qr/\Q$broken\E:\d+: .*left unchanged/, 'names the file and its line' or diag $stderr;
    is OAuthTest::slurp($broken), $text, 'the file is unchanged';
};

subtest 'an empty file (install -m 600 /dev/null FILE) takes its first client' => sub {
    my $empty = "$p/oauth/empty.json";
    $t->write_file($empty, '');
    my ($rc, $stdout, $stderr) = client_entry('--add', $empty, 'solo');
    is $rc, 0, 'exit 0' or diag $stderr;
    my $doc = JSON::PP->new->decode(OAuthTest::slurp($empty));
    is $doc->{clients}[0]{client_id}, 'solo', 'the entry is its one client';
    is mode_of($empty), '0644', 'the mode it had is kept';
};

subtest 'a link to the registry stays a link' => sub {
    my $link = "$p/clients-link.json";
    symlink $registry, $link or die "symlink: $!";
    my ($rc, $stdout, $stderr, $s) = client_entry('--add', $link, '--scope', 'read', 'third');
    is $rc, 0, 'exit 0' or diag $stderr;
    ok -l $link, 'still a link';
    is_deeply registry_ids(), ['first', 'second', 'third'], 'the entry went into the file it points to';
    $secret{third} = $s;
};

# A public JWK Set, as a private_key_jwt client hands it over.
my $key = $t->genpkey('partner.pem', 'ES256');
my $jwks_text = `openssl pkey -in $key -pubout -outform DER 2>/dev/null`;
my ($x, $y) = map { (my $b = OAuthTest::b64_nopad($_)) =~ tr{+/}{-_}; $b }
    (substr($jwks_text, -64, 32), substr($jwks_text, -32));
my $jwks = encode_json({keys => [{kty => 'EC', crv => 'P-256', x => $x, y => $y, kid => 'p1'}]});
$t->write_file('oauth/partner.jwks', $jwks);

subtest 'private_key_jwt clients: --jwks and --jwks-file, no secret' => sub {
    my ($rc, $stdout, $stderr, $s) =
        client_entry('--add', $registry, '--jwks', "$p/oauth/partner.jwks", 'partner');
    is $rc, 0, '--jwks: exit 0' or diag $stderr;
    ok !defined $s, 'no secret is made or shown';
    my ($entry) = grep { $_->{client_id} eq 'partner' }
        @{ decode_json(OAuthTest::slurp($registry))->{clients} };
    is $entry->{token_endpoint_auth_method}, 'private_key_jwt', 'token_endpoint_auth_method';
    is_deeply $entry->{jwks}, decode_json($jwks), 'the JWK Set inline';
    ok !exists $entry->{client_secret_hash}, 'no client_secret_hash';
    ($rc, $stdout, $stderr, $s) = client_entry('--jwks-file', 'oauth/partner.jwks', 'filed');
    is $rc, 0, '--jwks-file: exit 0' or diag $stderr;
    is_deeply decode_json($stdout), {client_id => 'filed', token_endpoint_auth_method =>
        'private_key_jwt', jwks_file => 'oauth/partner.jwks', scope => ''}, 'the entry names the file';
    ($rc, $stdout, $stderr) = client_entry('--jwks', $registry, 'broken');
    is $rc, 2, 'a file that is no JWK Set: exit 2';
    like $stderr, qr/"jwks"/, 'naming the field';
    ($rc, $stdout, $stderr) = client_entry('--jwks', "$p/oauth/partner.jwks", '--auth-method',
        'client_secret_post', 'both');
    is $rc, 2, '--jwks with --auth-method: exit 2';
};

subtest '--auth-method: the one way a secret is sent' => sub {
    my ($rc, $stdout, $stderr, $s) =
        client_entry('--add', $registry, '--auth-method', 'client_secret_post', '--scope', 'read', 'poster');
    is $rc, 0, 'exit 0' or diag $stderr;
    $secret{poster} = $s;
    ($rc) = client_entry('--auth-method', 'client_secret_jwt', 'nope');
    is $rc, 2, 'an unknown method: exit 2';
};

subtest 'no temporary file is left beside the registry' => sub {
    opendir my $dir, "$p/oauth" or die;
    my @left = grep { /\.json\./ } readdir $dir;
    is_deeply \@left, [], 'only the registry files';
};

subtest 'nginx loads the registry, and each added client gets a token' => sub {
    $t->write_conf(http => <<"EOF");
oauth_token_zone tokens:1m;
oauth_clients $registry;
oauth_issuer http://127.0.0.1:%%PORT%%;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
}
EOF
    $t->start;
    token_ok($t->token_request(basic => ['first', $secret{first}]), scope => 'read write', name => 'first');
    token_ok($t->token_request(basic => ['second', $secret{second}]), scope => 'read', name => 'second');
    token_ok($t->token_request(basic => ['third', $secret{third}]), scope => 'read', name => 'third');
    invalid_client_ok($t->token_request(basic => ['second', $secret{first}]), 'another client\'s secret',
        'Basic realm="oauth"');
    token_ok($t->token_request(form => [grant_type => 'client_credentials', client_id => 'poster',
        client_secret => $secret{poster}]), scope => 'read', name => 'poster, in the body');
    invalid_client_ok($t->token_request(basic => ['poster', $secret{poster}]),
        'poster by Basic, which it did not register', 'Basic realm="oauth"');
    $t->stop;
};

done_testing;
