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
#include "core/jose/profile.hpp"
#include "core/tokens/token.hpp"

namespace oauth::jose {

// RFC 9068 §2.2: what an issuer puts in a token.
struct AccessTokenClaims {
    std::string_view issuer;
    std::string_view client_id;  // also the sub of a client credentials grant (§2.2)
    std::vector<std::string_view> audience;
    uint32_t issued_at = 0;
    uint32_t expires_at = 0;
    std::string_view scope;  // left out when empty
    // RFC 8705 §3.1: cnf {"x5t#S256": base64url of it} when bound.
    CertificateBinding certificate = {};
    // RFC 9449 §6.1: cnf {"jkt": the thumbprint} when bound to a DPoP key.
    KeyBinding dpop = {};
};

// Header {alg, typ "at+jwt", kid}, the claims, a fresh jti of 128 bits from
// the CSPRNG; signed with `key`. False only when OpenSSL fails.
bool issue_access_token(const Key &key, const AccessTokenClaims &claims, std::string &token);

// Each check a token may fail, by its rule.
enum class JwtCheck {
    ok,
    shape,         // three base64url parts, a JSON object header and claim set (RFC 7515 §7.1)
    typ,           // one the issuer's profile takes (profile.hpp; RFC 9068 §4, RFC 8725 §3.11)
    crit,          // no extension this verifier does not know (RFC 7515 §4.1.11)
    kid,           // no key of that kid
    alg,           // exactly the algorithm of that key (RFC 8725 §3.1)
    signature,     // RFC 7515 §5.2
    iss,           // RFC 9068 §4, RFC 8725 §3.8
    exp,           // RFC 7519 §4.1.4, required by RFC 9068 §2.2
    nbf,           // RFC 7519 §4.1.5
    iat,           // RFC 7519 §4.1.6: not issued in the future
    sub,           // missing or not text (RFC 9068 §2.2)
    client_claim,  // none of the profile's client claims, or the first present not text
    aud,           // not a string or an array of strings, or a value with a space
    scope,         // a scope claim malformed (RFC 9068 §2.2.3), or an array element not one scope
    client,        // an own token whose client is no longer registered (gate.hpp)
    revoked,       // in the zone's revocation list (RFC 7009 §2.1, gate.hpp)
    no_keys,       // a trusted issuer whose keys, from a URL, are not fetched yet (gate.hpp)
    cnf,           // cnf not an object, or its x5t#S256 or jkt not a SHA-256 in base64url
                   // (RFC 8705 §3.1, RFC 9449 §6.1)
};

struct VerifierPolicy {
    std::string_view issuer;
    const std::vector<Key> *keys = nullptr;
    uint32_t leeway = 0;  // seconds of clock skew tolerated on exp, nbf, iat
    // For a verifier of several issuers, instead of issuer and keys: the keys
    // of the token's own iss, null for an issuer not trusted. The iss is read
    // unverified only to choose whose keys check the token (RFC 8725 §3.8).
    std::function<const std::vector<Key> *(std::string_view iss)> keys_of;
    // The profile of the issuer's tokens; with keys_of, that of the issuer
    // profile_of names. Null: the default, RFC 9068's (own tokens have it).
    const TokenProfile *profile = nullptr;
    std::function<const TokenProfile *(std::string_view iss)> profile_of = nullptr;
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
    std::string issuer;  // on a refusal, the iss the token claims, if it got that far
    std::string subject;
    std::string client_id;  // the first of the profile's client claims
    std::string scope;      // the profile's scope claims: their union, space-separated
    std::vector<std::string> audience;
    std::string jti;
    uint32_t issued_at = 0;
    uint32_t expires_at = 0;
    Lifetime lifetime;
    KeyFingerprint key{};            // of the key whose signature it bears
    ClaimSet claim_set;              // every claim, as verified
    CertificateBinding certificate;  // cnf x5t#S256 (RFC 8705 §3.1)
    KeyBinding dpop;                 // cnf jkt (RFC 9449 §6.1)
    // The header as it came, for a refusal's description and log line: never
    // trusted, only shown (log_safe).
    std::string kid;
    std::optional<std::string> typ;  // nullopt: none; empty: not a string
};

// A refused token's error_description (RFC 6750 §3), and the info log's
// words: the failed check, in words that say what to change; never the
// token, and no quote, backslash or control character. `trusted`: the
// profile of the token's trusted issuer; null for an own token.
std::string describe_refusal(JwtCheck check, const VerifiedToken &token,
                             const TokenProfile *trusted);

// Every check in order. `verified_with`: the key this very token's signature
// was verified with before (the caller keeps that under the token's digest).
// When the key the token's kid selects now is that one, only the signature
// is skipped, never a header or claim check; a key since replaced under the
// same kid checks the signature again.
JwtCheck verify_access_token(std::string_view token, const VerifierPolicy &policy, uint32_t now,
                             std::optional<KeyFingerprint> verified_with,
                             VerifiedToken &out) noexcept;

// A compact JWS that is not an access token (a client assertion, RFC 7523):
// the shape, no crit, an alg bound to one of `keys` (its kid, or the only
// key), the signature; `claims` then holds its claim set, unchecked.
JwtCheck verify_signed_claims(std::string_view token, const std::vector<Key> &keys,
                              ClaimSet &claims) noexcept;

// Whether a bearer token has the shape of a JWS at all: two dots. Opaque
// tokens of this module are base64url without any.
bool looks_like_jwt(std::string_view token) noexcept;

}  // namespace oauth::jose
