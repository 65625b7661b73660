// The gate's check of the server's own JWT access tokens: RFC 9068 §4 through
// access_token.hpp, each signature once a node (verdict_cache.hpp), and the
// client registry, which own tokens answer to.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/bearer.hpp"
#include "core/jose/access_token.hpp"
#include "core/jose/verdict_cache.hpp"
#include "core/registry.hpp"

namespace oauth::jose {

class OwnTokenVerifier final : public TokenVerifier {
  public:
    OwnTokenVerifier(const VerifierPolicy &policy, const Registry &registry,
                     VerdictCache cache) noexcept
        : policy_(policy), registry_(registry), cache_(cache) {}

    // Valid when every check of verify_access_token passes and the client is
    // still registered; the grant's scopes are the token's that the client
    // still has (a scope removed from the registry stops working at once).
    bool verify(std::string_view token, uint32_t now, TokenGrant &grant) noexcept override;

    // Why the last verify() failed; JwtCheck::ok after a success.
    JwtCheck failure() const noexcept { return failure_; }
    // The claims of the last token that passed.
    const VerifiedToken &claims() const noexcept { return claims_; }

  private:
    bool check(std::string_view token, uint32_t now, TokenGrant &grant);

    const VerifierPolicy &policy_;
    const Registry &registry_;
    VerdictCache cache_;
    JwtCheck failure_ = JwtCheck::ok;
    VerifiedToken claims_;
};

}  // namespace oauth::jose
