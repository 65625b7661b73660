// DPoP proofs (RFC 9449 §4.3): every check, the replay cache behind the
// jti, the URL comparison and the server nonces.
#include "unit.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <string>
#include <vector>

#include "core/http/base64.hpp"
#include "core/jose/claims.hpp"
#include "core/jose/dpop.hpp"
#include "core/jose/jws.hpp"
#include "core/jose/key.hpp"
#include "core/tokens/replay_cache.hpp"
#include "fixtures.hpp"

namespace {

using oauth::jose::DpopCheck;

constexpr uint32_t kNow = 1700000000;
constexpr const char *kUrl = "https://api.example/orders";
constexpr const char *kToken = "the-access-token";

const oauth::jose::Key &client_key() {
    static oauth::jose::Key key = fixture::generated_key("");
    return key;
}

const oauth::jose::Key &attacker_key() {
    static oauth::jose::Key key = fixture::generated_key("");
    return key;
}

std::string token_hash(const std::string &token) {
    oauth::Digest digest;
    assert_true(oauth::sha256_digest({token}, digest));
    return oauth::encode_base64url(
        std::string_view(reinterpret_cast<const char *>(digest.data()), digest.size()));
}

// A proof's parts, each replaceable by a test.
struct Proof {
    const oauth::jose::Key *key = &client_key();
    std::string typ = "dpop+jwt";
    std::string alg = "ES256";
    std::string jwk = oauth::jose::public_jwk(client_key());
    std::string jti = "j1";
    std::string htm = "GET";
    std::string htu = kUrl;
    uint32_t iat = kNow;
    std::string ath = token_hash(kToken);
    std::string extra;  // more claims, each with a leading comma

    std::string sign() const {
        std::string header =
            R"({"typ":")" + typ + R"(","alg":")" + alg + R"(","jwk":)" + jwk + "}";
        std::string claims = R"({"jti":")" + jti + R"(","htm":")" + htm + R"(","htu":")" + htu +
                             R"(","iat":)" + std::to_string(iat) +
                             (ath.empty() ? "" : R"(,"ath":")" + ath + "\"") + extra + "}";
        std::string jws;
        assert_true(oauth::jose::sign_compact(*key, header, claims, jws));
        return jws;
    }
};

struct Checker {
    std::vector<uint64_t> memory = std::vector<uint64_t>(oauth::ReplayCache::kMinRegionSize / 8);
    oauth::ReplayCache replays = open();
    oauth::jose::DpopPolicy policy{&replays, nullptr};
    oauth::Digest bound = oauth::jose::thumbprint_digest(client_key());
    oauth::Digest jkt{};
    uint32_t retry_after = 0;

    oauth::ReplayCache open() {
        assert_true(oauth::ReplayCache::format(memory.data(), memory.size() * 8));
        return oauth::ReplayCache(memory.data(), {});
    }

    DpopCheck check(const std::string &proof, uint32_t now = kNow, const char *client = "app",
                    size_t headers = 1) {
        oauth::jose::DpopExpectation expected{"GET", kUrl, kToken, &bound, client};
        return oauth::jose::check_dpop_proof(headers, proof, expected, policy, now, jkt,
                                             retry_after);
    }
};

void a_good_proof_passes_once_and_names_its_key(void **) {
    Checker checker;
    std::string proof = Proof().sign();
    assert_int_equal(checker.check(proof), DpopCheck::ok);
    assert_memory_equal(checker.jkt.data(), checker.bound.data(), checker.jkt.size());
    assert_int_equal(checker.check(proof), DpopCheck::replayed);
    // Another jti of the same key is a new proof.
    Proof next;
    next.jti = "j2";
    assert_int_equal(checker.check(next.sign()), DpopCheck::ok);
}

void a_proof_is_one_header(void **) {
    Checker checker;
    std::string proof = Proof().sign();
    assert_int_equal(checker.check(proof, kNow, "app", 0), DpopCheck::missing);
    assert_int_equal(checker.check(proof, kNow, "app", 2), DpopCheck::several);
    assert_int_equal(checker.check("a.b"), DpopCheck::shape);
    assert_int_equal(checker.check(proof + "x."), DpopCheck::shape);
}

void the_header_is_a_dpop_jwt_with_a_public_key(void **) {
    Checker checker;
    Proof typ;
    typ.typ = "JWT";
    assert_int_equal(checker.check(typ.sign()), DpopCheck::typ);
    for (const char *alg : {"none", "HS256", "ES384", "RS256"}) {
        Proof proof;
        proof.alg = alg;
        proof.jti = alg;
        std::string text = proof.sign();  // signed ES256 whatever alg says
        assert_int_equal(checker.check(text), DpopCheck::alg);
    }
    Proof private_key;
    std::string jwk = private_key.jwk;
    private_key.jwk = jwk.substr(0, jwk.size() - 1) + R"(,"d":"AAAA"})";
    assert_int_equal(checker.check(private_key.sign()), DpopCheck::jwk);
    Proof no_jwk;
    no_jwk.jwk = "\"key\"";
    assert_int_equal(checker.check(no_jwk.sign()), DpopCheck::jwk);
    // Signed by another key than its jwk names.
    Proof forged;
    forged.key = &attacker_key();
    assert_int_equal(checker.check(forged.sign()), DpopCheck::signature);
}

void the_claims_name_this_request(void **) {
    Checker checker;
    Proof method;
    method.htm = "POST";
    assert_int_equal(checker.check(method.sign()), DpopCheck::method);
    Proof url;
    url.htu = "https://api.example/other";
    assert_int_equal(checker.check(url.sign()), DpopCheck::url);
    Proof old;
    old.iat = kNow - oauth::jose::kDpopProofMaxAge - 1;
    assert_int_equal(checker.check(old.sign()), DpopCheck::issued_at);
    Proof ahead;
    ahead.iat = kNow + oauth::jose::kDpopProofSkew + 1;
    assert_int_equal(checker.check(ahead.sign()), DpopCheck::issued_at);
    Proof no_ath;
    no_ath.ath.clear();
    assert_int_equal(checker.check(no_ath.sign()), DpopCheck::token_hash);
    Proof other_ath;
    other_ath.ath = token_hash("another-token");
    assert_int_equal(checker.check(other_ath.sign()), DpopCheck::token_hash);
    Proof long_jti;
    long_jti.jti = std::string(257, 'j');
    assert_int_equal(checker.check(long_jti.sign()), DpopCheck::jti);
    // None of the refused took a slot: the same jti passes now.
    assert_int_equal(checker.check(Proof().sign()), DpopCheck::ok);
}

// RFC 9449 §7.1: a stolen token is of no use with the thief's own key.
void a_proof_of_another_key_than_the_tokens_is_refused(void **) {
    Checker checker;
    Proof thief;
    thief.key = &attacker_key();
    thief.jwk = oauth::jose::public_jwk(attacker_key());
    assert_int_equal(checker.check(thief.sign()), DpopCheck::key);
}

void htu_is_compared_as_rfc_3986_normalizes(void **) {
    using oauth::jose::same_target_uri;
    assert_true(same_target_uri("HTTPS://API.Example:443/orders?x=1#f", kUrl));
    assert_true(same_target_uri("http://h:80", "http://h/"));
    assert_true(same_target_uri("http://h:8080/a", "http://H:8080/a?q"));
    assert_false(same_target_uri("https://api.example/Orders", kUrl));  // the path is exact
    assert_false(same_target_uri("http://api.example/orders", kUrl));
    assert_false(same_target_uri("https://api.example:8443/orders", kUrl));
    assert_false(same_target_uri("https://u@api.example/orders", kUrl));
    assert_false(same_target_uri("/orders", kUrl));
    assert_false(same_target_uri(kUrl, ""));
}

void a_server_nonce_is_good_for_its_period_and_the_next(void **) {
    oauth::jose::DpopNonces::Secret secret{};
    assert_true(oauth::jose::DpopNonces::make_secret(secret));
    oauth::jose::DpopNonces nonces(secret);
    constexpr uint32_t kPeriod = oauth::jose::DpopNonces::kPeriod;
    std::string nonce = nonces.current(kNow);
    assert_int_equal(nonce.size(), 22);
    assert_true(nonces.accepts(nonce, kNow));
    assert_true(nonces.accepts(nonce, kNow + kPeriod));
    assert_false(nonces.accepts(nonce, kNow + 2 * kPeriod));
    assert_false(nonces.accepts("", kNow));
    oauth::jose::DpopNonces::Secret other{};
    assert_true(oauth::jose::DpopNonces::make_secret(other));
    assert_false(oauth::jose::DpopNonces(other).accepts(nonce, kNow));

    Checker checker;
    checker.policy.nonces = &nonces;
    assert_int_equal(checker.check(Proof().sign()), DpopCheck::nonce);
    Proof stale;
    stale.extra = R"(,"nonce":")" + nonces.current(kNow - 2 * kPeriod) + "\"";
    assert_int_equal(checker.check(stale.sign()), DpopCheck::nonce);
    Proof fresh;
    fresh.extra = R"(,"nonce":")" + nonce + "\"";
    assert_int_equal(checker.check(fresh.sign()), DpopCheck::ok);
    assert_text(oauth::jose::dpop_error(DpopCheck::nonce), "use_dpop_nonce");
    assert_text(oauth::jose::dpop_error(DpopCheck::replayed), "invalid_dpop_proof");
}

// A client that fills its share is refused, fail closed, and another keeps
// its own: the flood of RFC 9449 §11.1 stays its sender's problem.
void a_client_at_its_share_is_refused_and_others_are_not(void **) {
    Checker checker;
    uint32_t share = checker.replays.default_share();
    DpopCheck last = DpopCheck::ok;
    for (uint32_t i = 0; i <= share && last == DpopCheck::ok; ++i) {
        Proof proof;
        proof.jti = "flood-" + std::to_string(i);
        last = checker.check(proof.sign(), kNow, "flooder");
    }
    assert_int_equal(last, DpopCheck::no_room);
    assert_true(checker.retry_after > 0);
    Proof other;
    other.jti = "other";
    assert_int_equal(checker.check(other.sign(), kNow, "app"), DpopCheck::ok);
    // Once the flood's proofs are too old to be taken, their slots free.
    Proof later;
    later.jti = "later";
    later.iat = kNow + oauth::jose::kDpopProofMaxAge + 2;
    assert_int_equal(checker.check(later.sign(), later.iat, "flooder"), DpopCheck::ok);
}

// RFC 9449 §6.2: introspection says the token is DPoP-bound, and to which key.
void introspection_answers_token_type_and_jkt(void **) {
    oauth::TokenGrant grant;
    grant.dpop.bound = true;
    grant.dpop.thumbprint.fill(0xfb);
    std::string fields = oauth::jose::render_introspection(grant, "https://as.test", nullptr);
    assert_true(fields.find(R"("token_type":"DPoP")") != std::string::npos);
    assert_true(fields.find(R"("cnf":{"jkt":"-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s"})") !=
                std::string::npos);
    grant.dpop.bound = false;
    fields = oauth::jose::render_introspection(grant, "https://as.test", nullptr);
    assert_true(fields.find(R"("token_type":"Bearer")") != std::string::npos);
    assert_true(fields.find("cnf") == std::string::npos);
}

void the_algs_are_every_asymmetric_one(void **) {
    assert_text(oauth::jose::dpop_algs(),
                "ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA Ed25519");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_good_proof_passes_once_and_names_its_key),
        cmocka_unit_test(a_proof_is_one_header),
        cmocka_unit_test(the_header_is_a_dpop_jwt_with_a_public_key),
        cmocka_unit_test(the_claims_name_this_request),
        cmocka_unit_test(a_proof_of_another_key_than_the_tokens_is_refused),
        cmocka_unit_test(htu_is_compared_as_rfc_3986_normalizes),
        cmocka_unit_test(a_server_nonce_is_good_for_its_period_and_the_next),
        cmocka_unit_test(a_client_at_its_share_is_refused_and_others_are_not),
        cmocka_unit_test(introspection_answers_token_type_and_jkt),
        cmocka_unit_test(the_algs_are_every_asymmetric_one),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
