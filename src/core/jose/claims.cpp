#include "core/jose/claims.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "core/client_certificate.hpp"
#include "core/http/json.hpp"
#include "core/scope.hpp"

namespace oauth::jose {

namespace {

struct JsonText {
    void operator()(char *text) const { std::free(text); }
};

// RFC 6901 §4: "~1" is "/", "~0" is "~"; any other "~" is an error.
bool unescape_reference_token(std::string_view escaped, std::string &out) {
    out.clear();
    for (size_t i = 0; i < escaped.size(); ++i) {
        if (escaped[i] != '~') {
            out.push_back(escaped[i]);
            continue;
        }
        if (i + 1 == escaped.size() || (escaped[i + 1] != '0' && escaped[i + 1] != '1')) {
            return false;
        }
        out.push_back(escaped[++i] == '0' ? '~' : '/');
    }
    return true;
}

// RFC 6901 §4: an array index is "0" or digits without a leading zero.
std::optional<size_t> array_index(const std::string &step) {
    if (step.empty() || step.size() > 9 || (step[0] == '0' && step.size() > 1)) {
        return std::nullopt;
    }
    size_t index = 0;
    for (char c : step) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        index = index * 10 + size_t(c - '0');
    }
    return index;
}

bool has_control_character(std::string_view text) {
    for (unsigned char c : text) {
        if (c < 0x20 || c == 0x7f) {
            return true;
        }
    }
    return false;
}

// Compact JSON: a number, a boolean or null as its text, an object or array whole.
std::string json_text(const json_t *value) {
    std::unique_ptr<char, JsonText> text(
        json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15)));
    if (text == nullptr) {
        throw std::bad_alloc();
    }
    return text.get();
}

// One value that is not an array, as render_claim shows it.
std::optional<std::string> render_one(const json_t *value) {
    if (!json_is_string(value)) {
        return json_text(value);
    }
    std::string_view text(json_string_value(value), json_string_length(value));
    if (has_control_character(text)) {
        return std::nullopt;
    }
    return std::string(text);
}

bool equals_one_of(const json_t *value, const std::vector<std::string> &values) {
    if (json_is_object(value) || json_is_array(value)) {
        return false;
    }
    std::string text = json_is_string(value)
                           ? std::string(json_string_value(value), json_string_length(value))
                           : json_text(value);
    for (const std::string &one : values) {
        if (one == text) {
            return true;
        }
    }
    return false;
}

}  // namespace

bool ClaimPath::compile(std::string_view text, ClaimPath &out, std::string &error) {
    out = ClaimPath();
    out.text_ = std::string(text);
    if (text.empty()) {
        error = "an empty claim name";
        return false;
    }
    if (text[0] != '/') {
        out.steps_.emplace_back(text);
        return true;
    }
    for (size_t at = 1; at <= text.size();) {
        size_t end = std::min(text.find('/', at), text.size());
        std::string step;
        if (!unescape_reference_token(text.substr(at, end - at), step)) {
            error = "invalid JSON Pointer \"" + out.text_ +
                    "\": \"~\" must be followed by 0 or 1 (RFC 6901 §3)";
            return false;
        }
        out.steps_.push_back(std::move(step));
        at = end + 1;
    }
    return true;
}

const json_t *ClaimPath::find(const json_t *claims) const noexcept {
    const json_t *at = claims;
    for (const std::string &step : steps_) {
        if (json_is_object(at)) {
            at = json_object_getn(at, step.data(), step.size());
        } else if (std::optional<size_t> index =
                       json_is_array(at) ? array_index(step) : std::nullopt) {
            at = json_array_get(at, *index);
        } else {
            return nullptr;
        }
    }
    return at;
}

std::optional<std::string> render_claim(const json_t *value) {
    if (!json_is_array(value)) {
        return render_one(value);
    }
    std::string joined;
    for (size_t i = 0; i < json_array_size(value); ++i) {
        std::optional<std::string> one = render_one(json_array_get(value, i));
        if (!one) {
            return std::nullopt;
        }
        joined.append(i == 0 ? "" : ",").append(*one);
    }
    return joined;
}

bool ClaimRequirement::compile(std::string_view claim, const std::vector<std::string_view> &values,
                               ClaimRequirement &out, std::string &error) {
    out = ClaimRequirement();
    if (!ClaimPath::compile(claim, out.claim, error)) {
        return false;
    }
    if (values.empty()) {
        error = "no value for the claim \"" + std::string(claim) + "\"";
        return false;
    }
    out.values.assign(values.begin(), values.end());
    return true;
}

bool ClaimRequirement::holds(const json_t *claims) const noexcept {
    try {
        const json_t *value = claim.find(claims);
        if (!json_is_array(value)) {
            return value != nullptr && equals_one_of(value, values);
        }
        for (size_t i = 0; i < json_array_size(value); ++i) {
            if (equals_one_of(json_array_get(value, i), values)) {
                return true;
            }
        }
        return false;
    } catch (...) {
        return false;  // out of memory: not shown to hold
    }
}

const ClaimRequirement *first_unmet(const std::vector<ClaimRequirement> &requirements,
                                    const json_t *claims) noexcept {
    for (const ClaimRequirement &requirement : requirements) {
        if (!requirement.holds(claims)) {
            return &requirement;
        }
    }
    return nullptr;
}

std::string render_introspection(const TokenGrant &grant, std::string_view issuer,
                                 const VerifiedToken *jwt) {
    std::vector<std::string_view> audience;
    split_scope(grant.audiences(), audience);
    JsonObject out;
    out.member("active", true).member("client_id", grant.client());
    if (grant.scope_length != 0) {
        out.member("scope", grant.scopes());
    }
    out.member("token_type", "Bearer")
        .member("exp", grant.expires_at)
        .member("iat", grant.issued_at)
        .member("sub", jwt != nullptr ? std::string_view(jwt->subject) : grant.client());
    if (!issuer.empty()) {
        out.member("iss", issuer);
    }
    if (!audience.empty()) {
        out.member("aud", audience);
    }
    if (jwt != nullptr) {
        out.member("jti", jwt->jti);
    }
    if (grant.certificate.bound || grant.dpop.bound) {
        // RFC 8705 §3.2, RFC 9449 §6.2
        out.raw_member("cnf", render_confirmation(grant.certificate, grant.dpop));
    }
    return std::move(out).finish();
}

ClaimSet claims_of(const TokenGrant &grant, std::string_view issuer, const VerifiedToken *jwt) {
    if (jwt != nullptr && jwt->claim_set != nullptr) {
        return jwt->claim_set;
    }
    std::string fields = render_introspection(grant, issuer, nullptr);
    return adopt_claim_set(json_loadb(fields.data(), fields.size(), 0, nullptr));
}

}  // namespace oauth::jose
