#include "core/http/json.hpp"

#include <charconv>

namespace oauth {

namespace {

bool needs_escape(unsigned char c) {
    return c < 0x20 || c == '"' || c == '\\';
}

// RFC 8259 §7: '"' and '\' are escaped by a backslash, control characters as
// \u00XX; every other byte, UTF-8 included, is copied as it is.
void append_escape(std::string &out, unsigned char c) {
    static constexpr char kHex[] = "0123456789abcdef";
    if (c == '"' || c == '\\') {
        out += '\\';
        out += char(c);
        return;
    }
    out += "\\u00";
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
}

void append_number(std::string &out, uint32_t n) {
    char digits[10];
    auto result = std::to_chars(digits, digits + sizeof digits, n);
    out.append(digits, result.ptr);
}

}  // namespace

void append_json_string(std::string &out, std::string_view s) {
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    size_t copied = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        if (needs_escape(s[i])) {
            out.append(s, copied, i - copied);
            append_escape(out, s[i]);
            copied = i + 1;
        }
    }
    out.append(s, copied, s.size() - copied);
    out += '"';
}

void JsonObject::key(std::string_view name) {
    if (out_.size() > 1) {
        out_ += ',';
    }
    append_json_string(out_, name);
    out_ += ':';
}

JsonObject &JsonObject::member(std::string_view name, std::string_view value) {
    key(name);
    append_json_string(out_, value);
    return *this;
}

JsonObject &JsonObject::member(std::string_view name, uint32_t value) {
    key(name);
    append_number(out_, value);
    return *this;
}

JsonObject &JsonObject::member(std::string_view name, bool value) {
    key(name);
    out_ += value ? "true" : "false";
    return *this;
}

JsonObject &JsonObject::raw_member(std::string_view name, std::string_view json) {
    key(name);
    out_ += json;
    return *this;
}

JsonObject &JsonObject::member(std::string_view name, const std::vector<std::string_view> &values) {
    key(name);
    out_ += '[';
    for (size_t i = 0; i < values.size(); ++i) {
        if (i != 0) {
            out_ += ',';
        }
        append_json_string(out_, values[i]);
    }
    out_ += ']';
    return *this;
}

std::string JsonObject::finish() && {
    out_ += '}';
    return std::move(out_);
}

std::string render_token_response(std::string_view token, uint32_t expires_in,
                                  std::string_view scope, std::string_view token_type) {
    std::string out;
    out.reserve(token.size() + scope.size() + 96);
    out += "{\"access_token\":";
    append_json_string(out, token);
    out += ",\"token_type\":";
    append_json_string(out, token_type);
    out += ",\"expires_in\":";
    append_number(out, expires_in);
    if (!scope.empty()) {
        out += ",\"scope\":";
        append_json_string(out, scope);
    }
    out += '}';
    return out;
}

std::string render_error(std::string_view error, std::string_view description) {
    std::string out;
    out.reserve(error.size() + description.size() + 40);
    out += "{\"error\":";
    append_json_string(out, error);
    out += ",\"error_description\":";
    append_json_string(out, description);
    out += '}';
    return out;
}

}  // namespace oauth
