#include "core/http/text.hpp"

#include <cstdio>

namespace oauth {

namespace {

char lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
}

std::string control_name(unsigned char c) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02X", c);
    switch (c) {
        case 0x00:
            return std::string(hex) + " NUL";
        case 0x09:
            return std::string(hex) + " HTAB";
        case 0x0a:
            return std::string(hex) + " LF";
        case 0x0d:
            return std::string(hex) + " CR";
        case 0x7f:
            return std::string(hex) + " DEL";
        default:
            return hex;
    }
}

}  // namespace

std::string quoted_string(std::string_view content) {
    std::string quoted;
    quoted.reserve(content.size() + 2);
    quoted.push_back('"');
    for (char c : content) {
        if (c == '"' || c == '\\') {
            quoted.push_back('\\');
        }
        quoted.push_back(c);
    }
    quoted.push_back('"');
    return quoted;
}

std::optional<std::string> check_realm(std::string_view realm) {
    for (size_t i = 0; i < realm.size(); ++i) {
        if (is_control_character(realm[i])) {
            return "a control character (" + control_name(realm[i]) + ") at byte " +
                   std::to_string(i + 1) +
                   ": a realm is sent as an HTTP quoted-string (RFC 9110 §5.6.4)";
        }
    }
    return std::nullopt;
}

bool equals_ignore_case(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool is_vschar_string(std::string_view s) noexcept {
    for (unsigned char c : s) {
        if (c < 0x20 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

// HTAB is legal in a quoted-string, but in a realm it can only be a typo.
bool is_control_character(unsigned char c) noexcept {
    return c < 0x20 || c == 0x7f;
}

bool has_control_character(std::string_view s) noexcept {
    for (unsigned char c : s) {
        if (is_control_character(c)) {
            return true;
        }
    }
    return false;
}

bool has_space_or_control(std::string_view s) noexcept {
    return has_control_character(s) || s.find(' ') != std::string_view::npos;
}

std::string log_safe(std::string_view s, size_t max) {
    std::string out(s.substr(0, max));
    for (char &c : out) {
        if (!is_vschar_string({&c, 1}) || c == '"' || c == '\\') {
            c = '?';
        }
    }
    return out;
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace oauth
