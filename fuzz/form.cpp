// application/x-www-form-urlencoded bodies: Form::parse and form_decode.
#include <set>
#include <string>

#include "core/http/form.hpp"
#include "fuzz.hpp"

namespace {

// Percent-encodes every byte but the unreserved ones, as a strict client would.
std::string form_encode(std::string_view raw) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : raw) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '*') {
            out += char(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0f];
        }
    }
    return out;
}

size_t count_segments(std::string_view body) {
    size_t n = 0;
    while (!body.empty()) {
        size_t amp = body.find('&');
        n += amp != 0;
        body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    }
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view input = fuzz::text(data, size);

    auto decoded = oauth::form_decode(input);
    if (decoded) {
        FUZZ_CHECK(decoded->size() <= input.size());
        auto again = oauth::form_decode(form_encode(*decoded));
        FUZZ_CHECK(again && *again == *decoded);
    }
    auto round_trip = oauth::form_decode(form_encode(input));
    FUZZ_CHECK(round_trip && *round_trip == input);

    oauth::Form form;
    oauth::FormStatus status = form.parse(input);
    if (status != oauth::FormStatus::ok) {
        FUZZ_CHECK(form.parameters().empty());
        return 0;
    }
    FUZZ_CHECK(form.parameters().size() == count_segments(input));
    std::set<std::string> names;
    for (const oauth::FormParameter &parameter : form.parameters()) {
        FUZZ_CHECK(names.insert(parameter.name).second);
        FUZZ_CHECK(form.has(parameter.name));
        const std::string *value = form.get(parameter.name);
        FUZZ_CHECK(parameter.value.empty() ? value == nullptr
                                           : value != nullptr && *value == parameter.value);
    }
    return 0;
}
