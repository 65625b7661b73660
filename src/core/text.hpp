// Small byte-string helpers shared by the parsers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace oauth {

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept;

// RFC 6749 Appendix A: VSCHAR = %x20-7E, the alphabet of client_id and client_secret.
bool is_vschar_string(std::string_view s) noexcept;

// RFC 9110 §5.6.4: `content` as a quoted-string, each DQUOTE and backslash sent as a
// quoted-pair. `content` holds no control character (see check_realm).
std::string quoted_string(std::string_view content);

// The realm of a WWW-Authenticate challenge (RFC 9110 §11.5) is the content
// of a quoted-string: any byte but a control character, which would end or
// split the header. nullopt when it is fine, else what is wrong.
std::optional<std::string> check_realm(std::string_view realm);

// `text` from a peer (a token's typ or kid), fit for a log line and an
// error_description (RFC 6750 §3 allows neither quote nor backslash): each
// byte outside %x20-7E, each quote and backslash, becomes '?'; cut to
// `limit` bytes, "..." marking the cut.
std::string printable_excerpt(std::string_view text, size_t limit);

// Strips HTTP optional whitespace (SP / HTAB) from both ends.
std::string_view trim_ows(std::string_view s) noexcept;

}  // namespace oauth
