#include "core/token.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "core/base64.hpp"

namespace oauth {

bool generate_token(std::string &token) {
    unsigned char entropy[kTokenEntropyBytes];
    if (RAND_bytes(entropy, sizeof entropy) != 1) {
        return false;
    }
    token = encode_base64url(std::string_view(reinterpret_cast<char *>(entropy), sizeof entropy));
    return true;
}

Digest digest_token(std::string_view token) {
    Digest digest;
    SHA256(reinterpret_cast<const unsigned char *>(token.data()), token.size(), digest.data());
    return digest;
}

}  // namespace oauth
