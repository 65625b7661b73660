// DPoP (RFC 9449): a client proves, on each request, that it holds the
// private key its token is bound to, with a JWT it signs for that one request
// (a proof). A token bound so (cnf jkt) is of no use to whoever steals it
// without the key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/tokens/replay_cache.hpp"
#include "core/tokens/token.hpp"

namespace oauth::jose {

// How old a proof's iat may be, and how far ahead of this clock: a proof is
// made for the request it comes with, so a minute covers any honest delay.
// Its jti is remembered this long past its iat, so no proof is taken twice.
constexpr uint32_t kDpopProofMaxAge = 60;
constexpr uint32_t kDpopProofSkew = 30;

// The algorithms a proof may be signed with, space-separated, as a
// challenge's algs="…" names them (RFC 9449 §7.1): every asymmetric one.
std::string_view dpop_algs() noexcept;

enum class DpopCheck {
    ok,
    missing,     // no DPoP header
    several,     // more than one DPoP header (RFC 9449 §4.3 item 1)
    shape,       // not a compact JWS of two JSON objects, or with crit
    typ,         // typ is not dpop+jwt
    alg,         // not an asymmetric alg the jwk takes
    jwk,         // no jwk, or one that is not a public signing key
    signature,   // does not verify with its own jwk
    method,      // htm is not the request's method
    url,         // htu is not the request's URL
    nonce,       // the server wants a nonce of its own, and this one is none or stale
    issued_at,   // iat missing, too old or ahead
    token_hash,  // ath missing or not the access token's hash
    key,         // signed by another key than the token is bound to
    jti,         // jti missing, not a string, empty or over 256 bytes
    replayed,    // its jti was taken before
    no_room,     // the replay cache cannot take its jti: refused, fail closed
};

// Server nonces (RFC 9449 §8, §9): each names a period of kPeriod seconds
// and is good in that one and the next, so 5 to 10 minutes. Made from a
// secret, not stored: every worker that holds the secret agrees.
class DpopNonces {
  public:
    static constexpr uint32_t kPeriod = 300;
    using Secret = std::array<uint8_t, 32>;

    // A fresh secret from the CSPRNG; false only when it fails.
    static bool make_secret(Secret &secret) noexcept;

    explicit DpopNonces(const Secret &secret) noexcept : secret_(secret) {}
    std::string current(uint32_t now) const;
    bool accepts(std::string_view nonce, uint32_t now) const;

  private:
    std::string of_period(uint32_t period) const;
    Secret secret_;
};

// What a proof must match (RFC 9449 §4.3).
struct DpopExpectation {
    std::string_view method;            // htm
    std::string_view url;               // htu: the request's URL without query
    std::string_view access_token;      // ath, at a resource; empty at the token endpoint
    const Digest *bound_key = nullptr;  // the token's cnf jkt; null at the token endpoint
    std::string_view charged_to;        // the client whose share of the replay cache the jti takes
};

struct DpopPolicy {
    ReplayCache *replays = nullptr;      // nullptr: no jti is remembered (unit tests only)
    const DpopNonces *nonces = nullptr;  // nullptr: no server nonce is asked for
};

// Every check of RFC 9449 §4.3 in order, the jti last, so that only a proof
// that passed all else takes a slot. `jkt` then holds the RFC 7638
// thumbprint of its key; with no_room, `retry_after` says when a slot of the
// client's frees.
DpopCheck check_dpop_proof(size_t proof_headers, std::string_view proof,
                           const DpopExpectation &expected, const DpopPolicy &policy, uint32_t now,
                           Digest &jkt, uint32_t &retry_after) noexcept;

// A refusal's error code: use_dpop_nonce for a nonce, else invalid_dpop_proof (RFC 9449 §7.1,
// §12.2).
std::string_view dpop_error(DpopCheck check) noexcept;

// For the metrics: "ok", "invalid", "replayed", "nonce" or "no_room".
std::string_view dpop_result(DpopCheck check) noexcept;

// A refusal's error_description: what to change, never the proof.
std::string_view describe(DpopCheck check) noexcept;

// RFC 9449 §4.3 item 9: htu names `url` when both are the same after RFC
// 3986 §6.2.2-3 normalization (scheme and host in lower case, a default port
// left out, an empty path as "/"), the query and fragment of htu ignored.
bool same_target_uri(std::string_view htu, std::string_view url);

}  // namespace oauth::jose
