// JWS compact serialization (RFC 7515 §7.1) with the algorithm bound to the
// key: a signature is made and checked only with the key's own algorithm.
#pragma once

#include <string>
#include <string_view>

#include "core/jose/key.hpp"
#include "core/tokens/token.hpp"

namespace oauth::jose {

// BASE64URL(header).BASE64URL(payload).BASE64URL(signature); false only when
// OpenSSL fails.
bool sign_compact(const Key &key, std::string_view header_json, std::string_view payload_json,
                  std::string &jws);

// The signature over `signing_input` (the first two parts and their dot), as
// RFC 7518 §3 encodes it: ES* as the raw R‖S of §3.4 (64, 96 or 132 bytes),
// not DER. Made with the key's alg.
bool sign_bytes(const Key &key, std::string_view signing_input, std::string &signature);
// Checked with `alg`, false unless the key accepts it; without, the key's alg.
bool verify_bytes(const Key &key, Alg alg, std::string_view signing_input,
                  std::string_view signature) noexcept;
bool verify_bytes(const Key &key, std::string_view signing_input,
                  std::string_view signature) noexcept;

// The two digests of a compact JWS, from one pass of SHA-256.
struct JwsDigests {
    // Of the signing input (header.payload): what the signature covers, the
    // same for every form of a signature that verifies (an ES256 signature's
    // S and n - S both do). A JWT is revoked by this digest, so that no
    // re-encoded twin of a revoked token passes.
    Digest signed_part;
    // Of the whole text: vouches for one signature (the verdict cache), and
    // is what earlier builds revoked a JWT by.
    Digest text;
};

// `token` need not be a valid JWS: without a dot, its signing input is empty.
JwsDigests digest_jws(std::string_view token) noexcept;

}  // namespace oauth::jose
