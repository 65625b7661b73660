// Protected resources: the bearer token check of RFC 6750.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
};

// Bearer tokens that carry their own proof (JWTs, core/jose/gate.hpp)
// rather than sit in the store. True, with `grant` filled, when one is valid.
class TokenVerifier {
  public:
    virtual bool verify(std::string_view token, uint32_t now, TokenGrant &grant) noexcept = 0;

  protected:
    ~TokenVerifier() = default;
};

// The grant of the request's bearer token when it is well formed and live,
// scopes aside: what the $oauth_* variables show when read before the check.
// `jwt`, when set, answers for tokens of a JWS's shape; the store for the rest.
bool find_bearer_grant(const BearerRequest &request, const TokenStore &store, uint32_t now,
                       TokenGrant &grant, TokenVerifier *jwt = nullptr) noexcept;

// RFC 6750 §3. On success `grant` holds what the token was issued for.
BearerVerdict check_bearer(const BearerRequest &request, const TokenStore &store,
                           const ScopeRequirement &required, std::string_view realm, uint32_t now,
                           TokenGrant &grant, TokenVerifier *jwt = nullptr) noexcept;

}  // namespace oauth
