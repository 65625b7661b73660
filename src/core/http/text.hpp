// Small byte-string helpers shared by the parsers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace oauth {

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept;

// RFC 6749 Appendix A: VSCHAR = %x20-7E, the alphabet of client_id and client_secret.
bool is_vschar_string(std::string_view s) noexcept;

// CTL of RFC 5234 §B.1, and DEL: the bytes that would end or split a header
// line or a log line.
bool is_control_character(unsigned char c) noexcept;
bool has_control_character(std::string_view s) noexcept;
// A control character or a space: what a space-joined list's element or a
// single header token may not hold.
bool has_space_or_control(std::string_view s) noexcept;

// At most `max` bytes of `s` fit to quote in a log line or an nginx -t
// message, or to show in an error_description (RFC 6750 §3): each byte
// outside VSCHAR, each DQUOTE and backslash, shown as '?'.
std::string log_safe(std::string_view s, size_t max = 64);

// RFC 9110 §5.6.4: `content` as a quoted-string, each DQUOTE and backslash sent as a
// quoted-pair. `content` holds no control character (see check_realm).
std::string quoted_string(std::string_view content);

// The realm of a WWW-Authenticate challenge (RFC 9110 §11.5) is the content
// of a quoted-string: any byte but a control character, which would end or
// split the header. nullopt when it is fine, else what is wrong.
std::optional<std::string> check_realm(std::string_view realm);

// Strips HTTP optional whitespace (SP / HTAB) from both ends.
std::string_view trim_ows(std::string_view s) noexcept;

}  // namespace oauth
