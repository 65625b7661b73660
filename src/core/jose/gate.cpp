#include "core/jose/gate.hpp"

#include <cstring>
#include <unordered_map>
#include <vector>

#include "core/scope.hpp"

namespace oauth::jose {

namespace {

// The aud claim space-joined, as the grant of an opaque token holds it: false
// when it does not fit, or when a value holds a space, which would let one
// audience pass for two at oauth_require_audience.
bool fill_audience(TokenGrant &grant, const VerifiedToken &claims) {
    grant.audience_length = 0;
    for (const std::string &one : claims.audience) {
        size_t at = grant.audience_length + (grant.audience_length != 0);
        if (one.find(' ') != std::string::npos || at + one.size() > sizeof grant.audience) {
            return false;
        }
        if (at != 0) {
            grant.audience[at - 1] = ' ';
        }
        std::memcpy(grant.audience + at, one.data(), one.size());
        grant.audience_length = at + one.size();
    }
    return true;
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

// Per worker: the claims of the tokens that passed, so that a token seen
// before costs a hash and a lookup rather than a parse. Bounded: emptied when
// full. A worker's configuration never changes (a reload starts new workers),
// so the keys an entry was verified with stay where they are.
struct SeenToken {
    const std::vector<Key> *keys;
    VerifiedToken claims;
};
struct DigestHash {
    size_t operator()(const Digest &digest) const noexcept {
        size_t h;
        std::memcpy(&h, digest.data(), sizeof h);
        return h;
    }
};
constexpr size_t kSeenTokens = 4096;
thread_local std::unordered_map<Digest, SeenToken, DigestHash> seen_tokens;

void remember_seen(const Digest &digest, const std::vector<Key> *keys,
                   const VerifiedToken &claims) {
    if (seen_tokens.size() >= kSeenTokens) {
        seen_tokens.clear();
    }
    seen_tokens[digest] = SeenToken{keys, claims};
}

}  // namespace

// The keys that check tokens of `issuer` here: the server's own, or a
// trusted issuer's; nullptr for any other issuer.
const std::vector<Key> *JwtVerifier::keys_of(std::string_view issuer) const noexcept {
    if (policy_.own_keys != nullptr && issuer == policy_.own_issuer) {
        return policy_.own_keys;
    }
    for (size_t i = 0; policy_.trusted != nullptr && i < policy_.trusted->size(); ++i) {
        if ((*policy_.trusted)[i].issuer == issuer) {
            return &(*policy_.trusted)[i].keys;
        }
    }
    return nullptr;
}

bool JwtVerifier::grant(const std::vector<Key> *keys, TokenGrant &out) {
    if (!fill_audience(out, claims_)) {
        failure_ = JwtCheck::claims;
        return false;
    }
    return keys == policy_.own_keys ? grant_own(out) : grant_trusted(out);
}

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

bool JwtVerifier::check(std::string_view token, uint32_t now, TokenGrant &out) {
    Digest digest = digest_token(token);
    // First, so that neither cache below can vouch for a revoked token.
    if (policy_.revocations != nullptr && policy_.revocations->contains(digest, now)) {
        failure_ = JwtCheck::revoked;
        return false;
    }
    auto seen = seen_tokens.find(digest);
    if (seen != seen_tokens.end() && seen->second.keys == keys_of(seen->second.claims.issuer)) {
        claims_ = seen->second.claims;
        failure_ = check_lifetime(claims_.lifetime, now, policy_.leeway);
        return failure_ == JwtCheck::ok && grant(seen->second.keys, out);
    }
    claims_ = VerifiedToken();
    bool known = cache_.known_good(digest, now);
    VerifierPolicy policy;
    policy.leeway = policy_.leeway;
    policy.keys_of = [this](std::string_view issuer) { return keys_of(issuer); };
    failure_ = verify_access_token(token, policy, now, known, claims_);
    const std::vector<Key> *keys = keys_of(claims_.issuer);
    if (failure_ != JwtCheck::ok || !grant(keys, out)) {
        return false;
    }
    if (!known) {
        cache_.remember(digest, claims_.expires_at, now);
    }
    remember_seen(digest, keys, claims_);
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
