// JWT access tokens (RFC 9068): the claim set an issuer signs, and the checks
// a resource server makes before it trusts one (RFC 9068 §4, RFC 8725 §3).
#pragma once

#include <jansson.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/jose/key.hpp"

namespace oauth::jose {

// RFC 9068 §2.2: what an issuer puts in a token.
struct AccessTokenClaims {
    std::string_view issuer;
    std::string_view client_id;  // also the sub of a client credentials grant (§2.2)
    std::vector<std::string_view> audience;
    uint32_t issued_at = 0;
    uint32_t expires_at = 0;
    std::string_view scope;  // left out when empty
};

// Header {alg, typ "at+jwt", kid}, the claims, a fresh jti of 128 bits from
// the CSPRNG; signed with `key`. False only when OpenSSL fails.
bool issue_access_token(const Key &key, const AccessTokenClaims &claims, std::string &token);

// Each check a token may fail, by its rule.
enum class JwtCheck {
    ok,
    shape,      // three base64url parts, a JSON object header and claim set (RFC 7515 §7.1)
    typ,        // "at+jwt" or "application/at+jwt" (RFC 9068 §4, RFC 8725 §3.11)
    crit,       // no extension this verifier does not know (RFC 7515 §4.1.11)
    kid,        // no key of that kid
    alg,        // exactly the algorithm of that key (RFC 8725 §3.1)
    signature,  // RFC 7515 §5.2
    iss,        // RFC 9068 §4, RFC 8725 §3.8
    exp,        // RFC 7519 §4.1.4, required by RFC 9068 §2.2
    nbf,        // RFC 7519 §4.1.5
    iat,        // RFC 7519 §4.1.6: not issued in the future
    claims,     // sub, client_id or aud missing or of the wrong type (RFC 9068 §2.2)
    scope,      // scope, or scp, malformed (RFC 9068 §2.2.3), or an scp element not one scope
    client,     // an own token whose client is no longer registered (gate.hpp)
    revoked,    // in the zone's revocation list (RFC 7009 §2.1, gate.hpp)
};

// The words the info log uses for a failed check.
std::string_view describe(JwtCheck check) noexcept;

struct VerifierPolicy {
    std::string_view issuer;
    const std::vector<Key> *keys = nullptr;
    uint32_t leeway = 0;  // seconds of clock skew tolerated on exp, nbf, iat
    // For a verifier of several issuers, instead of issuer and keys: the keys
    // of the token's own iss, null for an issuer not trusted. The iss is read
    // unverified only to choose whose keys check the token (RFC 8725 §3.8).
    std::function<const std::vector<Key> *(std::string_view iss)> keys_of;
};

// A token's NumericDates (RFC 7519 §2) as it states them.
struct Lifetime {
    double expires = 0;
    std::optional<double> not_before;
    std::optional<double> issued_at;
};

// RFC 7519 §4.1.4-6 with the leeway of RFC 8725 §3.10's clock skew.
JwtCheck check_lifetime(const Lifetime &lifetime, uint32_t now, uint32_t leeway) noexcept;

// A token's claim set, shared by the gate's cache of seen tokens and the
// requests that read it (core/jose/claims.hpp).
using ClaimSet = std::shared_ptr<const json_t>;
// Takes over the one reference `owned` holds.
ClaimSet adopt_claim_set(json_t *owned);

// What a verified token grants.
struct VerifiedToken {
    std::string issuer;
    std::string subject;
    std::string client_id;  // client_id, else azp, else sub
    std::string scope;      // space-separated
    std::vector<std::string> audience;
    std::string jti;
    uint32_t issued_at = 0;
    uint32_t expires_at = 0;
    Lifetime lifetime;
    KeyFingerprint key{};  // of the key whose signature it bears
    ClaimSet claim_set;    // every claim, as verified
};

// Every check in order. `verified_with`: the key this very token's signature
// was verified with before (the caller keeps that under the token's digest).
// When the key the token's kid selects now is that one, only the signature
// is skipped, never a header or claim check; a key since replaced under the
// same kid checks the signature again.
JwtCheck verify_access_token(std::string_view token, const VerifierPolicy &policy, uint32_t now,
                             std::optional<KeyFingerprint> verified_with,
                             VerifiedToken &out) noexcept;

// Whether a bearer token has the shape of a JWS at all: two dots. Opaque
// tokens of this module are base64url without any.
bool looks_like_jwt(std::string_view token) noexcept;

}  // namespace oauth::jose
