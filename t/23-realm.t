# oauth_realm cannot break a header (RFC 9110 §5.6.4, §11.5): a realm with a
# control character fails `nginx -t` naming the character, the file and the
# line; '"' and '\' are sent as quoted-pairs in the Basic and the Bearer
# challenges alike.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use OAuthTest qw(need_module sha256_hash random_secret error_ok);

need_module();

my $secret = random_secret();
my $t = OAuthTest->start(
    files   => {'ok.txt' => 'ok'},
    clients => {clients => [
        {client_id => 'app', client_secret_hash => sha256_hash($secret), scope => 'read'}]},
    http => <<'CONF',
oauth_token_zone tokens:1m;
oauth_clients clients.json;
oauth_realm 'say "hi" \\ bye';
server {
    listen 127.0.0.1:%%PORT%%;
    location = /token { oauth_token_endpoint; }
    location /api { oauth_require_scope read; alias %%PREFIX%%/ok.txt; }
}
CONF
);

my $escaped = 'realm="say \"hi\" \\\\ bye"';

subtest 'the Basic challenge escapes the realm' => sub {
    my $r = $t->token_request(basic => ['app', 'wrong']);
    error_ok($r, 401, 'invalid_client', 'a wrong secret');
    is $r->{headers}{'www-authenticate'}, "Basic $escaped", 'quoted-pairs for " and \\';
};

subtest 'the Bearer challenge escapes the realm' => sub {
    my $r = $t->request('GET', '/api');
    is $r->{status}, 401, 'no token';
    is $r->{headers}{'www-authenticate'}, "Bearer $escaped", 'quoted-pairs for " and \\';
    $r = $t->request('GET', '/api', {headers => {Authorization => 'Bearer unknown'}});
    is $r->{headers}{'www-authenticate'},
        qq(Bearer $escaped, error="invalid_token", error_description="the access token is unknown, expired or revoked"),
        'with the error attributes after it';
};

subtest 'nginx -t refuses a realm with a control character' => sub {
    for my $case (['api\r\nSet-Cookie: x=1', '0x0D CR', 4], ['a\nb', '0x0A LF', 2],
        ['a\tb', '0x09 HTAB', 2], ["a\x7f", '0x7F DEL', 2], ["x\x01", '0x01', 2]) {
        my ($realm, $named, $byte) = @$case;
        my ($rc, $out) = $t->nginx_t($t->conf_text(http => <<"CONF"), 'bad.conf');
oauth_token_zone tokens:1m;
server {
    listen 127.0.0.1:%%PORT%%;
    oauth_realm "$realm";
}
CONF
        isnt $rc, 0, "$named refused";
        like $out, qr/\[emerg\] (?:\d+#\d+: )?invalid oauth_realm: a control character \(\Q$named\E\) at byte $byte: .*RFC 9110 .* in \S*bad\.conf:(\d+)/,
            "the message names $named, the file and the line";
        my ($line) = $out =~ /\[emerg\].*?bad\.conf:(\d+)/;
        my @lines = split /\n/, OAuthTest::slurp($t->prefix . '/bad.conf');
        my ($realm_line) = grep { $lines[$_ - 1] =~ /oauth_realm/ } 1 .. @lines;
        is $line, $realm_line, 'the line of the oauth_realm directive';
        unlike $out, qr/Set-Cookie/, 'the bad value is not echoed';
    }
};

done_testing;
