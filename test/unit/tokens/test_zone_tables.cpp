// A zone's token store and revocation list as one (zone_tables.hpp): the
// rules of revoking and restoring, which every path that changes a zone
// (the revocation endpoint, a fleet entry, a state file, a resize) follows.
#include "unit.hpp"

#include <vector>

#include "core/jose/gate.hpp"
#include "core/jose/jws.hpp"
#include "core/tokens/token.hpp"
#include "core/tokens/zone_tables.hpp"
#include "fixtures.hpp"

namespace {

using oauth::OpaqueRevoked;
using oauth::RevocationCharge;
using oauth::RevocationList;
using oauth::RevocationRestored;
using oauth::WhenUnlisted;

constexpr uint32_t kNow = 1700000000;
constexpr uint32_t kExp = kNow + 300;

struct Zone {
    fixture::Store memory;
    oauth::TokenStore store = memory.open();
    std::vector<uint64_t> revoked_memory = std::vector<uint64_t>(2048);
    RevocationList revocations = open_revocations();
    oauth::ZoneTables tables{store, revocations};
    uint32_t retry_after = 0;

    RevocationList open_revocations() {
        size_t size = revoked_memory.size() * sizeof(uint64_t);
        assert_true(RevocationList::format(revoked_memory.data(), size));
        return RevocationList(revoked_memory.data(), {});
    }
    oauth::Digest issue(const std::string &token, const char *client) {
        uint32_t retry = 0;
        oauth::Digest digest = oauth::digest_token(token);
        assert_int_equal(int(store.insert(digest, client, "a", 1, kNow - 10, kExp, kNow, retry)),
                         int(oauth::InsertResult::ok));
        return digest;
    }
    bool live(const oauth::Digest &digest) const {
        oauth::TokenGrant grant;
        return store.find(digest, kNow, grant);
    }
    OpaqueRevoked revoke(const oauth::Digest &digest, const char *client, RevocationCharge charge,
                         WhenUnlisted when_unlisted = WhenUnlisted::token_stays) {
        return tables.revoke_opaque(digest, client, charge, when_unlisted, kNow, retry_after);
    }
};

// The charge of a client already holding its whole share of one entry.
RevocationCharge at_share(Zone &zone, const char *client) {
    RevocationCharge charge{RevocationList::client_tag(client), 1};
    zone.tables.list({oauth::digest_token("listed-before"), kNow + 60}, charge, kNow,
                     zone.retry_after);
    return charge;
}

void an_opaque_token_is_listed_until_it_expires_then_leaves_the_store(void **) {
    Zone zone;
    oauth::Digest digest = zone.issue("tok", "app");
    assert_int_equal(int(zone.revoke(digest, "app", {})), int(OpaqueRevoked::revoked));
    assert_false(zone.live(digest));
    assert_true(zone.revocations.contains(digest, kExp - 1));
    assert_false(zone.revocations.contains(digest, kExp));
}

// RFC 7009 §2.1: a client revokes only its own tokens.
void another_clients_token_is_left_alone(void **) {
    Zone zone;
    oauth::Digest digest = zone.issue("tok", "app");
    assert_int_equal(int(zone.revoke(digest, "intruder", {})), int(OpaqueRevoked::foreign));
    assert_true(zone.live(digest));
    assert_false(zone.revocations.contains(digest, kNow));
}

void a_token_not_held_lists_nothing(void **) {
    Zone zone;
    oauth::Digest digest = oauth::digest_token("elsewhere");
    assert_int_equal(int(zone.revoke(digest, "app", {})), int(OpaqueRevoked::not_held));
    assert_false(zone.revocations.contains(digest, kNow));
}

// The endpoint answers 503, "retry": the token must still be live then, or
// a restart from a state file would bring back what the client was told
// is not revoked.
void a_refused_listing_keeps_the_token_when_the_revoker_must_retry(void **) {
    Zone zone;
    oauth::Digest digest = zone.issue("tok", "app");
    RevocationCharge charge = at_share(zone, "app");
    assert_int_equal(int(zone.revoke(digest, "app", charge)), int(OpaqueRevoked::client_at_share));
    assert_true(zone.live(digest));
    assert_false(zone.revocations.contains(digest, kNow));
    assert_int_equal(zone.retry_after, 60);  // until the client's entry expires
}

// A fleet entry was answered 200 on its node: revoked here all the same.
void a_refused_listing_still_revokes_what_was_answered_elsewhere(void **) {
    Zone zone;
    oauth::Digest digest = zone.issue("tok", "app");
    RevocationCharge charge = at_share(zone, "app");
    assert_int_equal(int(zone.revoke(digest, "app", charge, WhenUnlisted::token_goes)),
                     int(OpaqueRevoked::client_at_share));
    assert_false(zone.live(digest));
}

// Every twin of a JWT (another form of its signature) shares the entry, and
// no leeway a gate grants lets it back in after its exp.
void a_jwt_is_listed_by_its_signing_input_past_any_leeway(void **) {
    oauth::RevocationEntry entry = oauth::ZoneTables::jwt_revocation("h.p.sig", kExp);
    assert_true(entry.digest == oauth::jose::digest_jws("h.p.sig").signed_part);
    assert_true(entry.digest == oauth::ZoneTables::jwt_revocation("h.p.twin", kExp).digest);
    assert_int_equal(entry.until, kExp + oauth::jose::kMaxLeeway);

    Zone zone;
    assert_int_equal(int(zone.tables.list(entry, {}, kNow, zone.retry_after)),
                     int(oauth::RevocationAdded::added));
    assert_true(zone.revocations.contains(entry.digest, kExp + oauth::jose::kMaxLeeway - 1));
}

// A revocation from the zone's history takes its token out, whoever's it
// is, and counts against no client's share.
void a_restored_revocation_takes_its_token_out(void **) {
    Zone zone;
    oauth::Digest digest = zone.issue("tok", "app");
    at_share(zone, "app");
    assert_int_equal(int(zone.tables.restore_revocation({digest, kExp}, kNow)),
                     int(RevocationRestored::restored));
    assert_false(zone.live(digest));
    assert_true(zone.revocations.contains(digest, kExp - 1));
}

void an_expired_or_listed_revocation_is_skipped(void **) {
    Zone zone;
    oauth::Digest digest = oauth::digest_token("tok");
    assert_int_equal(int(zone.tables.restore_revocation({digest, kNow}, kNow)),
                     int(RevocationRestored::skipped));
    assert_false(zone.revocations.contains(digest, kNow - 1));
    zone.tables.restore_revocation({digest, kExp}, kNow);
    assert_int_equal(int(zone.tables.restore_revocation({digest, kExp + 100}, kNow)),
                     int(RevocationRestored::skipped));
    assert_false(zone.revocations.contains(digest, kExp));  // its expiry unchanged
}

// A restored token keeps every scope and audience it was granted, whatever
// the client's lists say now.
void a_restored_token_keeps_its_whole_grant(void **) {
    Zone zone;
    oauth::Digest digest = oauth::digest_token("tok");
    assert_true(zone.tables.restore_token(
        digest, "app", "x y z", "https://a.example https://b.example", kNow - 10, kExp, kNow));
    oauth::TokenGrant grant;
    assert_true(zone.store.find(digest, kNow, grant));
    assert_text(grant.client(), "app");
    assert_text(grant.scopes(), "x y z");
    assert_text(grant.audiences(), "https://a.example https://b.example");
    assert_int_equal(grant.issued_at, kNow - 10);
    assert_int_equal(grant.expires_at, kExp);

    // The same from a grant copied out of another zone.
    Zone other;
    assert_true(other.tables.restore_token(digest, grant, kNow));
    oauth::TokenGrant copied;
    assert_true(other.store.find(digest, kNow, copied));
    assert_text(copied.scopes(), "x y z");
    assert_text(copied.audiences(), grant.audiences());
}

// Each was within its client's cap when issued: a restore caps nobody.
void restored_tokens_are_not_capped(void **) {
    Zone zone;
    size_t beyond_cap = zone.store.capacity() / 4 + 10;
    for (size_t i = 0; i < beyond_cap; ++i) {
        assert_true(zone.tables.restore_token(oauth::digest_token("t" + std::to_string(i)), "app",
                                              "a", "", kNow - 10, kExp, kNow));
    }
    uint32_t retry = 0;
    assert_int_equal(int(zone.store.insert(oauth::digest_token("issued"), "app", "a", 1, kNow, kExp,
                                           kNow, retry)),
                     int(oauth::InsertResult::client_at_cap));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_opaque_token_is_listed_until_it_expires_then_leaves_the_store),
        cmocka_unit_test(another_clients_token_is_left_alone),
        cmocka_unit_test(a_token_not_held_lists_nothing),
        cmocka_unit_test(a_refused_listing_keeps_the_token_when_the_revoker_must_retry),
        cmocka_unit_test(a_refused_listing_still_revokes_what_was_answered_elsewhere),
        cmocka_unit_test(a_jwt_is_listed_by_its_signing_input_past_any_leeway),
        cmocka_unit_test(a_restored_revocation_takes_its_token_out),
        cmocka_unit_test(an_expired_or_listed_revocation_is_skipped),
        cmocka_unit_test(a_restored_token_keeps_its_whole_grant),
        cmocka_unit_test(restored_tokens_are_not_capped),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
