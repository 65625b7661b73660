// JOSE keys (RFC 7517, RFC 7518 §3, RFC 8037): own keys, loaded from PEM and
// published as JWKs, each bound to one signing algorithm; a trusted issuer's,
// from its JWK Set, each bound to the algorithms of its type and curve.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <jansson.h>
#include <openssl/evp.h>

#include "core/tokens/token.hpp"

namespace oauth::jose {

// The only algorithms there are: no "none", no HMAC (RFC 8725 §3.1). Own
// keys sign with ES256, RS256 or EdDSA; a trusted issuer's keys verify any.
enum class Alg { es256, es384, es512, rs256, rs384, rs512, ps256, ps384, ps512, eddsa };
constexpr size_t kAlgCount = 10;

// A set of Alg, one bit each.
using AlgSet = uint16_t;
constexpr AlgSet alg_bit(Alg alg) noexcept {
    return AlgSet(1u << unsigned(alg));
}

// Names a public key whatever its kid: the first half of its RFC 7638
// thumbprint's SHA-256. 128 bits, so that no key can be made to share
// another's.
using KeyFingerprint = std::array<uint8_t, 16>;

std::string_view alg_name(Alg alg) noexcept;
// The Alg a JWS header's "alg" names; none for HMAC, "none" or the unknown.
std::optional<Alg> alg_from_name(std::string_view name) noexcept;

struct Key {
    // The algorithm the key signs with, and the one its JWK names.
    Alg alg = Alg::es256;
    // What a token's header may name to be checked with this key (RFC 8725
    // §3.1): `alg` alone, unless the key came from a JWK without "alg", which
    // takes every algorithm of its type and curve.
    AlgSet accepts = alg_bit(Alg::es256);
    std::string kid;
    std::shared_ptr<EVP_PKEY> pkey;
    // All but EdDSA: jws.cpp's contexts, set up on first use and kept, since
    // setting one up (EVP_DigestSignInit) costs a fifth of an ES256
    // signature. The verifying ones are one per algorithm, by Alg.
    mutable std::shared_ptr<EVP_PKEY_CTX> sign_ctx;
    mutable std::array<std::shared_ptr<EVP_PKEY_CTX>, kAlgCount> verify_ctx;
    // key_fingerprint()'s, worked out on first use and kept.
    mutable std::optional<KeyFingerprint> fingerprint;
};

// A PEM private key: EC P-256 for ES256, RSA of kMinRsaBits or more for
// RS256, Ed25519 for EdDSA. `kid` empty: the RFC 7638 thumbprint. False, with
// `error` saying why, for anything else, a public key among them.
constexpr int kMinRsaBits = 2048;
bool load_private_key(std::string_view pem, std::string_view kid, Key &key, std::string &error);

// RFC 7638: the SHA-256 of the required members, base64url.
std::string thumbprint(const Key &key);
// The same SHA-256, as bytes: what a DPoP-bound token's cnf jkt decodes to.
Digest thumbprint_digest(const Key &key);

// The key's fingerprint (see KeyFingerprint).
const KeyFingerprint &key_fingerprint(const Key &key);

// The public JWK: kty, kid, alg, use "sig" and the public parameters only.
std::string public_jwk(const Key &key);

// {"keys":[…]} of the public JWKs, in the order given.
std::string render_jwk_set(const std::vector<Key> &keys);

// A key of a JWK Set left out, and why.
struct SkippedKey {
    size_t position;  // in the set, from 1
    std::string kid;  // the JWK's, for a log line: printable, cut at 64 bytes
    std::string why;
    // Not what a verifier expects to see (malformed, unknown, a published
    // private key): worth a warning, where an encryption key is not.
    bool alarming = false;
};

// A trusted issuer's JWK Set as published (RFC 7517 §5): the keys that verify
// signatures go into `keys`; every other one into `skipped`, with why:
// encryption keys (use "enc", a key-management alg, key_ops without
// "verify"), unknown kty, crv or alg, malformed ones (bad base64url, wrong
// size, off the curve, RSA under kMinRsaBits), one whose "alg" does not fit
// its type and curve, one with private parameters, and a kid already taken.
// False, with `error`, when the text is no JWK Set or no key is left.
bool parse_jwk_set(std::string_view json, std::vector<Key> &keys, std::vector<SkippedKey> &skipped,
                   std::string &error);

// One public JWK on its own (a DPoP proof's header names its key so, RFC
// 9449 §4.2), by the rules parse_jwk_set holds each key of a set to. nullopt
// when `key` holds it; else why it is refused.
std::optional<std::string> read_public_jwk(json_t *jwk, Key &key);

// The key named `kid`; with no kid, the only key there is.
const Key *find_key(const std::vector<Key> &keys, std::optional<std::string_view> kid) noexcept;

}  // namespace oauth::jose
