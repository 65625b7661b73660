// The gate's check of JWT access tokens: the server's own, and those of the
// issuers it trusts. RFC 9068 §4 through access_token.hpp, each signature
// once a node (verdict_cache.hpp), and for own tokens the client registry,
// which they answer to.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/jose/access_token.hpp"
#include "core/jose/verdict_cache.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/tokens/token_verifier.hpp"

namespace oauth {
class Registry;  // core/registry.hpp
}  // namespace oauth

namespace oauth::jose {

// The most clock skew oauth_jwt_leeway may grant. A revoked JWT stays in the
// revocation list this long past its exp, so no leeway lets it back in.
constexpr uint32_t kMaxLeeway = 300;

// An issuer whose tokens are accepted, with the keys of its JWK Set and the
// profile of its tokens.
struct TrustedIssuer {
    std::string issuer;
    std::vector<Key> keys;
    TokenProfile profile = TokenProfile();
    // Keys from a URL: the glue's number for where they come from, from 1,
    // and the version of the fetched set `keys` holds (none yet: empty).
    // 0: keys from a file, fixed.
    size_t source = 0;
    uint64_t version = 0;
};

// Forgets the tokens this worker saw pass: the keys of an issuer changed, so
// a token is to be checked with the keys it has now.
void forget_seen_tokens() noexcept;

struct GatePolicy {
    // The server's own tokens: its issuer and signing keys, and the registry.
    // Null keys: the server signs none.
    std::string_view own_issuer;
    const std::vector<Key> *own_keys = nullptr;
    const Registry *registry = nullptr;
    const std::vector<TrustedIssuer> *trusted = nullptr;  // may be null
    uint32_t leeway = 0;
    // The zone's revoked tokens, refused whatever cache vouches for them; may be null.
    const RevocationList *revocations = nullptr;
};

class JwtVerifier final : public TokenVerifier {
  public:
    JwtVerifier(const GatePolicy &policy, VerdictCache cache) noexcept
        : policy_(policy), cache_(cache) {}

    // Valid when the token's iss is the server's or a trusted issuer's and
    // every check of verify_access_token passes with that issuer's keys. A
    // token this worker saw pass is not parsed again: only its lifetime, its
    // issuer's keys and the registry are checked again. An
    // own token's client must still be registered, and its scopes count only
    // while the client still has them (a scope removed from the registry
    // stops working at once). A token in the revocation list is refused on
    // every path, cached or not, so a revocation holds at once in every worker.
    bool verify(std::string_view token, uint32_t now, TokenGrant &grant) noexcept override;

    // Why the last verify() failed; JwtCheck::ok after a success.
    JwtCheck failure() const noexcept { return failure_; }
    // The trusted issuer with keys from a URL whose set lacked the kid of the
    // token the last verify() refused: a refetch may bring it. Else nullptr.
    const TrustedIssuer *awaiting_keys() const noexcept { return awaiting_keys_; }
    // failure() in words a user can act on (describe_refusal).
    std::string refusal() const override;
    // The claims of the last token checked: valid until the next verify() of
    // any verifier in this thread, which may empty the worker's cache.
    const VerifiedToken &claims() const noexcept {
        return seen_claims_ != nullptr ? *seen_claims_ : parsed_;
    }

  private:
    bool check(std::string_view token, uint32_t now, TokenGrant &grant);
    bool grant(const std::vector<Key> *keys, const VerifiedToken &claims, TokenGrant &grant);
    bool grant_own(const VerifiedToken &claims, TokenGrant &grant);
    bool grant_trusted(const VerifiedToken &claims, TokenGrant &grant);
    const std::vector<Key> *keys_of(std::string_view issuer) const noexcept;
    const TrustedIssuer *trusted_issuer(std::string_view issuer) const noexcept;
    void note_missing_key();

    const GatePolicy &policy_;
    VerdictCache cache_;
    JwtCheck failure_ = JwtCheck::ok;
    const TrustedIssuer *chosen_ = nullptr;  // the trusted issuer of the token's iss
    const TrustedIssuer *awaiting_keys_ = nullptr;
    VerifiedToken parsed_;  // a token parsed by this verify()
    // The worker's copy of the claims of a token that passed: held there, not copied here.
    const VerifiedToken *seen_claims_ = nullptr;
};

}  // namespace oauth::jose
