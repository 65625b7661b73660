// The token endpoint flow end to end on a real registry and store.
#include "unit.hpp"

#include <cstring>

#include "core/http/base64.hpp"
#include "core/jose/access_token.hpp"
#include "core/tokens/token.hpp"
#include "core/endpoints/token_endpoint.hpp"
#include "fixtures.hpp"

#include <jansson.h>

namespace {

constexpr uint32_t kNow = 1700000000;

struct Exchange {
    oauth::FormRequest request;
    std::string body;
    std::string authorization;

    Exchange(std::string form_body, std::string basic = "") : body(std::move(form_body)) {
        request.method = "POST";
        request.content_type = "application/x-www-form-urlencoded";
        if (!basic.empty()) {
            authorization = fixture::basic_header(basic);
            request.authorization_headers = 1;
            request.authorization = authorization;
        }
        request.body = body;
    }
};

struct Result {
    oauth::HttpResponse response;
    std::string field(const char *name) const {
        json_error_t error;
        json_t *root = json_loads(response.body.c_str(), 0, &error);
        std::string value;
        json_t *member = root ? json_object_get(root, name) : nullptr;
        if (json_is_string(member)) {
            value = json_string_value(member);
        } else if (json_is_integer(member)) {
            value = std::to_string(json_integer_value(member));
        } else if (member != nullptr) {
            value = "<other>";
        }
        json_decref(root);
        return value;
    }
};

Result post(const Exchange &exchange, fixture::Store &memory, std::string_view realm = "test") {
    static std::unique_ptr<oauth::Registry> registry = fixture::standard_registry();
    oauth::TokenStore store = memory.open();
    return {oauth::handle_token_request(exchange.request, *registry, store,
                                        oauth::TokenEndpointConfig{3600, {realm}}, kNow)};
}

void issues_a_token_with_the_default_scope(void **) {
    fixture::Store memory;
    Result r = post(Exchange("grant_type=client_credentials", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 200);
    assert_text(r.field("token_type"), "Bearer");
    assert_text(r.field("expires_in"), "3600");
    assert_text(r.field("scope"), "a");
    assert_int_equal(r.field("access_token").size(), oauth::kTokenLength);
    assert_text(r.field("refresh_token"), "");
    assert_true(r.response.no_store);

    oauth::TokenGrant grant;
    assert_true(memory.open().find(oauth::digest_token(r.field("access_token")), kNow, grant));
    assert_text(grant.client(), "app");
    assert_text(grant.scopes(), "a");
    assert_int_equal(grant.expires_at, kNow + 3600);
}

void grants_requested_scopes_in_registry_order(void **) {
    fixture::Store memory;
    Result r = post(Exchange("grant_type=client_credentials&scope=c+a", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 200);
    assert_text(r.field("scope"), "a c");
}

void empty_scope_parameter_counts_as_absent(void **) {
    fixture::Store memory;
    Result r = post(Exchange("grant_type=client_credentials&scope=", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 200);
    assert_text(r.field("scope"), "a");
}

void refuses_a_scope_outside_the_clients(void **) {
    fixture::Store memory;
    Result r = post(Exchange("grant_type=client_credentials&scope=a+z", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 400);
    assert_text(r.field("error"), "invalid_scope");
    r = post(Exchange("grant_type=client_credentials&scope=a%22", "app:app-secret"), memory);
    assert_text(r.field("error"), "invalid_scope");
    r = post(Exchange("grant_type=client_credentials&scope=a++b", "app:app-secret"), memory);
    assert_text(r.field("error"), "invalid_scope");
}

void body_credentials_authenticate(void **) {
    fixture::Store memory;
    Result r = post(
        Exchange("grant_type=client_credentials&client_id=app&client_secret=app-secret"), memory);
    assert_int_equal(r.response.status, 200);
}

void wrong_secret_is_invalid_client_with_challenge_for_basic_only(void **) {
    fixture::Store memory;
    Result basic = post(Exchange("grant_type=client_credentials", "app:nope"), memory);
    assert_int_equal(basic.response.status, 401);
    assert_text(basic.field("error"), "invalid_client");
    assert_text(basic.response.www_authenticate, "Basic realm=\"test\"");
    assert_true(basic.response.log == oauth::HttpResponse::Log::info);
    assert_null(strstr(basic.response.log_message.c_str(), "nope"));

    Result body =
        post(Exchange("grant_type=client_credentials&client_id=app&client_secret=nope"), memory);
    assert_int_equal(body.response.status, 401);
    assert_text(body.response.www_authenticate, "");

    Result unknown = post(Exchange("grant_type=client_credentials", "ghost:app-secret"), memory);
    assert_int_equal(unknown.response.status, 401);
    assert_text(unknown.response.body, basic.response.body);
    assert_text(basic.response.log_message, "client authentication failed for client_id \"app\"");

    // A secret sent as the client_id (fields swapped) must not reach the log.
    Result swapped = post(
        Exchange("grant_type=client_credentials&client_id=app-secret&client_secret=app"), memory);
    assert_int_equal(swapped.response.status, 401);
    assert_text(swapped.response.log_message,
                "client authentication failed for an unknown client_id");
}

// curl -u 'app:ab cd', requests-oauthlib and Authlib 1.2 skip the
// form-encoding of RFC 6749 §2.3.1: the refusal and the log say so.
void raw_basic_credentials_are_diagnosed(void **) {
    fixture::Store memory;
    Exchange exchange("grant_type=client_credentials");
    exchange.authorization = "Basic " + oauth::encode_base64("my-client:s3cret word");
    exchange.request.authorization_headers = 1;
    exchange.request.authorization = exchange.authorization;
    Result r = post(exchange, memory);
    assert_int_equal(r.response.status, 401);
    assert_text(r.field("error"), "invalid_client");
    assert_non_null(strstr(r.field("error_description").c_str(), "not form-urlencoded"));
    assert_text(r.response.www_authenticate, "Basic realm=\"test\"");
    assert_true(r.response.log == oauth::HttpResponse::Log::info);
    assert_non_null(
        strstr(r.response.log_message.c_str(),
               "the Basic credentials are not form-urlencoded (RFC 6749 section 2.3.1)"));
    assert_null(strstr(r.response.log_message.c_str(), "my-client"));
    assert_null(strstr(r.response.log_message.c_str(), "s3cret"));
    assert_null(strstr(r.response.log_message.c_str(), "word"));
}

void the_realm_is_escaped_in_the_basic_challenge(void **) {
    fixture::Store memory;
    Result r = post(Exchange("grant_type=client_credentials", "app:nope"), memory, "a\"b\\");
    assert_text(r.response.www_authenticate, "Basic realm=\"a\\\"b\\\\\"");
}

void no_credentials_get_a_challenge(void **) {
    fixture::Store memory;
    Result r = post(Exchange("grant_type=client_credentials"), memory);
    assert_int_equal(r.response.status, 401);
    assert_text(r.response.www_authenticate, "Basic realm=\"test\"");
}

void two_methods_at_once_are_refused(void **) {
    fixture::Store memory;
    Result r =
        post(Exchange("grant_type=client_credentials&client_secret=app-secret", "app:app-secret"),
             memory);
    assert_int_equal(r.response.status, 400);
    assert_text(r.field("error"), "invalid_request");
    r = post(Exchange("grant_type=client_credentials&client_id=other", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 400);
    r = post(Exchange("grant_type=client_credentials&client_id=app", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 200);
}

void grant_type_errors(void **) {
    fixture::Store memory;
    Result r = post(Exchange("scope=a", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 400);
    assert_text(r.field("error"), "invalid_request");
    r = post(Exchange("grant_type=password", "app:app-secret"), memory);
    assert_text(r.field("error"), "unsupported_grant_type");
    r = post(Exchange("grant_type=client_credentials", "legacy:legacy-secret"), memory);
    assert_int_equal(r.response.status, 400);
    assert_text(r.field("error"), "unauthorized_client");
}

void request_shape_errors(void **) {
    fixture::Store memory;
    Exchange get("grant_type=client_credentials", "app:app-secret");
    get.request.method = "GET";
    Result r = post(get, memory);
    assert_int_equal(r.response.status, 405);
    assert_text(r.response.allow, "POST");

    Exchange json("grant_type=client_credentials", "app:app-secret");
    json.request.content_type = "application/json";
    assert_int_equal(post(json, memory).response.status, 400);

    Exchange two_types("grant_type=client_credentials", "app:app-secret");
    two_types.request.content_type_headers = 2;  // nginx hands over the first
    Result refused = post(two_types, memory);
    assert_int_equal(refused.response.status, 400);
    assert_text(refused.field("error"), "invalid_request");

    Exchange charset("grant_type=client_credentials", "app:app-secret");
    charset.request.content_type = "Application/X-WWW-Form-Urlencoded; charset=UTF-8";
    assert_int_equal(post(charset, memory).response.status, 200);

    Exchange big("", "app:app-secret");
    big.request.body_too_large = true;
    assert_int_equal(post(big, memory).response.status, 400);

    Exchange query("grant_type=client_credentials", "app:app-secret");
    query.request.query = "x=1&client_%73ecret=app-secret";
    assert_int_equal(post(query, memory).response.status, 400);

    assert_int_equal(post(Exchange("grant_type=client_credentials&grant_type=client_credentials",
                                   "app:app-secret"),
                          memory)
                         .response.status,
                     400);
    assert_int_equal(post(Exchange("grant_type=client_credentials&x=%zz", "app:app-secret"), memory)
                         .response.status,
                     400);

    Exchange twice("grant_type=client_credentials", "app:app-secret");
    twice.request.authorization_headers = 2;
    assert_int_equal(post(twice, memory).response.status, 400);
}

void full_zone_answers_503_with_retry_after(void **) {
    fixture::Store memory(oauth::TokenStore::kMinRegionSize);
    oauth::TokenStore store = memory.open();
    oauth::InsertResult result = oauth::InsertResult::ok;
    for (uint64_t n = 0; result == oauth::InsertResult::ok; ++n) {
        oauth::Digest digest{};
        std::memcpy(digest.data(), &n, sizeof n);
        uint32_t retry_after = 0;
        result = store.insert(digest, "filler", "x", 1, kNow, kNow + 600, kNow, retry_after,
                              oauth::TokenStore::kNoClientCap);
    }
    Result r = post(Exchange("grant_type=client_credentials", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 503);
    assert_text(r.field("error"), "temporarily_unavailable");
    assert_int_equal(r.response.retry_after, 600);
    assert_true(r.response.log == oauth::HttpResponse::Log::error);
}

void client_at_its_default_cap_gets_429_and_others_are_served(void **) {
    fixture::Store memory(oauth::TokenStore::kMinRegionSize);
    size_t cap = memory.open().capacity() / 4;
    for (size_t i = 0; i < cap; ++i) {
        assert_int_equal(post(Exchange("grant_type=client_credentials", "app:app-secret"), memory)
                             .response.status,
                         200);
    }
    Result r = post(Exchange("grant_type=client_credentials", "app:app-secret"), memory);
    assert_int_equal(r.response.status, 429);
    assert_text(r.field("error"), "temporarily_unavailable");
    assert_int_equal(r.response.retry_after, 3600);
    assert_true(r.response.log == oauth::HttpResponse::Log::warn && r.response.log_throttled);
    assert_true(r.response.log_message.find("\"app\"") != std::string::npos);
    assert_int_equal(
        post(Exchange("grant_type=client_credentials", "auditor:auditor-secret"), memory)
            .response.status,
        200);
}

void max_tokens_sets_a_clients_cap(void **) {
    auto registry = fixture::registry(R"({"clients":[{"client_id":"app","client_secret_hash":")" +
                                      fixture::sha256_hash("app-secret") +
                                      R"(","scope":"a","max_tokens":2}]})");
    fixture::Store memory;
    oauth::TokenStore store = memory.open();
    oauth::TokenEndpointConfig config{60, {"test"}};
    Exchange exchange("grant_type=client_credentials", "app:app-secret");
    for (uint32_t second = 0; second < 2; ++second) {
        assert_int_equal(
            oauth::handle_token_request(exchange.request, *registry, store, config, kNow + second)
                .status,
            200);
    }
    oauth::HttpResponse refused =
        oauth::handle_token_request(exchange.request, *registry, store, config, kNow + 10);
    assert_int_equal(refused.status, 429);
    assert_int_equal(refused.retry_after, 50);  // until the first token expires
    assert_int_equal(
        oauth::handle_token_request(exchange.request, *registry, store, config, kNow + 60).status,
        200);
}

}  // namespace

// format=jwt: an RFC 9068 token of the same response shape, nothing in the zone.
void issues_a_jwt_that_verifies_and_stores_nothing(void **) {
    oauth::jose::Key key;
    key.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    key.kid = "k1";
    std::unique_ptr<oauth::Registry> registry = fixture::standard_registry();
    fixture::Store memory;
    oauth::TokenStore store = memory.open();
    oauth::TokenEndpointConfig config{3600, {"test"}, &key, "https://as.test"};
    Exchange exchange("grant_type=client_credentials&scope=a%20b", "app:app-secret");
    Result result{oauth::handle_token_request(exchange.request, *registry, store, config, kNow)};
    assert_int_equal(result.response.status, 200);
    assert_text(result.field("token_type"), "Bearer");
    assert_text(result.field("expires_in"), "3600");
    assert_text(result.field("scope"), "a b");
    assert_int_equal(store.live_tokens(), 0);

    std::vector<oauth::jose::Key> keys = {key};
    oauth::jose::VerifierPolicy policy{"https://as.test", &keys, 0, {}};
    oauth::jose::VerifiedToken claims;
    assert_int_equal(oauth::jose::verify_access_token(result.field("access_token"), policy, kNow,
                                                      std::nullopt, claims),
                     oauth::jose::JwtCheck::ok);
    assert_text(claims.client_id, "app");
    assert_text(claims.scope, "a b");
    assert_text(claims.audience[0], "https://as.test");
    assert_int_equal(claims.expires_at, kNow + 3600);
}

namespace {

// RFC 8707: a client with resources, and the audience each request gets.
struct Audiences {
    std::unique_ptr<oauth::Registry> registry = fixture::registry(
        R"({"clients":[{"client_id":"app","client_secret_hash":")" +
        fixture::sha256_hash("app-secret") +
        R"(","scope":"a","resource":["https://one.test","https://two.test/api","urn:three"]},)"
        R"({"client_id":"plain","client_secret_hash":")" +
        fixture::sha256_hash("plain-secret") + R"(","scope":"a"}]})");
    fixture::Store memory;

    Result post(const std::string &form, const char *client = "app:app-secret",
                std::string_view issuer = "https://as.test") {
        oauth::TokenStore store = memory.open();
        oauth::TokenEndpointConfig config{3600, {"test"}, nullptr, issuer};
        Exchange exchange("grant_type=client_credentials" + form, client);
        return {oauth::handle_token_request(exchange.request, *registry, store, config, kNow)};
    }

    // The audience the store keeps for the token of `r`.
    std::string audience(const Result &r) {
        oauth::TokenGrant grant;
        assert_int_equal(r.response.status, 200);
        assert_true(memory.open().find(oauth::digest_token(r.field("access_token")), kNow, grant));
        return std::string(grant.audiences());
    }
};

void the_default_audience_is_the_first_resource_or_the_issuer(void **) {
    Audiences a;
    assert_text(a.audience(a.post("")), "https://one.test");
    assert_text(a.audience(a.post("", "plain:plain-secret")), "https://as.test");
    assert_text(a.audience(a.post("", "plain:plain-secret", "")), "");
    assert_text(a.audience(a.post("&resource=")), "https://one.test");  // empty: omitted
}

void resource_may_repeat_and_each_must_be_the_clients(void **) {
    Audiences a;
    assert_text(a.audience(a.post("&resource=urn%3Athree")), "urn:three");
    // Registry order, each once, whatever the request's order.
    assert_text(a.audience(a.post("&resource=urn:three&resource=https%3A%2F%2Fone.test"
                                  "&resource=urn:three")),
                "https://one.test urn:three");
    for (const char *form :
         {"&resource=https%3A%2F%2Fother.test", "&resource=urn:three&resource=x",
          "&resource=https%3A%2F%2Fone.test%23f", "&resource=https%3A%2F%2FONE.test"}) {
        Result r = a.post(form);
        assert_int_equal(r.response.status, 400);
        assert_text(r.field("error"), "invalid_target");
    }
    // A client without resources may name none, not even the issuer.
    Result r = a.post("&resource=https%3A%2F%2Fas.test", "plain:plain-secret");
    assert_int_equal(r.response.status, 400);
    assert_text(r.field("error"), "invalid_target");
    // Only resource may repeat.
    r = a.post("&scope=a&scope=a");
    assert_int_equal(r.response.status, 400);
    assert_text(r.field("error"), "invalid_request");
}

void a_jwt_carries_the_chosen_audience(void **) {
    oauth::jose::Key key;
    key.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    key.kid = "k1";
    Audiences a;
    oauth::TokenStore store = a.memory.open();
    oauth::TokenEndpointConfig config{3600, {"test"}, &key, "https://as.test"};
    std::vector<oauth::jose::Key> keys = {key};
    oauth::jose::VerifierPolicy policy{"https://as.test", &keys, 0, {}};
    auto audience_of = [&](const std::string &form) {
        Exchange exchange("grant_type=client_credentials" + form, "app:app-secret");
        Result r{oauth::handle_token_request(exchange.request, *a.registry, store, config, kNow)};
        assert_int_equal(r.response.status, 200);
        oauth::jose::VerifiedToken claims;
        assert_int_equal(oauth::jose::verify_access_token(r.field("access_token"), policy, kNow,
                                                          std::nullopt, claims),
                         oauth::jose::JwtCheck::ok);
        std::string joined;
        for (const std::string &one : claims.audience) {
            joined += (joined.empty() ? "" : " ") + one;
        }
        return joined;
    };
    assert_text(audience_of(""), "https://one.test");
    assert_text(audience_of("&resource=urn:three&resource=https%3A%2F%2Ftwo.test%2Fapi"),
                "https://two.test/api urn:three");
    Exchange exchange("grant_type=client_credentials&resource=urn:four", "app:app-secret");
    Result r{oauth::handle_token_request(exchange.request, *a.registry, store, config, kNow)};
    assert_text(r.field("error"), "invalid_target");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_default_audience_is_the_first_resource_or_the_issuer),
        cmocka_unit_test(resource_may_repeat_and_each_must_be_the_clients),
        cmocka_unit_test(a_jwt_carries_the_chosen_audience),
        cmocka_unit_test(issues_a_token_with_the_default_scope),
        cmocka_unit_test(grants_requested_scopes_in_registry_order),
        cmocka_unit_test(empty_scope_parameter_counts_as_absent),
        cmocka_unit_test(refuses_a_scope_outside_the_clients),
        cmocka_unit_test(body_credentials_authenticate),
        cmocka_unit_test(wrong_secret_is_invalid_client_with_challenge_for_basic_only),
        cmocka_unit_test(raw_basic_credentials_are_diagnosed),
        cmocka_unit_test(the_realm_is_escaped_in_the_basic_challenge),
        cmocka_unit_test(no_credentials_get_a_challenge),
        cmocka_unit_test(two_methods_at_once_are_refused),
        cmocka_unit_test(grant_type_errors),
        cmocka_unit_test(request_shape_errors),
        cmocka_unit_test(full_zone_answers_503_with_retry_after),
        cmocka_unit_test(client_at_its_default_cap_gets_429_and_others_are_served),
        cmocka_unit_test(max_tokens_sets_a_clients_cap),
        cmocka_unit_test(issues_a_jwt_that_verifies_and_stores_nothing),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
