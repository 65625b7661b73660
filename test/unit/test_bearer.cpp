// RFC 6750: the Authorization header parser and the access decision.
#include "unit.hpp"

#include <cstring>

#include "core/bearer.hpp"
#include "core/http/base64.hpp"
#include "core/jose/jws.hpp"
#include "core/jose/key.hpp"
#include "core/tokens/registry_grant.hpp"
#include "core/tokens/replay_cache.hpp"
#include "core/tokens/token.hpp"
#include "fixtures.hpp"

namespace {

constexpr uint32_t kNow = 1700000000;
const std::string kToken = "tok_ABCdef0123456789-._~+/tok_ABCdef0123456";

oauth::BearerStatus parse(size_t headers, std::string_view value) {
    std::string_view token;
    oauth::TokenScheme scheme;
    return oauth::parse_bearer_token(headers, value, token, scheme);
}

void parses_bearer_case_insensitively(void **) {
    std::string_view token;
    oauth::TokenScheme scheme = oauth::TokenScheme::dpop;
    assert_int_equal(oauth::parse_bearer_token(1, "bEaReR  abc.DEF~12+/==", token, scheme),
                     oauth::BearerStatus::ok);
    assert_text(token, "abc.DEF~12+/==");
    assert_int_equal(int(scheme), int(oauth::TokenScheme::bearer));
}

// RFC 9449 §7.1: a DPoP-bound token comes with the DPoP scheme.
void parses_the_dpop_scheme(void **) {
    std::string_view token;
    oauth::TokenScheme scheme = oauth::TokenScheme::bearer;
    assert_int_equal(oauth::parse_bearer_token(1, "dpop abc.DEF", token, scheme),
                     oauth::BearerStatus::ok);
    assert_text(token, "abc.DEF");
    assert_int_equal(int(scheme), int(oauth::TokenScheme::dpop));
    assert_int_equal(parse(1, "DPoP a b"), oauth::BearerStatus::malformed);
}

void missing_and_other_schemes(void **) {
    assert_int_equal(parse(0, ""), oauth::BearerStatus::missing);
    assert_int_equal(parse(1, "Basic YTpi"), oauth::BearerStatus::missing);
}

void malformed_bearer_credentials(void **) {
    assert_int_equal(parse(1, "Bearer"), oauth::BearerStatus::malformed);
    assert_int_equal(parse(1, "Bearer "), oauth::BearerStatus::malformed);
    assert_int_equal(parse(1, "Bearer a b"), oauth::BearerStatus::malformed);
    assert_int_equal(parse(1, "Bearer a\"b"), oauth::BearerStatus::malformed);
    assert_int_equal(parse(1, "Bearer ==="), oauth::BearerStatus::malformed);
    assert_int_equal(parse(1, "Bearer a=b"), oauth::BearerStatus::malformed);
    assert_int_equal(parse(2, "Bearer abc"), oauth::BearerStatus::malformed);
    assert_int_equal(parse(1, ""), oauth::BearerStatus::malformed);
}

void compiles_scope_requirements(void **) {
    oauth::ScopeRequirement required;
    std::string error;
    assert_true(oauth::ScopeRequirement::compile({"a", "b:c"}, required, error));
    assert_text(required.joined, "a b:c");
    assert_false(oauth::ScopeRequirement::compile({"a", "b\"c"}, required, error));
    assert_non_null(strstr(error.c_str(), "b\"c"));
}

struct Gate {
    fixture::Store memory;
    oauth::TokenStore store = memory.open();

    Gate() {
        uint32_t retry = 0;
        assert_int_equal(store.insert(oauth::digest_token(kToken), "app", "a b c", 0b101, kNow,
                                      kNow + 60, kNow, retry, oauth::TokenStore::kDefaultClientCap,
                                      oauth::Audience{"https://a.test https://b.test", 0b10}),
                         oauth::InsertResult::ok);
    }

    oauth::BearerVerdict check(const std::string &header, std::vector<std::string_view> scopes,
                               uint32_t now = kNow, std::string_view realm = "api",
                               const oauth::GrantPolicy &policy = {}) {
        oauth::ScopeRequirement required;
        std::string error;
        assert_true(oauth::ScopeRequirement::compile(scopes, required, error));
        oauth::BearerRequest request{header.empty() ? 0u : 1u, header};
        return oauth::check_bearer(request, store, required, realm, now, grant, nullptr, policy);
    }

    oauth::TokenGrant grant;
};

void lets_a_valid_token_through(void **) {
    Gate gate;
    oauth::BearerVerdict verdict = gate.check("Bearer " + kToken, {"a", "c"});
    assert_int_equal(verdict.status, 0);
    assert_text(gate.grant.client(), "app");
    assert_text(gate.grant.scopes(), "a c");
    assert_int_equal(gate.grant.expires_at, kNow + 60);
}

void answers_each_rfc6750_error(void **) {
    Gate gate;
    oauth::BearerVerdict none = gate.check("", {});
    assert_int_equal(none.status, 401);
    assert_text(none.challenge, "Bearer realm=\"api\"");

    oauth::BearerVerdict bad = gate.check("Bearer a,b", {});
    assert_int_equal(bad.status, 400);
    assert_text(bad.challenge,
                "Bearer realm=\"api\", error=\"invalid_request\", "
                "error_description=\"malformed bearer credentials\"");

    oauth::BearerVerdict unknown = gate.check("Bearer " + kToken + "x", {});
    assert_int_equal(unknown.status, 401);
    assert_text(unknown.challenge,
                "Bearer realm=\"api\", error=\"invalid_token\", "
                "error_description=\"the access token is unknown, expired or revoked\"");

    oauth::BearerVerdict expired = gate.check("Bearer " + kToken, {}, kNow + 60);
    assert_int_equal(expired.status, 401);

    oauth::BearerVerdict scope = gate.check("Bearer " + kToken, {"a", "b"});
    assert_int_equal(scope.status, 403);
    assert_text(scope.challenge,
                "Bearer realm=\"api\", error=\"insufficient_scope\", "
                "error_description=\"the access token lacks a required scope\", scope=\"a b\"");
}

// A verifier that refuses every token, for its words.
struct Refusing final : oauth::TokenVerifier {
    bool verify(std::string_view, uint32_t, oauth::TokenGrant &) noexcept override { return false; }
    std::string refusal() const override { return "its kid is not in the issuer's JWK Set"; }
};

// SPEC "Diagnosis": a refused JWT's description names the check that failed;
// an opaque token's stays the one it had.
void a_refused_jwt_says_which_check_failed(void **) {
    Gate gate;
    Refusing jwt;
    oauth::ScopeRequirement none;
    std::string header = "Bearer a.b.c";
    oauth::BearerVerdict verdict =
        oauth::check_bearer({1, header}, gate.store, none, "api", kNow, gate.grant, &jwt);
    assert_int_equal(verdict.status, 401);
    assert_text(verdict.challenge,
                "Bearer realm=\"api\", error=\"invalid_token\", "
                "error_description=\"its kid is not in the issuer's JWK Set\"");
    header = "Bearer " + kToken + "x";
    verdict = oauth::check_bearer({1, header}, gate.store, none, "api", kNow, gate.grant, &jwt);
    assert_text(verdict.challenge,
                "Bearer realm=\"api\", error=\"invalid_token\", "
                "error_description=\"the access token is unknown, expired or revoked\"");
}

void the_realm_is_escaped_in_the_challenge(void **) {
    Gate gate;
    assert_text(gate.check("", {}, kNow, "a\"b\\c").challenge, "Bearer realm=\"a\\\"b\\\\c\"");
    assert_text(gate.check("Bearer x", {}, kNow, "\"").challenge,
                "Bearer realm=\"\\\"\", error=\"invalid_token\", "
                "error_description=\"the access token is unknown, expired or revoked\"");
}

void finds_the_grant_of_a_live_token_scopes_aside(void **) {
    Gate gate;
    std::string header = "Bearer " + kToken;
    oauth::TokenGrant grant;
    assert_true(oauth::find_bearer_grant({1, header}, gate.store, kNow, grant));
    assert_text(grant.client(), "app");
    assert_false(oauth::find_bearer_grant({1, header}, gate.store, kNow + 60, grant));
    std::string basic = "Basic YTpi";
    assert_false(oauth::find_bearer_grant({1, basic}, gate.store, kNow, grant));
    std::string malformed = "Bearer a b";
    assert_false(oauth::find_bearer_grant({1, malformed}, gate.store, kNow, grant));
}

// ---- DPoP at the gate (RFC 9449 §7.1) ---------------------------------------------

constexpr const char *kApiUrl = "https://api.test/reports";
const std::string kJwt = "eyJh.eyJi.c2ln";  // a JWT's shape: DpopBound answers for it

const oauth::jose::Key &holder_key() {
    static oauth::jose::Key key = fixture::generated_key("");
    return key;
}

// A verifier that takes every JWT as app's, bound to holder_key(): the
// gate's DPoP checks without signing an access token.
struct DpopBound final : oauth::TokenVerifier {
    oauth::Digest jkt = oauth::jose::thumbprint_digest(holder_key());
    bool verify(std::string_view, uint32_t, oauth::TokenGrant &grant) noexcept override {
        grant = oauth::TokenGrant();
        std::memcpy(grant.client_id, "app", 3);
        grant.client_id_length = 3;
        grant.expires_at = kNow + 60;
        grant.dpop = {true, jkt};
        return true;
    }
    std::string refusal() const override { return ""; }
};

// A proof of holder_key() for GET kApiUrl with kJwt.
std::string dpop_proof(const std::string &jti) {
    oauth::Digest hash;
    assert_true(oauth::sha256_digest({kJwt}, hash));
    std::string header =
        R"({"typ":"dpop+jwt","alg":"ES256","jwk":)" + oauth::jose::public_jwk(holder_key()) + "}";
    std::string claims = R"({"jti":")" + jti + R"(","htm":"GET","htu":")" + kApiUrl +
                         R"(","iat":)" + std::to_string(kNow) + R"(,"ath":")" +
                         oauth::encode_base64url(std::string_view(
                             reinterpret_cast<const char *>(hash.data()), hash.size())) +
                         "\"}";
    std::string jws;
    assert_true(oauth::jose::sign_compact(holder_key(), header, claims, jws));
    return jws;
}

struct DpopGate {
    Gate gate;
    DpopBound jwt;
    std::vector<uint64_t> memory = std::vector<uint64_t>(oauth::ReplayCache::kMinRegionSize / 8);
    oauth::ReplayCache replays = open();
    std::string header = "DPoP " + kJwt;
    std::string proof;

    oauth::ReplayCache open() {
        assert_true(oauth::ReplayCache::format(memory.data(), memory.size() * 8));
        return oauth::ReplayCache(memory.data(), {});
    }

    oauth::BearerRequest request(const std::string &jti) {
        proof = dpop_proof(jti);
        oauth::BearerRequest request{1, header};
        request.dpop_headers = 1;
        request.dpop_proof = proof;
        request.method = "GET";
        request.url = kApiUrl;
        request.dpop = {&replays, nullptr};
        return request;
    }

    oauth::BearerVerdict check(const std::string &jti) {
        return oauth::check_bearer(request(jti), gate.store, oauth::ScopeRequirement(), "api", kNow,
                                   gate.grant, &jwt);
    }

    bool find(const std::string &jti) {
        return oauth::find_bearer_grant(request(jti), gate.store, kNow, gate.grant, &jwt);
    }
};

// The gate takes a proof's jti once; the $oauth_* variables' look at the
// grant checks the proof and takes none.
void a_dpop_bound_token_passes_with_a_proof_once(void **) {
    DpopGate dpop;
    assert_true(dpop.find("j1"));
    assert_int_equal(dpop.check("j1").status, 0);
    assert_text(dpop.check("j2").dpop_result, "ok");
    oauth::BearerVerdict replayed = dpop.check("j1");
    assert_int_equal(replayed.status, 401);
    assert_text(replayed.dpop_result, "replayed");
    assert_non_null(strstr(replayed.challenge.c_str(),
                           "DPoP realm=\"api\", "
                           "error=\"invalid_dpop_proof\""));
    // RFC 9449 §7.1: a DPoP-bound token goes with the DPoP scheme.
    dpop.header = "Bearer " + kJwt;
    assert_false(dpop.find("j3"));
    oauth::BearerVerdict as_bearer = dpop.check("j3");
    assert_int_equal(as_bearer.status, 401);
    assert_non_null(strstr(as_bearer.challenge.c_str(), "error=\"invalid_token\""));
}

// RFC 6585 §4: a client at its share of the replay cache is not refused
// authentication; it is told when to retry, as the token endpoint tells it,
// with no challenge.
void a_client_at_its_replay_share_is_told_when_to_retry(void **) {
    DpopGate dpop;
    oauth::BearerVerdict verdict;
    for (uint32_t i = 0; i <= dpop.replays.default_share() && verdict.status == 0; ++i) {
        verdict = dpop.check("j" + std::to_string(i));
    }
    assert_int_equal(verdict.status, 429);
    assert_true(verdict.retry_after > 0);
    assert_text(verdict.challenge, "");
    assert_text(verdict.result, "temporarily_unavailable");
    assert_text(verdict.dpop_result, "no_room");
    assert_false(verdict.log_reason.empty());
}

}  // namespace

void the_audience_must_hold_one_required(void **) {
    Gate gate;
    oauth::AudienceRequirement required;
    std::string error;
    assert_true(
        oauth::AudienceRequirement::compile({"https://x.test", "https://b.test"}, required, error));
    oauth::BearerVerdict verdict =
        gate.check("Bearer " + kToken, {"a"}, kNow, "api", {nullptr, &required});
    assert_int_equal(verdict.status, 0);
    assert_text(gate.grant.audiences(), "https://b.test");

    assert_true(oauth::AudienceRequirement::compile({"https://a.test"}, required, error));
    verdict = gate.check("Bearer " + kToken, {"a"}, kNow, "api", {nullptr, &required});
    assert_int_equal(verdict.status, 401);  // RFC 6750 §3.1: not meant for this resource
    assert_text(verdict.challenge,
                "Bearer realm=\"api\", error=\"invalid_token\", "
                "error_description=\"its aud does not name this resource\"");
    assert_text(verdict.log_reason, "its audience is none of oauth_require_audience");
    // A prefix or a part of a space-joined audience is no match.
    assert_true(oauth::AudienceRequirement::compile({"https://b.tes"}, required, error));
    assert_int_equal(gate.check("Bearer " + kToken, {}, kNow, "api", {nullptr, &required}).status,
                     401);
    assert_false(oauth::AudienceRequirement::compile({"a b"}, required, error));
    assert_false(oauth::AudienceRequirement::compile({""}, required, error));
}

// SPEC: own tokens answer to the registry from the reload on.
void opaque_tokens_follow_the_registry(void **) {
    Gate gate;
    auto narrowed = fixture::registry(R"({"clients":[{"client_id":"app","client_secret_hash":")" +
                                      fixture::sha256_hash("s") + R"(","scope":"c b"}]})");
    auto without = fixture::registry(R"({"clients":[{"client_id":"other","client_secret_hash":")" +
                                     fixture::sha256_hash("s") + R"(","scope":"a c"}]})");
    assert_int_equal(gate.check("Bearer " + kToken, {"c"}, kNow, "api", {narrowed.get()}).status,
                     0);
    assert_text(gate.grant.scopes(), "c");  // a is no longer the client's
    assert_int_equal(gate.check("Bearer " + kToken, {"a"}, kNow, "api", {narrowed.get()}).status,
                     403);
    assert_int_equal(gate.check("Bearer " + kToken, {}, kNow, "api", {without.get()}).status, 401);
    std::string header = "Bearer " + kToken;
    oauth::BearerRequest request{1, header};
    assert_false(
        oauth::find_bearer_grant(request, gate.store, kNow, gate.grant, nullptr, without.get()));
    assert_true(oauth::find_bearer_grant(request, gate.store, kNow, gate.grant));
    assert_text(gate.grant.scopes(), "a c");
}

// The one rule, for a JWT's claims as for a stored grant: the client must
// be listed, and the grant keeps, once each and in the token's order, the
// scopes its client still has.
void claims_follow_the_registry_as_a_stored_grant_does(void **) {
    auto registry = fixture::standard_registry();  // app: a b c
    oauth::TokenGrant grant;
    assert_true(oauth::follow_registry(*registry, "app", "c x a", grant));
    assert_text(grant.client(), "app");
    assert_text(grant.scopes(), "c a");
    assert_true(oauth::follow_registry(*registry, "app", "b a b", grant));
    assert_text(grant.scopes(), "b a");
    assert_true(oauth::follow_registry(*registry, "app", "", grant));
    assert_text(grant.scopes(), "");
    assert_false(oauth::follow_registry(*registry, "gone", "a", grant));

    // From the grant's own text: what the stored-grant form does.
    assert_true(oauth::follow_registry(*registry, "app", "a b", grant));
    assert_true(oauth::follow_registry(*registry, grant));
    assert_text(grant.scopes(), "a b");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_bearer_case_insensitively),
        cmocka_unit_test(parses_the_dpop_scheme),
        cmocka_unit_test(missing_and_other_schemes),
        cmocka_unit_test(malformed_bearer_credentials),
        cmocka_unit_test(compiles_scope_requirements),
        cmocka_unit_test(lets_a_valid_token_through),
        cmocka_unit_test(answers_each_rfc6750_error),
        cmocka_unit_test(the_audience_must_hold_one_required),
        cmocka_unit_test(opaque_tokens_follow_the_registry),
        cmocka_unit_test(claims_follow_the_registry_as_a_stored_grant_does),
        cmocka_unit_test(a_refused_jwt_says_which_check_failed),
        cmocka_unit_test(the_realm_is_escaped_in_the_challenge),
        cmocka_unit_test(finds_the_grant_of_a_live_token_scopes_aside),
        cmocka_unit_test(a_dpop_bound_token_passes_with_a_proof_once),
        cmocka_unit_test(a_client_at_its_replay_share_is_told_when_to_retry),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
