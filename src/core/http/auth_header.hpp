// The Authorization request header: its scheme, and HTTP Basic client credentials.
#pragma once

#include <string>
#include <string_view>

namespace oauth {

// Splits "Scheme credentials" (RFC 7235 §2.1) at the first run of spaces.
// The scheme is returned as sent; compare it with equals_ignore_case.
// False when the value is empty or the scheme has characters outside tchar.
bool split_authorization(std::string_view value, std::string_view &scheme,
                         std::string_view &credentials);

struct ClientCredentials {
    std::string id;
    std::string secret;
};

// Why Basic credentials could not be read.
enum class BasicStatus {
    ok,
    not_base64,
    no_colon,
    // A raw space, a '%' without two hex digits or a raw non-ASCII byte: the
    // client skipped the form-encoding (curl -u, requests-oauthlib, Authlib).
    not_form_encoded,
    empty_id,
    outside_vschar,  // decodes to a control or non-ASCII byte
};

// RFC 6749 §2.3.1: the client id and secret are each form-urlencoded, joined
// by ':', then base64-encoded as RFC 7617 says. `token68` is what follows
// "Basic ". Anything but ok leaves `out` alone: a client that skips the
// form-encoding is refused rather than silently accepted.
BasicStatus parse_basic_credentials(std::string_view token68, ClientCredentials &out);

// What is wrong, for an error_description (RFC 6749 §5.2 characters) and the
// log; it quotes neither the id nor the secret. Empty for ok.
std::string_view describe(BasicStatus status);

}  // namespace oauth
