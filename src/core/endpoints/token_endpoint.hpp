// The token endpoint: RFC 6749 §4.4 (client credentials grant), with client
// authentication (§2.3.1), scope (§3.3), and the responses of §5.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/endpoints/client_request.hpp"
#include "core/http/http.hpp"
#include "core/jose/dpop.hpp"
#include "core/jose/key.hpp"
#include "core/registry.hpp"
#include "core/tokens/token_store.hpp"

namespace oauth {

struct TokenEndpointConfig {
    uint32_t ttl = 3600;  // seconds, unless the client sets token_ttl
    ClientAuthConfig auth;
    // Set: RFC 9068 JWTs signed with this key, iss `issuer`; else opaque tokens.
    const jose::Key *jwt_key = nullptr;
    std::string_view issuer = {};
    // RFC 9449: where DPoP proofs' jtis are remembered, and the server's
    // nonces if it asks for them.
    jose::DpopPolicy dpop = {};
};

HttpResponse handle_token_request(const FormRequest &request, const Registry &registry,
                                  TokenStore &store, const TokenEndpointConfig &config,
                                  uint32_t now) noexcept;

}  // namespace oauth
