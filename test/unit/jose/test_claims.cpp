// A token's claims for oauth_require_claim and oauth_claim_set: names and
// RFC 6901 JSON Pointers, rendering, matching, and an opaque token's claims.
#include "unit.hpp"

#include <cstring>

#include "core/bearer.hpp"
#include "core/jose/claims.hpp"

using namespace oauth::jose;

namespace {

// A Keycloak-shaped claim set, with every kind of JSON value.
const char *const kClaims = R"({
    "iss": "https://kc.example/realms/r", "sub": "u1", "azp": "app",
    "realm_access": {"roles": ["offline_access", "admin"]},
    "resource_access": {"api": {"roles": ["read"]}},
    "a/b": "slash", "m~n": "tilde", "": "empty name",
    "age": 42, "ratio": 0.1, "email_verified": true, "nothing": null,
    "groups": ["g1", 7, false, {"x": 1}, ["y"]],
    "address": {"country": "NL", "zip": "1011"},
    "evil": "a\r\nX-Injected: 1"
})";

ClaimSet claims() {
    ClaimSet set = adopt_claim_set(json_loads(kClaims, 0, nullptr));
    assert_non_null(set.get());
    return set;
}

ClaimPath path(std::string_view text) {
    ClaimPath out;
    std::string error;
    assert_true(ClaimPath::compile(text, out, error));
    return out;
}

// The claim at `where` as oauth_claim_set renders it; "<absent>" when none.
std::string rendered(std::string_view where) {
    ClaimSet set = claims();
    const json_t *value = path(where).find(set.get());
    if (value == nullptr) {
        return "<absent>";
    }
    std::optional<std::string> text = render_claim(value);
    return text ? *text : "<refused>";
}

void finds_names_and_pointers(void **) {
    assert_text(rendered("sub"), "u1");
    assert_text(rendered("/sub"), "u1");
    assert_text(rendered("/realm_access/roles/1"), "admin");
    assert_text(rendered("/resource_access/api/roles"), "read");
    assert_text(rendered("a/b"), "slash");  // a name is not a pointer
    assert_text(rendered("/a~1b"), "slash");
    assert_text(rendered("/m~0n"), "tilde");
    assert_text(rendered("/"), "empty name");
}

void finds_nothing_where_there_is_nothing(void **) {
    assert_text(rendered("absent"), "<absent>");
    assert_text(rendered("/realm_access/groups"), "<absent>");
    assert_text(rendered("/realm_access/roles/2"), "<absent>");
    assert_text(rendered("/realm_access/roles/01"), "<absent>");  // RFC 6901 §4: no leading zero
    assert_text(rendered("/realm_access/roles/-"), "<absent>");
    assert_text(rendered("/sub/x"), "<absent>");
    assert_text(rendered("/age/0"), "<absent>");
}

void renders_each_kind_of_value(void **) {
    assert_text(rendered("age"), "42");
    assert_text(rendered("ratio"), "0.1");
    assert_text(rendered("email_verified"), "true");
    assert_text(rendered("nothing"), "null");
    assert_text(rendered("/realm_access/roles"), "offline_access,admin");
    assert_text(rendered("groups"), "g1,7,false,{\"x\":1},[\"y\"]");
    assert_text(rendered("address"), "{\"country\":\"NL\",\"zip\":\"1011\"}");
}

// A string with CR LF would add a header through add_header.
void refuses_a_string_with_a_control_character(void **) {
    assert_text(rendered("evil"), "<refused>");
}

void refuses_bad_paths(void **) {
    ClaimPath out;
    std::string error;
    assert_false(ClaimPath::compile("", out, error));
    assert_false(ClaimPath::compile("/a~2b", out, error));
    assert_non_null(std::strstr(error.c_str(), "RFC 6901"));
    assert_false(ClaimPath::compile("/a~", out, error));
}

bool holds(std::string_view claim, std::vector<std::string_view> values) {
    ClaimRequirement required;
    std::string error;
    assert_true(ClaimRequirement::compile(claim, values, required, error));
    return required.holds(claims().get());
}

void matches_a_value_or_an_array_element(void **) {
    assert_true(holds("azp", {"other", "app"}));
    assert_false(holds("azp", {"APP"}));
    assert_true(holds("/realm_access/roles", {"admin"}));
    assert_false(holds("/realm_access/roles", {"offline_access,admin"}));
    assert_true(holds("age", {"42"}));
    assert_true(holds("email_verified", {"true"}));
    assert_false(holds("email_verified", {"false"}));
    assert_true(holds("groups", {"7"}));
    assert_false(holds("address", {"{\"country\":\"NL\",\"zip\":\"1011\"}"}));  // never an object
    assert_false(holds("absent", {"x"}));
}

void a_requirement_needs_a_value(void **) {
    ClaimRequirement required;
    std::string error;
    assert_false(ClaimRequirement::compile("roles", {}, required, error));
    assert_text(error, "no value for the claim \"roles\"");
}

std::vector<ClaimRequirement> requirements(
    std::vector<std::pair<std::string_view, std::string_view>> pairs) {
    std::vector<ClaimRequirement> out;
    for (auto [claim, value] : pairs) {
        ClaimRequirement one;
        std::string error;
        assert_true(ClaimRequirement::compile(claim, {value}, one, error));
        out.push_back(one);
    }
    return out;
}

// RFC 6750 §3.1: a token that lacks the privileges is insufficient_scope; the
// description names the claim, never the values asked for.
void every_requirement_must_hold(void **) {
    ClaimSet set = claims();
    auto both = requirements({{"azp", "app"}, {"/realm_access/roles", "admin"}});
    assert_int_equal(oauth::check_claims(both, set.get(), "api").status, 0);
    auto one_fails = requirements({{"azp", "app"}, {"/realm_access/roles", "secret-role"}});
    oauth::BearerVerdict verdict = oauth::check_claims(one_fails, set.get(), "api");
    assert_int_equal(verdict.status, 403);
    assert_text(verdict.result, "insufficient_scope");
    assert_text(verdict.challenge,
                "Bearer realm=\"api\", error=\"insufficient_scope\", "
                "error_description=\"the access token's claim /realm_access/roles is missing or "
                "none of the values oauth_require_claim asks for\"");
    assert_null(std::strstr(verdict.challenge.c_str(), "secret-role"));
    assert_int_equal(oauth::check_claims(one_fails, nullptr, "api").status, 403);
}

oauth::TokenGrant opaque_grant() {
    oauth::TokenGrant grant;
    std::memcpy(grant.client_id, "app", 3);
    grant.client_id_length = 3;
    std::memcpy(grant.scope, "read write", 10);
    grant.scope_length = 10;
    std::memcpy(grant.audience, "https://api.example", 19);
    grant.audience_length = 19;
    grant.issued_at = 1700000000;
    grant.expires_at = 1700003600;
    return grant;
}

// An opaque token's claims are what introspection answers for it.
void an_opaque_tokens_claims_are_its_introspection_fields(void **) {
    oauth::TokenGrant grant = opaque_grant();
    ClaimSet set = claims_of(grant, "https://as.example", nullptr);
    assert_non_null(set.get());
    std::unique_ptr<char, void (*)(void *)> text(json_dumps(set.get(), JSON_COMPACT), std::free);
    assert_text(text.get(), render_introspection(grant, "https://as.example", nullptr));
    assert_text(*render_claim(path("client_id").find(set.get())), "app");
    assert_text(*render_claim(path("aud").find(set.get())), "https://api.example");
    assert_text(*render_claim(path("exp").find(set.get())), "1700003600");
    assert_text(*render_claim(path("iss").find(set.get())), "https://as.example");
    assert_text(*render_claim(path("active").find(set.get())), "true");
}

void a_jwts_claims_are_its_own(void **) {
    VerifiedToken jwt;
    jwt.claim_set = claims();
    ClaimSet set = claims_of(opaque_grant(), "https://as.example", &jwt);
    assert_ptr_equal(set.get(), jwt.claim_set.get());
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_names_and_pointers),
        cmocka_unit_test(finds_nothing_where_there_is_nothing),
        cmocka_unit_test(renders_each_kind_of_value),
        cmocka_unit_test(refuses_a_string_with_a_control_character),
        cmocka_unit_test(refuses_bad_paths),
        cmocka_unit_test(matches_a_value_or_an_array_element),
        cmocka_unit_test(a_requirement_needs_a_value),
        cmocka_unit_test(every_requirement_must_hold),
        cmocka_unit_test(an_opaque_tokens_claims_are_its_introspection_fields),
        cmocka_unit_test(a_jwts_claims_are_its_own),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
