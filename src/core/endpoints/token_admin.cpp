#include "core/endpoints/token_admin.hpp"

#include <algorithm>
#include <optional>
#include <string>

#include "core/http/json.hpp"
#include "core/jose/claims.hpp"
#include "core/scope.hpp"
#include "core/tokens/token.hpp"
#include "core/tokens/registry_grant.hpp"
#include "core/tokens/zone_tables.hpp"

namespace oauth {

namespace {

// The caller, authenticated, or the response that refuses it.
struct Caller {
    const Client *client = nullptr;
    std::optional<HttpResponse> refusal;
    const std::string *token = nullptr;  // the "token" parameter
};

Caller authenticate_caller(ClientRequest &client_request, const Registry &registry) {
    Caller caller;
    if ((caller.refusal = client_request.check_shape())) {
        return caller;
    }
    caller.client = client_request.authenticate(registry);
    if (caller.client == nullptr) {
        caller.refusal = client_request.refusal();
        return caller;
    }
    // RFC 7662 §2.1, RFC 7009 §2.1: "token" is REQUIRED; a token_type_hint is
    // only a hint, and this server holds access tokens alone.
    caller.token = client_request.form().get("token");
    if (caller.token == nullptr) {
        caller.refusal = error_response(400, "invalid_request", "the token parameter is missing");
    }
    return caller;
}

HttpResponse introspect(ClientRequest &client_request, const Registry &registry,
                        const TokenStore &store, const TokenAdminConfig &config, uint32_t now) {
    Caller caller = authenticate_caller(client_request, registry);
    if (caller.refusal) {
        return std::move(*caller.refusal);
    }
    if (!caller.client->introspection) {
        return error_response(403, "unauthorized_client", "this client may not introspect tokens");
    }
    HttpResponse response;
    TokenGrant grant;
    bool jwt = config.jwt != nullptr && jose::looks_like_jwt(*caller.token);
    bool active = jwt ? config.jwt->verify(*caller.token, now, grant)
                      : store.find(digest_token(*caller.token), now, grant) &&
                            follow_registry(registry, grant);
    if (active) {
        response.body =
            jose::render_introspection(grant, config.issuer, jwt ? &config.jwt->claims() : nullptr);
        response.outcome.result = "active";
    } else {
        response.body = "{\"active\":false}";
        response.outcome.result = "inactive";
    }
    return response;
}

// RFC 7009 §2.2.1: a 503 tells the client that the token still exists and
// to retry after Retry-After. A client at its share waits for its own
// entries to expire; a full list (only when clients together hold more than
// its room) for the entry in the way.
HttpResponse unrecorded_revocation(const Client &caller, RevocationAdded why,
                                   uint32_t retry_after) {
    bool at_share = why == RevocationAdded::client_at_share;
    HttpResponse response =
        error_response(503, "temporarily_unavailable",
                       at_share ? "this client holds its share of the revocation list; retry later"
                                : "the revocation list is full; retry later");
    response.retry_after = std::max<uint32_t>(retry_after, 1);
    response.log = HttpResponse::Log::warn;
    response.log_throttled = true;
    response.log_message = "client \"" + caller.id + "\": a revocation is refused, " +
                           (at_share ? "the client holds its share of the revocation list"
                                     : "the revocation list is full");
    return response;
}

// What the caller's revocations are charged to: its share of the list.
RevocationCharge charge_of(const Client &caller, const RevocationList &revocations) {
    return {RevocationList::client_tag(caller.id), revocations.default_share()};
}

// RFC 7009 §2.1: a client revokes only its own tokens. A JWT lives in no
// store, so its revocation is only the list's entry; a foreign, forged or
// expired one changes nothing.
std::optional<HttpResponse> revoke_jwt(const std::string &token, const Client &caller,
                                       ZoneTables &tables, const TokenAdminConfig &config,
                                       uint32_t now) {
    TokenGrant grant;
    if (!config.jwt->verify(token, now, grant) || grant.client() != caller.id) {
        return std::nullopt;
    }
    RevocationEntry entry = ZoneTables::jwt_revocation(token, grant.expires_at);
    uint32_t retry_after = 0;
    RevocationAdded added =
        tables.list(entry, charge_of(caller, tables.revocations()), now, retry_after);
    if (added != RevocationAdded::added) {
        return unrecorded_revocation(caller, added, retry_after);
    }
    if (config.fleet != nullptr) {
        config.fleet->push({fleet::Kind::jwt, entry.digest, caller.id, entry.until, now});
    }
    return std::nullopt;
}

// Should the list refuse the revocation, the token stays live and the
// client is told to retry, rather than told it is revoked when a restart
// could bring it back. One this node does not hold may be another node's:
// the fleet hears of it, and the node holding it decides.
std::optional<HttpResponse> revoke_opaque(const std::string &token, const Client &caller,
                                          ZoneTables &tables, const TokenAdminConfig &config,
                                          uint32_t now) {
    Digest digest = digest_token(token);
    uint32_t retry_after = 0;
    switch (tables.revoke_opaque(digest, caller.id, charge_of(caller, tables.revocations()),
                                 WhenUnlisted::token_stays, now, retry_after)) {
        case OpaqueRevoked::revoked:
        case OpaqueRevoked::foreign:
            return std::nullopt;
        case OpaqueRevoked::not_held:
            if (config.fleet != nullptr) {
                config.fleet->push(
                    {fleet::Kind::opaque, digest, caller.id, now + config.fleet_ttl, now});
            }
            return std::nullopt;
        case OpaqueRevoked::client_at_share:
            return unrecorded_revocation(caller, RevocationAdded::client_at_share, retry_after);
        case OpaqueRevoked::full:
            break;
    }
    return unrecorded_revocation(caller, RevocationAdded::full, retry_after);
}

HttpResponse revoke(ClientRequest &client_request, const Registry &registry, TokenStore &store,
                    const TokenAdminConfig &config, uint32_t now) {
    Caller caller = authenticate_caller(client_request, registry);
    if (caller.refusal) {
        return std::move(*caller.refusal);
    }
    ZoneTables tables(store, *config.revocations);
    std::optional<HttpResponse> refused =
        config.jwt != nullptr && jose::looks_like_jwt(*caller.token)
            ? revoke_jwt(*caller.token, *caller.client, tables, config, now)
            : revoke_opaque(*caller.token, *caller.client, tables, config, now);
    if (refused) {
        return std::move(*refused);
    }
    HttpResponse response;  // 200, empty body
    response.outcome.result = "ok";
    return response;
}

}  // namespace

HttpResponse handle_introspection_request(const FormRequest &request, const Registry &registry,
                                          const TokenStore &store, const TokenAdminConfig &config,
                                          uint32_t now) noexcept {
    try {
        ClientRequest client_request(request, config.auth, now);
        HttpResponse response = introspect(client_request, registry, store, config, now);
        client_request.note_outcome(response.outcome);
        return response;
    } catch (...) {
        return server_error_response();
    }
}

HttpResponse handle_revocation_request(const FormRequest &request, const Registry &registry,
                                       TokenStore &store, const TokenAdminConfig &config,
                                       uint32_t now) noexcept {
    if (config.revocations == nullptr) {
        return server_error_response();  // a revocation must be listed somewhere
    }
    try {
        ClientRequest client_request(request, config.auth, now);
        HttpResponse response = revoke(client_request, registry, store, config, now);
        client_request.note_outcome(response.outcome);
        return response;
    } catch (...) {
        return server_error_response();
    }
}

}  // namespace oauth
