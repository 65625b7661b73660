// Protected resources: the bearer token check of RFC 6750.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/registry.hpp"
#include "core/token_store.hpp"

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
    // Opaque tokens answer to it (follow_registry); nullptr: no registry in scope.
    const Registry *registry = nullptr;
    const AudienceRequirement *audience = nullptr;  // nullptr: oauth_require_audience off
};

// SPEC "Own tokens answer to the registry": false for a token of a client the
// registry no longer lists; else the grant keeps only the scopes its client
// still has, so a scope removed on reload stops working on live tokens.
// The one rule, for opaque tokens (the grant the store holds) and the
// server's own JWTs (jose/gate.cpp) alike.
bool follow_registry(const Registry &registry, TokenGrant &grant);

// follow_registry() of a token whose client and scopes are not yet in
// `grant` (a JWT's claims): true when the registry lists `client_id`, and
// then `grant` holds that id and what `scope` keeps of its client's list.
// Either may be a view of `grant`'s own.
bool follow_registry(const Registry &registry, std::string_view client_id, std::string_view scope,
                     TokenGrant &grant);

enum class BearerStatus { ok, missing, malformed };

// RFC 6750 §2.1: "Bearer" (any case), one or more spaces, a b64token. Another
// scheme counts as missing: it may belong to auth_basic under `satisfy any`.
// Two Authorization headers are malformed.
BearerStatus parse_bearer_token(size_t authorization_headers, std::string_view authorization,
                                std::string_view &token) noexcept;

struct BearerRequest {
    size_t authorization_headers = 0;
    std::string_view authorization;  // the first Authorization header
};

struct BearerVerdict {
    int status = 0;         // 0: let the request through; else 400, 401 or 403
    std::string challenge;  // the WWW-Authenticate value, when status != 0
    // For the metrics: "ok", "no_token" or the error code (a string literal).
    std::string_view result = "ok";
    // Why a live token was refused, for the info log (a string literal); never the token.
    std::string_view log_reason;
};

// Bearer tokens that carry their own proof (JWTs, core/jose/gate.hpp)
// rather than sit in the store. True, with `grant` filled, when one is valid.
class TokenVerifier {
  public:
    virtual bool verify(std::string_view token, uint32_t now, TokenGrant &grant) noexcept = 0;
    // Why the last verify() refused its token: an error_description (RFC 6750 §3).
    virtual std::string refusal() const = 0;

  protected:
    ~TokenVerifier() = default;
};

// The grant of the request's bearer token when it is well formed and live,
// scopes aside: what the $oauth_* variables show when read before the check.
// `jwt`, when set, answers for tokens of a JWS's shape; the store for the rest.
// An opaque token's grant follows `registry` when it is set.
bool find_bearer_grant(const BearerRequest &request, const TokenStore &store, uint32_t now,
                       TokenGrant &grant, TokenVerifier *jwt = nullptr,
                       const Registry *registry = nullptr) noexcept;

// RFC 6750 §3. On success `grant` holds what the token was issued for, as
// the registry still allows it. A refused JWT's error_description is `jwt`'s
// refusal(), which names the failed check. A token whose audience holds none of
// `policy.audience` is invalid_token (RFC 6750 §3.1, RFC 8707 §2).
BearerVerdict check_bearer(const BearerRequest &request, const TokenStore &store,
                           const ScopeRequirement &required, std::string_view realm, uint32_t now,
                           TokenGrant &grant, TokenVerifier *jwt = nullptr,
                           const GrantPolicy &policy = {}) noexcept;

}  // namespace oauth
