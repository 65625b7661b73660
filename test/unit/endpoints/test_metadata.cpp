// RFC 8414 metadata.
#include "unit.hpp"

#include <cstring>

#include "core/endpoints/metadata.hpp"
#include "fixtures.hpp"

namespace {

#define AUTH_METHODS "[\"client_secret_basic\",\"client_secret_post\",\"private_key_jwt\"]"
#define SIGNING_ALGS                                                                              \
    "[\"ES256\",\"ES384\",\"ES512\",\"RS256\",\"RS384\",\"RS512\",\"PS256\",\"PS384\",\"PS512\"," \
    "\"EdDSA\",\"Ed25519\"]"

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
                "\"token_endpoint_auth_methods_supported\":" AUTH_METHODS
                ","
                "\"token_endpoint_auth_signing_alg_values_supported\":" SIGNING_ALGS
                ","
                "\"introspection_endpoint_auth_methods_supported\":" AUTH_METHODS
                ","
                "\"introspection_endpoint_auth_signing_alg_values_supported\":" SIGNING_ALGS
                ","
                "\"revocation_endpoint_auth_methods_supported\":" AUTH_METHODS
                ","
                "\"revocation_endpoint_auth_signing_alg_values_supported\":" SIGNING_ALGS "}");
}

std::string scopes_supported(const oauth::Registry &registry) {
    oauth::MetadataConfig config{"https://as.example", "", "", ""};
    std::string document = oauth::render_metadata(config, &registry);
    size_t start = document.find("\"scopes_supported\":[");
    assert_true(start != std::string::npos);
    start += std::strlen("\"scopes_supported\":[");
    return document.substr(start, document.find(']', start) - start);
}

void lists_each_scope_once_in_order_of_first_appearance(void **) {
    auto registry = fixture::registry(R"({"clients":[
        {"client_id":"x","client_secret_hash":")" +
                                      fixture::sha256_hash("x") +
                                      R"(","scope":"c a"},
        {"client_id":"y","client_secret_hash":")" +
                                      fixture::sha256_hash("y") +
                                      R"(","scope":"b a c"},
        {"client_id":"z","client_secret_hash":")" +
                                      fixture::sha256_hash("z") + R"(","scope":"d b"}]})");
    assert_non_null(registry.get());
    assert_text(scopes_supported(*registry), "\"c\",\"a\",\"b\",\"d\"");
}

// The registry size that took `nginx -t` 26 s when each scope was looked for
// in the list so far: 100 000 clients, each with scopes no other client has,
// and one scope they all share.
void lists_the_scopes_of_a_large_registry(void **) {
    const size_t clients = 100000;
    std::string hash = fixture::sha256_hash("secret");
    std::string json = R"({"clients":[)";
    for (size_t i = 0; i < clients; ++i) {
        std::string n = std::to_string(i);
        json += (i ? "," : "") + std::string(R"({"client_id":"c)") + n +
                R"(","client_secret_hash":")" + hash + R"(","scope":"shared own:)" + n + "\"}";
    }
    json += "]}";
    auto registry = fixture::registry(json);
    assert_non_null(registry.get());
    std::string listed = scopes_supported(*registry);
    size_t count = 0;
    for (size_t at = listed.find(','); at != std::string::npos; at = listed.find(',', at + 1)) {
        ++count;
    }
    assert_int_equal(count + 1, clients + 1);
    assert_int_equal(listed.rfind("\"shared\",\"own:0\",\"own:1\",", 0), 0);
    const std::string last = "\"own:99999\"";
    assert_true(listed.size() > last.size() &&
                listed.compare(listed.size() - last.size(), last.size(), last) == 0);
}

void names_the_jwk_set_when_served(void **) {
    oauth::MetadataConfig config{"https://as.example/t", "/token", "", "", "/jwks"};
    std::string doc = oauth::render_metadata(config, nullptr);
    assert_non_null(strstr(doc.c_str(), ",\"jwks_uri\":\"https://as.example/jwks\","));
}

void checks_the_issuer(void **) {
    assert_false(oauth::check_issuer("https://as.example").has_value());
    assert_false(oauth::check_issuer("http://127.0.0.1:8080").has_value());
    // Says what it accepts: https, and http as the tests use it.
    assert_text(oauth::check_issuer("as.example").value_or(""),
                "the issuer must be an https URL (http is accepted for testing)");
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
        cmocka_unit_test(lists_each_scope_once_in_order_of_first_appearance),
        cmocka_unit_test(lists_the_scopes_of_a_large_registry),
        cmocka_unit_test(names_the_jwk_set_when_served),
        cmocka_unit_test(checks_the_issuer),
        cmocka_unit_test(answers_get_and_head_only),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
