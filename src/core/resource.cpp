#include "core/resource.hpp"

#include "core/registry.hpp"

#include "core/scope.hpp"

namespace oauth {

namespace {

bool is_alpha(unsigned char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool is_digit(unsigned char c) noexcept {
    return c >= '0' && c <= '9';
}

bool is_hex(unsigned char c) noexcept {
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

// RFC 3986 §2: unreserved, reserved but '#' (§3.5, the fragment), and '%'
// (checked as pct-encoded by the caller).
bool is_uri_char(unsigned char c) noexcept {
    return is_alpha(c) || is_digit(c) ||
           std::string_view("-._~:/?[]@!$&'()*+,;=%").find(char(c)) != std::string_view::npos;
}

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool is_scheme(std::string_view scheme) noexcept {
    if (scheme.empty() || !is_alpha(scheme[0])) {
        return false;
    }
    for (unsigned char c : scheme) {
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') {
            return false;
        }
    }
    return true;
}

}  // namespace

bool is_resource_uri(std::string_view uri) noexcept {
    size_t colon = uri.find(':');
    if (colon == std::string_view::npos || colon + 1 == uri.size() ||
        !is_scheme(uri.substr(0, colon))) {
        return false;
    }
    for (size_t i = 0; i < uri.size(); ++i) {
        unsigned char c = uri[i];
        if (!is_uri_char(c)) {
            return false;
        }
        if (c == '%' && (uri.size() - i < 3 || !is_hex(uri[i + 1]) || !is_hex(uri[i + 2]))) {
            return false;
        }
    }
    return true;
}

std::optional<Audience> choose_audience(const Client &client, std::string_view issuer,
                                        const std::vector<std::string_view> &requested) {
    std::string_view list = client.resources.empty() ? issuer : std::string_view(client.resources);
    if (requested.empty()) {
        return Audience{list, list.empty() ? 0u : 1u};
    }
    // A resource list is a space-joined list like a scope list: the same bits.
    std::optional<uint64_t> mask =
        client.resources.empty() ? std::nullopt : scope_mask(client.resources, requested);
    if (!mask) {
        return std::nullopt;
    }
    return Audience{list, *mask};
}

}  // namespace oauth
