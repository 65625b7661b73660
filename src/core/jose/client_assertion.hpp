// Client authentication with a JWT the client signed with its private key
// (private_key_jwt: RFC 7523 §2.2 and §3, RFC 7521 §4.2), at the token,
// introspection and revocation endpoints.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/jose/key.hpp"
#include "core/tokens/replay_cache.hpp"

namespace oauth::jose {

// RFC 7523 §2.2: the client_assertion_type of a JWT assertion.
constexpr std::string_view kJwtBearerAssertionType =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

// How far ahead an assertion's exp may lie: it is kept in the replay cache
// until then, so this bounds how long each one takes a slot.
constexpr uint32_t kMaxAssertionLifetime = 300;
// The clock skew tolerated on exp, nbf and iat; the replay cache keeps a jti
// this much past its exp, so no skew lets it back in.
constexpr uint32_t kAssertionSkew = 30;

enum class AssertionCheck {
    ok,
    shape,      // not a compact JWS of JSON objects, or with a crit header
    key,        // no key of the client has its kid (or it has none and the client several)
    alg,        // an alg that is not the key's (none, HMAC, another type)
    signature,  // the signature does not verify
    issuer,     // iss is not the client id
    subject,    // sub is not the client id
    audience,   // aud names neither the issuer nor this endpoint
    expired,    // exp missing, not a date, or past
    too_long,   // exp more than kMaxAssertionLifetime ahead
    not_yet,    // nbf or iat in the future
    jti,        // jti missing, not a string, empty or over 256 bytes
    replayed,   // its jti was accepted before
    no_room,    // the replay cache cannot take it: refused, fail closed
};

// What an endpoint accepts.
struct AssertionPolicy {
    // The values aud may hold: the issuer identifier and the endpoint's URL.
    std::vector<std::string_view> audiences;
    ReplayCache *replays = nullptr;  // nullptr: no jti is remembered (unit tests only)
};

// The client an assertion names in its sub, read without verifying anything:
// only to choose whose keys check it. nullopt when it names none.
std::optional<std::string> assertion_subject(std::string_view assertion);

// Every check of RFC 7523 §3 against `client_id` and its `keys`, the jti
// last, so that only an assertion that passed all else takes a slot. With
// no_room, `retry_after` says when a slot of the client's frees.
AssertionCheck check_client_assertion(std::string_view assertion, std::string_view client_id,
                                      const std::vector<Key> &keys, const AssertionPolicy &policy,
                                      uint32_t now, uint32_t &retry_after);

// The error_description of a refusal: what to change, never the assertion.
std::string_view describe(AssertionCheck check) noexcept;

}  // namespace oauth::jose
