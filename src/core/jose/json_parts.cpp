#include "core/jose/json_parts.hpp"

#include <string>

#include "core/http/base64.hpp"

namespace oauth::jose {

Json parse_encoded_object(std::string_view encoded) {
    std::optional<std::string> text = decode_base64url(encoded);
    if (!text) {
        return nullptr;
    }
    Json value(json_loadb(text->data(), text->size(), JSON_REJECT_DUPLICATES, nullptr));
    return json_is_object(value.get()) ? std::move(value) : nullptr;
}

std::optional<std::string_view> string_member(const json_t *object, const char *name) {
    const json_t *value = json_object_get(object, name);
    if (!json_is_string(value)) {
        return std::nullopt;
    }
    return std::string_view(json_string_value(value), json_string_length(value));
}

std::string_view bounded_jti(const json_t *claims) {
    constexpr size_t kMaxJtiLength = 256;
    // Read without std::optional: GCC 12 tests the length of an empty one
    // along with its flag, which memcheck reports as a jump on an unset value.
    const json_t *member = json_object_get(claims, "jti");
    if (!json_is_string(member) || json_string_length(member) > kMaxJtiLength) {
        return {};
    }
    return {json_string_value(member), json_string_length(member)};
}

}  // namespace oauth::jose
