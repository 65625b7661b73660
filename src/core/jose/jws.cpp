#include "core/jose/jws.hpp"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "core/http/base64.hpp"
#include "core/tokens/token.hpp"

namespace oauth::jose {

namespace {

struct MdCtxFree {
    void operator()(EVP_MD_CTX *ctx) const { EVP_MD_CTX_free(ctx); }
};
struct SigFree {
    void operator()(ECDSA_SIG *sig) const { ECDSA_SIG_free(sig); }
};

// Fetched once: a lookup by name on every signature costs more than a hash.
const EVP_MD *sha(int bits) {
    static EVP_MD *sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    static EVP_MD *sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
    static EVP_MD *sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
    return bits == 256 ? sha256 : bits == 384 ? sha384 : sha512;
}

// How RFC 7518 §3 makes each signature: its hash, the RSA padding (PKCS #1
// v1.5, or PSS with MGF1 of the same hash and a salt as long as the hash),
// and for ECDSA the size of R and of S in the raw R‖S of §3.4.
struct Scheme {
    int sha_bits;  // 0 for EdDSA, which hashes inside (RFC 8032)
    int rsa_padding;
    size_t ec_half;
};

Scheme scheme_of(Alg alg) {
    switch (alg) {
        case Alg::es256:
            return {256, 0, 32};
        case Alg::es384:
            return {384, 0, 48};
        case Alg::es512:
            return {512, 0, 66};
        case Alg::rs256:
            return {256, RSA_PKCS1_PADDING, 0};
        case Alg::rs384:
            return {384, RSA_PKCS1_PADDING, 0};
        case Alg::rs512:
            return {512, RSA_PKCS1_PADDING, 0};
        case Alg::ps256:
            return {256, RSA_PKCS1_PSS_PADDING, 0};
        case Alg::ps384:
            return {384, RSA_PKCS1_PSS_PADDING, 0};
        case Alg::ps512:
            return {512, RSA_PKCS1_PSS_PADDING, 0};
        case Alg::eddsa:
            break;
    }
    return {0, 0, 0};
}

bool set_rsa_padding(EVP_PKEY_CTX *ctx, const Scheme &scheme) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx, scheme.rsa_padding) != 1) {
        return false;
    }
    return scheme.rsa_padding != RSA_PKCS1_PSS_PADDING ||
           (EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, sha(scheme.sha_bits)) == 1);
}

// ECDSA and RSA sign the hash of the signing input through a context bound
// once to the key and the algorithm: `slot`, set up on first use by `init`
// (EVP_PKEY_sign_init or EVP_PKEY_verify_init). RS* is PKCS #1 v1.5 over a
// DigestInfo naming the hash, as EVP_DigestSign makes it.
EVP_PKEY_CTX *context(const Key &key, const Scheme &scheme, std::shared_ptr<EVP_PKEY_CTX> &slot,
                      int (*init)(EVP_PKEY_CTX *)) {
    if (slot == nullptr) {
        std::shared_ptr<EVP_PKEY_CTX> ctx(
            EVP_PKEY_CTX_new_from_pkey(nullptr, key.pkey.get(), nullptr), EVP_PKEY_CTX_free);
        if (ctx == nullptr || init(ctx.get()) != 1 ||
            EVP_PKEY_CTX_set_signature_md(ctx.get(), sha(scheme.sha_bits)) != 1 ||
            (scheme.rsa_padding != 0 && !set_rsa_padding(ctx.get(), scheme))) {
            return nullptr;
        }
        slot = std::move(ctx);
    }
    return slot.get();
}

const unsigned char *bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char *>(s.data());
}

struct Hash {
    unsigned char bytes[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
};

bool hash(const Scheme &scheme, std::string_view input, Hash &out) {
    if (scheme.sha_bits == 256) {  // the common case, without a context to allocate
        Digest digest;
        if (!sha256_digest({input}, digest)) {
            return false;
        }
        std::copy(digest.begin(), digest.end(), out.bytes);
        out.size = unsigned(digest.size());
        return true;
    }
    return EVP_Digest(input.data(), input.size(), out.bytes, &out.size, sha(scheme.sha_bits),
                      nullptr) == 1;
}

// RFC 7518 §3.4: OpenSSL speaks DER; JOSE speaks R‖S, each `half` bytes big-endian.
bool der_to_raw(const std::vector<unsigned char> &der, size_t half, std::string &raw) {
    const unsigned char *at = der.data();
    std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &at, long(der.size())));
    if (sig == nullptr) {
        return false;
    }
    raw.assign(2 * half, '\0');
    auto *out = reinterpret_cast<unsigned char *>(raw.data());
    return BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, int(half)) == int(half) &&
           BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + half, int(half)) == int(half);
}

bool raw_to_der(std::string_view raw, size_t half, std::vector<unsigned char> &der) {
    if (raw.size() != 2 * half) {
        return false;
    }
    std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
    BIGNUM *r = BN_bin2bn(bytes(raw), int(half), nullptr);
    BIGNUM *s = BN_bin2bn(bytes(raw) + half, int(half), nullptr);
    if (sig == nullptr || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return false;
    }
    int len = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (len <= 0) {
        return false;
    }
    der.resize(size_t(len));
    unsigned char *at = der.data();
    return i2d_ECDSA_SIG(sig.get(), &at) == len;
}

// Ed25519 hashes inside the signature (RFC 8032): it signs the input whole.
bool sign_eddsa(const Key &key, std::string_view signing_input, std::string &signature) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    size_t len = 0;
    if (ctx == nullptr ||
        EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, bytes(signing_input), signing_input.size()) != 1) {
        return false;
    }
    signature.resize(len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char *>(signature.data()), &len,
                       bytes(signing_input), signing_input.size()) != 1) {
        return false;
    }
    signature.resize(len);
    return true;
}

bool verify_eddsa(const Key &key, std::string_view signing_input, std::string_view signature) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    return ctx != nullptr &&
           EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.pkey.get()) == 1 &&
           EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signing_input),
                            signing_input.size()) == 1;
}

}  // namespace

bool sign_bytes(const Key &key, std::string_view signing_input, std::string &signature) {
    if (key.alg == Alg::eddsa) {
        return sign_eddsa(key, signing_input, signature);
    }
    Scheme scheme = scheme_of(key.alg);
    EVP_PKEY_CTX *ctx = context(key, scheme, key.sign_ctx, EVP_PKEY_sign_init);
    Hash digest;
    size_t len = 0;
    if (ctx == nullptr || !hash(scheme, signing_input, digest) ||
        EVP_PKEY_sign(ctx, nullptr, &len, digest.bytes, digest.size) != 1) {
        return false;
    }
    std::vector<unsigned char> out(len);
    if (EVP_PKEY_sign(ctx, out.data(), &len, digest.bytes, digest.size) != 1) {
        return false;
    }
    out.resize(len);
    if (scheme.ec_half != 0) {
        return der_to_raw(out, scheme.ec_half, signature);
    }
    signature.assign(reinterpret_cast<const char *>(out.data()), out.size());
    return true;
}

namespace {

bool verify_with(const Key &key, Alg alg, std::string_view signing_input,
                 std::string_view signature) {
        if ((key.accepts & alg_bit(alg)) == 0) {
            return false;
        }
        if (alg == Alg::eddsa) {
            return verify_eddsa(key, signing_input, signature);
        }
        Scheme scheme = scheme_of(alg);
        std::vector<unsigned char> der;
        if (scheme.ec_half != 0) {
            if (!raw_to_der(signature, scheme.ec_half, der)) {
                return false;
            }
            signature = std::string_view(reinterpret_cast<const char *>(der.data()), der.size());
        }
        EVP_PKEY_CTX *ctx = context(key, scheme, key.verify_ctx[size_t(alg)], EVP_PKEY_verify_init);
        Hash digest;
        return ctx != nullptr && hash(scheme, signing_input, digest) &&
               EVP_PKEY_verify(ctx, bytes(signature), signature.size(), digest.bytes,
                               digest.size) == 1;
}

}  // namespace

bool verify_bytes(const Key &key, Alg alg, std::string_view signing_input,
                  std::string_view signature) noexcept {
    try {
        if (verify_with(key, alg, signing_input, signature)) {
            return true;
        }
    } catch (...) {
    }
    // A forged signature leaves OpenSSL's error queue full (an RSA padding
    // error, say), where the worker's next TLS operation would find it and
    // log a stale error: a refusal is said by the return value alone.
    ERR_clear_error();
    return false;
}

bool verify_bytes(const Key &key, std::string_view signing_input,
                  std::string_view signature) noexcept {
    return verify_bytes(key, key.alg, signing_input, signature);
}

JwsDigests digest_jws(std::string_view token) noexcept {
    size_t last_dot = token.rfind('.');
    JwsDigests digests;
    digest_text_and_prefix(token, last_dot == std::string_view::npos ? 0 : last_dot,
                           digests.signed_part, digests.text);
    return digests;
}

bool sign_compact(const Key &key, std::string_view header_json, std::string_view payload_json,
                  std::string &jws) {
    jws = encode_base64url(header_json);
    jws.push_back('.');
    jws += encode_base64url(payload_json);
    std::string signature;
    if (!sign_bytes(key, jws, signature)) {
        return false;
    }
    jws.push_back('.');
    jws += encode_base64url(signature);
    return true;
}

}  // namespace oauth::jose
