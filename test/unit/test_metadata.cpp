// RFC 8414 metadata.
#include "unit.hpp"

#include <cstring>

#include "core/metadata.hpp"
#include "fixtures.hpp"

namespace {

void renders_the_document(void **) {
    auto registry = fixture::standard_registry();
    oauth::MetadataConfig config{"https://as.example:8443/tenant", "/oauth/token", "/introspect",
                                 ""};
    assert_text(oauth::render_metadata(config, registry.get()),
                "{\"issuer\":\"https://as.example:8443/tenant\","
                "\"token_endpoint\":\"https://as.example:8443/oauth/token\","
                "\"introspection_endpoint\":\"https://as.example:8443/introspect\","
                "\"grant_types_supported\":[\"client_credentials\"],"
                "\"response_types_supported\":[],"
                "\"scopes_supported\":[\"a\",\"b\",\"c\"],"
                "\"token_endpoint_auth_methods_supported\":[\"client_secret_basic\",\"client_"
                "secret_post\"],"
                "\"introspection_endpoint_auth_methods_supported\":[\"client_secret_basic\","
                "\"client_secret_post\"],"
                "\"revocation_endpoint_auth_methods_supported\":[\"client_secret_basic\","
                "\"client_secret_post\"]}");
}

void names_the_jwk_set_when_served(void **) {
    oauth::MetadataConfig config{"https://as.example/t", "/token", "", "", "/jwks"};
    std::string doc = oauth::render_metadata(config, nullptr);
    assert_non_null(strstr(doc.c_str(), ",\"jwks_uri\":\"https://as.example/jwks\","));
}

void checks_the_issuer(void **) {
    assert_false(oauth::check_issuer("https://as.example").has_value());
    assert_false(oauth::check_issuer("http://127.0.0.1:8080").has_value());
    assert_true(oauth::check_issuer("as.example").has_value());
    assert_true(oauth::check_issuer("https://as.example/?x=1").has_value());
    assert_true(oauth::check_issuer("https://as.example/#f").has_value());
    assert_true(oauth::check_issuer("https://").has_value());
}

void answers_get_and_head_only(void **) {
    assert_int_equal(oauth::handle_metadata_request("GET", "{}").status, 200);
    assert_text(oauth::handle_metadata_request("HEAD", "{}").body, "{}");
    oauth::HttpResponse post = oauth::handle_metadata_request("POST", "{}");
    assert_int_equal(post.status, 405);
    assert_text(post.allow, "GET, HEAD");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(renders_the_document),
        cmocka_unit_test(names_the_jwk_set_when_served),
        cmocka_unit_test(checks_the_issuer),
        cmocka_unit_test(answers_get_and_head_only),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
