// The clients file: Registry::parse over arbitrary text.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <jansson.h>

#include "core/registry.hpp"
#include "core/scope.hpp"
#include "core/http/text.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view json = fuzz::text(data, size);
    oauth::RegistryError error;
    std::vector<std::string> warnings;
    std::unique_ptr<oauth::Registry> registry = oauth::Registry::parse(json, error, warnings);

    if (!registry) {
        FUZZ_CHECK(!error.message.empty());
        FUZZ_CHECK(error.line <= size_t(std::count(json.begin(), json.end(), '\n')) + 1);
        // jansson's message quotes the token it stopped at, which may be part
        // of a secret: only a duplicate key may be quoted.
        json_error_t syntax;
        json_t *root = json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, &syntax);
        if (root == nullptr) {
            FUZZ_CHECK(error.message.find("near '\"") == std::string::npos ||
                       error.message.rfind("duplicate object key", 0) == 0);
        }
        json_decref(root);
        return 0;
    }
    FUZZ_CHECK(warnings.size() <= registry->clients().size());
    std::set<std::string_view> ids;
    for (const oauth::Client &client : registry->clients()) {
        FUZZ_CHECK(!client.id.empty() && client.id.size() <= oauth::kMaxClientIdLength);
        FUZZ_CHECK(oauth::is_vschar_string(client.id));
        FUZZ_CHECK(ids.insert(client.id).second);
        FUZZ_CHECK(registry->find(client.id) == &client);
        FUZZ_CHECK(!client.secret.hashes().empty());
        FUZZ_CHECK(client.scope.size() <= oauth::kMaxScopeListLength);
        FUZZ_CHECK(client.token_ttl <= 31536000);

        std::vector<std::string_view> tokens;
        if (client.scope.empty()) {
            FUZZ_CHECK(client.default_mask == 0);
            continue;
        }
        FUZZ_CHECK(oauth::split_scope(client.scope, tokens));
        FUZZ_CHECK(tokens.size() <= oauth::kMaxScopes);
        FUZZ_CHECK(std::set<std::string_view>(tokens.begin(), tokens.end()).size() ==
                   tokens.size());
        uint64_t all = tokens.size() == 64 ? ~uint64_t(0) : (uint64_t(1) << tokens.size()) - 1;
        FUZZ_CHECK((client.default_mask & ~all) == 0);
    }
    FUZZ_CHECK(registry->find("") == nullptr);
    return 0;
}
