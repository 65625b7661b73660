# The fleet keeps history as long as any token can live (issue 18, item 5):
# each XADD trims the stream to MINID = now - (the longest token life + the
# 5 min a revoked JWT is remembered). A client's token_ttl in the registry
# (here 3600 s) longer than the endpoint's ttl (60 s) counts: a node that
# joins 30 min after a revocation of such a client's JWT must still find it.
# Two marker entries, put in the stream with old ids, show where the node's
# MINID falls: 63 min back is kept, 67 min back is trimmed (the horizon is
# 3600 + 300 s = 65 min; trimmed by the endpoint's ttl alone it was 6 min).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use MIME::Base64 ();
use Test::More;
use Time::HiRes qw(time);
use OAuthTest qw(need_module);
use OAuthFleet;

need_module();
OAuthFleet::need_redis();

my $KEY = 'oauth:tokens';
my $redis = OAuthFleet::Redis->start;
my $fleet = OAuthFleet->start(redis => $redis, nodes => 1, ttl => '60s', token_ttl => 3600);
ok defined $fleet->wait_synced(0, '1', OAuthFleet::slow(5)), 'the node is synced';

my $jwt = $fleet->token(0);
my ($payload) = $jwt =~ /^[^.]+\.([^.]+)\./;
$payload =~ tr{-_}{+/};
my $claims = decode_json(MIME::Base64::decode_base64($payload));
cmp_ok $claims->{exp} - $claims->{iat}, '==', 3600, "the client's JWT lives its token_ttl, not the endpoint's ttl";

my $now_ms = int(time * 1000);
my %marker = (beyond => $now_ms - 67 * 60_000, within => $now_ms - 63 * 60_000);
for my $name (qw(beyond within)) {    # in the order of their ids, as XADD wants
    like scalar $redis->cli('XADD', $KEY, "$marker{$name}-0", 'marker', $name), qr/^\Q$marker{$name}\E-0/,
        "a marker $name the horizon";
}

$fleet->revoke(0, $jwt);
my $digest = OAuthFleet::digest($jwt);
my $published = OAuthFleet::wait_for(OAuthFleet::slow(5),
    sub { grep { ($_->[1]{digest} // '') eq $digest } $redis->entries($KEY) });
ok defined $published, 'the revocation is published (its XADD trims)';

my %left = map { $_->[1]{marker} ? ($_->[1]{marker} => 1) : () } $redis->entries($KEY);
ok $left{within}, 'an entry 63 min old is kept: it may revoke a token of 3600 s';
ok !$left{beyond}, 'an entry 67 min old is trimmed: no token lives that long';

$fleet->stop;
done_testing;
