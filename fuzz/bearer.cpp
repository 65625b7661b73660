// Authorization headers at a protected location: parse_bearer_token, then the
// whole RFC 6750 §3 check against a store that holds one token.
#include <string>
#include <vector>

#include "core/bearer.hpp"
#include "core/tokens/token.hpp"
#include "core/tokens/token_store.hpp"
#include "fuzz.hpp"

namespace {

constexpr std::string_view kToken = "mF_9.B5f-4.1JqM";
constexpr uint32_t kNow = 1000000;

void no_lock(void *) {}

struct Fixture {
    Fixture() : memory(oauth::TokenStore::kMinRegionSize / sizeof(uint64_t)) {
        oauth::TokenStore::format(memory.data(), oauth::TokenStore::kMinRegionSize);
        uint32_t retry_after = 0;
        store().insert(oauth::digest_token(kToken), "app", "read write", 1, kNow, kNow + 60, kNow,
                       retry_after);
        std::string error;
        oauth::ScopeRequirement::compile({"read"}, read, error);
        oauth::ScopeRequirement::compile({"write", "admin"}, admin, error);
    }
    oauth::TokenStore store() {
        return oauth::TokenStore(memory.data(), oauth::StoreLock{nullptr, no_lock, no_lock});
    }
    std::vector<uint64_t> memory;
    oauth::ScopeRequirement any, read, admin;
};

bool is_b64token_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Fixture fixture;
    fuzz::Bytes bytes(data, size);
    size_t headers = bytes.byte() % 4;
    std::string_view value = fuzz::text(data, size).substr(size > 0 ? 1 : 0);

    std::string_view token;
    oauth::BearerStatus status = oauth::parse_bearer_token(headers, value, token);
    if (status == oauth::BearerStatus::ok) {
        FUZZ_CHECK(headers == 1 && !token.empty() && token.front() != '=');
        FUZZ_CHECK(token.data() >= value.data() &&
                   token.data() + token.size() <= value.data() + value.size());
        for (char c : token) {
            FUZZ_CHECK(is_b64token_char(c));
        }
        FUZZ_CHECK(token.find_first_not_of('=', token.find('=')) == std::string_view::npos);
    }
    if (headers == 0) {
        FUZZ_CHECK(status == oauth::BearerStatus::missing);
    } else if (headers > 1) {
        FUZZ_CHECK(status == oauth::BearerStatus::malformed);
    }

    oauth::TokenStore store = fixture.store();
    for (const oauth::ScopeRequirement *required : {&fixture.any, &fixture.read, &fixture.admin}) {
        oauth::TokenGrant grant;
        oauth::BearerVerdict verdict = oauth::check_bearer(oauth::BearerRequest{headers, value},
                                                           store, *required, "realm", kNow, grant);
        bool known = status == oauth::BearerStatus::ok && token == kToken;
        switch (verdict.status) {
            case 0:
                FUZZ_CHECK(known && required != &fixture.admin);
                FUZZ_CHECK(grant.client() == "app" && grant.scopes() == "read");
                break;
            case 400:
                FUZZ_CHECK(status == oauth::BearerStatus::malformed);
                break;
            case 401:
                FUZZ_CHECK(status == oauth::BearerStatus::missing ||
                           (status == oauth::BearerStatus::ok && !known));
                break;
            case 403:
                FUZZ_CHECK(known && required == &fixture.admin);
                break;
            default:
                FUZZ_CHECK(false);
        }
        FUZZ_CHECK(verdict.status == 0 ||
                   verdict.challenge.rfind("Bearer realm=\"realm\"", 0) == 0);
    }
    return 0;
}
