#include "core/jose/access_token.hpp"

#include <jansson.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <optional>

#include "core/client_certificate.hpp"
#include "core/http/base64.hpp"
#include "core/jose/jws.hpp"
#include "core/http/json.hpp"
#include "core/http/text.hpp"
#include "core/scope.hpp"
#include "core/tokens/token.hpp"

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

// The headers last parsed by this worker, by their text: an issuer's tokens
// share a handful (one a key), so most tokens never parse theirs. Only read
// once parsed, so one object may serve every token that bears that text.
// Bounded; a header an attacker varies costs what parsing it costs anyway.
class HeaderCache {
  public:
    Json parse(std::string_view encoded) {
        for (const Entry &entry : entries_) {
            if (entry.header != nullptr && entry.encoded == encoded) {
                return Json(json_incref(entry.header.get()));
            }
        }
        Json header = parse_object(encoded);
        if (header != nullptr) {
            Entry &replaced = entries_[next_++ % entries_.size()];
            replaced.encoded.assign(encoded);
            replaced.header = Json(json_incref(header.get()));
        }
        return header;
    }

  private:
    struct Entry {
        std::string encoded;
        Json header;
    };
    std::array<Entry, 8> entries_;
    size_t next_ = 0;
};
thread_local HeaderCache header_cache;

// RFC 7515 §7.1, RFC 9068 §4: three base64url parts, header and claims JSON objects.
JwtCheck check_compact_shape(std::string_view token, Jws &jws) {
    size_t first = token.find('.');
    size_t second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
        return JwtCheck::shape;
    }
    jws.signing_input = token.substr(0, second);
    jws.header = header_cache.parse(token.substr(0, first));
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

// What a refusal shows of the header: its kid and typ, as they came.
void note_header(json_t *header, VerifiedToken &out) {
    if (std::optional<std::string_view> kid = string_member(header, "kid")) {
        out.kid = std::string(*kid);
    }
    if (json_object_get(header, "typ") != nullptr) {
        out.typ = std::string(string_member(header, "typ").value_or(""));
    }
}

// RFC 9068 §4: typ says at+jwt, so that an ID token or another JWT of the
// same issuer cannot pass for an access token (RFC 8725 §3.11); an issuer
// that does not type them so is trusted with a profile that says how.
// A typ that is not a string is no typ any profile names.
JwtCheck check_typ(json_t *header, const TokenProfile &profile) {
    json_t *typ = json_object_get(header, "typ");
    if (typ != nullptr && !json_is_string(typ)) {
        return profile.typ == TypPolicy::any ? JwtCheck::ok : JwtCheck::typ;
    }
    return accepts_typ(profile.typ, string_member(header, "typ")) ? JwtCheck::ok : JwtCheck::typ;
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

const TokenProfile kDefaultProfile;

// RFC 8725 §3.8: with keys_of, the token's iss chooses whose keys and
// profile check it (check_issuer then holds the token to that issuer); a
// token without one is refused as malformed, one of an issuer not trusted
// here for its iss.
JwtCheck choose_issuer(json_t *claims, const VerifierPolicy &policy, VerifierPolicy &chosen,
                       VerifiedToken &out) {
    chosen.leeway = policy.leeway;
    std::optional<std::string_view> iss = string_member(claims, "iss");
    out.issuer = std::string(iss.value_or(""));
    if (!policy.keys_of) {
        chosen.issuer = policy.issuer;
        chosen.keys = policy.keys;
        chosen.profile = policy.profile != nullptr ? policy.profile : &kDefaultProfile;
        return JwtCheck::ok;
    }
    if (!iss) {
        return JwtCheck::shape;
    }
    chosen.issuer = *iss;
    chosen.keys = policy.keys_of(*iss);
    chosen.profile = policy.profile_of ? policy.profile_of(*iss) : nullptr;
    if (chosen.profile == nullptr) {
        chosen.profile = &kDefaultProfile;
    }
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

// The first of the profile's client claims the token holds.
json_t *client_member(json_t *claims, const TokenProfile &profile) {
    for (const std::string &name : profile.client_claims) {
        if (json_t *member = json_object_get(claims, name.c_str())) {
            return member;
        }
    }
    return nullptr;
}

// RFC 9068 §2.2: sub is required; the client is the first of the profile's
// client claims the token holds (client_id, else azp, else sub for own
// tokens). aud is a string or an array of strings (RFC 7519 §4.1.3).
JwtCheck read_parties(json_t *claims, const TokenProfile &profile, VerifiedToken &out) {
    std::optional<std::string_view> sub = text_claim(json_object_get(claims, "sub"));
    if (!sub) {
        return JwtCheck::sub;
    }
    json_t *member = client_member(claims, profile);
    std::optional<std::string_view> client = member ? text_claim(member) : std::nullopt;
    if (!client) {
        return JwtCheck::client_claim;
    }
    out.subject = std::string(*sub);
    out.client_id = std::string(*client);
    json_t *aud = json_object_get(claims, "aud");
    for (size_t i = 0; aud != nullptr && i < (json_is_array(aud) ? json_array_size(aud) : 1); ++i) {
        std::optional<std::string_view> one =
            text_claim(json_is_array(aud) ? json_array_get(aud, i) : aud);
        if (!one) {
            return JwtCheck::aud;
        }
        out.audience.emplace_back(*one);
    }
    if (std::optional<std::string_view> jti = string_member(claims, "jti")) {
        out.jti = std::string(*jti);
    }
    return JwtCheck::ok;
}

// One element of a scope array: one scope. Empty, or holding a space or a
// control character, it would become none, or several once the array is
// space-joined (["read admin"] would grant admin).
std::optional<std::string_view> scope_element(json_t *value) {
    std::optional<std::string_view> one = text_claim(value);
    if (!one || one->empty() || one->find(' ') != std::string_view::npos) {
        return std::nullopt;
    }
    return one;
}

// A scope the union does not hold yet joins it.
void add_scope(std::string_view one, std::string &scope) {
    if (oauth::has_scope(scope, one)) {
        return;
    }
    if (!scope.empty()) {
        scope.push_back(' ');
    }
    scope += one;
}

// One scope claim: a space-separated string (RFC 9068 §2.2.3), or an array
// of strings (Entra's scp and roles, Okta's scp, Auth0's permissions).
JwtCheck add_scope_claim(json_t *claim, std::string &scope) {
    if (json_is_string(claim)) {
        std::vector<std::string_view> scopes;
        std::string_view text(json_string_value(claim), json_string_length(claim));
        if (!text.empty() && !oauth::split_scope(text, scopes)) {
            return JwtCheck::scope;
        }
        for (std::string_view one : scopes) {
            add_scope(one, scope);
        }
        return JwtCheck::ok;
    }
    if (!json_is_array(claim)) {
        return JwtCheck::scope;
    }
    for (size_t i = 0; i < json_array_size(claim); ++i) {
        std::optional<std::string_view> one = scope_element(json_array_get(claim, i));
        if (!one) {
            return JwtCheck::scope;
        }
        add_scope(*one, scope);
    }
    return JwtCheck::ok;
}

// The union of the profile's scope claims, each scope once.
JwtCheck read_scope(json_t *claims, const TokenProfile &profile, VerifiedToken &out) {
    for (const std::string &name : profile.scope_claims) {
        json_t *claim = json_object_get(claims, name.c_str());
        JwtCheck check = claim != nullptr ? add_scope_claim(claim, out.scope) : JwtCheck::ok;
        if (check != JwtCheck::ok) {
            return check;
        }
    }
    return JwtCheck::ok;
}

// One member of cnf that names a SHA-256 thumbprint in base64url; absent: unbound.
JwtCheck read_thumbprint(json_t *cnf, const char *name, bool &bound, Digest &thumbprint) {
    json_t *member = json_object_get(cnf, name);
    if (member == nullptr) {
        return JwtCheck::ok;
    }
    std::optional<std::string> bytes =
        json_is_string(member)
            ? decode_base64url({json_string_value(member), json_string_length(member)})
            : std::nullopt;
    if (!bytes || bytes->size() != thumbprint.size()) {
        return JwtCheck::cnf;
    }
    bound = true;
    std::copy(bytes->begin(), bytes->end(), thumbprint.begin());
    return JwtCheck::ok;
}

// A token bound to a certificate (RFC 8705 §3.1) or to a DPoP key (RFC 9449
// §6.1) names it in cnf; other confirmation methods are not this check's.
JwtCheck read_confirmation(json_t *claims, VerifiedToken &out) {
    json_t *cnf = json_object_get(claims, "cnf");
    if (cnf == nullptr) {
        return JwtCheck::ok;
    }
    if (!json_is_object(cnf)) {
        return JwtCheck::cnf;
    }
    JwtCheck check =
        read_thumbprint(cnf, "x5t#S256", out.certificate.bound, out.certificate.thumbprint);
    return check != JwtCheck::ok ? check
                                 : read_thumbprint(cnf, "jkt", out.dpop.bound, out.dpop.thumbprint);
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
    if ((check = check_compact_shape(token, jws)) != JwtCheck::ok) {
        return check;
    }
    note_header(jws.header.get(), out);
    if ((check = choose_issuer(jws.claims.get(), given, policy, out)) != JwtCheck::ok ||
        (check = check_typ(jws.header.get(), *policy.profile)) != JwtCheck::ok ||
        (check = check_no_crit(jws.header.get())) != JwtCheck::ok ||
        (check = check_alg_bound_to_key(jws.header.get(), *policy.keys, key, alg)) !=
            JwtCheck::ok ||
        (check = check_signature_unless_known(jws, *key, alg, verified_with, out)) !=
            JwtCheck::ok ||
        (check = check_issuer(jws.claims.get(), policy.issuer, out)) != JwtCheck::ok ||
        (check = read_lifetime(jws.claims.get(), out)) != JwtCheck::ok ||
        (check = check_lifetime(out.lifetime, now, policy.leeway)) != JwtCheck::ok ||
        (check = read_parties(jws.claims.get(), *policy.profile, out)) != JwtCheck::ok ||
        (check = read_scope(jws.claims.get(), *policy.profile, out)) != JwtCheck::ok ||
        (check = read_confirmation(jws.claims.get(), out)) != JwtCheck::ok) {
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
    if (claims.certificate.bound || claims.dpop.bound) {
        payload.raw_member("cnf", render_confirmation(claims.certificate, claims.dpop));
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

namespace {

// The words of each check that need nothing of the token (RFC 6750 §3's
// error_description: no quote, no backslash).
std::string_view describe_fixed(JwtCheck check) noexcept {
    switch (check) {
        case JwtCheck::ok:
            return "it is valid";
        case JwtCheck::shape:
            return "it is not a JWT: three base64url parts, a JSON header and claims with an iss";
        case JwtCheck::crit:
            return "its header has a crit extension this server does not know";
        case JwtCheck::kid:
            return "its kid is not in the issuer's JWK Set";
        case JwtCheck::alg:
            return "its alg is not the algorithm of the issuer's key of its kid";
        case JwtCheck::signature:
            return "its signature does not verify with the issuer's keys";
        case JwtCheck::iss:
            return "its iss is not trusted here";
        case JwtCheck::exp:
            return "it has expired, or has no exp";
        case JwtCheck::nbf:
            return "it is not valid yet (nbf): check the clocks";
        case JwtCheck::iat:
            return "it was issued in the future (iat): check the clocks";
        case JwtCheck::sub:
            return "it has no sub, or one that is not text";
        case JwtCheck::aud:
            return "its aud is not a string or an array of strings without spaces";
        case JwtCheck::client:
            return "its client is no longer registered here";
        case JwtCheck::revoked:
            return "it has been revoked";
        case JwtCheck::no_keys:
            return "the issuer's keys are not available yet: fetching them from the IdP has not "
                   "succeeded";
        case JwtCheck::cnf:
            return "its cnf is not an object, or its x5t#S256 or jkt is not a base64url SHA-256 "
                   "(RFC 8705 section 3.1, RFC 9449 section 6.1)";
        case JwtCheck::typ:
        case JwtCheck::client_claim:
        case JwtCheck::scope:
            break;
    }
    return "it is not valid";
}

constexpr size_t kShownTypLength = 40;

// What to add to oauth_trust_issuer for a typ, when anything would take it.
std::string_view typ_hint(std::optional<std::string_view> typ, const TokenProfile &profile) {
    if (profile.typ == TypPolicy::at_jwt && accepts_typ(TypPolicy::jwt, typ)) {
        return ": add typ=jwt to oauth_trust_issuer";
    }
    return profile.typ != TypPolicy::any ? ": add typ=any to oauth_trust_issuer" : "";
}

// `trusted`: null for an own token, which must say at+jwt.
std::string describe_typ(const VerifiedToken &token, const TokenProfile *trusted) {
    if (token.typ && token.typ->empty()) {
        return "its typ is not a string";
    }
    std::optional<std::string_view> typ;
    if (token.typ) {
        typ = *token.typ;
    }
    std::string text = typ ? "its typ " + log_safe(*typ, kShownTypLength) : "it has no typ";
    if (trusted == nullptr) {
        return text + (typ ? " is not at+jwt" : ", where at+jwt is required");
    }
    return text
        .append(typ ? " is not accepted from this issuer" : ", which this issuer's profile needs")
        .append(typ_hint(typ, *trusted));
}

std::string joined(const std::vector<std::string> &names) {
    std::string text;
    for (const std::string &name : names) {
        text.append(text.empty() ? "" : ", ").append(name);
    }
    return text;
}

}  // namespace

std::string describe_refusal(JwtCheck check, const VerifiedToken &token,
                             const TokenProfile *trusted) {
    const TokenProfile &profile = trusted != nullptr ? *trusted : kDefaultProfile;
    switch (check) {
        case JwtCheck::typ:
            return describe_typ(token, trusted);
        case JwtCheck::client_claim:
            return "it has no client claim of text (looked for " + joined(profile.client_claims) +
                   ")";
        case JwtCheck::scope:
            return "its scopes are not space-separated scope tokens or an array of single "
                   "scopes (in " +
                   joined(profile.scope_claims) + ")";
        default:
            return std::string(describe_fixed(check));
    }
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

JwtCheck verify_signed_claims(std::string_view token, const std::vector<Key> &keys,
                              ClaimSet &claims) noexcept {
    try {
        Jws jws;
        const Key *key = nullptr;
        Alg alg = Alg::es256;
        JwtCheck check;
        if ((check = check_compact_shape(token, jws)) != JwtCheck::ok ||
            (check = check_no_crit(jws.header.get())) != JwtCheck::ok ||
            (check = check_alg_bound_to_key(jws.header.get(), keys, key, alg)) != JwtCheck::ok ||
            (check = check_signature(jws, *key, alg)) != JwtCheck::ok) {
            return check;
        }
        claims = adopt_claim_set(jws.claims.release());
        return JwtCheck::ok;
    } catch (...) {
        return JwtCheck::shape;  // out of memory: refuse, never let through
    }
}

bool looks_like_jwt(std::string_view token) noexcept {
    size_t first = token.find('.');
    return first != std::string_view::npos && token.find('.', first + 1) != std::string_view::npos;
}

}  // namespace oauth::jose
