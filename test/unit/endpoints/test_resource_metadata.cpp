// RFC 9728 Protected Resource Metadata, and the challenge that points to it.
#include "unit.hpp"

#include "core/bearer.hpp"
#include "core/endpoints/resource_metadata.hpp"

namespace {

void renders_the_document(void **) {
    oauth::ResourceMetadataConfig config{"https://api.example",
                                         {"https://as.example", "https://kc.example/realms/r"},
                                         {"read", "write"}};
    assert_text(
        oauth::render_resource_metadata(config),
        "{\"resource\":\"https://api.example\","
        "\"authorization_servers\":[\"https://as.example\",\"https://kc.example/realms/r\"],"
        "\"scopes_supported\":[\"read\",\"write\"],"
        "\"bearer_methods_supported\":[\"header\"],"
        "\"dpop_signing_alg_values_supported\":[\"ES256\",\"ES384\",\"ES512\",\"RS256\","
        "\"RS384\",\"RS512\",\"PS256\",\"PS384\",\"PS512\",\"EdDSA\"],"
        "\"dpop_bound_access_tokens_required\":false}");
}

void leaves_out_scopes_not_given(void **) {
    oauth::ResourceMetadataConfig config{"http://127.0.0.1:8080", {}, {}};
    assert_text(oauth::render_resource_metadata(config),
                "{\"resource\":\"http://127.0.0.1:8080\",\"authorization_servers\":[],"
                "\"bearer_methods_supported\":[\"header\"],"
                "\"dpop_signing_alg_values_supported\":[\"ES256\",\"ES384\",\"ES512\",\"RS256\","
                "\"RS384\",\"RS512\",\"PS256\",\"PS384\",\"PS512\",\"EdDSA\"],"
                "\"dpop_bound_access_tokens_required\":false}");
}

void checks_the_resource_identifier(void **) {
    assert_false(oauth::check_resource_identifier("https://api.example/v1").has_value());
    assert_false(oauth::check_resource_identifier("http://127.0.0.1:8080").has_value());
    assert_true(oauth::check_resource_identifier("urn:api").has_value());
    assert_true(oauth::check_resource_identifier("https://api.example/#x").has_value());
    assert_true(oauth::check_resource_identifier("https://").has_value());
    assert_true(oauth::check_resource_identifier("https:///path").has_value());
    assert_true(oauth::check_resource_identifier("https://a b").has_value());
}

void takes_the_scheme_and_host_of_the_request(void **) {
    assert_text(*oauth::resource_of_request(true, "api.example"), "https://api.example");
    assert_text(*oauth::resource_of_request(false, "127.0.0.1:8080"), "http://127.0.0.1:8080");
    assert_text(*oauth::resource_of_request(true, "[::1]:8443"), "https://[::1]:8443");
    assert_false(oauth::resource_of_request(true, "").has_value());
    assert_false(oauth::resource_of_request(true, "a\"b").has_value());
    assert_false(oauth::resource_of_request(true, "a\x01b").has_value());
    assert_false(oauth::resource_of_request(true, "evil.example/x").has_value());
    assert_false(oauth::resource_of_request(true, "user@api.example").has_value());
    assert_false(oauth::resource_of_request(true, "a b").has_value());
}

// RFC 9728 §5.1: on 401 only; a 403 already had its token accepted.
void a_401_challenge_names_the_metadata(void **) {
    oauth::BearerVerdict verdict;
    verdict.status = 401;
    verdict.challenge = "Bearer realm=\"api\"";
    oauth::point_to_resource_metadata(verdict,
                                      "https://api.example/.well-known/oauth-protected-resource");
    assert_text(verdict.challenge,
                "Bearer realm=\"api\", resource_metadata="
                "\"https://api.example/.well-known/oauth-protected-resource\"");
    oauth::BearerVerdict forbidden;
    forbidden.status = 403;
    forbidden.challenge = "Bearer realm=\"api\"";
    oauth::point_to_resource_metadata(forbidden, "https://api.example/m");
    assert_text(forbidden.challenge, "Bearer realm=\"api\"");
    oauth::point_to_resource_metadata(verdict, "");
    assert_int_equal(verdict.challenge.find("resource_metadata", 60), std::string::npos);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_the_document),
        cmocka_unit_test(leaves_out_scopes_not_given),
        cmocka_unit_test(checks_the_resource_identifier),
        cmocka_unit_test(takes_the_scheme_and_host_of_the_request),
        cmocka_unit_test(a_401_challenge_names_the_metadata),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
