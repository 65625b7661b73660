// RFC 8707 resource indicators: the resources a client may name, and the
// audience its tokens get.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace oauth {

struct Client;  // core/registry.hpp

// RFC 8707 §2: an absolute URI (RFC 3986 §4.3) without a fragment. Nothing
// outside RFC 3986's characters either: no space, since an audience is kept
// and shown space-joined, and no control character, which would reach a header.
bool is_resource_uri(std::string_view uri) noexcept;

// A token's audience: the bits `mask` of `list`, space-joined URIs.
struct Audience {
    std::string_view list;
    uint64_t mask = 0;
};

// RFC 8707 §2: the audience of a token request naming the resources
// `requested` (none: the parameter was left out). Each must be one of the
// client's "resource", else nullopt: invalid_target. Without one the audience
// is the client's first resource, or `issuer` when it lists none (its own
// resource servers). `list` views the client's or `issuer`.
std::optional<Audience> choose_audience(const Client &client, std::string_view issuer,
                                        const std::vector<std::string_view> &requested);

}  // namespace oauth
