// The JSON of a compact JWS (RFC 7515 §7.1): its header and payload are each
// a base64url JSON object; what the JOSE checks read of them.
#pragma once

#include <jansson.h>

#include <memory>
#include <optional>
#include <string_view>

namespace oauth::jose {

struct JsonFree {
    void operator()(json_t *json) const { json_decref(json); }
};
using Json = std::unique_ptr<json_t, JsonFree>;

// A base64url JSON object, duplicate members refused (RFC 7515 §5.2 item
// 4); null for anything else.
Json parse_encoded_object(std::string_view encoded);

// A string member as it is, NULs included; nullopt when absent or not a string.
std::optional<std::string_view> string_member(const json_t *object, const char *name);

// The jti (RFC 7519 §4.1.7) as the replay checks take it, client assertions'
// and DPoP proofs': 1 to 256 characters; empty when absent, not a string or
// longer.
std::string_view bounded_jti(const json_t *claims);

}  // namespace oauth::jose
