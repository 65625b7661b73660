#include "core/jose/gate.hpp"

#include <cstring>
#include <vector>

#include "core/scope.hpp"

namespace oauth::jose {

namespace {

// The token's scopes that the client's current registry entry still lists,
// each once, in the token's order.
std::string scopes_still_granted(std::string_view token_scope, std::string_view client_scope) {
    std::string granted;
    std::vector<std::string_view> tokens;
    if (token_scope.empty() || !split_scope(token_scope, tokens)) {
        return granted;
    }
    for (std::string_view scope : tokens) {
        if (has_scope(client_scope, scope) && !has_scope(granted, scope)) {
            if (!granted.empty()) {
                granted.push_back(' ');
            }
            granted.append(scope);
        }
    }
    return granted;
}

void fill(TokenGrant &grant, std::string_view client_id, std::string_view scope,
          const VerifiedToken &claims) {
    grant.client_id_length = client_id.size();
    std::memcpy(grant.client_id, client_id.data(), client_id.size());
    grant.scope_length = scope.size();
    std::memcpy(grant.scope, scope.data(), scope.size());
    grant.issued_at = claims.issued_at;
    grant.expires_at = claims.expires_at;
}

}  // namespace

bool JwtVerifier::grant_own(TokenGrant &grant) {
    const Client *client = policy_.registry->find(claims_.client_id);
    if (client == nullptr) {
        failure_ = JwtCheck::client;
        return false;
    }
    // Both fit: the id is a registered one, the scopes a subset of its list.
    fill(grant, client->id, scopes_still_granted(claims_.scope, client->scope), claims_);
    return true;
}

// Another issuer's client and scopes are its own business; they must only
// fit in a grant, and the scopes be RFC 6749 §3.3 scope tokens.
bool JwtVerifier::grant_trusted(TokenGrant &grant) {
    std::vector<std::string_view> scopes;
    if (claims_.client_id.size() > sizeof grant.client_id) {
        failure_ = JwtCheck::claims;
        return false;
    }
    if (claims_.scope.size() > sizeof grant.scope ||
        (!claims_.scope.empty() && !split_scope(claims_.scope, scopes))) {
        failure_ = JwtCheck::scope;
        return false;
    }
    fill(grant, claims_.client_id, claims_.scope, claims_);
    return true;
}

bool JwtVerifier::check(std::string_view token, uint32_t now, TokenGrant &grant) {
    claims_ = VerifiedToken();
    std::optional<std::string> issuer = peek_issuer(token);
    bool own = policy_.own_keys != nullptr && issuer && *issuer == policy_.own_issuer;
    VerifierPolicy verifier{policy_.own_issuer, policy_.own_keys, policy_.leeway};
    if (!own) {
        const TrustedIssuer *trusted = nullptr;
        for (size_t i = 0; issuer && policy_.trusted && i < policy_.trusted->size(); ++i) {
            if ((*policy_.trusted)[i].issuer == *issuer) {
                trusted = &(*policy_.trusted)[i];
            }
        }
        if (trusted == nullptr) {
            failure_ = issuer ? JwtCheck::iss : JwtCheck::shape;
            return false;
        }
        verifier = VerifierPolicy{trusted->issuer, &trusted->keys, policy_.leeway};
    }
    Digest digest = digest_token(token);
    bool known = cache_.known_good(digest, now);
    failure_ = verify_access_token(token, verifier, now, known, claims_);
    if (failure_ != JwtCheck::ok || !(own ? grant_own(grant) : grant_trusted(grant))) {
        return false;
    }
    if (!known) {
        cache_.remember(digest, claims_.expires_at, now);
    }
    return true;
}

bool JwtVerifier::verify(std::string_view token, uint32_t now, TokenGrant &grant) noexcept {
    try {
        return check(token, now, grant);
    } catch (...) {
        failure_ = JwtCheck::shape;  // out of memory: refuse, never let through
        return false;
    }
}

}  // namespace oauth::jose
