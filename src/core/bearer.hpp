// Protected resources: the bearer token check of RFC 6750.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/jose/claims.hpp"
#include "core/jose/dpop.hpp"
#include "core/registry.hpp"
#include "core/tokens/token_store.hpp"
#include "core/tokens/token_verifier.hpp"

namespace oauth {

// The scopes a location requires, checked once at configuration time.
struct ScopeRequirement {
    std::vector<std::string> scopes;
    std::string joined;  // for the scope="…" of an insufficient_scope challenge

    // False, with `error` naming the bad scope, when one is not a §3.3 scope-token.
    static bool compile(const std::vector<std::string_view> &scopes, ScopeRequirement &out,
                        std::string &error);
};

// The audiences a location requires (oauth_require_audience): the token's
// audience must hold one of them, else it is not meant for this resource.
struct AudienceRequirement {
    std::vector<std::string> audiences;

    // False, with `error` naming the bad one, for an empty value or one with a
    // space or control character, which no audience could equal.
    static bool compile(const std::vector<std::string_view> &audiences, AudienceRequirement &out,
                        std::string &error);

    // `granted`: the token's audience, space-joined.
    bool accepts(std::string_view granted) const noexcept;
};

// What a location asks of a token beyond being live.
struct GrantPolicy {
    // Opaque tokens answer to it (tokens/registry_grant.hpp); nullptr: no registry in scope.
    const Registry *registry = nullptr;
    const AudienceRequirement *audience = nullptr;  // nullptr: oauth_require_audience off
};

enum class BearerStatus { ok, missing, malformed };

// The scheme a token came with: Bearer (RFC 6750), or DPoP (RFC 9449 §7.1)
// for a token bound to the key of the request's proof.
enum class TokenScheme { bearer, dpop };

// RFC 6750 §2.1 and RFC 9449 §7.1: "Bearer" or "DPoP" (any case), one or
// more spaces, a b64token; `scheme` says which. Another scheme counts as
// missing: it may belong to auth_basic under `satisfy any`. Two
// Authorization headers are malformed.
BearerStatus parse_bearer_token(size_t authorization_headers, std::string_view authorization,
                                std::string_view &token, TokenScheme &scheme) noexcept;

struct BearerRequest {
    size_t authorization_headers = 0;
    std::string_view authorization;  // the first Authorization header
    // The SHA-256 of the connection's TLS client certificate; nullptr: none.
    // A token bound to a certificate (RFC 8705 §3) passes only with it.
    const Digest *certificate_thumbprint = nullptr;
    // RFC 9449 §7.1: the DPoP headers, the method and URL a proof must name,
    // and where its jti is remembered. A DPoP-bound token passes only with
    // the DPoP scheme and a proof of its key.
    size_t dpop_headers = 0;
    std::string_view dpop_proof = {};  // the first DPoP header
    std::string_view method = {};
    std::string_view url = {};  // scheme://host[:port]/path, no query
    jose::DpopPolicy dpop = {};
};

struct BearerVerdict {
    int status = 0;         // 0: let the request through; else 400, 401, 403 or 429
    std::string challenge;  // the WWW-Authenticate value, when status is 400, 401 or 403
    // For the metrics: "ok", "no_token" or the error code (a string literal).
    std::string_view result = "ok";
    // Why a live token was refused, for the info log (a string literal); never the token.
    std::string_view log_reason;
    uint32_t retry_after = 0;  // a 429's Retry-After
    // How the request's DPoP proof fared (jose::dpop_result); empty: none was checked.
    std::string_view dpop_result;
};

// The grant of the request's bearer token when it is well formed, live and,
// when bound, presented with its certificate or a proof of its key (its jti
// not taken: the check proper does that), scopes aside: what the $oauth_* variables show when
// read before the check. `jwt`, when set, answers for tokens of a JWS's shape; the store for the
// rest. An opaque token's grant follows `registry` when it is set.
bool find_bearer_grant(const BearerRequest &request, const TokenStore &store, uint32_t now,
                       TokenGrant &grant, TokenVerifier *jwt = nullptr,
                       const Registry *registry = nullptr) noexcept;

// RFC 6750 §3, and RFC 9449 §7 for a DPoP-bound token (its challenges are
// DPoP's, with algs). On success `grant` holds what the token was issued for, as
// the registry still allows it. A refused JWT's error_description is `jwt`'s
// refusal(), which names the failed check. A token whose audience holds none of
// `policy.audience` is invalid_token (RFC 6750 §3.1, RFC 8707 §2).
BearerVerdict check_bearer(const BearerRequest &request, const TokenStore &store,
                           const ScopeRequirement &required, std::string_view realm, uint32_t now,
                           TokenGrant &grant, TokenVerifier *jwt = nullptr,
                           const GrantPolicy &policy = {}) noexcept;

// oauth_require_claim, after check_bearer let the token through: 403
// insufficient_scope (RFC 6750 §3.1: the token lacks the privileges) naming
// the first claim of `required` that `claims` fails, never its values.
BearerVerdict check_claims(const std::vector<jose::ClaimRequirement> &required,
                           const json_t *claims, std::string_view realm) noexcept;

// RFC 9728 §5.1: a 401 challenge names the resource's metadata URL, where
// a client (MCP's, for one) learns which authorization server to ask.
void point_to_resource_metadata(BearerVerdict &verdict, std::string_view metadata_url);

}  // namespace oauth
