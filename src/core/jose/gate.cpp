#include "core/jose/gate.hpp"

#include <cstring>
#include <unordered_map>
#include <vector>

#include "core/jose/jws.hpp"
#include "core/scope.hpp"
#include "core/tokens/registry_grant.hpp"

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

void fill_lifetime(TokenGrant &grant, const VerifiedToken &claims) {
    grant.issued_at = claims.issued_at;
    grant.expires_at = claims.expires_at;
}

void fill(TokenGrant &grant, std::string_view client_id, std::string_view scope,
          const VerifiedToken &claims) {
    grant.client_id_length = client_id.size();
    std::memcpy(grant.client_id, client_id.data(), client_id.size());
    grant.scope_length = scope.size();
    std::memcpy(grant.scope, scope.data(), scope.size());
    fill_lifetime(grant, claims);
}

// Per worker: the tokens that passed and were presented again (their
// signature's verdict was found), with their claims, so that a token seen
// before costs a lookup and a compare rather than a SHA-256 and a parse.
// Found by a hash of the signature segment, then confirmed by comparing the
// whole token text: a byte-identical token is the same token, as strong as
// equal digests. Only tokens whose signature verified get here, so a forged
// token cannot aim at an entry; one that shares a hash merely misses. The
// entry keeps the token's digests for the revocation list. Bounded: emptied
// when full. A worker's configuration never changes (a reload starts new
// workers, with none of this), so the keys an entry was verified with stay
// where they are, unchanged, but for keys from a URL, whose change empties
// this (forget_seen_tokens): the pointer to them names them well enough.
struct SeenToken {
    std::string token;
    JwsDigests digests;
    const std::vector<Key> *keys;
    VerifiedToken claims;
};
constexpr size_t kSeenTokens = 4096;
thread_local std::unordered_map<size_t, SeenToken> seen_tokens;

size_t seen_key(std::string_view token) noexcept {
    return std::hash<std::string_view>()(token.substr(token.rfind('.') + 1));
}

const SeenToken *find_seen(std::string_view token, size_t key) noexcept {
    auto seen = seen_tokens.find(key);
    return seen != seen_tokens.end() && seen->second.token == token ? &seen->second : nullptr;
}

const VerifiedToken &remember_seen(std::string_view token, size_t key, const JwsDigests &digests,
                                   const std::vector<Key> *keys, VerifiedToken &&claims) {
    if (seen_tokens.size() >= kSeenTokens) {
        seen_tokens.clear();
    }
    SeenToken &seen = seen_tokens[key];
    seen = SeenToken{std::string(token), digests, keys, std::move(claims)};
    return seen.claims;
}

// A JWT is revoked by what its signature covers (jws.hpp), so every form of
// its signature stays refused. Its whole text's digest counts too: earlier
// builds listed that, and their state files and fleet peers still carry it.
bool is_revoked(const RevocationList &revocations, const JwsDigests &digests, uint32_t now) {
    return revocations.contains(digests.signed_part, now) ||
           revocations.contains(digests.text, now);
}

}  // namespace

void forget_seen_tokens() noexcept {
    seen_tokens.clear();
}

// The trusted issuer `issuer` names, unless it is the server itself; nullptr
// for any other.
const TrustedIssuer *JwtVerifier::trusted_issuer(std::string_view issuer) const noexcept {
    if (policy_.own_keys != nullptr && issuer == policy_.own_issuer) {
        return nullptr;
    }
    for (size_t i = 0; policy_.trusted != nullptr && i < policy_.trusted->size(); ++i) {
        if ((*policy_.trusted)[i].issuer == issuer) {
            return &(*policy_.trusted)[i];
        }
    }
    return nullptr;
}

// A kid missing from a set fetched from a URL may be a key the IdP added
// since; with no set fetched yet, the keys are what is missing.
void JwtVerifier::note_missing_key() {
    if (failure_ != JwtCheck::kid || chosen_ == nullptr || chosen_->source == 0) {
        return;
    }
    awaiting_keys_ = chosen_;
    if (chosen_->keys.empty()) {
        failure_ = JwtCheck::no_keys;
    }
}

// The keys that check tokens of `issuer` here: the server's own, or a
// trusted issuer's; nullptr for any other issuer.
const std::vector<Key> *JwtVerifier::keys_of(std::string_view issuer) const noexcept {
    if (policy_.own_keys != nullptr && issuer == policy_.own_issuer) {
        return policy_.own_keys;
    }
    const TrustedIssuer *trusted = trusted_issuer(issuer);
    return trusted != nullptr ? &trusted->keys : nullptr;
}

std::string JwtVerifier::refusal() const {
    const TrustedIssuer *trusted = trusted_issuer(claims().issuer);
    return describe_refusal(failure_, claims(), trusted != nullptr ? &trusted->profile : nullptr);
}

bool JwtVerifier::grant(const std::vector<Key> *keys, const VerifiedToken &claims,
                        TokenGrant &out) {
    if (!fill_audience(out, claims)) {
        failure_ = JwtCheck::aud;
        return false;
    }
    out.certificate = claims.certificate;
    out.dpop = claims.dpop;
    return keys == policy_.own_keys ? grant_own(claims, out) : grant_trusted(claims, out);
}

// SPEC "Own tokens answer to the registry", as an opaque token does.
bool JwtVerifier::grant_own(const VerifiedToken &claims, TokenGrant &grant) {
    if (!follow_registry(*policy_.registry, claims.client_id, claims.scope, grant)) {
        failure_ = JwtCheck::client;
        return false;
    }
    fill_lifetime(grant, claims);
    return true;
}

// Another issuer's client and scopes are its own business; they must only
// fit in a grant, and the scopes be RFC 6749 §3.3 scope tokens.
bool JwtVerifier::grant_trusted(const VerifiedToken &claims, TokenGrant &grant) {
    std::vector<std::string_view> scopes;
    if (claims.client_id.size() > sizeof grant.client_id) {
        failure_ = JwtCheck::client_claim;
        return false;
    }
    if (claims.scope.size() > sizeof grant.scope ||
        (!claims.scope.empty() && !split_scope(claims.scope, scopes))) {
        failure_ = JwtCheck::scope;
        return false;
    }
    fill(grant, claims.client_id, claims.scope, claims);
    return true;
}

bool JwtVerifier::check(std::string_view token, uint32_t now, TokenGrant &out) {
    seen_claims_ = nullptr;
    chosen_ = nullptr;
    awaiting_keys_ = nullptr;
    size_t key = seen_key(token);
    const SeenToken *seen = find_seen(token, key);
    JwsDigests digests = seen != nullptr ? seen->digests : digest_jws(token);
    // First, so that neither cache below can vouch for a revoked token.
    if (policy_.revocations != nullptr && is_revoked(*policy_.revocations, digests, now)) {
        failure_ = JwtCheck::revoked;
        return false;
    }
    if (seen != nullptr && seen->keys == keys_of(seen->claims.issuer)) {
        seen_claims_ = &seen->claims;
        failure_ = check_lifetime(seen->claims.lifetime, now, policy_.leeway);
        return failure_ == JwtCheck::ok && grant(seen->keys, seen->claims, out);
    }
    parsed_ = VerifiedToken();
    std::optional<KeyFingerprint> verified_with = cache_.verified_with(digests.text, now);
    VerifierPolicy policy;
    policy.leeway = policy_.leeway;
    policy.keys_of = [this](std::string_view issuer) {
        const std::vector<Key> *keys = keys_of(issuer);
        const TrustedIssuer *trusted = trusted_issuer(issuer);
        chosen_ = trusted != nullptr && keys == &trusted->keys ? trusted : nullptr;
        return keys;
    };
    policy.profile_of = [this](std::string_view issuer) -> const TokenProfile * {
        const TrustedIssuer *trusted = trusted_issuer(issuer);
        return trusted != nullptr ? &trusted->profile : nullptr;  // own: the default
    };
    failure_ = verify_access_token(token, policy, now, verified_with, parsed_);
    note_missing_key();
    const std::vector<Key> *keys = keys_of(parsed_.issuer);
    if (failure_ != JwtCheck::ok || !grant(keys, parsed_, out)) {
        return false;
    }
    if (verified_with != parsed_.key) {
        // First sight on this node: the verdict is all that is kept. The
        // worker's copy is for tokens presented again, so a stream of
        // one-time tokens neither pays for an entry nor pushes out the
        // tokens clients keep using.
        cache_.remember(digests.text, parsed_.key, parsed_.expires_at, now);
        return true;
    }
    seen_claims_ = &remember_seen(token, key, digests, keys, std::move(parsed_));
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
