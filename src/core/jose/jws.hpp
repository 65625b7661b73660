// JWS compact serialization (RFC 7515 §7.1) with the algorithm bound to the
// key: a signature is made and checked only with the key's own algorithm.
#pragma once

#include <string>
#include <string_view>

#include "core/jose/key.hpp"

namespace oauth::jose {

// BASE64URL(header).BASE64URL(payload).BASE64URL(signature); false only when
// OpenSSL fails.
bool sign_compact(const Key &key, std::string_view header_json, std::string_view payload_json,
                  std::string &jws);

// The signature over `signing_input` (the first two parts and their dot), as
// RFC 7518 §3 encodes it: ES256 as the raw 64-byte R‖S of §3.4, not DER.
bool sign_bytes(const Key &key, std::string_view signing_input, std::string &signature);
bool verify_bytes(const Key &key, std::string_view signing_input,
                  std::string_view signature) noexcept;

}  // namespace oauth::jose
