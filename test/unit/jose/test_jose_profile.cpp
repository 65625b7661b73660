// Token profiles (SPEC "Token profiles") and the refusal a user can act on
// (SPEC "Diagnosis"): the typ an issuer's tokens may bear, where their client
// and scopes are, and the words of each failed check.
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "unit.hpp"

#include "core/jose/gate.hpp"
#include "core/jose/jws.hpp"
#include "core/jose/profile.hpp"
#include "fixtures.hpp"

using namespace oauth::jose;

namespace {

constexpr uint32_t kNow = 1700000000;
const char *const kOwnIssuer = "https://as.test";
const char *const kIdp = "https://idp.test";

Key fresh_key() {
    Key key;
    key.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    key.kid = "k";
    return key;
}

// {"alg":"ES256","kid":"k"} plus `typ_member` (e.g. "\"typ\":\"JWT\","), and
// the claims iss, sub, aud, exp plus `claims` (e.g. "\"azp\":\"app\",").
std::string signed_token(const Key &key, const std::string &typ_member, const std::string &claims,
                         const std::string &issuer = kIdp) {
    std::string header = "{" + typ_member + "\"alg\":\"ES256\",\"kid\":\"" + key.kid + "\"}";
    std::string payload =
        "{" + claims + "\"iss\":\"" + issuer +
        "\",\"sub\":\"user-1\",\"aud\":\"https://api.test\",\"exp\":" + std::to_string(kNow + 60) +
        "}";
    std::string token;
    assert_true(sign_compact(key, header, payload, token));
    return token;
}

const std::string kJwt = "\"typ\":\"JWT\",";
const std::string kAtJwt = "\"typ\":\"at+jwt\",";

TokenProfile profile_of(std::vector<std::string> options) {
    ProfileOptions parsed;
    std::string error;
    for (const std::string &option : options) {
        assert_int_equal(parsed.apply(option, error), ProfileOption::applied);
    }
    return parsed.profile();
}

// A gate that signs its own tokens and trusts one issuer, with `profile`.
struct Gate {
    explicit Gate(TokenProfile profile = {}) : own{fresh_key()} {
        trusted.push_back({kIdp, {fresh_key()}, std::move(profile)});
        VerdictCache::format(memory.data(), memory.size());
    }
    bool verify(const std::string &token) {
        GatePolicy policy{kOwnIssuer, &own, registry.get(), &trusted, 0};
        JwtVerifier verifier(policy, VerdictCache(memory.data(), oauth::StoreLock{}));
        bool ok = verifier.verify(token, kNow, grant);
        failure = verifier.failure();
        refusal = ok ? "" : verifier.refusal();
        return ok;
    }
    const Key &idp_key() const { return trusted[0].keys[0]; }

    std::vector<Key> own;
    std::vector<TrustedIssuer> trusted;
    std::unique_ptr<oauth::Registry> registry = fixture::standard_registry();
    std::vector<char> memory = std::vector<char>(VerdictCache::kMinRegionSize);
    oauth::TokenGrant grant;
    JwtCheck failure = JwtCheck::ok;
    std::string refusal;
};

// ---- typ ---------------------------------------------------------------------

void typ_at_jwt_takes_the_access_token_media_type_in_any_case(void **) {
    for (const char *typ : {"at+jwt", "AT+JWT", "application/at+jwt", "Application/At+JWT"}) {
        assert_true(accepts_typ(TypPolicy::at_jwt, std::string_view(typ)));
        assert_true(accepts_typ(TypPolicy::jwt, std::string_view(typ)));
    }
    for (const char *typ : {"JWT", "jwt", "application/jwt", "", "at+jwt ", "application/",
                            "xapplication/at+jwt", "application/application/at+jwt"}) {
        assert_false(accepts_typ(TypPolicy::at_jwt, std::string_view(typ)));
    }
    assert_false(accepts_typ(TypPolicy::at_jwt, std::nullopt));
}

void typ_jwt_also_takes_jwt_and_no_typ(void **) {
    for (const char *typ : {"JWT", "jwt", "Jwt", "application/jwt", "APPLICATION/JWT"}) {
        assert_true(accepts_typ(TypPolicy::jwt, std::string_view(typ)));
    }
    assert_true(accepts_typ(TypPolicy::jwt, std::nullopt));
    for (const char *typ : {"id+jwt", "dpop+jwt", "logout+jwt", "JOSE", ""}) {
        assert_false(accepts_typ(TypPolicy::jwt, std::string_view(typ)));
        assert_true(accepts_typ(TypPolicy::any, std::string_view(typ)));
    }
    assert_true(accepts_typ(TypPolicy::any, std::nullopt));
}

void only_a_permissive_typ_admits_untyped_tokens(void **) {
    assert_false(admits_untyped_tokens(profile_of({})));
    assert_false(admits_untyped_tokens(profile_of({"typ=at+jwt"})));
    assert_true(admits_untyped_tokens(profile_of({"typ=jwt"})));
    assert_true(admits_untyped_tokens(profile_of({"typ=any"})));
}

// ---- the options ---------------------------------------------------------------

void options_set_the_profile(void **) {
    TokenProfile profile = profile_of({"typ=jwt", "client_claim=appid,azp", "scope_claims=roles"});
    assert_int_equal(profile.typ, TypPolicy::jwt);
    assert_int_equal(profile.client_claims.size(), 2);
    assert_text(profile.client_claims[0], "appid");
    assert_text(profile.client_claims[1], "azp");
    assert_int_equal(profile.scope_claims.size(), 1);
    assert_text(profile.scope_claims[0], "roles");
    TokenProfile defaults = profile_of({});
    assert_int_equal(defaults.typ, TypPolicy::at_jwt);
    std::vector<std::string> clients{"client_id", "azp", "cid", "appid", "sub"};
    std::vector<std::string> scopes{"scope", "scp"};
    assert_true(defaults.client_claims == clients);
    assert_true(defaults.scope_claims == scopes);
}

void bad_options_are_named(void **) {
    std::string error;
    assert_int_equal(ProfileOptions().apply("refresh=1h", error), ProfileOption::unknown);
    assert_int_equal(ProfileOptions().apply("typ", error), ProfileOption::unknown);
    for (const char *bad :
         {"typ=JWT", "typ=", "typ=id+jwt", "client_claim=", "client_claim=a,", "client_claim=,a",
          "client_claim=a,,b", "client_claim=a b", "client_claim=a\"b", "client_claim=a\\b",
          "scope_claims=x,x", "scope_claims=a,b,c,d,e,f,g,h,i", "scope_claims=a\tb"}) {
        error.clear();
        assert_int_equal(ProfileOptions().apply(bad, error), ProfileOption::invalid);
        assert_false(error.empty());
    }
    ProfileOptions twice;
    assert_int_equal(twice.apply("typ=jwt", error), ProfileOption::applied);
    assert_int_equal(twice.apply("typ=any", error), ProfileOption::invalid);
    assert_non_null(strstr(error.c_str(), "twice"));
}

// ---- the profile at the gate ---------------------------------------------------

void a_jwt_typed_token_needs_typ_jwt_and_says_so(void **) {
    Gate strict;
    std::string token = signed_token(strict.idp_key(), kJwt, "\"azp\":\"app\",");
    assert_false(strict.verify(token));
    assert_int_equal(strict.failure, JwtCheck::typ);
    assert_text(strict.refusal,
                "its typ JWT is not accepted from this issuer: add typ=jwt to oauth_trust_issuer");
    Gate lenient(profile_of({"typ=jwt"}));
    assert_true(lenient.verify(signed_token(lenient.idp_key(), kJwt, "\"azp\":\"app\",")));
    assert_text(lenient.grant.client(), "app");
}

void a_token_without_typ_needs_typ_jwt_and_says_so(void **) {
    Gate strict;
    assert_false(strict.verify(signed_token(strict.idp_key(), "", "")));
    assert_text(strict.refusal,
                "it has no typ, which this issuer's profile needs: add typ=jwt to "
                "oauth_trust_issuer");
    Gate lenient(profile_of({"typ=jwt"}));
    assert_true(lenient.verify(signed_token(lenient.idp_key(), "", "")));
}

void another_typ_needs_typ_any(void **) {
    Gate jwt(profile_of({"typ=jwt"}));
    assert_false(jwt.verify(signed_token(jwt.idp_key(), "\"typ\":\"dpop+jwt\",", "")));
    assert_text(jwt.refusal,
                "its typ dpop+jwt is not accepted from this issuer: add typ=any to "
                "oauth_trust_issuer");
    assert_false(jwt.verify(signed_token(jwt.idp_key(), "\"typ\":7,", "")));
    assert_text(jwt.refusal, "its typ is not a string");
    Gate any(profile_of({"typ=any"}));
    assert_true(any.verify(signed_token(any.idp_key(), "\"typ\":\"dpop+jwt\",", "")));
    assert_true(any.verify(signed_token(any.idp_key(), "\"typ\":7,", "")));
}

// Own tokens are always at+jwt: a trusted issuer's profile is not theirs.
void own_tokens_keep_requiring_at_jwt(void **) {
    Gate gate(profile_of({"typ=any"}));
    std::string own = signed_token(gate.own[0], kJwt, "\"client_id\":\"app\",", kOwnIssuer);
    assert_false(gate.verify(own));
    assert_int_equal(gate.failure, JwtCheck::typ);
    assert_text(gate.refusal, "its typ JWT is not at+jwt");
    assert_true(gate.verify(
        signed_token(gate.own[0], kAtJwt, "\"client_id\":\"app\",\"scope\":\"a\",", kOwnIssuer)));
}

// The typ comes from the token: what the description shows of it is cut
// and holds no quote, backslash or control character (RFC 6750 §3).
void a_hostile_typ_is_shown_safely(void **) {
    Gate gate;
    assert_false(gate.verify(signed_token(
        gate.idp_key(), "\"typ\":\"a\\\"b\\\\c\\r\\nd" + std::string(100, 'x') + "\",", "")));
    assert_int_equal(gate.refusal.find_first_of("\"\\\r\n"), std::string::npos);
    assert_non_null(strstr(gate.refusal.c_str(), "its typ a?b?c??dxxx"));
    assert_non_null(strstr(gate.refusal.c_str(), "xxxxxxxxxx is not accepted"));  // cut at 40
    assert_true(gate.refusal.size() < 140);
}

void the_client_is_the_first_client_claim_present(void **) {
    Gate gate;
    const Key &key = gate.idp_key();
    struct {
        const char *claims;
        const char *client;
    } cases[] = {
        {"\"client_id\":\"c\",\"azp\":\"a\",\"cid\":\"o\",", "c"},
        {"\"azp\":\"a\",\"cid\":\"o\",\"appid\":\"e\",", "a"},
        {"\"cid\":\"o\",\"appid\":\"e\",", "o"},  // Okta
        {"\"appid\":\"e\",", "e"},                // Entra v1
        {"", "user-1"},                           // sub
    };
    for (const auto &one : cases) {
        assert_true(gate.verify(signed_token(key, kAtJwt, one.claims)));
        assert_text(gate.grant.client(), one.client);
    }
    assert_false(gate.verify(signed_token(key, kAtJwt, "\"azp\":5,\"cid\":\"o\",")));
    assert_int_equal(gate.failure, JwtCheck::client_claim);
}

void client_claim_names_where_the_client_is(void **) {
    Gate gate(profile_of({"client_claim=appid,azp"}));
    assert_true(
        gate.verify(signed_token(gate.idp_key(), kAtJwt, "\"azp\":\"a\",\"appid\":\"e\",")));
    assert_text(gate.grant.client(), "e");
    assert_false(gate.verify(signed_token(gate.idp_key(), kAtJwt, "\"client_id\":\"c\",")));
    assert_int_equal(gate.failure, JwtCheck::client_claim);
    assert_text(gate.refusal, "it has no client claim of text (looked for appid, azp)");
}

void the_scopes_are_the_union_of_the_scope_claims(void **) {
    Gate gate;
    const Key &key = gate.idp_key();
    assert_true(gate.verify(signed_token(key, kAtJwt, "\"scope\":\"a b\",\"scp\":[\"b\",\"c\"],")));
    assert_text(gate.grant.scopes(), "a b c");
    assert_true(gate.verify(signed_token(key, kAtJwt, "\"scp\":\"x y\",\"roles\":[\"r\"],")));
    assert_text(gate.grant.scopes(), "x y");  // roles only when named
    Gate entra(profile_of({"scope_claims=scp,roles"}));
    assert_true(entra.verify(
        signed_token(entra.idp_key(), kAtJwt, "\"roles\":[\"r\",\"s\"],\"scope\":\"no\",")));
    assert_text(entra.grant.scopes(), "r s");
}

// The one check of scp arrays holds for every scope claim: an element is one scope.
void a_malformed_scope_claim_makes_the_token_invalid(void **) {
    Gate gate(profile_of({"scope_claims=scope,permissions"}));
    const Key &key = gate.idp_key();
    for (const char *claims :
         {"\"permissions\":[\"read admin\"],", "\"permissions\":[\"read\\tadmin\"],",
          "\"permissions\":[\"\"],", "\"permissions\":[7],", "\"permissions\":{\"a\":1},",
          "\"scope\":\"a  b\",", "\"scope\":\" a\",", "\"scope\":7,"}) {
        assert_false(gate.verify(signed_token(key, kAtJwt, claims)));
        assert_int_equal(gate.failure, JwtCheck::scope);
    }
    assert_text(gate.refusal,
                "its scopes are not space-separated scope tokens or an array of single scopes "
                "(in scope, permissions)");
}

// ---- the words of each check ---------------------------------------------------

void each_check_has_words_fit_for_an_error_description(void **) {
    VerifiedToken token;
    TokenProfile profile;
    for (int check = int(JwtCheck::shape); check <= int(JwtCheck::revoked); ++check) {
        std::string text = describe_refusal(JwtCheck(check), token, &profile);
        assert_false(text.empty());
        assert_int_equal(text.find_first_of("\"\\"), std::string::npos);
        for (unsigned char c : text) {
            assert_true(c >= 0x20 && c < 0x7f);
        }
    }
    assert_text(describe_refusal(JwtCheck::exp, token, nullptr), "it has expired, or has no exp");
    assert_text(describe_refusal(JwtCheck::kid, token, nullptr),
                "its kid is not in the issuer's JWK Set");
    assert_text(describe_refusal(JwtCheck::signature, token, nullptr),
                "its signature does not verify with the issuer's keys");
    assert_text(describe_refusal(JwtCheck::iss, token, nullptr), "its iss is not trusted here");
}

void each_refusal_names_its_check(void **) {
    Gate gate;
    const Key &key = gate.idp_key();
    assert_false(gate.verify(signed_token(fresh_key(), kAtJwt, "")));
    assert_text(gate.refusal, "its signature does not verify with the issuer's keys");
    assert_false(gate.verify(signed_token(key, kAtJwt, "", "https://else.test")));
    assert_text(gate.refusal, "its iss is not trusted here");
    std::string expired;
    assert_true(sign_compact(key, "{\"typ\":\"at+jwt\",\"alg\":\"ES256\",\"kid\":\"k\"}",
                             "{\"iss\":\"https://idp.test\",\"sub\":\"s\",\"exp\":1}", expired));
    assert_false(gate.verify(expired));
    assert_text(gate.refusal, "it has expired, or has no exp");
    Key other = fresh_key();
    other.kid = "elsewhere";
    assert_false(gate.verify(signed_token(other, kAtJwt, "")));
    assert_text(gate.refusal, "its kid is not in the issuer's JWK Set");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(typ_at_jwt_takes_the_access_token_media_type_in_any_case),
        cmocka_unit_test(typ_jwt_also_takes_jwt_and_no_typ),
        cmocka_unit_test(only_a_permissive_typ_admits_untyped_tokens),
        cmocka_unit_test(options_set_the_profile),
        cmocka_unit_test(bad_options_are_named),
        cmocka_unit_test(a_jwt_typed_token_needs_typ_jwt_and_says_so),
        cmocka_unit_test(a_token_without_typ_needs_typ_jwt_and_says_so),
        cmocka_unit_test(another_typ_needs_typ_any),
        cmocka_unit_test(own_tokens_keep_requiring_at_jwt),
        cmocka_unit_test(a_hostile_typ_is_shown_safely),
        cmocka_unit_test(the_client_is_the_first_client_claim_present),
        cmocka_unit_test(client_claim_names_where_the_client_is),
        cmocka_unit_test(the_scopes_are_the_union_of_the_scope_claims),
        cmocka_unit_test(a_malformed_scope_claim_makes_the_token_invalid),
        cmocka_unit_test(each_check_has_words_fit_for_an_error_description),
        cmocka_unit_test(each_refusal_names_its_check),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
