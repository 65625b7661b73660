// The token endpoint: RFC 6749 §4.4 (client credentials grant), with client
// authentication (§2.3.1), scope (§3.3), and the responses of §5.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/http.hpp"
#include "core/registry.hpp"
#include "core/token_store.hpp"

namespace oauth {

constexpr size_t kMaxTokenRequestBody = 16 * 1024;

struct TokenRequest {
    std::string_view method;
    std::optional<std::string_view> content_type;
    std::string_view query;        // the raw query string, without '?'
    size_t authorization_headers = 0;
    std::string_view authorization;  // the first Authorization header
    std::string_view body;
    bool body_too_large = false;   // over kMaxTokenRequestBody; `body` is then empty
};

struct TokenEndpointConfig {
    uint32_t ttl = 3600;          // seconds, unless the client sets token_ttl
    std::string_view realm;       // for WWW-Authenticate: Basic realm="…"
};

HttpResponse handle_token_request(const TokenRequest &request, const Registry &registry,
                                  TokenStore &store, const TokenEndpointConfig &config,
                                  uint32_t now) noexcept;

}  // namespace oauth
