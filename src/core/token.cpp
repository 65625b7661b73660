#include "core/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>

#include <cstring>

#include "core/base64.hpp"

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
    static EVP_MD *const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    thread_local EVP_MD_CTX *ctx = nullptr;
    if (md == nullptr || (ctx == nullptr && (ctx = EVP_MD_CTX_new()) == nullptr) ||
        EVP_DigestInit_ex2(ctx, md, nullptr) != 1) {
        return false;
    }
    for (std::string_view part : parts) {
        if (EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) {
            return false;
        }
    }
    unsigned int length = 0;
    return EVP_DigestFinal_ex(ctx, out.data(), &length) == 1 && length == out.size();
}

Digest digest_token(std::string_view token) {
    Digest digest;
    if (!sha256_digest({token}, digest)) {
        SHA256(reinterpret_cast<const unsigned char *>(token.data()), token.size(), digest.data());
    }
    return digest;
}

}  // namespace oauth
