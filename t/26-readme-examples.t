# The README's "Using it" examples, run as written against the configuration
# they say they use: nginx.conf.example with examples/clients.json, as
# `make demo` runs it (scripts/demo-conf), on free ports instead of 8080/8081.
# Every curl of the section must succeed, so that no example names a client,
# secret or path the demo does not have.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use File::Copy qw(copy);
use Test::More;
use OAuthTest qw(need_module);

need_module();
plan skip_all => 'runs the demo configuration, which the harness cannot put under memcheck: not under valgrind'
    if $ENV{OAUTH_VALGRIND};

plan skip_all => 'curl is not installed' unless grep { -x "$_/curl" } split /:/, $ENV{PATH};

# An OAuthTest whose configuration is the demo's, not one it writes itself.
package DemoTest {
    our @ISA = ('OAuthTest');
    sub write_conf { my ($self) = @_; return $self->write_file($self->conf_path, $self->{demo_conf}) }
}

my $top = "$FindBin::Bin/..";
my $t = DemoTest->new(workers => 2);
my $p = $t->prefix;
my $backend = OAuthTest::free_port();
mkdir "$p/$_" for qw(modules temp);
copy($ENV{OAUTH_MODULE}, "$p/modules/ngx_http_oauth_module.so") or die "copy module: $!";
copy("$top/examples/clients.json", "$p/clients.json") or die "copy clients: $!";
my $conf = $t->output_of("$top/scripts/demo-conf", $p);
$conf =~ s/127\.0\.0\.1:8080/127.0.0.1:${\ $t->port}/g;
$conf =~ s/127\.0\.0\.1:8081/127.0.0.1:$backend/g;
$t->{demo_conf} = $conf;
$t->start;

# The section's shell lines that run curl, continuation lines joined, each
# with the JSON answer the README shows on the next line, if any.
sub using_it_examples {
    my $readme = OAuthTest::slurp("$top/README.md");
    my ($section) = $readme =~ /^## Using it\n(.*?)^## /ms or die 'README has no "Using it"';
    $section =~ s/\\\n\s*/ /g;
    my @lines = split /\n/, $section;
    return map { [$lines[$_], ($lines[$_ + 1] // '') =~ /^\{/ ? $lines[$_ + 1] : undef] }
        grep { $lines[$_] =~ /^curl / } 0 .. $#lines;
}

# The members of a JSON object, in order (the values differ from run to run).
sub member_names { return [map { /^"([^"]+)"$/ ? $1 : () } $_[0] =~ /("[^"]*")(?=:)/g] }

my @examples = using_it_examples();
my @commands = map { $_->[0] } @examples;
my %shown = map { $_->[1] ? ($_->[0] => $_->[1]) : () } @examples;
ok @commands >= 5, scalar(@commands) . ' curl examples found';

# The token the examples call $TOKEN: one of the demo's client, as the
# README's first example gets it.
my ($token) = `curl -s -u demo:demo-secret -d grant_type=client_credentials ${\ $t->url('/oauth/token')}`
    =~ /"access_token":"([^"]+)"/;
ok $token, 'the first example gets a token';
local $ENV{TOKEN} = $token // '';

# Revocation last: the other examples use the token.
for my $command (sort { ($a =~ m{/oauth/revoke}) <=> ($b =~ m{/oauth/revoke}) } @commands) {
    (my $run = $command) =~ s{http://127\.0\.0\.1:8080}{http://127.0.0.1:${\ $t->port}}g;
    my $out = `$run -w '\\n%{http_code}' 2>&1`;
    my ($body, $status) = $out =~ /\A(.*)\n(\d+)\z/s;
    is $status, 200, "200: $command" or diag $out;
    like $body, qr/"active":true,"client_id":"demo"/, 'the introspection example finds the token active'
        if $command =~ m{/oauth/introspect};
    is_deeply member_names($body // ''), member_names($shown{$command}), 'the answer has the members the README shows'
        if $shown{$command};
}

$t->stop;
done_testing;
