// A zone's tokens as one: its token store and its revocation list (each
// noting what it takes into the zone's change log, when the zone has one).
// The rules that touch both are written here once, for every path that
// changes a zone: the revocation endpoint, a fleet peer's entry, a state
// file's load and the copy of a resized zone.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/tokens/token.hpp"
#include "core/tokens/token_store.hpp"
#include "core/tokens/revocation_list.hpp"

namespace oauth {

// What revoking a token lists: a digest, refused until `until`.
struct RevocationEntry {
    Digest digest;
    uint32_t until = 0;
};

// What the list refusing a revocation leaves of the token.
enum class WhenUnlisted {
    token_stays,  // the revoker is told to retry (RFC 7009 §2.2.1), so the token must stay live
    token_goes    // the revocation was already answered elsewhere: revoked all the same
};

enum class OpaqueRevoked {
    revoked,   // listed until it would have expired, and gone from the store
    not_held,  // no token live in the store of that digest: nothing listed
    foreign,   // a token of another client's: nothing changed (RFC 7009 §2.1)
    // The list refused it: the token stays live, or goes unlisted (WhenUnlisted).
    client_at_share,  // the client holds its share of the list
    full              // no room for it
};

enum class RevocationRestored {
    restored,  // listed, and gone from the store if it held the token
    skipped,   // expired, or listed already
    refused    // the list had no room for it: lost
};

class ZoneTables {
  public:
    ZoneTables(TokenStore &store, RevocationList &revocations) noexcept
        : store_(store), revocations_(revocations) {}

    // A JWT lives in no store: its revocation is this entry alone, the digest
    // of its signing input (what its twins share, jose::digest_jws) until
    // its exp plus the most leeway a gate grants (jose::kMaxLeeway).
    static RevocationEntry jwt_revocation(std::string_view token, uint32_t expires_at) noexcept;

    // Lists `entry` charged to `charge` (RevocationList::add).
    RevocationAdded list(const RevocationEntry &entry, RevocationCharge charge, uint32_t now,
                         uint32_t &retry_after) noexcept;

    // RFC 7009 §2.1: revokes the opaque token `digest` when `client` holds it
    // live. Listed first, until it would have expired, so that no older copy
    // of the zone (a state file) brings it back; then removed from the store.
    // When the list refuses it, `when_unlisted` says whether the token stays
    // live; `retry_after` is then the list's. A token of the client's that
    // expired and was not yet reclaimed goes at once.
    OpaqueRevoked revoke_opaque(const Digest &digest, std::string_view client,
                                RevocationCharge charge, WhenUnlisted when_unlisted, uint32_t now,
                                uint32_t &retry_after) noexcept;

    // A revocation from the zone's own history (a state file, an older zone),
    // whose client is not known: listed charged to nobody, as each was within
    // its client's share when it was made, and whatever token of that
    // digest the store holds goes.
    RevocationRestored restore_revocation(const RevocationEntry &entry, uint32_t now) noexcept;

    // A token from the zone's own history, as it was granted: with every
    // scope and audience it names, bound as it was, and no client cap, since
    // it was within its client's cap when issued. False when the store
    // refuses it.
    bool restore_token(const Digest &digest, const TokenGrant &grant, uint32_t now) noexcept;
    bool restore_token(const Digest &digest, std::string_view client_id, std::string_view scopes,
                       std::string_view audiences, uint32_t issued_at, uint32_t expires_at,
                       uint32_t now, const TokenBindings &bindings = {}) noexcept;

    // Brings what a look-up of `digest` in either table reads into the cache.
    void prefetch(const Digest &digest) const noexcept;

    TokenStore &store() noexcept { return store_; }
    RevocationList &revocations() noexcept { return revocations_; }

  private:
    TokenStore &store_;
    RevocationList &revocations_;
};

}  // namespace oauth
