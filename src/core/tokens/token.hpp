// Access tokens: 256 bits from OpenSSL's CSPRNG, base64url; the store keeps
// only their SHA-256 digest.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace oauth {

constexpr size_t kTokenEntropyBytes = 32;
constexpr size_t kTokenLength = 43;  // base64url of 32 bytes, no padding

using Digest = std::array<uint8_t, 32>;

// RFC 8705 §3: the TLS client certificate a token is bound to, by the
// SHA-256 of its DER (cnf "x5t#S256"). Unbound: a bearer token.
struct CertificateBinding {
    bool bound = false;
    Digest thumbprint{};
};

// RFC 9449 §6: the key a DPoP-bound token is bound to, by its RFC 7638
// thumbprint (cnf "jkt"); only a request with a proof signed by that key may
// use it. Unbound: a bearer token.
struct KeyBinding {
    bool bound = false;
    Digest thumbprint{};
};

// What a token is bound to: a certificate, a DPoP key, both or neither.
struct TokenBindings {
    CertificateBinding certificate;
    KeyBinding dpop;

    bool any() const { return certificate.bound || dpop.bound; }
};

// False only when the CSPRNG fails.
bool generate_token(std::string &token);

Digest digest_token(std::string_view token);

// SHA-256 of the parts one after the other, the one SHA-256 of the core:
// OpenSSL 3's SHA256() and EVP_sha256() look the algorithm up by name on every
// call, and EVP's dispatch costs more than hashing a token. False only when
// OpenSSL fails.
bool sha256_digest(std::initializer_list<std::string_view> parts, Digest &out) noexcept;

// The SHA-256 of `text` and of its first `prefix` bytes, in one pass: the
// prefix's state is copied, then carried on over the rest.
void digest_text_and_prefix(std::string_view text, size_t prefix, Digest &of_prefix,
                            Digest &of_text) noexcept;

}  // namespace oauth
