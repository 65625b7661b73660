// Small byte-string helpers shared by the parsers.
#pragma once

#include <string_view>

namespace oauth {

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept;

// RFC 6749 Appendix A: VSCHAR = %x20-7E, the alphabet of client_id and client_secret.
bool is_vschar_string(std::string_view s) noexcept;

// Strips HTTP optional whitespace (SP / HTAB) from both ends.
std::string_view trim_ows(std::string_view s) noexcept;

}  // namespace oauth
