// The gate's check of own JWTs: the verdict cache in shared memory and the
// registry that own tokens answer to.
#include <cstring>
#include <vector>

#include "unit.hpp"

#include "core/jose/gate.hpp"
#include "core/jose/jws.hpp"
#include "core/jose/verdict_cache.hpp"
#include "fixtures.hpp"

using namespace oauth::jose;

namespace {

constexpr uint32_t kNow = 1700000000;
const char *const kIssuer = "https://as.test";

struct Region {
    explicit Region(size_t size = VerdictCache::kMinRegionSize) : memory(size) {
        VerdictCache::format(memory.data(), memory.size());
    }
    VerdictCache open() { return VerdictCache(memory.data(), oauth::StoreLock{}); }
    std::vector<char> memory;
};

oauth::Digest digest_of(int n) {
    return oauth::digest_token(std::to_string(n));
}

Key fresh_key() {
    Key key;
    key.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    key.kid = "k";
    return key;
}

std::string token_for(const Key &key, std::string_view client, std::string_view scope,
                      uint32_t ttl = 60) {
    std::string token;
    AccessTokenClaims claims{kIssuer, client, {kIssuer}, kNow, kNow + ttl, scope};
    assert_true(issue_access_token(key, claims, token));
    return token;
}

// ---- the verdict cache -------------------------------------------------------

const KeyFingerprint kKeyA{1}, kKeyB{2};

void a_remembered_digest_is_known_until_it_expires(void **) {
    Region region;
    VerdictCache cache = region.open();
    assert_false(cache.verified_with(digest_of(1), kNow).has_value());
    cache.remember(digest_of(1), kKeyA, kNow + 10, kNow);
    assert_true(cache.verified_with(digest_of(1), kNow) == kKeyA);
    assert_true(cache.verified_with(digest_of(1), kNow + 9) == kKeyA);
    assert_false(cache.verified_with(digest_of(1), kNow + 10).has_value());
    assert_false(cache.verified_with(digest_of(2), kNow).has_value());
    cache.remember(digest_of(1), kKeyB, kNow + 10, kNow);  // verified again by another key
    assert_true(cache.verified_with(digest_of(1), kNow) == kKeyB);
}

// However many tokens come, the table stays its size and keeps serving.
void a_full_table_evicts_and_stays_bounded(void **) {
    Region region;
    VerdictCache cache = region.open();
    for (int i = 0; i < 10000; ++i) {
        cache.remember(digest_of(i), kKeyA, kNow + 100 + uint32_t(i), kNow);
    }
    int known = 0;
    for (int i = 0; i < 10000; ++i) {
        known += cache.verified_with(digest_of(i), kNow).has_value();
    }
    assert_true(known > 0);
    assert_true(size_t(known) * 52 <= VerdictCache::kMinRegionSize);
    assert_true(cache.verified_with(digest_of(9999), kNow).has_value());  // the newest stays
    assert_true(VerdictCache::is_formatted(region.memory.data(), region.memory.size()));
}

void a_foreign_region_is_not_formatted(void **) {
    std::vector<char> memory(VerdictCache::kMinRegionSize, 'x');
    assert_false(VerdictCache::is_formatted(memory.data(), memory.size()));
    assert_false(VerdictCache::format(memory.data(), 100));
}

// ---- own tokens ------------------------------------------------------------------

struct Gate {
    Gate() : keys{fresh_key()} {}
    GatePolicy policy(const oauth::Registry &r) { return {kIssuer, &keys, &r, &trusted, 0}; }
    bool verify(const std::string &token, oauth::TokenGrant &grant, const oauth::Registry &r) {
        GatePolicy gate = policy(r);
        JwtVerifier verifier(gate, region.open());
        bool ok = verifier.verify(token, kNow, grant);
        failure = verifier.failure();
        claims = verifier.claims();
        return ok;
    }
    std::vector<Key> keys;
    std::vector<TrustedIssuer> trusted;
    Region region;
    JwtCheck failure = JwtCheck::ok;
    VerifiedToken claims;
};

void a_good_token_passes_and_its_signature_is_remembered(void **) {
    Gate gate;
    auto registry = fixture::standard_registry();
    std::string token = token_for(gate.keys[0], "app", "a b");
    oauth::TokenGrant grant;
    assert_true(gate.verify(token, grant, *registry));
    assert_text(grant.client(), "app");
    assert_text(grant.scopes(), "a b");
    assert_int_equal(grant.expires_at, kNow + 60);
    assert_true(gate.region.open().verified_with(oauth::digest_token(token), kNow) ==
                key_fingerprint(gate.keys[0]));
    assert_true(gate.verify(token, grant, *registry));  // from the cache, checked again
}

// oauth_require_claim and oauth_claim_set read a seen token's claims as the
// worker kept them: not parsed again. The worker keeps a token from its
// second presentation on (its verdict found), not one presented once.
void a_seen_tokens_claims_are_kept_not_parsed_again(void **) {
    Gate gate;
    auto registry = fixture::standard_registry();
    std::string token = token_for(gate.keys[0], "app", "a b");
    oauth::TokenGrant grant;
    assert_true(gate.verify(token, grant, *registry));
    ClaimSet first = gate.claims.claim_set;
    assert_non_null(first.get());
    assert_text(json_string_value(json_object_get(first.get(), "client_id")), "app");
    assert_true(gate.verify(token, grant, *registry));
    ClaimSet kept = gate.claims.claim_set;
    assert_ptr_not_equal(kept.get(), first.get());  // parsed again: first sight was not kept
    assert_true(gate.verify(token, grant, *registry));
    assert_ptr_equal(gate.claims.claim_set.get(), kept.get());
}

void a_forged_token_is_refused_and_not_remembered(void **) {
    Gate gate;
    auto registry = fixture::standard_registry();
    std::string token = token_for(fresh_key(), "app", "a");  // another key, same kid
    oauth::TokenGrant grant;
    assert_false(gate.verify(token, grant, *registry));
    assert_int_equal(gate.failure, JwtCheck::signature);
    assert_false(gate.region.open().verified_with(oauth::digest_token(token), kNow).has_value());
}

void a_removed_client_is_refused(void **) {
    Gate gate;
    auto registry = fixture::standard_registry();
    std::string token = token_for(gate.keys[0], "gone", "a");
    oauth::TokenGrant grant;
    assert_false(gate.verify(token, grant, *registry));
    assert_int_equal(gate.failure, JwtCheck::client);
}

void scopes_are_cut_to_what_the_client_still_has(void **) {
    Gate gate;
    auto before = fixture::standard_registry();  // app: a b c
    std::string token = token_for(gate.keys[0], "app", "a b c b");
    oauth::TokenGrant grant;
    assert_true(gate.verify(token, grant, *before));
    assert_text(grant.scopes(), "a b c");
    auto after = fixture::registry(R"({"clients":[{"client_id":"app","client_secret_hash":")" +
                                   fixture::sha256_hash("s") + R"(","scope":"c a"}]})");
    assert_true(gate.verify(token, grant, *after));
    assert_text(grant.scopes(), "a c");
}

void an_expired_token_is_refused_even_when_remembered(void **) {
    Gate gate;
    auto registry = fixture::standard_registry();
    std::string token = token_for(gate.keys[0], "app", "a", 10);
    oauth::TokenGrant grant;
    assert_true(gate.verify(token, grant, *registry));
    GatePolicy policy = gate.policy(*registry);
    JwtVerifier later(policy, gate.region.open());
    assert_false(later.verify(token, kNow + 10, grant));
    assert_int_equal(later.failure(), JwtCheck::exp);
}

// The worker's copy of a seen token is found by its signature and taken only
// for the very same text: a token that shares the signature but not the rest
// is checked in full, and a seen token that was revoked is refused.
void a_seen_token_is_taken_only_for_itself_and_never_once_revoked(void **) {
    Gate gate;
    auto registry = fixture::standard_registry();
    std::string token = token_for(gate.keys[0], "app", "a");
    oauth::TokenGrant grant;
    assert_true(gate.verify(token, grant, *registry));
    std::string other = token_for(gate.keys[0], "app", "b");
    std::string spliced = other.substr(0, other.rfind('.')) + token.substr(token.rfind('.'));
    assert_false(gate.verify(spliced, grant, *registry));
    assert_int_equal(gate.failure, JwtCheck::signature);

    std::vector<uint64_t> memory(oauth::RevocationList::kMinRegionSize / 8);
    assert_true(
        oauth::RevocationList::format(memory.data(), oauth::RevocationList::kMinRegionSize));
    oauth::RevocationList revocations(memory.data(), {});
    GatePolicy policy = gate.policy(*registry);
    policy.revocations = &revocations;
    JwtVerifier verifier(policy, gate.region.open());
    assert_true(verifier.verify(token, kNow, grant));
    assert_true(revocations.add(oauth::digest_token(token), kNow + 60, kNow));
    assert_false(verifier.verify(token, kNow, grant));
    assert_int_equal(verifier.failure(), JwtCheck::revoked);
}

// A verdict vouches for a signature with the key that gave it: once the kid
// names another key (replaced across a reload, in a zone that kept its
// verdicts), a token of the old key is checked again, and refused.
void a_key_replaced_under_the_same_kid_does_not_inherit_verdicts(void **) {
    Gate gate;
    auto registry = fixture::standard_registry();
    std::string token = token_for(gate.keys[0], "app", "a");
    oauth::TokenGrant grant;
    assert_true(gate.verify(token, grant, *registry));
    std::vector<Key> replaced{fresh_key()};  // kid "k" as well
    GatePolicy after_reload{kIssuer, &replaced, registry.get(), nullptr, 0};
    JwtVerifier verifier(after_reload, gate.region.open());
    assert_false(verifier.verify(token, kNow, grant));
    assert_int_equal(verifier.failure(), JwtCheck::signature);
    std::string new_token = token_for(replaced[0], "app", "a");
    assert_true(verifier.verify(new_token, kNow, grant));
    // and the token of the old key, still in the cache, under its key alone
    assert_true(gate.region.open().verified_with(oauth::digest_token(token), kNow) ==
                key_fingerprint(gate.keys[0]));
}

struct Revocations {
    Revocations() : memory(oauth::RevocationList::kMinRegionSize / 8) {
        oauth::RevocationList::format(memory.data(), oauth::RevocationList::kMinRegionSize);
    }
    oauth::RevocationList open() { return oauth::RevocationList(memory.data(), {}); }
    std::vector<uint64_t> memory;
};

// A JWT is revoked by what its signature covers: its twin with S replaced by
// n - S verifies as well, and is refused with it, whether or not either was
// seen before. A whole text's digest, as earlier builds listed, still counts.
void every_form_of_a_revoked_token_is_refused(void **) {
    Gate gate;
    auto registry = fixture::standard_registry();
    Revocations memory;
    oauth::RevocationList revocations = memory.open();
    GatePolicy policy = gate.policy(*registry);
    policy.revocations = &revocations;
    JwtVerifier verifier(policy, gate.region.open());
    std::string token = token_for(gate.keys[0], "app", "a");
    std::string twin = fixture::high_s_twin(token);
    std::string unseen_twin = fixture::high_s_twin(token_for(gate.keys[0], "app", "b"));
    oauth::TokenGrant grant;
    assert_true(verifier.verify(token, kNow, grant));
    assert_true(verifier.verify(twin, kNow, grant));  // a good signature: both pass

    assert_true(revocations.add(digest_jws(token).signed_part, kNow + 60, kNow));
    for (const std::string &one : {token, twin}) {
        assert_false(verifier.verify(one, kNow, grant));
        assert_int_equal(verifier.failure(), JwtCheck::revoked);
    }
    assert_true(revocations.add(oauth::digest_token(unseen_twin), kNow + 60, kNow));
    assert_false(verifier.verify(unseen_twin, kNow, grant));
    assert_int_equal(verifier.failure(), JwtCheck::revoked);
}

// ---- trusted issuers ----------------------------------------------------------------

std::string token_of(const Key &key, std::string_view issuer, std::string_view client,
                     std::string_view scope) {
    std::string token;
    AccessTokenClaims claims{issuer, client, {"https://api.test"}, kNow, kNow + 60, scope};
    assert_true(issue_access_token(key, claims, token));
    return token;
}

void a_trusted_issuers_token_passes_without_the_registry(void **) {
    Gate gate;
    gate.trusted.push_back({"https://idp.test", {fresh_key()}});
    auto registry = fixture::standard_registry();
    std::string token = token_of(gate.trusted[0].keys[0], "https://idp.test", "svc", "x y");
    oauth::TokenGrant grant;
    assert_true(gate.verify(token, grant, *registry));
    assert_text(grant.client(), "svc");
    assert_text(grant.scopes(), "x y");
    assert_text(gate.claims.issuer, "https://idp.test");
    assert_text(gate.claims.audience[0], "https://api.test");
}

void each_issuer_is_checked_with_its_own_keys(void **) {
    Gate gate;
    gate.trusted.push_back({"https://idp.test", {fresh_key()}});
    auto registry = fixture::standard_registry();
    oauth::TokenGrant grant;
    // the idp's key naming our issuer, our key naming the idp: both forged
    assert_false(
        gate.verify(token_of(gate.trusted[0].keys[0], kIssuer, "app", "a"), grant, *registry));
    assert_int_equal(gate.failure, JwtCheck::signature);
    assert_false(
        gate.verify(token_of(gate.keys[0], "https://idp.test", "app", "a"), grant, *registry));
    assert_int_equal(gate.failure, JwtCheck::signature);
    assert_false(
        gate.verify(token_of(gate.keys[0], "https://else.test", "app", "a"), grant, *registry));
    assert_int_equal(gate.failure, JwtCheck::iss);
}

// A token this worker saw pass is checked again against the policy at hand:
// a location that does not trust its issuer still refuses it.
void a_seen_token_still_answers_to_the_policy_at_hand(void **) {
    Gate gate;
    gate.trusted.push_back({"https://idp.test", {fresh_key()}});
    auto registry = fixture::standard_registry();
    std::string token = token_of(gate.trusted[0].keys[0], "https://idp.test", "svc", "x");
    oauth::TokenGrant grant;
    assert_true(gate.verify(token, grant, *registry));
    assert_true(gate.verify(token, grant, *registry));
    std::vector<TrustedIssuer> none;
    GatePolicy untrusting{kIssuer, &gate.keys, registry.get(), &none, 0};
    JwtVerifier verifier(untrusting, gate.region.open());
    assert_false(verifier.verify(token, kNow, grant));
    assert_int_equal(verifier.failure(), JwtCheck::iss);
    GatePolicy lenient{kIssuer, &gate.keys, registry.get(), &gate.trusted, 30};
    JwtVerifier later(lenient, gate.region.open());
    assert_true(later.verify(token, kNow + 80, grant));  // expired 20 s ago, leeway 30 s
    assert_false(later.verify(token, kNow + 91, grant));
    assert_int_equal(later.failure(), JwtCheck::exp);
}

Key key_named(const char *kid) {
    Key key = fresh_key();
    key.kid = kid;
    return key;
}

// Keys from a URL (TrustedIssuer::source): an unknown kid, or no keys yet,
// names the issuer a refetch may help; a set replaced in place makes the
// tokens seen with the old one be checked afresh.
void keys_from_a_url_say_what_is_awaited_and_follow_a_rotation(void **) {
    Gate gate;
    gate.trusted.push_back({"https://idp.test", {}, TokenProfile(), 1, 0});
    gate.trusted.push_back({"https://file.test", {key_named("f")}});
    auto registry = fixture::standard_registry();
    Key k1 = key_named("k1");
    Key k2 = key_named("k2");
    std::string token1 = token_of(k1, "https://idp.test", "svc", "x");
    oauth::TokenGrant grant;
    GatePolicy policy = gate.policy(*registry);
    JwtVerifier verifier(policy, gate.region.open());
    assert_false(verifier.verify(token1, kNow, grant));
    assert_int_equal(verifier.failure(), JwtCheck::no_keys);
    assert_ptr_equal(verifier.awaiting_keys(), &gate.trusted[0]);

    gate.trusted[0].keys = {k1};
    gate.trusted[0].version = 1;
    assert_true(verifier.verify(token1, kNow, grant));
    assert_null(verifier.awaiting_keys());
    assert_false(verifier.verify(token_of(k2, "https://idp.test", "svc", "x"), kNow, grant));
    assert_int_equal(verifier.failure(), JwtCheck::kid);
    assert_ptr_equal(verifier.awaiting_keys(), &gate.trusted[0]);
    // a file's set is what it is: nothing to await
    assert_false(verifier.verify(token_of(k2, "https://file.test", "svc", "x"), kNow, grant));
    assert_int_equal(verifier.failure(), JwtCheck::kid);
    assert_null(verifier.awaiting_keys());

    gate.trusted[0].keys = {k2};  // rotated: k1 is gone
    gate.trusted[0].version = 2;
    forget_seen_tokens();
    assert_false(verifier.verify(token1, kNow, grant));
    assert_int_equal(verifier.failure(), JwtCheck::kid);
    assert_true(verifier.verify(token_of(k2, "https://idp.test", "svc", "x"), kNow, grant));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_remembered_digest_is_known_until_it_expires),
        cmocka_unit_test(a_full_table_evicts_and_stays_bounded),
        cmocka_unit_test(a_foreign_region_is_not_formatted),
        cmocka_unit_test(a_good_token_passes_and_its_signature_is_remembered),
        cmocka_unit_test(a_seen_tokens_claims_are_kept_not_parsed_again),
        cmocka_unit_test(a_forged_token_is_refused_and_not_remembered),
        cmocka_unit_test(a_removed_client_is_refused),
        cmocka_unit_test(scopes_are_cut_to_what_the_client_still_has),
        cmocka_unit_test(an_expired_token_is_refused_even_when_remembered),
        cmocka_unit_test(a_seen_token_is_taken_only_for_itself_and_never_once_revoked),
        cmocka_unit_test(a_key_replaced_under_the_same_kid_does_not_inherit_verdicts),
        cmocka_unit_test(every_form_of_a_revoked_token_is_refused),
        cmocka_unit_test(a_trusted_issuers_token_passes_without_the_registry),
        cmocka_unit_test(each_issuer_is_checked_with_its_own_keys),
        cmocka_unit_test(a_seen_token_still_answers_to_the_policy_at_hand),
        cmocka_unit_test(keys_from_a_url_say_what_is_awaited_and_follow_a_rotation),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
