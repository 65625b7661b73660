#include "core/jose/key.hpp"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <algorithm>

#include "core/base64.hpp"
#include "core/json.hpp"
#include "core/token.hpp"

namespace oauth::jose {

namespace {

constexpr size_t kP256CoordinateBytes = 32;
constexpr size_t kEd25519KeyBytes = 32;

struct BioFree {
    void operator()(BIO *b) const { BIO_free(b); }
};
struct BnFree {
    void operator()(BIGNUM *b) const { BN_free(b); }
};
struct JsonFree {
    void operator()(json_t *j) const { json_decref(j); }
};
using Bignum = std::unique_ptr<BIGNUM, BnFree>;
using Json = std::unique_ptr<json_t, JsonFree>;

std::shared_ptr<EVP_PKEY> own(EVP_PKEY *pkey) {
    return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

std::string_view bytes_of(const std::vector<unsigned char> &v) {
    return std::string_view(reinterpret_cast<const char *>(v.data()), v.size());
}

bool is_p256(EVP_PKEY *pkey) {
    char group[64];
    size_t len = 0;
    return EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                          &len) == 1 &&
           std::string_view(group, len) == "prime256v1";
}

// The algorithm a key signs with, or why it signs none (RFC 7518 §3.3, §3.4; RFC 8037 §3.1).
std::optional<Alg> alg_of(EVP_PKEY *pkey, std::string &error) {
    if (EVP_PKEY_is_a(pkey, "EC")) {
        if (is_p256(pkey)) {
            return Alg::es256;
        }
        error = "an EC key of another curve than P-256";
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        if (EVP_PKEY_get_bits(pkey) >= kMinRsaBits) {
            return Alg::rs256;
        }
        error = "a weak RSA key of " + std::to_string(EVP_PKEY_get_bits(pkey)) +
                " bits (2048 or more are needed)";
    } else if (EVP_PKEY_is_a(pkey, "ED25519")) {
        return Alg::eddsa;
    } else {
        error = std::string("an unsupported key type ") + EVP_PKEY_get0_type_name(pkey) +
                " (EC P-256, RSA or Ed25519 are)";
    }
    return std::nullopt;
}

std::string bn_param(EVP_PKEY *pkey, const char *name, size_t pad) {
    BIGNUM *raw = nullptr;
    if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) {
        return "";
    }
    Bignum bn(raw);
    size_t size = pad != 0 ? pad : size_t(BN_num_bytes(bn.get()));
    std::vector<unsigned char> out(size);
    if (BN_bn2binpad(bn.get(), out.data(), int(size)) < 0) {
        return "";
    }
    return encode_base64url(bytes_of(out));
}

std::string raw_public(EVP_PKEY *pkey) {
    std::vector<unsigned char> out(kEd25519KeyBytes);
    size_t len = out.size();
    if (EVP_PKEY_get_raw_public_key(pkey, out.data(), &len) != 1) {
        return "";
    }
    out.resize(len);
    return encode_base64url(bytes_of(out));
}

// The public parameters as RFC 7638 lists them: required members, in
// lexicographic order, no whitespace. A JWK is these plus kid, alg and use.
struct PublicMembers {
    std::vector<std::pair<std::string_view, std::string>> members;
};

PublicMembers public_members(const Key &key) {
    EVP_PKEY *pkey = key.pkey.get();
    switch (key.alg) {
        case Alg::es256:
            return {{{"crv", "P-256"},
                     {"kty", "EC"},
                     {"x", bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordinateBytes)},
                     {"y", bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordinateBytes)}}};
        case Alg::rs256:
            return {{{"e", bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0)},
                     {"kty", "RSA"},
                     {"n", bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0)}}};
        case Alg::eddsa:
            return {{{"crv", "Ed25519"}, {"kty", "OKP"}, {"x", raw_public(pkey)}}};
    }
    return {};
}

// ---- JWK import (RFC 7518 §6, RFC 8037 §2) --------------------------------

std::optional<std::string> member_bytes(json_t *jwk, const char *name) {
    const char *text = json_string_value(json_object_get(jwk, name));
    if (text == nullptr) {
        return std::nullopt;
    }
    return decode_base64url(text);
}

EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld) {
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
    EVP_PKEY *pkey = nullptr;
    if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        pkey = nullptr;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

// The point must lie on the curve: an invalid one opens invalid-curve attacks.
bool public_key_is_valid(EVP_PKEY *pkey) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
    bool ok = ctx != nullptr && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

EVP_PKEY *ec_key(json_t *jwk) {
    std::optional<std::string> x = member_bytes(jwk, "x");
    std::optional<std::string> y = member_bytes(jwk, "y");
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    if (!x || !y || crv == nullptr || std::string_view(crv) != "P-256" ||
        x->size() != kP256CoordinateBytes || y->size() != kP256CoordinateBytes) {
        return nullptr;
    }
    std::string point = "\x04" + *x + *y;  // SEC 1 §2.3.3, uncompressed
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = nullptr;
    if (bld != nullptr &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                         point.size()) == 1) {
        pkey = from_params("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    if (pkey != nullptr && !public_key_is_valid(pkey)) {
        EVP_PKEY_free(pkey);
        return nullptr;
    }
    return pkey;
}

Bignum bignum(const std::string &bytes) {
    return Bignum(BN_bin2bn(reinterpret_cast<const unsigned char *>(bytes.data()),
                            int(bytes.size()), nullptr));
}

EVP_PKEY *rsa_key(json_t *jwk) {
    std::optional<std::string> n = member_bytes(jwk, "n");
    std::optional<std::string> e = member_bytes(jwk, "e");
    if (!n || !e || n->empty() || e->empty()) {
        return nullptr;
    }
    Bignum bn_n = bignum(*n), bn_e = bignum(*e);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = nullptr;
    if (bld != nullptr && bn_n && bn_e &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get()) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get()) == 1) {
        pkey = from_params("RSA", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    return pkey;
}

EVP_PKEY *okp_key(json_t *jwk) {
    std::optional<std::string> x = member_bytes(jwk, "x");
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    if (!x || crv == nullptr || std::string_view(crv) != "Ed25519" ||
        x->size() != kEd25519KeyBytes) {
        return nullptr;
    }
    return EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char *>(x->data()), x->size());
}

// Takes `pkey` into `key`, with the one alg its type signs; false, with
// `error`, for a type or size no alg is bound to.
bool adopt(EVP_PKEY *pkey, Key &key, std::string &error) {
    key.pkey = own(pkey);
    std::optional<Alg> alg = alg_of(pkey, error);
    if (!alg) {
        return false;
    }
    key.alg = *alg;
    return true;
}

bool import_jwk(json_t *jwk, Key &key, std::string &error) {
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    if (!json_is_object(jwk) || kty == nullptr) {
        error = "a key without kty";
        return false;
    }
    if (json_object_get(jwk, "d") != nullptr) {
        error = "a private key (member \"d\"): publish public keys only";
        return false;
    }
    std::string_view type(kty);
    EVP_PKEY *pkey = type == "EC"    ? ec_key(jwk)
                     : type == "RSA" ? rsa_key(jwk)
                     : type == "OKP" ? okp_key(jwk)
                                     : nullptr;
    if (pkey == nullptr) {
        error = "a key of kty \"" + std::string(type) + "\" that is unsupported or malformed";
        return false;
    }
    if (!adopt(pkey, key, error)) {
        return false;
    }
    const char *named = json_string_value(json_object_get(jwk, "alg"));
    if (named != nullptr && std::string_view(named) != alg_name(key.alg)) {
        error = "a key whose alg \"" + std::string(named) + "\" is not its type's (" +
                std::string(alg_name(key.alg)) + ")";
        return false;
    }
    const char *kid = json_string_value(json_object_get(jwk, "kid"));
    key.kid = kid != nullptr ? kid : thumbprint(key);
    return true;
}

}  // namespace

std::string_view alg_name(Alg alg) noexcept {
    switch (alg) {
        case Alg::es256:
            return "ES256";
        case Alg::rs256:
            return "RS256";
        case Alg::eddsa:
            return "EdDSA";
    }
    return "";
}

bool load_private_key(std::string_view pem, std::string_view kid, Key &key, std::string &error) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    if (bio == nullptr) {
        error = "out of memory";
        return false;
    }
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
    if (pkey == nullptr) {
        BIO_reset(bio.get());
        EVP_PKEY *pub = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
        error = pub != nullptr ? "a public key, where a private key is needed to sign"
                               : "no PEM private key";
        EVP_PKEY_free(pub);
        return false;
    }
    if (!adopt(pkey, key, error)) {
        return false;
    }
    key.kid = kid.empty() ? thumbprint(key) : std::string(kid);
    return true;
}

namespace {

oauth::Digest thumbprint_digest(const Key &key) {
    std::string canonical = "{";
    for (const auto &[name, value] : public_members(key).members) {
        if (canonical.size() > 1) {
            canonical.push_back(',');
        }
        append_json_string(canonical, name);
        canonical.push_back(':');
        append_json_string(canonical, value);
    }
    canonical.push_back('}');
    return digest_token(canonical);
}

}  // namespace

std::string thumbprint(const Key &key) {
    Digest digest = thumbprint_digest(key);
    return encode_base64url(
        std::string_view(reinterpret_cast<const char *>(digest.data()), digest.size()));
}

const KeyFingerprint &key_fingerprint(const Key &key) {
    if (!key.fingerprint) {
        Digest digest = thumbprint_digest(key);
        KeyFingerprint fingerprint;
        std::copy_n(digest.begin(), fingerprint.size(), fingerprint.begin());
        key.fingerprint = fingerprint;
    }
    return *key.fingerprint;
}

std::string public_jwk(const Key &key) {
    JsonObject jwk;
    for (const auto &[name, value] : public_members(key).members) {
        jwk.member(name, value);
    }
    return std::move(
               jwk.member("kid", key.kid).member("alg", alg_name(key.alg)).member("use", "sig"))
        .finish();
}

std::string render_jwk_set(const std::vector<Key> &keys) {
    std::string out = "{\"keys\":[";
    for (size_t i = 0; i < keys.size(); ++i) {
        if (i != 0) {
            out.push_back(',');
        }
        out += public_jwk(keys[i]);
    }
    return out + "]}";
}

bool parse_jwk_set(std::string_view json, std::vector<Key> &keys, std::string &error) {
    json_error_t json_error;
    Json set(json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, &json_error));
    if (set == nullptr) {
        error = std::string("not JSON: ") + json_error.text + " at line " +
                std::to_string(json_error.line);
        return false;
    }
    json_t *list = json_object_get(set.get(), "keys");
    if (!json_is_array(list) || json_array_size(list) == 0) {
        error = "no \"keys\" array of at least one key (RFC 7517 §5)";
        return false;
    }
    keys.clear();
    for (size_t i = 0; i < json_array_size(list); ++i) {
        Key key;
        if (!import_jwk(json_array_get(list, i), key, error)) {
            error = "key " + std::to_string(i + 1) + ": " + error;
            return false;
        }
        if (find_key(keys, key.kid) != nullptr) {
            error = "key " + std::to_string(i + 1) + ": duplicate kid \"" + key.kid + "\"";
            return false;
        }
        keys.push_back(std::move(key));
    }
    return true;
}

const Key *find_key(const std::vector<Key> &keys, std::optional<std::string_view> kid) noexcept {
    if (!kid) {
        return keys.size() == 1 ? &keys[0] : nullptr;
    }
    for (const Key &key : keys) {
        if (key.kid == *kid) {
            return &key;
        }
    }
    return nullptr;
}

}  // namespace oauth::jose
