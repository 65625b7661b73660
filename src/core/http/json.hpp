// The JSON bodies the endpoints answer with (RFC 6749 §5.1, §5.2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace oauth {

// Appends `s` as a JSON string literal, quotes included.
void append_json_string(std::string &out, std::string_view s);

// A JSON object written member by member, in the order given.
class JsonObject {
  public:
    JsonObject &member(std::string_view name, std::string_view value);
    JsonObject &member(std::string_view name, const char *value) {
        return member(name, std::string_view(value));
    }
    JsonObject &member(std::string_view name, uint32_t value);
    JsonObject &member(std::string_view name, bool value);
    JsonObject &member(std::string_view name, const std::vector<std::string_view> &values);
    // `json`: a value already written as JSON (a nested object).
    JsonObject &raw_member(std::string_view name, std::string_view json);

    std::string finish() &&;

  private:
    void key(std::string_view name);

    std::string out_ = "{";
};

// {"access_token":…,"token_type":"Bearer","expires_in":N,"scope":…}; the
// scope member is left out when `scope` is empty (scope-token is 1*NQCHAR).
// A DPoP-bound token's type is "DPoP" (RFC 9449 §5).
std::string render_token_response(std::string_view token, uint32_t expires_in,
                                  std::string_view scope, std::string_view token_type = "Bearer");

// {"error":…,"error_description":…}
std::string render_error(std::string_view error, std::string_view description);

}  // namespace oauth
