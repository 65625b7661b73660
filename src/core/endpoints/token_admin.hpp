// Endpoints for tokens already issued: introspection (RFC 7662) and
// revocation (RFC 7009). Both authenticate the caller as a registered client,
// as the token endpoint does.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/endpoints/client_request.hpp"
#include "core/fleet/outbox.hpp"
#include "core/http/http.hpp"
#include "core/jose/gate.hpp"
#include "core/registry.hpp"
#include "core/tokens/token_store.hpp"
#include "core/tokens/revocation_list.hpp"

namespace oauth {

struct TokenAdminConfig {
    ClientAuthConfig auth;
    std::string_view issuer;  // "iss" of introspection answers; empty: left out
    // Set: introspection answers for the server's own JWTs, and revocation
    // lists them (they live in no store).
    jose::JwtVerifier *jwt = nullptr;
    // Where revocations are recorded: required by revocation, which answers
    // 500 without it.
    RevocationList *revocations = nullptr;
    // Set: revocations are also queued for the fleet's other nodes.
    fleet::Outbox *fleet = nullptr;
    uint32_t fleet_ttl = 0;  // the longest token lifetime of the fleet, for opaque tokens
};

// Only clients with "introspection": true may ask; an active token answers
// its grant (and a JWT its sub, iss, aud and jti), anything else exactly
// {"active":false}.
HttpResponse handle_introspection_request(const FormRequest &request, const Registry &registry,
                                          const TokenStore &store, const TokenAdminConfig &config,
                                          uint32_t now) noexcept;

// A client revokes only its own tokens; unknown and foreign tokens still
// answer 200 (RFC 7009 §2.2) and change nothing. A token revoked is recorded
// in `config.revocations` until it would have expired, so that no older copy
// of the zone (a state file) brings it back; for a JWT that entry is the
// revocation, which the gate and introspection then refuse. With a fleet, a
// JWT's revocation, and an opaque token this node does not hold (another
// node may), are queued for the other nodes. Each entry is charged to the
// client's share of the list (RevocationList::default_share()); a revocation
// the list cannot take is answered 503 with Retry-After (RFC 7009 §2.2.1),
// and changes nothing: an opaque token stays live until the retry.
HttpResponse handle_revocation_request(const FormRequest &request, const Registry &registry,
                                       TokenStore &store, const TokenAdminConfig &config,
                                       uint32_t now) noexcept;

}  // namespace oauth
