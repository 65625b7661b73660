// A token's claims (core/jose/claims.hpp): a claim path, then a claim set.
// The input is "<NAME or /pointer>\n<values, space-separated>\n<JSON>".
// Whatever the claims, a rendered claim holds no control character (it may
// reach a header), a requirement holds only on a value found at its path, and
// nothing crashes.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/jose/claims.hpp"
#include "fuzz.hpp"

namespace {

std::string_view line(std::string_view &input) {
    size_t newline = input.find('\n');
    std::string_view first = input.substr(0, newline);
    input = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
    return first;
}

std::vector<std::string_view> words(std::string_view text) {
    std::vector<std::string_view> out;
    for (size_t at = 0; at < text.size();) {
        size_t end = std::min(text.find(' ', at), text.size());
        if (end > at) {
            out.push_back(text.substr(at, end - at));
        }
        at = end + 1;
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view input = fuzz::text(data, size);
    std::string_view claim = line(input);
    std::vector<std::string_view> values = words(line(input));
    oauth::jose::ClaimSet claims =
        oauth::jose::adopt_claim_set(json_loadb(input.data(), input.size(), 0, nullptr));

    oauth::jose::ClaimRequirement required;
    std::string error;
    if (!oauth::jose::ClaimRequirement::compile(claim, values, required, error)) {
        FUZZ_CHECK(!error.empty());
        return 0;
    }
    FUZZ_CHECK(required.claim.text() == claim);
    const json_t *found = required.claim.find(claims.get());
    if (found == nullptr) {
        FUZZ_CHECK(!required.holds(claims.get()));
        return 0;
    }
    if (std::optional<std::string> rendered = oauth::jose::render_claim(found)) {
        for (unsigned char c : *rendered) {
            FUZZ_CHECK(c >= 0x20 && c != 0x7f);
        }
        // A string found holds exactly when it is one of the values.
        if (json_is_string(found)) {
            bool listed = false;
            for (std::string_view value : values) {
                listed |= value == *rendered;
            }
            FUZZ_CHECK(required.holds(claims.get()) == listed);
        }
    }
    return 0;
}
