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

// RFC 6749 §2.3.1: the client id and secret are each form-urlencoded, joined
// by ':', then base64-encoded as RFC 7617 says. `token68` is what follows
// "Basic ". False when the base64, the ':' or a percent escape is broken, or
// when a decoded id or secret has a byte outside VSCHAR (so a client that
// skips the form-encoding is refused rather than silently accepted).
bool parse_basic_credentials(std::string_view token68, ClientCredentials &out);

}  // namespace oauth
