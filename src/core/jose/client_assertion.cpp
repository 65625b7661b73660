#include "core/jose/client_assertion.hpp"

#include <jansson.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/http/base64.hpp"
#include "core/jose/access_token.hpp"
#include "core/jose/json_parts.hpp"

namespace oauth::jose {

namespace {

std::optional<double> date_claim(const json_t *claims, const char *name) {
    const json_t *value = json_object_get(claims, name);
    if (!json_is_number(value) || !std::isfinite(json_number_value(value)) ||
        json_number_value(value) < 0) {
        return std::nullopt;
    }
    return json_number_value(value);
}

AssertionCheck from_signature_check(JwtCheck check) {
    switch (check) {
        case JwtCheck::ok:
            return AssertionCheck::ok;
        case JwtCheck::kid:
            return AssertionCheck::key;
        case JwtCheck::alg:
            return AssertionCheck::alg;
        case JwtCheck::signature:
            return AssertionCheck::signature;
        default:
            return AssertionCheck::shape;
    }
}

// RFC 7523 §3 items 1 and 2: the client is both the issuer and the subject.
AssertionCheck check_parties(const json_t *claims, std::string_view client_id) {
    if (string_member(claims, "iss") != client_id) {
        return AssertionCheck::issuer;
    }
    return string_member(claims, "sub") == client_id ? AssertionCheck::ok : AssertionCheck::subject;
}

// RFC 7523 §3 item 3: aud, a string or an array of them, names this server.
AssertionCheck check_audience(const json_t *claims, const AssertionPolicy &policy) {
    auto accepted = [&](const json_t *value) {
        std::optional<std::string_view> aud =
            json_is_string(value) ? std::optional<std::string_view>(std::string_view(
                                        json_string_value(value), json_string_length(value)))
                                  : std::nullopt;
        return aud && std::find(policy.audiences.begin(), policy.audiences.end(), *aud) !=
                          policy.audiences.end();
    };
    const json_t *aud = json_object_get(claims, "aud");
    if (accepted(aud)) {
        return AssertionCheck::ok;
    }
    for (size_t i = 0; json_is_array(aud) && i < json_array_size(aud); ++i) {
        if (accepted(json_array_get(aud, i))) {
            return AssertionCheck::ok;
        }
    }
    return AssertionCheck::audience;
}

// RFC 7523 §3 items 4 to 6: exp required and near, nbf and iat not ahead.
AssertionCheck check_lifetime(const json_t *claims, uint32_t now, uint32_t &expires_at) {
    std::optional<double> exp = date_claim(claims, "exp");
    if (!exp || *exp + kAssertionSkew <= now) {
        return AssertionCheck::expired;
    }
    if (*exp > double(now) + kMaxAssertionLifetime) {
        return AssertionCheck::too_long;
    }
    for (const char *name : {"nbf", "iat"}) {
        if (json_object_get(claims, name) == nullptr) {
            continue;
        }
        std::optional<double> date = date_claim(claims, name);
        if (!date || *date > double(now) + kAssertionSkew) {
            return AssertionCheck::not_yet;
        }
    }
    expires_at = uint32_t(*exp) + kAssertionSkew;
    return AssertionCheck::ok;
}

// RFC 7523 §3 item 7: the jti is accepted once, until the assertion expires.
AssertionCheck admit_once(const json_t *claims, std::string_view client_id, uint32_t expires_at,
                          const AssertionPolicy &policy, uint32_t now, uint32_t &retry_after) {
    std::string_view jti = bounded_jti(claims);
    if (jti.empty()) {
        return AssertionCheck::jti;
    }
    Digest key;
    if (policy.replays == nullptr) {
        return AssertionCheck::ok;
    }
    if (!ReplayCache::key_of(client_id, jti, key)) {
        return AssertionCheck::no_room;
    }
    ReplayVerdict verdict = policy.replays->admit_jti(client_id, key, expires_at, now, retry_after);
    return verdict == ReplayVerdict::fresh      ? AssertionCheck::ok
           : verdict == ReplayVerdict::replayed ? AssertionCheck::replayed
                                                : AssertionCheck::no_room;  // at its share, full
}

}  // namespace

std::optional<std::string> assertion_subject(std::string_view assertion) {
    size_t first = assertion.find('.');
    size_t second = first == std::string_view::npos ? first : assertion.find('.', first + 1);
    if (second == std::string_view::npos) {
        return std::nullopt;
    }
    std::optional<std::string> payload =
        decode_base64url(assertion.substr(first + 1, second - first - 1));
    if (!payload) {
        return std::nullopt;
    }
    std::unique_ptr<json_t, void (*)(json_t *)> claims(
        json_loadb(payload->data(), payload->size(), JSON_REJECT_DUPLICATES, nullptr), json_decref);
    std::optional<std::string_view> sub = string_member(claims.get(), "sub");
    return sub ? std::optional<std::string>(std::string(*sub)) : std::nullopt;
}

AssertionCheck check_client_assertion(std::string_view assertion, std::string_view client_id,
                                      const std::vector<Key> &keys, const AssertionPolicy &policy,
                                      uint32_t now, uint32_t &retry_after) {
    retry_after = 0;
    ClaimSet claim_set;
    AssertionCheck check = from_signature_check(verify_signed_claims(assertion, keys, claim_set));
    if (check != AssertionCheck::ok) {
        return check;
    }
    const json_t *claims = claim_set.get();
    uint32_t expires_at = 0;
    if ((check = check_parties(claims, client_id)) != AssertionCheck::ok ||
        (check = check_audience(claims, policy)) != AssertionCheck::ok ||
        (check = check_lifetime(claims, now, expires_at)) != AssertionCheck::ok) {
        return check;
    }
    return admit_once(claims, client_id, expires_at, policy, now, retry_after);
}

std::string_view describe(AssertionCheck check) noexcept {
    switch (check) {
        case AssertionCheck::ok:
            return "";
        case AssertionCheck::shape:
            return "the client assertion is not a signed JWT (RFC 7523 section 3)";
        case AssertionCheck::key:
            return "no key of the client matches the client assertion's kid";
        case AssertionCheck::alg:
            return "the client assertion's alg is not that of the client's key";
        case AssertionCheck::signature:
            return "the client assertion's signature does not verify";
        case AssertionCheck::issuer:
            return "the client assertion's iss must be the client id";
        case AssertionCheck::subject:
            return "the client assertion's sub must be the client id";
        case AssertionCheck::audience:
            return "the client assertion's aud must name the issuer or this endpoint's URL";
        case AssertionCheck::expired:
            return "the client assertion has no exp or has expired";
        case AssertionCheck::too_long:
            return "the client assertion's exp is more than 300 seconds ahead";
        case AssertionCheck::not_yet:
            return "the client assertion's nbf or iat is in the future";
        case AssertionCheck::jti:
            return "the client assertion needs a jti of 1 to 256 characters";
        case AssertionCheck::replayed:
            return "the client assertion was used before";
        case AssertionCheck::no_room:
            return "too many of this client's assertions are live to remember another; retry "
                   "later";
    }
    return "";
}

}  // namespace oauth::jose
