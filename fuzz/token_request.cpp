// The whole token endpoint flow (handle_token_request) on one request built
// from the input: method, Content-Type, query, Authorization and body are
// separated by '\n'. Whatever comes in, the answer is one of the statuses
// RFC 6749 §5 allows, its body is an error or a token response, a 401 after
// a header attempt carries a Basic challenge, and no answer quotes a secret.
#include <string>
#include <vector>

#include <jansson.h>

#include "core/registry.hpp"
#include "core/endpoints/token_endpoint.hpp"
#include "core/tokens/token_store.hpp"
#include "fuzz.hpp"

namespace {

constexpr uint32_t kNow = 1000000;
constexpr std::string_view kSecret = "s3cret-of-app";

void no_lock(void *) {}

struct Fixture {
    Fixture() : memory(oauth::TokenStore::kMinRegionSize / sizeof(uint64_t)) {
        oauth::TokenStore::format(memory.data(), oauth::TokenStore::kMinRegionSize);
        oauth::RegistryError error;
        std::vector<std::string> warnings;
        registry = oauth::Registry::parse(
            R"({"clients":[{"client_id":"app","client_secret":"s3cret-of-app","scope":"read write",)"
            R"("default_scope":"read"},{"client_id":"a:b+c%d e","client_secret":"x y","scope":""}]})",
            error, warnings);
        FUZZ_CHECK(registry != nullptr);
    }
    oauth::TokenStore store() {
        return oauth::TokenStore(memory.data(), oauth::StoreLock{nullptr, no_lock, no_lock});
    }
    std::vector<uint64_t> memory;
    std::unique_ptr<oauth::Registry> registry;
};

// The next '\n'-separated field of the input.
std::string_view next_field(std::string_view &input) {
    size_t end = input.find('\n');
    std::string_view field = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    return field;
}

bool allowed_status(int status) {
    return status == 200 || status == 400 || status == 401 || status == 405 || status == 503;
}

void check_body(const oauth::HttpResponse &response) {
    json_error_t error;
    json_t *root = json_loadb(response.body.data(), response.body.size(), 0, &error);
    FUZZ_CHECK(root != nullptr && json_is_object(root));
    if (response.status == 200) {
        FUZZ_CHECK(json_is_string(json_object_get(root, "access_token")));
        FUZZ_CHECK(json_is_integer(json_object_get(root, "expires_in")));
    } else {
        FUZZ_CHECK(json_is_string(json_object_get(root, "error")));
    }
    json_decref(root);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Fixture fixture;
    std::string_view input = fuzz::text(data, size);
    oauth::FormRequest request;
    request.method = next_field(input);
    std::string_view content_type = next_field(input);
    if (!content_type.empty()) {
        request.content_type = content_type;
    }
    request.query = next_field(input);
    request.authorization = next_field(input);
    request.authorization_headers = request.authorization.empty() ? 0 : 1;
    request.body = input;
    request.client_address = "127.0.0.1";

    oauth::TokenStore store = fixture.store();
    oauth::HttpResponse response = oauth::handle_token_request(
        request, *fixture.registry, store, oauth::TokenEndpointConfig{60, {"fuzz", nullptr}}, kNow);

    FUZZ_CHECK(allowed_status(response.status));
    check_body(response);
    FUZZ_CHECK(response.body.find(kSecret) == std::string::npos);
    FUZZ_CHECK(response.log_message.find(kSecret) == std::string::npos);
    if (response.status == 401 && request.authorization_headers != 0) {
        FUZZ_CHECK(response.www_authenticate == "Basic realm=\"fuzz\"");
    }
    FUZZ_CHECK((response.status == 405) == !response.allow.empty());
    return 0;
}
