#include "core/jose/jws.hpp"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>

#include <memory>
#include <vector>

#include "core/base64.hpp"
#include "core/token.hpp"

namespace oauth::jose {

namespace {

constexpr size_t kEs256Half = 32;

struct MdCtxFree {
    void operator()(EVP_MD_CTX *ctx) const { EVP_MD_CTX_free(ctx); }
};
struct SigFree {
    void operator()(ECDSA_SIG *sig) const { ECDSA_SIG_free(sig); }
};

// Fetched once: a lookup by name on every signature costs more than a hash.
const EVP_MD *sha256() {
    static EVP_MD *md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return md;
}

// ES256 and RS256 sign the SHA-256 of the signing input (RFC 7518 §3.3,
// §3.4) through a context bound once to the key: `slot`, set up on first use
// by `init` (EVP_PKEY_sign_init or EVP_PKEY_verify_init). RS256 is PKCS #1
// v1.5 over a DigestInfo naming SHA-256, as EVP_DigestSign makes it.
EVP_PKEY_CTX *context(const Key &key, std::shared_ptr<EVP_PKEY_CTX> &slot,
                      int (*init)(EVP_PKEY_CTX *)) {
    if (slot == nullptr) {
        std::shared_ptr<EVP_PKEY_CTX> ctx(
            EVP_PKEY_CTX_new_from_pkey(nullptr, key.pkey.get(), nullptr), EVP_PKEY_CTX_free);
        if (ctx == nullptr || init(ctx.get()) != 1 ||
            (key.alg == Alg::rs256 &&
             (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
              EVP_PKEY_CTX_set_signature_md(ctx.get(), sha256()) != 1))) {
            return nullptr;
        }
        slot = std::move(ctx);
    }
    return slot.get();
}

const unsigned char *bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char *>(s.data());
}

// RFC 7518 §3.4: OpenSSL speaks DER; JOSE speaks R‖S, each 32 bytes big-endian.
bool der_to_raw(const std::vector<unsigned char> &der, std::string &raw) {
    const unsigned char *at = der.data();
    std::unique_ptr<ECDSA_SIG, SigFree> sig(d2i_ECDSA_SIG(nullptr, &at, long(der.size())));
    if (sig == nullptr) {
        return false;
    }
    raw.assign(2 * kEs256Half, '\0');
    auto *out = reinterpret_cast<unsigned char *>(raw.data());
    return BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, kEs256Half) == int(kEs256Half) &&
           BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + kEs256Half, kEs256Half) ==
               int(kEs256Half);
}

bool raw_to_der(std::string_view raw, std::vector<unsigned char> &der) {
    if (raw.size() != 2 * kEs256Half) {
        return false;
    }
    std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
    BIGNUM *r = BN_bin2bn(bytes(raw), kEs256Half, nullptr);
    BIGNUM *s = BN_bin2bn(bytes(raw) + kEs256Half, kEs256Half, nullptr);
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
    EVP_PKEY_CTX *ctx = context(key, key.sign_ctx, EVP_PKEY_sign_init);
    Digest digest;
    size_t len = 0;
    if (ctx == nullptr || !sha256_digest({signing_input}, digest) ||
        EVP_PKEY_sign(ctx, nullptr, &len, digest.data(), digest.size()) != 1) {
        return false;
    }
    std::vector<unsigned char> out(len);
    if (EVP_PKEY_sign(ctx, out.data(), &len, digest.data(), digest.size()) != 1) {
        return false;
    }
    out.resize(len);
    if (key.alg == Alg::es256) {
        return der_to_raw(out, signature);
    }
    signature.assign(reinterpret_cast<const char *>(out.data()), out.size());
    return true;
}

bool verify_bytes(const Key &key, std::string_view signing_input,
                  std::string_view signature) noexcept {
    try {
        if (key.alg == Alg::eddsa) {
            return verify_eddsa(key, signing_input, signature);
        }
        std::vector<unsigned char> der;
        if (key.alg == Alg::es256) {
            if (!raw_to_der(signature, der)) {
                return false;
            }
            signature = std::string_view(reinterpret_cast<const char *>(der.data()), der.size());
        }
        EVP_PKEY_CTX *ctx = context(key, key.verify_ctx, EVP_PKEY_verify_init);
        Digest digest;
        return ctx != nullptr && sha256_digest({signing_input}, digest) &&
               EVP_PKEY_verify(ctx, bytes(signature), signature.size(), digest.data(),
                               digest.size()) == 1;
    } catch (...) {
        return false;
    }
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
