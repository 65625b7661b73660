#include "core/jose/jws.hpp"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include <memory>
#include <vector>

#include "core/base64.hpp"

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

// Ed25519 hashes inside the signature (RFC 8032): no digest is named.
const EVP_MD *digest_of(Alg alg) {
    return alg == Alg::eddsa ? nullptr : sha256();
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

}  // namespace

bool sign_bytes(const Key &key, std::string_view signing_input, std::string &signature) {
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    size_t len = 0;
    if (ctx == nullptr ||
        EVP_DigestSignInit(ctx.get(), nullptr, digest_of(key.alg), nullptr, key.pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, bytes(signing_input), signing_input.size()) != 1) {
        return false;
    }
    std::vector<unsigned char> out(len);
    if (EVP_DigestSign(ctx.get(), out.data(), &len, bytes(signing_input), signing_input.size()) !=
        1) {
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
        std::vector<unsigned char> der;
        if (key.alg == Alg::es256) {
            if (!raw_to_der(signature, der)) {
                return false;
            }
            signature = std::string_view(reinterpret_cast<const char *>(der.data()), der.size());
        }
        std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
        return ctx != nullptr &&
               EVP_DigestVerifyInit(ctx.get(), nullptr, digest_of(key.alg), nullptr,
                                    key.pkey.get()) == 1 &&
               EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signing_input),
                                signing_input.size()) == 1;
    } catch (...) {
        return false;
    }
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
