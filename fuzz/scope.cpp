// RFC 6749 §3.3 scope strings: split_scope, scope_mask, render_scope, has_scope.
// The input is "<client scope list>\n<requested scope>", then 8 bytes of mask.
#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/scope.hpp"
#include "fuzz.hpp"

namespace {

std::string join(const std::vector<std::string_view> &tokens) {
    std::string out;
    for (std::string_view token : tokens) {
        out += out.empty() ? "" : " ";
        out += token;
    }
    return out;
}

// What the registry keeps: unique tokens in first-seen order, at most kMaxScopes.
std::string registry_list(std::string_view text) {
    std::vector<std::string_view> tokens, unique;
    if (!oauth::split_scope(text, tokens)) {
        return {};
    }
    for (std::string_view token : tokens) {
        if (unique.size() < oauth::kMaxScopes &&
            std::find(unique.begin(), unique.end(), token) == unique.end()) {
            unique.push_back(token);
        }
    }
    return join(unique);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view input = fuzz::text(data, size);
    uint64_t raw_mask = 0;
    if (input.size() >= sizeof raw_mask) {
        std::memcpy(&raw_mask, input.data() + input.size() - sizeof raw_mask, sizeof raw_mask);
        input.remove_suffix(sizeof raw_mask);
    }
    size_t newline = input.find('\n');
    std::string_view list_text = input.substr(0, newline);
    std::string_view request =
        newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

    std::vector<std::string_view> tokens;
    bool well_formed = oauth::split_scope(request, tokens);
    if (well_formed) {
        FUZZ_CHECK(!tokens.empty() && join(tokens) == request);
        for (std::string_view token : tokens) {
            FUZZ_CHECK(oauth::is_scope_token(token));
            FUZZ_CHECK(oauth::has_scope(request, token));
        }
    } else {
        FUZZ_CHECK(tokens.empty());
    }

    // Any text as a list: nothing but the bounds may be assumed.
    std::string rendered_raw = oauth::render_scope(list_text, raw_mask);
    FUZZ_CHECK(rendered_raw.size() <= list_text.size());
    oauth::scope_mask(list_text, tokens);
    oauth::has_scope(list_text, request);

    std::string list = registry_list(list_text);
    auto mask = oauth::scope_mask(list, tokens);
    std::set<std::string_view> requested(tokens.begin(), tokens.end());
    if (mask) {
        for (std::string_view token : tokens) {
            FUZZ_CHECK(oauth::has_scope(list, token));
        }
        std::string granted = oauth::render_scope(list, *mask);
        std::vector<std::string_view> granted_tokens;
        FUZZ_CHECK(granted.empty() == tokens.empty());
        if (!granted.empty()) {
            FUZZ_CHECK(oauth::split_scope(granted, granted_tokens));
            FUZZ_CHECK(std::set<std::string_view>(granted_tokens.begin(), granted_tokens.end()) ==
                       requested);
            FUZZ_CHECK(oauth::scope_mask(list, granted_tokens) == mask);
        }
    } else {
        FUZZ_CHECK(std::any_of(tokens.begin(), tokens.end(), [&](std::string_view token) {
            return !oauth::has_scope(list, token);
        }));
    }

    // A mask over a registry list renders to tokens of that list, each once.
    std::string masked = oauth::render_scope(list, raw_mask);
    std::vector<std::string_view> masked_tokens;
    if (!masked.empty()) {
        FUZZ_CHECK(oauth::split_scope(masked, masked_tokens));
        std::set<std::string_view> seen(masked_tokens.begin(), masked_tokens.end());
        FUZZ_CHECK(seen.size() == masked_tokens.size());
        auto again = oauth::scope_mask(list, masked_tokens);
        FUZZ_CHECK(again && (*again & ~raw_mask) == 0);
    }
    return 0;
}
