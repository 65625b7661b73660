// private_key_jwt: the checks of a client assertion (RFC 7523 §3), the
// replay cache behind them, and the registry's rule that a client
// authenticates by the one method it registered.
#include "unit.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <jansson.h>

#include <memory>
#include <string>
#include <vector>

#include "core/endpoints/token_endpoint.hpp"
#include "core/http/base64.hpp"
#include "core/jose/client_assertion.hpp"
#include "core/jose/jws.hpp"
#include "core/tokens/replay_cache.hpp"
#include "fixtures.hpp"

namespace {

using oauth::jose::AssertionCheck;

constexpr uint32_t kNow = 1700000000;
constexpr const char *kIssuer = "https://as.example";

const oauth::jose::Key &client_key() {
    static oauth::jose::Key key = fixture::generated_key("app-key");
    return key;
}

const oauth::jose::Key &other_key() {
    static oauth::jose::Key key = fixture::generated_key("other-key");
    return key;
}

// The claims of a good assertion of "app", with the members of `changes`
// (raw JSON members, each with a leading comma) replacing or adding to them.
std::string claims(const std::string &changes = "", const std::string &jti = "j1") {
    std::string base = R"({"iss":"app","sub":"app","aud":"https://as.example","exp":)" +
                       std::to_string(kNow + 60) + R"(,"jti":")" + jti + "\"}";
    json_t *merged = json_loads(base.c_str(), 0, nullptr);
    json_t *update =
        json_loads(("{" + changes.substr(changes.empty() ? 0 : 1) + "}").c_str(), 0, nullptr);
    assert_non_null(update);
    json_object_update(merged, update);
    char *text = json_dumps(merged, JSON_COMPACT);
    std::string out(text);
    free(text);
    json_decref(update);
    json_decref(merged);
    return out;
}

std::string signed_by(const oauth::jose::Key &key, const std::string &payload,
                      const std::string &alg = "ES256") {
    std::string jws;
    assert_true(oauth::jose::sign_compact(
        key, R"({"alg":")" + alg + R"(","kid":")" + key.kid + "\"}", payload, jws));
    return jws;
}

struct Checker {
    std::vector<uint64_t> memory = std::vector<uint64_t>(oauth::ReplayCache::kMinRegionSize / 8);
    oauth::ReplayCache replays = open();
    oauth::jose::AssertionPolicy policy{{kIssuer, "https://as.example/token"}, &replays};
    uint32_t retry_after = 0;

    oauth::ReplayCache open() {
        assert_true(oauth::ReplayCache::format(memory.data(), memory.size() * 8));
        return oauth::ReplayCache(memory.data(), {});
    }

    AssertionCheck check(const std::string &assertion, uint32_t now = kNow) {
        std::vector<oauth::jose::Key> keys{client_key()};
        return oauth::jose::check_client_assertion(assertion, "app", keys, policy, now,
                                                   retry_after);
    }
};

void a_good_assertion_passes_once(void **) {
    Checker c;
    std::string assertion = signed_by(client_key(), claims());
    assert_int_equal(int(c.check(assertion)), int(AssertionCheck::ok));
    assert_int_equal(int(c.check(assertion)), int(AssertionCheck::replayed));
    // A new jti is a new assertion; aud may be the endpoint's URL, or an array.
    assert_int_equal(
        int(c.check(
            signed_by(client_key(), claims(R"(,"aud":["x","https://as.example/token"])", "j2")))),
        int(AssertionCheck::ok));
}

void each_claim_rule_holds(void **) {
    Checker c;
    auto check = [&](const std::string &extra, AssertionCheck expected) {
        static int n = 0;
        std::string jti = "rule-" + std::to_string(++n);
        assert_int_equal(int(c.check(signed_by(client_key(), claims(extra, jti)))), int(expected));
    };
    check(R"(,"aud":"https://elsewhere.example")", AssertionCheck::audience);
    check(R"(,"aud":["https://elsewhere.example"])", AssertionCheck::audience);
    check(R"(,"iss":"other")", AssertionCheck::issuer);
    check(R"(,"sub":"other")", AssertionCheck::subject);
    check(R"(,"exp":)" + std::to_string(kNow + 301), AssertionCheck::too_long);
    check(R"(,"exp":)" + std::to_string(kNow - 31), AssertionCheck::expired);
    check(R"(,"exp":"soon")", AssertionCheck::expired);
    check(R"(,"iat":)" + std::to_string(kNow + 60), AssertionCheck::not_yet);
    check(R"(,"nbf":)" + std::to_string(kNow + 60), AssertionCheck::not_yet);
    check(R"(,"jti":"")", AssertionCheck::jti);
    check(R"(,"jti":7)", AssertionCheck::jti);
    check(R"(,"jti":")" + std::string(257, 'j') + "\"", AssertionCheck::jti);
    check(R"(,"jti":")" + std::string(256, 'j') + "\"", AssertionCheck::ok);
    check(R"(,"exp":)" + std::to_string(kNow + 300), AssertionCheck::ok);
}

void exp_is_required(void **) {
    Checker c;
    std::string no_exp = R"({"iss":"app","sub":"app","aud":"https://as.example","jti":"x"})";
    assert_int_equal(int(c.check(signed_by(client_key(), no_exp))), int(AssertionCheck::expired));
}

// RFC 8725 §3.1: only the key's own algorithm, with the client's own keys.
void only_the_clients_key_and_alg_verify(void **) {
    Checker c;
    assert_int_equal(int(c.check(signed_by(other_key(), claims()))), int(AssertionCheck::key));
    oauth::jose::Key impostor = fixture::generated_key("app-key");  // the client's kid, another key
    assert_int_equal(int(c.check(signed_by(impostor, claims()))), int(AssertionCheck::signature));
    std::string none = oauth::encode_base64url(R"({"alg":"none","kid":"app-key"})") + "." +
                       oauth::encode_base64url(claims()) + ".";
    assert_int_equal(int(c.check(none)), int(AssertionCheck::shape));
    std::string hs256 = oauth::encode_base64url(R"({"alg":"HS256","kid":"app-key"})") + "." +
                        oauth::encode_base64url(claims()) + "." + oauth::encode_base64url("mac");
    assert_int_equal(int(c.check(hs256)), int(AssertionCheck::alg));
    assert_int_equal(int(c.check("not.a.jwt")), int(AssertionCheck::shape));
}

// The replay cache is the assertion's last check: a refused assertion takes
// no slot, and its jti stays usable.
void a_refused_assertion_takes_no_slot(void **) {
    Checker c;
    assert_int_equal(int(c.check(signed_by(client_key(), claims(R"(,"sub":"x")", "kept")))),
                     int(AssertionCheck::subject));
    assert_int_equal(int(c.check(signed_by(client_key(), claims("", "kept")))),
                     int(AssertionCheck::ok));
}

void a_client_at_its_share_gets_no_room(void **) {
    Checker c;
    size_t share = c.replays.default_share();
    for (size_t i = 0; i < share; ++i) {
        assert_int_equal(int(c.check(signed_by(client_key(), claims("", "f" + std::to_string(i))))),
                         int(AssertionCheck::ok));
    }
    assert_int_equal(int(c.check(signed_by(client_key(), claims("", "one-more")))),
                     int(AssertionCheck::no_room));
    assert_true(c.retry_after > 0 && c.retry_after <= 60 + oauth::jose::kAssertionSkew);
}

// ---- through the token endpoint ------------------------------------------------

std::string registry_json() {
    std::string jwk = oauth::jose::public_jwk(client_key());
    return R"({"clients":[
        {"client_id":"app","token_endpoint_auth_method":"private_key_jwt",
         "jwks":{"keys":[)" +
           jwk + R"(]},"scope":"a"},
        {"client_id":"secretive","client_secret_hash":")" +
           fixture::sha256_hash("secret") + R"(","scope":"a"},
        {"client_id":"basic-only","token_endpoint_auth_method":"client_secret_basic",
         "client_secret_hash":")" +
           fixture::sha256_hash("secret") + R"(","scope":"a"}
    ]})";
}

struct Endpoint {
    std::unique_ptr<oauth::Registry> registry = fixture::registry(registry_json());
    fixture::Store memory;
    Checker checker;
    std::string body;
    std::string authorization;

    oauth::HttpResponse post(const std::string &form, const std::string &basic = "") {
        body = form;
        oauth::FormRequest request;
        request.method = "POST";
        request.content_type = "application/x-www-form-urlencoded";
        request.body = body;
        if (!basic.empty()) {
            authorization = fixture::basic_header(basic);
            request.authorization_headers = 1;
            request.authorization = authorization;
        }
        oauth::TokenStore store = memory.open();
        oauth::TokenEndpointConfig config;
        config.auth.realm = "test";
        config.auth.assertions = checker.policy;
        return oauth::handle_token_request(request, *registry, store, config, kNow);
    }
};

std::string assertion_form(const std::string &assertion, const std::string &extra = "") {
    return "grant_type=client_credentials&client_assertion_type=" +
           std::string(oauth::jose::kJwtBearerAssertionType) + "&client_assertion=" + assertion +
           extra;
}

void the_registry_reads_the_method_and_keys(void **) {
    Endpoint e;
    assert_non_null(e.registry.get());
    const oauth::Client *app = e.registry->find("app");
    assert_true(app->accepts(oauth::AuthMethod::private_key_jwt));
    assert_false(app->accepts(oauth::AuthMethod::client_secret_basic));
    assert_int_equal(app->keys->size(), 1);
    assert_ptr_equal(e.registry->first_with(oauth::AuthMethod::private_key_jwt), app);
    assert_ptr_equal(e.registry->first_with(oauth::AuthMethod::client_secret_basic),
                     e.registry->find("basic-only"));
    const oauth::Client *secretive = e.registry->find("secretive");
    assert_true(secretive->accepts(oauth::AuthMethod::client_secret_basic));
    assert_true(secretive->accepts(oauth::AuthMethod::client_secret_post));
    assert_false(secretive->accepts(oauth::AuthMethod::private_key_jwt));
    assert_false(e.registry->find("basic-only")->accepts(oauth::AuthMethod::client_secret_post));
}

void the_registry_refuses_what_cannot_work(void **) {
    auto refused = [](const std::string &entry, const char *message) {
        oauth::RegistryError error;
        std::vector<std::string> warnings;
        auto registry = oauth::Registry::parse(
            R"({"clients":[{"client_id":"c","scope":"",)" + entry + "}]}", error, warnings);
        assert_null(registry.get());
        if (error.message.find(message) == std::string::npos) {
            fail_msg("%s: got %s", message, error.message.c_str());
        }
    };
    std::string jwks = R"("jwks":{"keys":[)" + oauth::jose::public_jwk(client_key()) + "]}";
    refused(R"("token_endpoint_auth_method":"private_key_jwt")", "needs \"jwks\" or \"jwks_file\"");
    refused(R"("token_endpoint_auth_method":"private_key_jwt","client_secret":"s",)" + jwks,
            "client has no secret");
    refused(R"("token_endpoint_auth_method":"client_secret_jwt")", "must be client_secret_basic");
    refused(R"("client_secret":"s",)" + jwks, "are for a private_key_jwt or");
    refused(
        R"("token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0"}]})",
        "\"jwks\": key #1");
    refused(R"("token_endpoint_auth_method":"private_key_jwt","jwks":[1])", "must be a JWK Set");
}

void the_token_endpoint_takes_an_assertion(void **) {
    Endpoint e;
    std::string assertion = signed_by(client_key(), claims());
    assert_int_equal(e.post(assertion_form(assertion)).status, 200);
    oauth::HttpResponse replayed = e.post(assertion_form(assertion));
    assert_int_equal(replayed.status, 401);
    assert_text(replayed.outcome.result, "invalid_client");
    assert_int_equal(
        e.post(assertion_form(signed_by(client_key(), claims("", "j2")), "&client_id=app")).status,
        200);
}

void no_client_falls_back_to_another_method(void **) {
    Endpoint e;
    assert_int_equal(e.post("grant_type=client_credentials", "app:anything").status, 401);
    assert_int_equal(
        e.post("grant_type=client_credentials&client_id=app&client_secret=anything").status, 401);
    // An assertion naming a secret client, signed with a key the registry
    // holds for another: still refused, the client takes secrets only.
    std::string for_secretive = signed_by(
        client_key(), R"({"iss":"secretive","sub":"secretive","aud":"https://as.example","exp":)" +
                          std::to_string(kNow + 60) + R"(,"jti":"s1"})");
    assert_int_equal(e.post(assertion_form(for_secretive)).status, 401);
    assert_int_equal(e.post("grant_type=client_credentials", "secretive:secret").status, 200);
    assert_int_equal(
        e.post("grant_type=client_credentials&client_id=basic-only&client_secret=secret").status,
        401);
    assert_int_equal(e.post("grant_type=client_credentials", "basic-only:secret").status, 200);
}

void malformed_assertion_requests(void **) {
    Endpoint e;
    std::string assertion = signed_by(client_key(), claims());
    assert_int_equal(e.post(assertion_form(assertion, "&client_secret=x")).status, 400);
    assert_int_equal(e.post(assertion_form(assertion), "app:x").status, 400);
    assert_int_equal(e.post(assertion_form(assertion, "&client_id=other")).status, 401);
    assert_int_equal(
        e.post("grant_type=client_credentials&client_assertion_type=urn:x&client_assertion=" +
               assertion)
            .status,
        401);
    assert_int_equal(e.post("grant_type=client_credentials&client_assertion=" + assertion).status,
                     401);
    // Untouched by the refusals: the assertion is still fresh.
    assert_int_equal(e.post(assertion_form(assertion)).status, 200);
}

void a_flooding_client_gets_429(void **) {
    Endpoint e;
    size_t share = e.checker.replays.default_share();
    for (size_t i = 0; i < share; ++i) {
        e.post(assertion_form(signed_by(client_key(), claims("", "f" + std::to_string(i)))));
    }
    oauth::HttpResponse refused =
        e.post(assertion_form(signed_by(client_key(), claims("", "one-more"))));
    assert_int_equal(refused.status, 429);
    assert_text(refused.outcome.result, "temporarily_unavailable");
    assert_true(refused.retry_after > 0);
    assert_true(refused.log == oauth::HttpResponse::Log::warn);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_good_assertion_passes_once),
        cmocka_unit_test(each_claim_rule_holds),
        cmocka_unit_test(exp_is_required),
        cmocka_unit_test(only_the_clients_key_and_alg_verify),
        cmocka_unit_test(a_refused_assertion_takes_no_slot),
        cmocka_unit_test(a_client_at_its_share_gets_no_room),
        cmocka_unit_test(the_registry_reads_the_method_and_keys),
        cmocka_unit_test(the_registry_refuses_what_cannot_work),
        cmocka_unit_test(the_token_endpoint_takes_an_assertion),
        cmocka_unit_test(no_client_falls_back_to_another_method),
        cmocka_unit_test(malformed_assertion_requests),
        cmocka_unit_test(a_flooding_client_gets_429),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
