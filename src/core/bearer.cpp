#include "core/bearer.hpp"

#include <algorithm>
#include <cstring>

#include "core/http/auth_header.hpp"
#include "core/jose/access_token.hpp"
#include "core/scope.hpp"
#include "core/http/text.hpp"
#include "core/tokens/registry_grant.hpp"
#include "core/tokens/token.hpp"

namespace oauth {

namespace {

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
// A table, since every protected request checks every character.
struct B64TokenAlphabet {
    bool allowed[256] = {};
    constexpr B64TokenAlphabet() {
        for (int c = 'A'; c <= 'Z'; ++c) {
            allowed[c] = allowed[c + 'a' - 'A'] = true;
        }
        for (int c = '0'; c <= '9'; ++c) {
            allowed[c] = true;
        }
        for (unsigned char c : {'-', '.', '_', '~', '+', '/'}) {
            allowed[c] = true;
        }
    }
};
constexpr B64TokenAlphabet kB64Token;

bool is_b64token(std::string_view token) noexcept {
    size_t end = token.find_last_not_of('=');
    if (end == std::string_view::npos) {
        return false;
    }
    // No exit on the first bad character: a branch a character cost twice
    // the table lookups on a JWT's ~450.
    bool all = true;
    for (unsigned char c : token.substr(0, end + 1)) {
        all &= kB64Token.allowed[c];
    }
    return all;
}

bool find_grant(std::string_view token, const TokenStore &store, uint32_t now, TokenGrant &grant,
                TokenVerifier *jwt, const Registry *registry) {
    if (jwt != nullptr && jose::looks_like_jwt(token)) {
        return jwt->verify(token, now, grant);  // own JWTs follow the registry there
    }
    return store.find(digest_token(token), now, grant) &&
           (registry == nullptr || follow_registry(*registry, grant));
}

// RFC 6750 §3: the error attributes follow the realm; RFC 9449 §7.1: a DPoP
// challenge names the algorithms a proof may use.
BearerVerdict refuse(int status, std::string_view realm, std::string_view error,
                     std::string_view description, TokenScheme scheme = TokenScheme::bearer) {
    BearerVerdict verdict;
    verdict.status = status;
    verdict.result = error.empty() ? "no_token" : error;
    verdict.challenge =
        (scheme == TokenScheme::dpop ? "DPoP realm=" : "Bearer realm=") + quoted_string(realm);
    if (!error.empty()) {
        verdict.challenge.append(", error=").append(quoted_string(error));
        verdict.challenge.append(", error_description=").append(quoted_string(description));
    }
    if (scheme == TokenScheme::dpop) {
        verdict.challenge.append(", algs=").append(quoted_string(jose::dpop_algs()));
    }
    return verdict;
}

// The replay cache fails closed: a proof whose jti cannot be remembered could
// be replayed, so the client waits until one of its entries expires. Its
// credentials were not found wanting: 429 (RFC 6585 §4) with Retry-After and
// no challenge, as at the token endpoint.
BearerVerdict no_room_for_proof(uint32_t retry_after) {
    BearerVerdict verdict;
    verdict.status = 429;
    verdict.result = "temporarily_unavailable";
    verdict.retry_after = std::max<uint32_t>(1, retry_after);
    return verdict;
}

// RFC 8705 §3: a bound token is its certificate's holder's only.
bool presented_with_its_certificate(const BearerRequest &request, const TokenGrant &grant) {
    return !grant.certificate.bound ||
           (request.certificate_thumbprint != nullptr &&
            *request.certificate_thumbprint == grant.certificate.thumbprint);
}

// The proof of a DPoP-bound token sent with the DPoP scheme.
jose::DpopCheck check_possession(const BearerRequest &request, std::string_view token,
                                 const TokenGrant &grant, const jose::DpopPolicy &policy,
                                 uint32_t now, uint32_t &retry_after) {
    Digest jkt;
    return jose::check_dpop_proof(request.dpop_headers, request.dpop_proof,
                                  jose::DpopExpectation{request.method, request.url, token,
                                                        &grant.dpop.thumbprint, grant.client()},
                                  policy, now, jkt, retry_after);
}

// RFC 9449 §7.1: a DPoP-bound token is its key's holder's only, and goes
// with the DPoP scheme; an unbound one with Bearer.
// `policy`: where the proof's jti is remembered (request.dpop for the gate).
std::optional<BearerVerdict> refuse_unless_possessed(const BearerRequest &request,
                                                     TokenScheme scheme, std::string_view token,
                                                     const TokenGrant &grant,
                                                     const jose::DpopPolicy &policy,
                                                     std::string_view realm, uint32_t now) {
    if ((scheme == TokenScheme::dpop) != grant.dpop.bound) {
        BearerVerdict verdict = refuse(
            401, realm, "invalid_token",
            grant.dpop.bound ? "the access token is DPoP-bound: send it with the DPoP scheme and "
                               "a proof (RFC 9449 section 7.1)"
                             : "the access token is not DPoP-bound: send it with the Bearer scheme",
            TokenScheme::dpop);
        verdict.log_reason = grant.dpop.bound ? "a DPoP-bound token sent as a bearer token"
                                              : "an unbound token sent with the DPoP scheme";
        return verdict;
    }
    if (scheme == TokenScheme::bearer) {
        return std::nullopt;
    }
    uint32_t retry_after = 0;
    jose::DpopCheck check = check_possession(request, token, grant, policy, now, retry_after);
    if (check == jose::DpopCheck::ok) {
        return std::nullopt;
    }
    BearerVerdict verdict =
        check == jose::DpopCheck::no_room
            ? no_room_for_proof(retry_after)
            : refuse(401, realm, jose::dpop_error(check), jose::describe(check), scheme);
    verdict.log_reason = jose::describe(check);
    verdict.dpop_result = jose::dpop_result(check);
    return verdict;
}

// find_bearer_grant's: the gate's rule, the proof checked, its jti not taken.
bool possessed(const BearerRequest &request, TokenScheme scheme, std::string_view token,
               const TokenGrant &grant, uint32_t now) {
    jose::DpopPolicy unrecorded = request.dpop;
    unrecorded.replays = nullptr;
    return !refuse_unless_possessed(request, scheme, token, grant, unrecorded, {}, now);
}

}  // namespace

bool ScopeRequirement::compile(const std::vector<std::string_view> &scopes, ScopeRequirement &out,
                               std::string &error) {
    out = ScopeRequirement();
    for (std::string_view scope : scopes) {
        if (!is_scope_token(scope)) {
            error = "invalid scope \"" + std::string(scope) + "\" (RFC 6749 §3.3)";
            return false;
        }
        out.scopes.emplace_back(scope);
        if (!out.joined.empty()) {
            out.joined.push_back(' ');
        }
        out.joined.append(scope);
    }
    return true;
}

bool AudienceRequirement::compile(const std::vector<std::string_view> &audiences,
                                  AudienceRequirement &out, std::string &error) {
    out = AudienceRequirement();
    for (std::string_view audience : audiences) {
        if (audience.empty() || has_space_or_control(audience)) {
            error = "invalid audience: a value without space or control character is expected";
            return false;
        }
        out.audiences.emplace_back(audience);
    }
    return true;
}

bool AudienceRequirement::accepts(std::string_view granted) const noexcept {
    for (const std::string &audience : audiences) {
        if (has_scope(granted, audience)) {  // a space-joined list, as a granted scope is
            return true;
        }
    }
    return false;
}

BearerStatus parse_bearer_token(size_t authorization_headers, std::string_view authorization,
                                std::string_view &token, TokenScheme &scheme) noexcept {
    if (authorization_headers == 0) {
        return BearerStatus::missing;
    }
    if (authorization_headers > 1) {
        return BearerStatus::malformed;
    }
    std::string_view name;
    if (!split_authorization(authorization, name, token)) {
        return BearerStatus::malformed;
    }
    if (equals_ignore_case(name, "Bearer")) {
        scheme = TokenScheme::bearer;
    } else if (equals_ignore_case(name, "DPoP")) {
        scheme = TokenScheme::dpop;
    } else {
        return BearerStatus::missing;
    }
    return is_b64token(token) ? BearerStatus::ok : BearerStatus::malformed;
}

bool find_bearer_grant(const BearerRequest &request, const TokenStore &store, uint32_t now,
                       TokenGrant &grant, TokenVerifier *jwt, const Registry *registry) noexcept {
    try {
        std::string_view token;
        TokenScheme scheme = TokenScheme::bearer;
        return parse_bearer_token(request.authorization_headers, request.authorization, token,
                                  scheme) == BearerStatus::ok &&
               find_grant(token, store, now, grant, jwt, registry) &&
               presented_with_its_certificate(request, grant) &&
               possessed(request, scheme, token, grant, now);
    } catch (...) {
        return false;  // out of memory: no grant
    }
}

BearerVerdict check_bearer(const BearerRequest &request, const TokenStore &store,
                           const ScopeRequirement &required, std::string_view realm, uint32_t now,
                           TokenGrant &grant, TokenVerifier *jwt,
                           const GrantPolicy &policy) noexcept {
    try {
        std::string_view token;
        TokenScheme scheme = TokenScheme::bearer;
        switch (parse_bearer_token(request.authorization_headers, request.authorization, token,
                                   scheme)) {
            case BearerStatus::missing:
                return refuse(401, realm, "", "");  // §3.1: no error code without credentials
            case BearerStatus::malformed:
                return refuse(400, realm, "invalid_request", "malformed bearer credentials");
            case BearerStatus::ok:
                break;
        }
        if (!find_grant(token, store, now, grant, jwt, policy.registry)) {
            return refuse(401, realm, "invalid_token",
                          jwt != nullptr && jose::looks_like_jwt(token)
                              ? jwt->refusal()
                              : "the access token is unknown, expired or revoked",
                          scheme);
        }
        if (!presented_with_its_certificate(request, grant)) {
            BearerVerdict verdict = refuse(
                401, realm, "invalid_token",
                "the access token is bound to a TLS client certificate this connection did not "
                "present (RFC 8705 section 3)");
            verdict.log_reason = "a certificate-bound token without its certificate";
            return verdict;
        }
        if (std::optional<BearerVerdict> refused =
                refuse_unless_possessed(request, scheme, token, grant, request.dpop, realm, now)) {
            return std::move(*refused);
        }
        std::string_view proof_result = scheme == TokenScheme::dpop ? "ok" : "";
        if (policy.audience != nullptr && !policy.audience->accepts(grant.audiences())) {
            BearerVerdict verdict =
                refuse(401, realm, "invalid_token", "its aud does not name this resource", scheme);
            verdict.log_reason = "its audience is none of oauth_require_audience";
            verdict.dpop_result = proof_result;
            return verdict;
        }
        for (const std::string &scope : required.scopes) {
            if (!has_scope(grant.scopes(), scope)) {
                BearerVerdict verdict = refuse(403, realm, "insufficient_scope",
                                               "the access token lacks a required scope", scheme);
                verdict.challenge.append(", scope=").append(quoted_string(required.joined));
                verdict.dpop_result = proof_result;
                return verdict;
            }
        }
        BearerVerdict passed;
        passed.dpop_result = proof_result;
        return passed;
    } catch (...) {
        BearerVerdict verdict;  // out of memory: refuse, never let through
        verdict.status = 500;
        verdict.result = "server_error";
        return verdict;
    }
}

BearerVerdict check_claims(const std::vector<jose::ClaimRequirement> &required,
                           const json_t *claims, std::string_view realm) noexcept {
    try {
        const jose::ClaimRequirement *unmet = jose::first_unmet(required, claims);
        if (unmet == nullptr) {
            return {};
        }
        BearerVerdict verdict =
            refuse(403, realm, "insufficient_scope",
                   "the access token's claim " + unmet->claim.text() +
                       " is missing or none of the values oauth_require_claim asks for");
        verdict.log_reason = "a claim is none of the values oauth_require_claim asks for";
        return verdict;
    } catch (...) {
        BearerVerdict verdict;  // out of memory: refuse, never let through
        verdict.status = 500;
        verdict.result = "server_error";
        return verdict;
    }
}

void point_to_resource_metadata(BearerVerdict &verdict, std::string_view metadata_url) {
    if (verdict.status == 401 && !metadata_url.empty()) {
        verdict.challenge.append(", resource_metadata=").append(quoted_string(metadata_url));
    }
}

}  // namespace oauth
