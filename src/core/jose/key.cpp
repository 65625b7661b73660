#include "core/jose/key.hpp"

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <algorithm>

#include "core/http/base64.hpp"
#include "core/http/json.hpp"
#include "core/tokens/token.hpp"
#include "core/http/text.hpp"

namespace oauth::jose {

namespace {

constexpr size_t kEd25519KeyBytes = 32;

// The curves of RFC 7518 §3.4, each bound to its one algorithm (RFC 8725 §3.1).
struct Curve {
    std::string_view crv;  // the JWK's name
    const char *group;     // OpenSSL's
    size_t coordinate_bytes;
    Alg alg;
};
constexpr Curve kCurves[] = {{"P-256", "prime256v1", 32, Alg::es256},
                             {"P-384", "secp384r1", 48, Alg::es384},
                             {"P-521", "secp521r1", 66, Alg::es512}};

constexpr AlgSet kRsaAlgs = alg_bit(Alg::rs256) | alg_bit(Alg::rs384) | alg_bit(Alg::rs512) |
                            alg_bit(Alg::ps256) | alg_bit(Alg::ps384) | alg_bit(Alg::ps512);

constexpr std::pair<Alg, std::string_view> kAlgNames[] = {
    {Alg::es256, "ES256"}, {Alg::es384, "ES384"}, {Alg::es512, "ES512"}, {Alg::rs256, "RS256"},
    {Alg::rs384, "RS384"}, {Alg::rs512, "RS512"}, {Alg::ps256, "PS256"}, {Alg::ps384, "PS384"},
    {Alg::ps512, "PS512"}, {Alg::eddsa, "EdDSA"}};

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

const Curve *curve_of(EVP_PKEY *pkey) {
    char group[64];
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
        return nullptr;
    }
    for (const Curve &curve : kCurves) {
        if (std::string_view(group, len) == curve.group) {
            return &curve;
        }
    }
    return nullptr;
}

const Curve *curve_named(std::string_view crv) {
    for (const Curve &curve : kCurves) {
        if (curve.crv == crv) {
            return &curve;
        }
    }
    return nullptr;
}

// RFC 7518 §3.3: a key of 2048 bits or more; why not, for a weaker one.
std::optional<std::string> weak_rsa_key(EVP_PKEY *pkey) {
    int bits = EVP_PKEY_get_bits(pkey);
    if (bits >= kMinRsaBits) {
        return std::nullopt;
    }
    return "a weak RSA key of " + std::to_string(bits) + " bits (2048 or more are needed)";
}

// The algorithm an own key signs with, or why it signs none (RFC 7518 §3.3,
// §3.4; RFC 8037 §3.1): ES256, RS256 and EdDSA only.
std::optional<Alg> alg_of(EVP_PKEY *pkey, std::string &error) {
    if (EVP_PKEY_is_a(pkey, "EC")) {
        const Curve *curve = curve_of(pkey);
        if (curve != nullptr && curve->alg == Alg::es256) {
            return Alg::es256;
        }
        error = "an EC key of another curve than P-256";
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        std::optional<std::string> weak = weak_rsa_key(pkey);
        if (!weak) {
            return Alg::rs256;
        }
        error = *weak;
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
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        return {{{"e", bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0)},
                 {"kty", "RSA"},
                 {"n", bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0)}}};
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        return {{{"crv", "Ed25519"}, {"kty", "OKP"}, {"x", raw_public(pkey)}}};
    }
    const Curve *curve = curve_of(pkey);
    if (curve == nullptr) {
        return {};
    }
    return {{{"crv", std::string(curve->crv)},
             {"kty", "EC"},
             {"x", bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, curve->coordinate_bytes)},
             {"y", bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, curve->coordinate_bytes)}}};
}

// ---- JWK import (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2) -----------------------

// Why a JWK is left out of the set; alarming unless it is merely not a
// signing key.
struct Refusal {
    std::string why;
    bool alarming = true;
};

std::optional<std::string_view> string_member(json_t *jwk, const char *name) {
    json_t *member = json_object_get(jwk, name);
    if (!json_is_string(member)) {
        return std::nullopt;
    }
    return std::string_view(json_string_value(member), json_string_length(member));
}

// Absent, not base64url, or empty: none.
std::optional<std::string> member_bytes(json_t *jwk, const char *name) {
    const char *text = json_string_value(json_object_get(jwk, name));
    if (text == nullptr) {
        return std::nullopt;
    }
    std::optional<std::string> bytes = decode_base64url(text);
    if (!bytes || bytes->empty()) {
        return std::nullopt;
    }
    return bytes;
}

// RFC 7518 §4.1 and the IANA registry: the "alg" of a JWE key, not of a JWS.
bool is_key_management_alg(std::string_view alg) {
    auto starts = [alg](std::string_view prefix) { return alg.substr(0, prefix.size()) == prefix; };
    return alg == "RSA1_5" || alg == "dir" || starts("RSA-OAEP") || starts("ECDH-") ||
           starts("PBES2-") || (alg.size() > 1 && alg[0] == 'A' && alg[1] >= '0' && alg[1] <= '9');
}

// RFC 7517 §4.2-§4.4: use, key_ops and alg may each say the key encrypts.
std::optional<Refusal> refuse_unless_for_signing(json_t *jwk) {
    if (json_t *use = json_object_get(jwk, "use"); use != nullptr) {
        std::string_view named = json_is_string(use) ? json_string_value(use) : "";
        if (named != "sig") {
            return Refusal{"use \"" + std::string(named) + "\": not a signing key", named != "enc"};
        }
    }
    if (json_t *ops = json_object_get(jwk, "key_ops"); ops != nullptr) {
        size_t i;
        json_t *op;
        bool verifies = false;
        json_array_foreach(ops, i, op) {
            verifies = verifies ||
                       (json_is_string(op) && std::string_view(json_string_value(op)) == "verify");
        }
        if (!verifies) {
            return Refusal{"key_ops without \"verify\": not a signing key", !json_is_array(ops)};
        }
    }
    std::optional<std::string_view> alg = string_member(jwk, "alg");
    if (alg && is_key_management_alg(*alg)) {
        return Refusal{"alg \"" + std::string(*alg) + "\" is of encryption: not a signing key",
                       false};
    }
    return std::nullopt;
}

// A published private part makes the key anyone's to sign with: it is not
// trusted, and its private parameters are never read.
constexpr const char *kPrivateMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

std::optional<Refusal> refuse_private_parts(json_t *jwk) {
    for (const char *member : kPrivateMembers) {
        if (json_object_get(jwk, member) != nullptr) {
            return Refusal{std::string("the private parameter \"") + member +
                           "\" is published with it: whoever reads the set can sign as the "
                           "issuer; publish public keys only, and replace this key"};
        }
    }
    return std::nullopt;
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

EVP_PKEY *ec_point(const Curve &curve, const std::string &x, const std::string &y) {
    std::string point = "\x04" + x + y;  // SEC 1 §2.3.3, uncompressed
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = nullptr;
    if (bld != nullptr &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve.group, 0) == 1 &&
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

std::optional<Refusal> read_ec_key(json_t *jwk, Key &key) {
    std::string_view crv = string_member(jwk, "crv").value_or("");
    const Curve *curve = curve_named(crv);
    if (curve == nullptr) {
        return Refusal{"unsupported crv \"" + std::string(crv) +
                       "\" of kty EC (P-256, P-384 and P-521 are)"};
    }
    std::optional<std::string> x = member_bytes(jwk, "x");
    std::optional<std::string> y = member_bytes(jwk, "y");
    if (!x || !y || x->size() != curve->coordinate_bytes || y->size() != curve->coordinate_bytes) {
        return Refusal{"malformed: x and y must be base64url of " +
                       std::to_string(curve->coordinate_bytes) + " bytes each on " +
                       std::string(crv)};
    }
    EVP_PKEY *pkey = ec_point(*curve, *x, *y);
    if (pkey == nullptr) {
        return Refusal{"malformed: the point is not on " + std::string(crv)};
    }
    key.pkey = own(pkey);
    key.alg = curve->alg;
    key.accepts = alg_bit(curve->alg);
    return std::nullopt;
}

Bignum bignum(const std::string &bytes) {
    return Bignum(BN_bin2bn(reinterpret_cast<const unsigned char *>(bytes.data()),
                            int(bytes.size()), nullptr));
}

EVP_PKEY *rsa_public(const std::string &n, const std::string &e) {
    Bignum bn_n = bignum(n), bn_e = bignum(e);
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

std::optional<Refusal> read_rsa_key(json_t *jwk, Key &key) {
    std::optional<std::string> n = member_bytes(jwk, "n");
    std::optional<std::string> e = member_bytes(jwk, "e");
    EVP_PKEY *pkey = n && e ? rsa_public(*n, *e) : nullptr;
    if (pkey == nullptr) {
        return Refusal{"malformed: n and e must be base64url of a modulus and an exponent"};
    }
    key.pkey = own(pkey);
    if (std::optional<std::string> weak = weak_rsa_key(pkey)) {
        return Refusal{*weak};
    }
    // SP 800-56B's public check: an odd exponent from 65537 up, a modulus of
    // no small factor; an exponent of 1 would sign anything.
    if (!public_key_is_valid(pkey)) {
        return Refusal{"malformed: n and e fail OpenSSL's RSA public key check"};
    }
    key.alg = Alg::rs256;
    key.accepts = kRsaAlgs;
    return std::nullopt;
}

std::optional<Refusal> read_okp_key(json_t *jwk, Key &key) {
    std::string_view crv = string_member(jwk, "crv").value_or("");
    if (crv != "Ed25519") {
        return Refusal{"unsupported crv \"" + std::string(crv) + "\" of kty OKP (Ed25519 is)"};
    }
    std::optional<std::string> x = member_bytes(jwk, "x");
    EVP_PKEY *pkey = x && x->size() == kEd25519KeyBytes
                         ? EVP_PKEY_new_raw_public_key(
                               EVP_PKEY_ED25519, nullptr,
                               reinterpret_cast<const unsigned char *>(x->data()), x->size())
                         : nullptr;
    if (pkey == nullptr) {
        return Refusal{"malformed: x must be base64url of 32 bytes on Ed25519"};
    }
    key.pkey = own(pkey);
    key.alg = Alg::eddsa;
    key.accepts = alg_bit(Alg::eddsa);
    return std::nullopt;
}

// The public key, with every algorithm its type and curve take.
std::optional<Refusal> read_public_key(json_t *jwk, Key &key) {
    std::string_view kty = string_member(jwk, "kty").value_or("");
    if (kty == "EC") {
        return read_ec_key(jwk, key);
    }
    if (kty == "RSA") {
        return read_rsa_key(jwk, key);
    }
    if (kty == "OKP") {
        return read_okp_key(jwk, key);
    }
    return Refusal{"unsupported kty \"" + std::string(kty) + "\" (EC, RSA and OKP are)"};
}

// A JWK's "alg" narrows the key to that one algorithm, which must be one of
// its type and curve; without one, the key takes them all (never HMAC).
std::optional<Refusal> bind_named_alg(json_t *jwk, Key &key) {
    json_t *member = json_object_get(jwk, "alg");
    if (member == nullptr) {
        return std::nullopt;
    }
    std::string_view name = json_is_string(member) ? json_string_value(member) : "";
    std::optional<Alg> named = alg_from_name(name);
    if (!named) {
        return Refusal{"unsupported alg \"" + std::string(name) +
                       "\" (RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA are)"};
    }
    if ((key.accepts & alg_bit(*named)) == 0) {
        return Refusal{"alg \"" + std::string(name) + "\" does not fit its key type and curve"};
    }
    key.alg = *named;
    key.accepts = alg_bit(*named);
    return std::nullopt;
}

std::optional<Refusal> import_jwk(json_t *jwk, Key &key) {
    if (!json_is_object(jwk)) {
        return Refusal{"not a JSON object"};
    }
    json_t *kid = json_object_get(jwk, "kid");
    if (kid != nullptr && !json_is_string(kid)) {
        return Refusal{"malformed: kid is not a string"};
    }
    std::optional<Refusal> refusal;
    if ((refusal = refuse_private_parts(jwk)) || (refusal = refuse_unless_for_signing(jwk)) ||
        (refusal = read_public_key(jwk, key)) || (refusal = bind_named_alg(jwk, key))) {
        return refusal;
    }
    key.kid = kid != nullptr ? json_string_value(kid) : thumbprint(key);
    return std::nullopt;
}

// The kid fit for a log line: printable ASCII, at most 64 bytes of it.
std::string loggable_kid(json_t *jwk) {
    return log_safe(string_member(jwk, "kid").value_or(""));
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
    key.accepts = alg_bit(*alg);
    return true;
}

}  // namespace

std::string_view alg_name(Alg alg) noexcept {
    for (const auto &[known, name] : kAlgNames) {
        if (known == alg) {
            return name;
        }
    }
    return "";
}

std::optional<Alg> alg_from_name(std::string_view name) noexcept {
    for (const auto &[alg, known] : kAlgNames) {
        if (known == name) {
            return alg;
        }
    }
    return std::nullopt;
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

Digest thumbprint_digest(const Key &key) {
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

bool parse_jwk_set(std::string_view json, std::vector<Key> &keys, std::vector<SkippedKey> &skipped,
                   std::string &error) {
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
    skipped.clear();
    for (size_t i = 0; i < json_array_size(list); ++i) {
        json_t *jwk = json_array_get(list, i);
        Key key;
        std::optional<Refusal> refusal = import_jwk(jwk, key);
        // RFC 7517 §4.5: kids should differ; which of two a token means is
        // unknowable, so the first stays, as the IdP listed it.
        if (!refusal && find_key(keys, key.kid) != nullptr) {
            refusal = Refusal{"its kid is an earlier key's, which is kept"};
        }
        if (refusal) {
            skipped.push_back(
                {i + 1, loggable_kid(jwk), std::move(refusal->why), refusal->alarming});
            continue;
        }
        keys.push_back(std::move(key));
    }
    if (keys.empty()) {
        error = "no key to verify signatures with: each of its " +
                std::to_string(json_array_size(list)) + " keys is skipped";
        return false;
    }
    return true;
}

std::optional<std::string> read_public_jwk(json_t *jwk, Key &key) {
    std::optional<Refusal> refusal = import_jwk(jwk, key);
    return refusal ? std::optional<std::string>(std::move(refusal->why)) : std::nullopt;
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
