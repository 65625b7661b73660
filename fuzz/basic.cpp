// Authorization headers with Basic client credentials: split_authorization,
// then parse_basic_credentials (RFC 7235 §2.1, RFC 7617, RFC 6749 §2.3.1).
#include <string>

#include "core/http/auth_header.hpp"
#include "core/http/base64.hpp"
#include "core/http/form.hpp"
#include "core/http/text.hpp"
#include "fuzz.hpp"

namespace {

std::string form_encode(std::string_view raw) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : raw) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            out += char(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0f];
        }
    }
    return out;
}

bool contains(std::string_view outer, std::string_view inner) {
    return inner.empty() || (inner.data() >= outer.data() &&
                             inner.data() + inner.size() <= outer.data() + outer.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::string_view header = fuzz::text(data, size);

    std::string_view scheme, credentials;
    if (oauth::split_authorization(header, scheme, credentials)) {
        FUZZ_CHECK(!scheme.empty() && contains(header, scheme) && contains(header, credentials));
        FUZZ_CHECK(credentials.empty() || credentials.front() != ' ');
        oauth::ClientCredentials parsed;
        if (oauth::equals_ignore_case(scheme, "Basic") &&
            oauth::parse_basic_credentials(credentials, parsed) == oauth::BasicStatus::ok) {
            FUZZ_CHECK(!parsed.id.empty());
            FUZZ_CHECK(oauth::is_vschar_string(parsed.id) &&
                       oauth::is_vschar_string(parsed.secret));
            // What a conforming client would send for these credentials reads back the same.
            oauth::ClientCredentials again;
            FUZZ_CHECK(
                oauth::parse_basic_credentials(
                    oauth::encode_base64(form_encode(parsed.id) + ":" + form_encode(parsed.secret)),
                    again) == oauth::BasicStatus::ok);
            FUZZ_CHECK(again.id == parsed.id && again.secret == parsed.secret);
        }
    }

    // The whole input as the token68 alone, and as an id:secret pair.
    oauth::ClientCredentials direct;
    FUZZ_CHECK(!oauth::describe(oauth::parse_basic_credentials(header, direct)).empty() ||
               !direct.id.empty());
    size_t colon = header.find(':');
    std::string pair = form_encode(header.substr(0, colon));
    if (colon != std::string_view::npos) {
        pair += ":" + form_encode(header.substr(colon + 1));
    }
    oauth::ClientCredentials encoded;
    bool accepted = oauth::parse_basic_credentials(oauth::encode_base64(pair), encoded) ==
                    oauth::BasicStatus::ok;
    if (colon != std::string_view::npos && colon > 0) {
        std::string_view id = header.substr(0, colon), secret = header.substr(colon + 1);
        bool valid = oauth::is_vschar_string(id) && oauth::is_vschar_string(secret);
        FUZZ_CHECK(accepted == valid);
        FUZZ_CHECK(!accepted || (encoded.id == id && encoded.secret == secret));
    } else {
        FUZZ_CHECK(!accepted);
    }
    return 0;
}
