// The seam between the bearer check and the tokens that carry their own
// proof: bearer.hpp asks, jose/gate.hpp answers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/tokens/token_store.hpp"

namespace oauth {

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

}  // namespace oauth
