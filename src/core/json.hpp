// The JSON bodies the endpoints answer with (RFC 6749 §5.1, §5.2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace oauth {

// Appends `s` as a JSON string literal, quotes included.
void append_json_string(std::string &out, std::string_view s);

// {"access_token":…,"token_type":"Bearer","expires_in":N,"scope":…}; the
// scope member is left out when `scope` is empty (scope-token is 1*NQCHAR).
std::string render_token_response(std::string_view token, uint32_t expires_in,
                                  std::string_view scope);

// {"error":…,"error_description":…}
std::string render_error(std::string_view error, std::string_view description);

}  // namespace oauth
