#include "core/http/auth_header.hpp"

#include <optional>

#include "core/http/base64.hpp"
#include "core/http/form.hpp"
#include "core/http/text.hpp"

namespace oauth {

namespace {

// RFC 7230 §3.2.6.
bool is_tchar(unsigned char c) {
    constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           kSymbols.find(char(c)) != std::string_view::npos;
}

size_t token_length(std::string_view s) {
    size_t n = 0;
    while (n < s.size() && is_tchar(s[n])) {
        ++n;
    }
    return n;
}

std::string_view skip_spaces(std::string_view s) {
    while (!s.empty() && s.front() == ' ') {
        s.remove_prefix(1);
    }
    return s;
}

}  // namespace

bool split_authorization(std::string_view value, std::string_view &scheme,
                         std::string_view &credentials) {
    value = trim_ows(value);
    size_t scheme_length = token_length(value);
    if (scheme_length == 0) {
        return false;
    }
    // RFC 7235 §2.1: only SP separates the scheme from its credentials.
    std::string_view rest = value.substr(scheme_length);
    if (!rest.empty() && rest.front() != ' ') {
        return false;
    }
    scheme = value.substr(0, scheme_length);
    credentials = skip_spaces(rest);
    return true;
}

BasicStatus parse_basic_credentials(std::string_view token68, ClientCredentials &out) {
    auto decoded = decode_base64(token68);
    if (!decoded) {
        return BasicStatus::not_base64;
    }
    // The id is form-encoded, so its own ':' arrive as %3A and the first raw
    // ':' is the separator (RFC 6749 §2.3.1).
    std::string_view pair = *decoded;
    size_t colon = pair.find(':');
    if (colon == std::string_view::npos) {
        return BasicStatus::no_colon;
    }
    auto id = form_decode(pair.substr(0, colon));
    auto secret = form_decode(pair.substr(colon + 1));
    if (!id || !secret) {
        return BasicStatus::not_form_encoded;
    }
    if (id->empty()) {
        return BasicStatus::empty_id;
    }
    if (!is_vschar_string(*id) || !is_vschar_string(*secret)) {
        return BasicStatus::outside_vschar;
    }
    out.id = std::move(*id);
    out.secret = std::move(*secret);
    return BasicStatus::ok;
}

std::string_view describe(BasicStatus status) {
    switch (status) {
        case BasicStatus::ok:
            return "";
        case BasicStatus::not_base64:
            return "the Basic credentials are not base64";
        case BasicStatus::no_colon:
            return "the Basic credentials hold no colon between client_id and secret";
        case BasicStatus::not_form_encoded:
            return "the Basic credentials are not form-urlencoded (RFC 6749 section 2.3.1): "
                   "encode the client_id and secret before base64, or send them in the body";
        case BasicStatus::empty_id:
            return "the Basic credentials have an empty client_id";
        case BasicStatus::outside_vschar:
            return "the Basic credentials decode to a control or non-ASCII character "
                   "(RFC 6749 Appendix A)";
    }
    return "";
}

}  // namespace oauth
