// JOSE keys (RFC 7517, RFC 7518 §3, RFC 8037): each bound to exactly one
// signing algorithm, loaded from PEM or from a JWK Set, published as JWKs.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>

namespace oauth::jose {

// The only algorithms there are: no "none", no HMAC (RFC 8725 §3.1).
enum class Alg { es256, rs256, eddsa };

// Names a public key whatever its kid: the first half of its RFC 7638
// thumbprint's SHA-256. 128 bits, so that no key can be made to share
// another's.
using KeyFingerprint = std::array<uint8_t, 16>;

std::string_view alg_name(Alg alg) noexcept;

struct Key {
    Alg alg = Alg::es256;
    std::string kid;
    std::shared_ptr<EVP_PKEY> pkey;
    // ES256 and RS256: jws.cpp's contexts for the key's algorithm, set up on
    // first use and kept, since setting one up (EVP_DigestSignInit) costs a
    // fifth of an ES256 signature. Never set for EdDSA.
    mutable std::shared_ptr<EVP_PKEY_CTX> sign_ctx;
    mutable std::shared_ptr<EVP_PKEY_CTX> verify_ctx;
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

// The key's fingerprint (see KeyFingerprint).
const KeyFingerprint &key_fingerprint(const Key &key);

// The public JWK: kty, kid, alg, use "sig" and the public parameters only.
std::string public_jwk(const Key &key);

// {"keys":[…]} of the public JWKs, in the order given.
std::string render_jwk_set(const std::vector<Key> &keys);

// A JWK Set of public keys (RFC 7517 §5). Each key must be one of the three
// kinds above; `alg`, when present, must be that key's; a member "d" (a
// private key) is refused. False, with `error`, on the first problem.
bool parse_jwk_set(std::string_view json, std::vector<Key> &keys, std::string &error);

// The key named `kid`; with no kid, the only key there is.
const Key *find_key(const std::vector<Key> &keys, std::optional<std::string_view> kid) noexcept;

}  // namespace oauth::jose
