#include "core/fleet/horizon.hpp"

#include <algorithm>

#include "core/jose/gate.hpp"

namespace oauth::fleet {

namespace {

constexpr uint32_t kDefaultEndpointTtl = 3600;

}  // namespace

uint32_t longest_token_life(uint32_t longest_endpoint_ttl, uint32_t longest_client_ttl) noexcept {
    uint32_t endpoint = longest_endpoint_ttl != 0 ? longest_endpoint_ttl : kDefaultEndpointTtl;
    return std::max(endpoint, longest_client_ttl);
}

uint64_t trim_before_ms(uint64_t now_ms, uint32_t longest_token_life) noexcept {
    uint64_t keep_ms = (uint64_t(longest_token_life) + jose::kMaxLeeway) * 1000;
    return now_ms > keep_ms ? now_ms - keep_ms : 0;
}

}  // namespace oauth::fleet
