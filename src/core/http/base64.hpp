// RFC 4648 base64 and base64url, strict on input.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace oauth {

// Standard alphabet, no padding (the PHC string format).
std::string encode_base64(std::string_view bytes);

// URL-safe alphabet, no padding (RFC 4648 §5; access tokens).
std::string encode_base64url(std::string_view bytes);

// Standard alphabet. '=' padding may be left out, but when present it must be
// exactly right; any other byte, a stray '=', or a length of 4n+1 is refused.
std::optional<std::string> decode_base64(std::string_view text);

// URL-safe alphabet, no padding at all (RFC 7515 §2, the JOSE encoding).
std::optional<std::string> decode_base64url(std::string_view text);

}  // namespace oauth
