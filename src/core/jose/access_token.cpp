#include "core/jose/access_token.hpp"

#include <jansson.h>

#include <cmath>
#include <memory>
#include <optional>

#include "core/http/base64.hpp"
#include "core/jose/jws.hpp"
#include "core/http/json.hpp"
#include "core/tokens/token.hpp"
#include "core/http/text.hpp"

namespace oauth::jose {

namespace {

struct JsonFree {
    void operator()(json_t *j) const { json_decref(j); }
};
using Json = std::unique_ptr<json_t, JsonFree>;

// The pieces of a compact JWS, decoded.
struct Jws {
    std::string_view signing_input;  // header.payload, as signed
    Json header;
    Json claims;
    std::string signature;
};

Json parse_object(std::string_view encoded) {
    std::optional<std::string> text = decode_base64url(encoded);
    if (!text) {
        return nullptr;
    }
    Json value(json_loadb(text->data(), text->size(), JSON_REJECT_DUPLICATES, nullptr));
    return json_is_object(value.get()) ? std::move(value) : nullptr;
}

// RFC 7515 §7.1, RFC 9068 §4: three base64url parts, header and claims JSON objects.
JwtCheck check_compact_shape(std::string_view token, Jws &jws) {
    size_t first = token.find('.');
    size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return JwtCheck::shape;
    }
    jws.signing_input = token.substr(0, second);
    jws.header = parse_object(token.substr(0, first));
    jws.claims = parse_object(token.substr(first + 1, second - first - 1));
    std::optional<std::string> signature = decode_base64url(token.substr(second + 1));
    if (jws.header == nullptr || jws.claims == nullptr || !signature || signature->empty()) {
        return JwtCheck::shape;
    }
    jws.signature = std::move(*signature);
    return JwtCheck::ok;
}

std::optional<std::string_view> string_member(json_t *object, const char *name) {
    const char *value = json_string_value(json_object_get(object, name));
    if (value == nullptr) {
        return std::nullopt;
    }
    return std::string_view(value, json_string_length(json_object_get(object, name)));
}

// RFC 9068 §4: typ must say at+jwt, so that an ID token or another JWT of the
// same issuer cannot pass for an access token (RFC 8725 §3.11).
JwtCheck check_typ(json_t *header) {
    std::optional<std::string_view> typ = string_member(header, "typ");
    return typ && (*typ == "at+jwt" || *typ == "application/at+jwt") ? JwtCheck::ok : JwtCheck::typ;
}

// RFC 7515 §4.1.11: an extension that must be understood, and is not.
JwtCheck check_no_crit(json_t *header) {
    return json_object_get(header, "crit") == nullptr ? JwtCheck::ok : JwtCheck::crit;
}

// RFC 8725 §3.1: the header's alg must be one the key is for (its JWK's alg,
// or one of its type and curve), so none, HMAC with a public key as secret,
// or a key of another type or curve never verify.
JwtCheck check_alg_bound_to_key(json_t *header, const std::vector<Key> &keys, const Key *&key,
                                Alg &alg) {
    json_t *kid_member = json_object_get(header, "kid");
    if (kid_member != nullptr && !json_is_string(kid_member)) {
        return JwtCheck::kid;
    }
    std::optional<std::string_view> kid = string_member(header, "kid");
    key = find_key(keys, kid);
    if (key == nullptr) {
        return JwtCheck::kid;
    }
    std::optional<std::string_view> name = string_member(header, "alg");
    std::optional<Alg> named = name ? alg_from_name(*name) : std::nullopt;
    if (!named || (key->accepts & alg_bit(*named)) == 0) {
        return JwtCheck::alg;
    }
    alg = *named;
    return JwtCheck::ok;
}

// RFC 7515 §5.2.
JwtCheck check_signature(const Jws &jws, const Key &key, Alg alg) {
    return verify_bytes(key, alg, jws.signing_input, jws.signature) ? JwtCheck::ok
                                                                    : JwtCheck::signature;
}

// RFC 8725 §3.8: with keys_of, the token's iss chooses whose keys check it
// (check_issuer then holds the token to that issuer); a token without one is
// refused as malformed, one of an issuer not trusted here for its iss.
JwtCheck choose_issuer(json_t *claims, const VerifierPolicy &policy, VerifierPolicy &chosen) {
    chosen.leeway = policy.leeway;
    if (!policy.keys_of) {
        chosen.issuer = policy.issuer;
        chosen.keys = policy.keys;
        return JwtCheck::ok;
    }
    std::optional<std::string_view> iss = string_member(claims, "iss");
    if (!iss) {
        return JwtCheck::shape;
    }
    chosen.issuer = *iss;
    chosen.keys = policy.keys_of(*iss);
    return chosen.keys != nullptr ? JwtCheck::ok : JwtCheck::iss;
}

// RFC 9068 §4: iss must be exactly the issuer the key belongs to.
JwtCheck check_issuer(json_t *claims, std::string_view issuer, VerifiedToken &out) {
    std::optional<std::string_view> iss = string_member(claims, "iss");
    if (!iss || *iss != issuer) {
        return JwtCheck::iss;
    }
    out.issuer = std::string(*iss);
    return JwtCheck::ok;
}

// A NumericDate (RFC 7519 §2): seconds, possibly fractional, never negative.
std::optional<double> numeric_date(json_t *claims, const char *name) {
    json_t *value = json_object_get(claims, name);
    if (value == nullptr || !json_is_number(value)) {
        return std::nullopt;
    }
    double seconds = json_number_value(value);
    if (!std::isfinite(seconds) || seconds < 0) {
        return std::nullopt;
    }
    return seconds;
}

// exp is required (RFC 9068 §2.2); nbf and iat, when present, must be dates.
JwtCheck read_lifetime(json_t *claims, VerifiedToken &out) {
    std::optional<double> exp = numeric_date(claims, "exp");
    if (!exp || *exp > double(UINT32_MAX)) {
        return JwtCheck::exp;
    }
    out.lifetime.expires = *exp;
    if (json_object_get(claims, "nbf") != nullptr &&
        !(out.lifetime.not_before = numeric_date(claims, "nbf"))) {
        return JwtCheck::nbf;
    }
    if (json_object_get(claims, "iat") != nullptr &&
        !(out.lifetime.issued_at = numeric_date(claims, "iat"))) {
        return JwtCheck::iat;
    }
    out.expires_at = uint32_t(*exp);
    out.issued_at = out.lifetime.issued_at ? uint32_t(*out.lifetime.issued_at) : 0;
    return JwtCheck::ok;
}

// A string claim that may reach a header through $oauth_client_id or
// $oauth_audience: a control character there (CR, LF) would inject one.
std::optional<std::string_view> text_claim(json_t *value) {
    if (!json_is_string(value)) {
        return std::nullopt;
    }
    std::string_view text(json_string_value(value), json_string_length(value));
    if (has_control_character(text)) {
        return std::nullopt;
    }
    return text;
}

// RFC 9068 §2.2: sub is required; the client is client_id, else azp, else sub.
// aud is a string or an array of strings (RFC 7519 §4.1.3).
JwtCheck read_parties(json_t *claims, VerifiedToken &out) {
    std::optional<std::string_view> sub = text_claim(json_object_get(claims, "sub"));
    json_t *client_member = json_object_get(claims, "client_id");
    if (client_member == nullptr) {
        client_member = json_object_get(claims, "azp");
    }
    std::optional<std::string_view> client = client_member ? text_claim(client_member) : sub;
    if (!sub || !client) {
        return JwtCheck::claims;
    }
    out.subject = std::string(*sub);
    out.client_id = std::string(*client);
    json_t *aud = json_object_get(claims, "aud");
    for (size_t i = 0; aud != nullptr && i < (json_is_array(aud) ? json_array_size(aud) : 1); ++i) {
        std::optional<std::string_view> one =
            text_claim(json_is_array(aud) ? json_array_get(aud, i) : aud);
        if (!one) {
            return JwtCheck::claims;
        }
        out.audience.emplace_back(*one);
    }
    if (std::optional<std::string_view> jti = string_member(claims, "jti")) {
        out.jti = std::string(*jti);
    }
    return JwtCheck::ok;
}

// One element of an scp array: one scope. Empty, or holding a space or a
// control character, it would become none, or several once the array is
// space-joined (["read admin"] would grant admin).
std::optional<std::string_view> scope_element(json_t *value) {
    std::optional<std::string_view> one = text_claim(value);
    if (!one || one->empty() || one->find(' ') != std::string_view::npos) {
        return std::nullopt;
    }
    return one;
}

// RFC 9068 §2.2.3: "scope", a space-separated string; other issuers (Entra ID,
// RFC 8693 §4.2 style) write "scp", a string or an array of strings.
JwtCheck read_scope(json_t *claims, VerifiedToken &out) {
    json_t *scope = json_object_get(claims, "scope");
    if (scope == nullptr) {
        scope = json_object_get(claims, "scp");
    }
    if (scope == nullptr) {
        return JwtCheck::ok;
    }
    if (json_is_string(scope)) {
        out.scope = json_string_value(scope);
        return JwtCheck::ok;
    }
    if (!json_is_array(scope)) {
        return JwtCheck::scope;
    }
    for (size_t i = 0; i < json_array_size(scope); ++i) {
        std::optional<std::string_view> one = scope_element(json_array_get(scope, i));
        if (!one) {
            return JwtCheck::scope;
        }
        if (!out.scope.empty()) {
            out.scope.push_back(' ');
        }
        out.scope += *one;
    }
    return JwtCheck::ok;
}

// The signature is checked unless this very key verified it before.
JwtCheck check_signature_unless_known(const Jws &jws, const Key &key, Alg alg,
                                      const std::optional<KeyFingerprint> &verified_with,
                                      VerifiedToken &out) {
    out.key = key_fingerprint(key);
    return verified_with == out.key ? JwtCheck::ok : check_signature(jws, key, alg);
}

JwtCheck verify(std::string_view token, const VerifierPolicy &given, uint32_t now,
                const std::optional<KeyFingerprint> &verified_with, VerifiedToken &out) {
    Jws jws;
    VerifierPolicy policy;
    const Key *key = nullptr;
    Alg alg = Alg::es256;
    JwtCheck check;
    if ((check = check_compact_shape(token, jws)) != JwtCheck::ok ||
        (check = choose_issuer(jws.claims.get(), given, policy)) != JwtCheck::ok ||
        (check = check_typ(jws.header.get())) != JwtCheck::ok ||
        (check = check_no_crit(jws.header.get())) != JwtCheck::ok ||
        (check = check_alg_bound_to_key(jws.header.get(), *policy.keys, key, alg)) !=
            JwtCheck::ok ||
        (check = check_signature_unless_known(jws, *key, alg, verified_with, out)) !=
            JwtCheck::ok ||
        (check = check_issuer(jws.claims.get(), policy.issuer, out)) != JwtCheck::ok ||
        (check = read_lifetime(jws.claims.get(), out)) != JwtCheck::ok ||
        (check = check_lifetime(out.lifetime, now, policy.leeway)) != JwtCheck::ok ||
        (check = read_parties(jws.claims.get(), out)) != JwtCheck::ok ||
        (check = read_scope(jws.claims.get(), out)) != JwtCheck::ok) {
        return check;
    }
    out.claim_set = adopt_claim_set(jws.claims.release());
    return JwtCheck::ok;
}

}  // namespace

ClaimSet adopt_claim_set(json_t *owned) {
    return ClaimSet(owned, [](const json_t *claims) { json_decref(const_cast<json_t *>(claims)); });
}

bool issue_access_token(const Key &key, const AccessTokenClaims &claims, std::string &token) {
    std::string jti;
    if (!generate_token(jti)) {
        return false;
    }
    JsonObject header;
    header.member("alg", alg_name(key.alg)).member("typ", "at+jwt").member("kid", key.kid);
    JsonObject payload;
    payload.member("iss", claims.issuer)
        .member("sub", claims.client_id)
        .member("client_id", claims.client_id);
    if (claims.audience.size() == 1) {
        payload.member("aud", claims.audience[0]);
    } else {
        payload.member("aud", claims.audience);
    }
    payload.member("iat", claims.issued_at).member("exp", claims.expires_at).member("jti", jti);
    if (!claims.scope.empty()) {
        payload.member("scope", claims.scope);
    }
    return sign_compact(key, std::move(header).finish(), std::move(payload).finish(), token);
}

JwtCheck check_lifetime(const Lifetime &lifetime, uint32_t now, uint32_t leeway) noexcept {
    double early = double(now) - leeway, late = double(now) + leeway;
    if (lifetime.expires <= early) {
        return JwtCheck::exp;
    }
    if (lifetime.not_before && *lifetime.not_before > late) {
        return JwtCheck::nbf;
    }
    if (lifetime.issued_at && *lifetime.issued_at > late) {
        return JwtCheck::iat;
    }
    return JwtCheck::ok;
}

std::string_view describe(JwtCheck check) noexcept {
    switch (check) {
        case JwtCheck::ok:
            return "valid";
        case JwtCheck::shape:
            return "not a compact JWS of three base64url parts";
        case JwtCheck::typ:
            return "typ is not at+jwt";
        case JwtCheck::crit:
            return "an unknown crit extension";
        case JwtCheck::kid:
            return "no key of that kid";
        case JwtCheck::alg:
            return "alg is not the algorithm of the key";
        case JwtCheck::signature:
            return "a bad signature";
        case JwtCheck::iss:
            return "iss is not the issuer";
        case JwtCheck::exp:
            return "expired, or no exp";
        case JwtCheck::nbf:
            return "not valid yet (nbf)";
        case JwtCheck::iat:
            return "issued in the future (iat)";
        case JwtCheck::claims:
            return "sub, client_id or aud missing or malformed";
        case JwtCheck::scope:
            return "a malformed scope, or an scp element that is not one scope";
        case JwtCheck::client:
            return "the client is no longer registered";
        case JwtCheck::revoked:
            return "revoked";
    }
    return "invalid";
}

JwtCheck verify_access_token(std::string_view token, const VerifierPolicy &policy, uint32_t now,
                             std::optional<KeyFingerprint> verified_with,
                             VerifiedToken &out) noexcept {
    try {
        return verify(token, policy, now, verified_with, out);
    } catch (...) {
        return JwtCheck::shape;  // out of memory: refuse, never let through
    }
}

bool looks_like_jwt(std::string_view token) noexcept {
    size_t first = token.find('.');
    return first != std::string_view::npos && token.find('.', first + 1) != std::string_view::npos;
}

}  // namespace oauth::jose
