// Access tokens: 256 bits from OpenSSL's CSPRNG, base64url; the store keeps
// only their SHA-256 digest.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace oauth {

constexpr size_t kTokenEntropyBytes = 32;
constexpr size_t kTokenLength = 43;  // base64url of 32 bytes, no padding

using Digest = std::array<uint8_t, 32>;

// False only when the CSPRNG fails.
bool generate_token(std::string &token);

Digest digest_token(std::string_view token);

}  // namespace oauth
