#include "core/tokens/zone_tables.hpp"

#include "core/jose/gate.hpp"
#include "core/jose/jws.hpp"
#include "core/scope.hpp"

namespace oauth {

namespace {

// Every name of a space-joined list: the mask a restored token holds them by.
uint64_t mask_of_all(std::string_view names) {
    if (names.empty()) {
        return 0;
    }
    size_t count = 1;
    for (char c : names) {
        count += c == ' ';
    }
    return count >= kMaxScopes ? ~uint64_t{0} : (uint64_t{1} << count) - 1;
}

}  // namespace

RevocationEntry ZoneTables::jwt_revocation(std::string_view token, uint32_t expires_at) noexcept {
    return {jose::digest_jws(token).signed_part, expires_at + jose::kMaxLeeway};
}

RevocationAdded ZoneTables::list(const RevocationEntry &entry, RevocationCharge charge,
                                 uint32_t now, uint32_t &retry_after) noexcept {
    return revocations_.add(entry.digest, entry.until, now, charge, retry_after);
}

OpaqueRevoked ZoneTables::revoke_opaque(const Digest &digest, std::string_view client,
                                        RevocationCharge charge, WhenUnlisted when_unlisted,
                                        uint32_t now, uint32_t &retry_after) noexcept {
    TokenGrant grant;
    if (!store_.find(digest, now, grant)) {
        store_.revoke(digest, client);  // an expired one of the client's, not yet reclaimed
        return OpaqueRevoked::not_held;
    }
    if (grant.client() != client) {
        return OpaqueRevoked::foreign;
    }
    RevocationAdded added = list({digest, grant.expires_at}, charge, now, retry_after);
    if (added == RevocationAdded::added || when_unlisted == WhenUnlisted::token_goes) {
        store_.revoke(digest, client);
    }
    switch (added) {
        case RevocationAdded::added:
            return OpaqueRevoked::revoked;
        case RevocationAdded::client_at_share:
            return OpaqueRevoked::client_at_share;
        case RevocationAdded::full:
            break;
    }
    return OpaqueRevoked::full;
}

RevocationRestored ZoneTables::restore_revocation(const RevocationEntry &entry,
                                                  uint32_t now) noexcept {
    if (entry.until <= now || revocations_.contains(entry.digest, now)) {
        return RevocationRestored::skipped;
    }
    bool listed = revocations_.add(entry.digest, entry.until, now);
    // Gone even when unlisted: the history says it was revoked.
    TokenGrant grant;
    if (store_.find(entry.digest, now, grant)) {
        store_.revoke(entry.digest, grant.client());
    }
    return listed ? RevocationRestored::restored : RevocationRestored::refused;
}

bool ZoneTables::restore_token(const Digest &digest, const TokenGrant &grant,
                               uint32_t now) noexcept {
    return restore_token(digest, grant.client(), grant.scopes(), grant.audiences(), grant.issued_at,
                         grant.expires_at, now, grant.bindings());
}

bool ZoneTables::restore_token(const Digest &digest, std::string_view client_id,
                               std::string_view scopes, std::string_view audiences,
                               uint32_t issued_at, uint32_t expires_at, uint32_t now,
                               const TokenBindings &bindings) noexcept {
    uint32_t retry_after = 0;
    return store_.insert(digest, client_id, scopes, mask_of_all(scopes), issued_at, expires_at, now,
                         retry_after, TokenStore::kNoClientCap,
                         Audience{audiences, mask_of_all(audiences)}, bindings) == InsertResult::ok;
}

void ZoneTables::prefetch(const Digest &digest) const noexcept {
    revocations_.prefetch(digest);
    store_.prefetch(digest);
}

}  // namespace oauth
