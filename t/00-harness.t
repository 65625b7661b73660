# The harness itself, against stock nginx (no module needed).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256);
use MIME::Base64 qw(decode_base64);
use Test::More;
use OAuthTest qw(form_encode form_body basic_credentials pbkdf2_sha256 pbkdf2_hash sha256_hash);

subtest 'form encoding (RFC 6749 appendix B)' => sub {
    is form_encode('a b'), 'a+b';
    is form_encode('AZaz09-._*'), 'AZaz09-._*';
    is form_encode(":+%/~!'()"), '%3A%2B%25%2F%7E%21%27%28%29';
    is form_encode("\x{2603}"), "%E2%98%83", "characters as UTF-8";
    is form_body([grant_type => 'client_credentials', scope => 'a b']),
        'grant_type=client_credentials&scope=a+b';
    is basic_credentials('my id', 'p:w%'), 'Basic ' . MIME::Base64::encode_base64('my+id:p%3Aw%25', '');
    is basic_credentials('my id', 'p:w', raw => 1), 'Basic ' . MIME::Base64::encode_base64('my id:p:w', '');
};

subtest 'PBKDF2-HMAC-SHA256 test vectors (RFC 7914 §11)' => sub {
    is unpack('H*', pbkdf2_sha256('passwd', 'salt', 1, 32)),
        '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc';
    is unpack('H*', pbkdf2_sha256('password', 'salt', 2, 32)),
        'ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43';
    like pbkdf2_hash('s', 1000), qr/^\$pbkdf2-sha256\$i=1000\$[A-Za-z0-9+\/]{22}\$[A-Za-z0-9+\/]{43}$/;
    like sha256_hash('s'), qr/^\$sha256\$[A-Za-z0-9+\/]{43}$/;
};

my $http = <<'EOF';
server {
    listen 127.0.0.1:%%PORT%%;
    add_header X-Pid $pid always;
    location / { return 200 "ok"; }
    location = /prefix { return 200 "%%PREFIX%%"; }
}
EOF

my $t = OAuthTest->start(module => 0, http => $http);

subtest 'serves requests' => sub {
    my $r = $t->request(GET => '/');
    is $r->{status}, 200;
    is $r->{content}, 'ok';
    is $t->request(GET => '/prefix')->{content}, $t->prefix, '%%PREFIX%% substituted';
    my @w = $t->worker_pids;
    is scalar @w, 2, 'two workers';
};

subtest 'raw requests' => sub {
    my $r = $t->raw("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        . "Connection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    is $r->{status}, 200;
    is $r->{content}, 'ok';
    like $r->{raw}, qr{^HTTP/1\.1 200 };
    $r = $t->raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    is $r->{status}, 200, 'keep-alive response read up to Content-Length';
};

subtest 'fresh connections reach both workers' => sub {
    my %seen;
    for (1 .. 400) {
        my $r = $t->request(GET => '/');
        $seen{ $r->{headers}{'x-pid'} }++;
        last if keys %seen == 2;
    }
    is scalar keys %seen, 2, 'answers from two worker pids' or diag explain \%seen;
};

subtest 'reload' => sub {
    my @old = $t->worker_pids;
    (my $new = $http) =~ s/"ok"/"reloaded"/;
    ok $t->reload(http => $new), 'reload done';
    my @now = $t->worker_pids;
    is scalar @now, 2;
    ok !(grep { my $o = $_; grep { $_ == $o } @now } @old), 'new workers';
    is $t->request(GET => '/')->{content}, 'reloaded';

    ok !$t->reload(http => "server { listen 127.0.0.1:%%PORT%%; bogus_directive; }"),
        'broken config refused';
    like $t->error_log, qr/unknown directive "bogus_directive"/;
    is $t->request(GET => '/')->{content}, 'reloaded', 'old config keeps serving';
};

subtest 'nginx -t helper' => sub {
    my ($rc, $out) = $t->nginx_t("events {}\nhttp { server { listen 127.0.0.1:%%PORT%%; } }\n");
    is $rc, 0;
    like $out, qr/test is successful/;
    ($rc, $out) = $t->nginx_t("events {}\nhttp { nonsense; }\n");
    isnt $rc, 0;
    like $out, qr/unknown directive "nonsense"/;
};

subtest 'start failure dies with the log' => sub {
    my $bad = eval { OAuthTest->start(module => 0, http => 'bogus;') };
    ok !$bad;
    like $@, qr/unknown directive "bogus"/;
};

subtest 'stop' => sub {
    my $master = $t->master_pid;
    my @w = $t->worker_pids;
    $t->stop;
    ok !OAuthTest::alive($master), "master gone";
    ok !(grep { OAuthTest::alive($_) } @w), "workers gone";
};

done_testing;
