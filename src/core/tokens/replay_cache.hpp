// The jtis of client assertions (RFC 7523 §3 item 7) a zone has accepted,
// kept until the assertion could no longer be accepted, so that each is
// accepted once in every worker. Laid over a region of the zone, as the
// revocation list is; only a digest of the client id and the jti is kept.
//
// An open-addressing table; every operation runs under the zone's lock, as
// admitting is a check and an insertion that two workers must not
// interleave. Bounded: an entry lies within kProbeLimit slots of its home.
//
// Shared fairly, as the revocation list is (tag_shares.hpp): each entry is
// charged to its client's tag. A client at its share is refused (fail closed:
// accepting unchecked would let a stolen assertion be replayed); nothing of
// another client's is evicted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/tokens/store_lock.hpp"
#include "core/tokens/token.hpp"

namespace oauth {

enum class ReplayVerdict {
    fresh,            // first seen: now remembered until it expires
    replayed,         // seen before and not expired
    client_at_share,  // the client holds its share of live entries: refused
    full              // every slot the digest may take holds a live entry: refused
};

// Whom a new entry is charged to.
struct ReplayCharge {
    uint32_t tag = 0;    // ReplayCache::client_tag() of the client
    uint32_t share = 0;  // the most live entries the client may hold; 0: default_share()
};

class ReplayCache {
  public:
    static constexpr size_t kMinRegionSize = 8 * 1024;
    static constexpr unsigned kProbeLimit = 32;

    // Entries a cache over `size` bytes holds.
    static size_t capacity_for(size_t size) noexcept;

    // Writes an empty cache over `region`. False when `size` is too small.
    static bool format(void *region, size_t size) noexcept;
    static bool is_formatted(const void *region, size_t size) noexcept;

    ReplayCache(void *region, StoreLock lock) noexcept;

    // What is kept of one assertion: SHA-256 of the client id, a NUL and the
    // jti, so that two clients' equal jtis are two entries. False only when
    // OpenSSL fails.
    static bool key_of(std::string_view client_id, std::string_view jti, Digest &key) noexcept;

    // The tag a client's entries are charged to: never 0.
    static uint32_t client_tag(std::string_view client_id) noexcept;

    // Admits the assertion of `key` once: remembered until `expires_at` when
    // fresh. When refused for room, `retry_after` is the seconds until an
    // entry in the way expires.
    ReplayVerdict admit(const Digest &key, uint32_t expires_at, uint32_t now, ReplayCharge charge,
                        uint32_t &retry_after) noexcept;

    // The entry point of the checks that take a jti once (client assertions,
    // DPoP proofs): admit() of `key`, the check's digest of the jti, charged
    // to `client_id` at the default share.
    ReplayVerdict admit_jti(std::string_view client_id, const Digest &key, uint32_t expires_at,
                            uint32_t now, uint32_t &retry_after) noexcept;

    // A client's share: a quarter of the capacity.
    uint32_t default_share() const noexcept;
    size_t capacity() const noexcept;

  private:
    struct Header;
    bool at_share(ReplayCharge charge, uint32_t now, uint32_t &retry_after) noexcept;

    Header *header_;
    StoreLock lock_;
};

}  // namespace oauth
