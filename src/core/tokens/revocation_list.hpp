// Revoked tokens, by digest, kept until they would have expired: what a
// restored snapshot, a merged snapshot, a JWT check or a fleet peer must not
// bring back. Laid over a memory region the caller hands over, as the token
// store is (offsets only, so every process may map it at its own address).
//
// An open-addressing table that never empties a slot: an entry past its
// expiry is reused in place, so probe chains never break and contains()
// needs no lock. add() runs under the caller's lock. Bounded: an entry lies
// within kProbeLimit slots of its home, and when all of those hold live
// entries, add() refuses.
//
// Shared fairly (tag_shares.hpp): each entry is charged to the client whose
// revocation it is (a 32-bit tag of its id), so that no client can fill the
// list and silence every other client's revocations.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/tokens/token.hpp"
#include "core/tokens/store_lock.hpp"
#include "core/tokens/change_log.hpp"

namespace oauth {

using RevocationVisitor = void (*)(void *context, const Digest &digest, uint32_t expires_at);

// Whom a new entry is charged to.
struct RevocationCharge {
    uint32_t tag = 0;    // RevocationList::client_tag() of the client; 0: nobody
    uint32_t share = 0;  // the most live entries the client may hold; 0: no bound
};

enum class RevocationAdded {
    added,            // listed (or already listed: its expiry is the later of the two)
    client_at_share,  // the client holds its share of live entries
    full              // every slot the digest may take holds a live entry
};

class RevocationList {
  public:
    static constexpr size_t kMinRegionSize = 16 * 1024;
    static constexpr unsigned kProbeLimit = 32;

    // Entries a list over `size` bytes holds: capacity() of it.
    static size_t capacity_for(size_t size) noexcept;

    // Writes an empty list over `region`. False when `size` is too small.
    static bool format(void *region, size_t size) noexcept;

    // True when `region` holds a list written by format() of this version.
    static bool is_formatted(const void *region, size_t size) noexcept;

    // Each entry added or prolonged is noted in `changes` (a zone with a state file).
    RevocationList(void *region, StoreLock lock, ChangeLog changes = ChangeLog()) noexcept;

    // The tag a client's entries are charged to: never 0.
    static uint32_t client_tag(std::string_view client_id) noexcept;

    // Records `digest` as revoked until `expires_at`; a digest already held
    // keeps the later of its two expiries and is charged to nobody again. A
    // new entry is charged to `charge.tag`, and refused when that client
    // holds `charge.share` live entries. When refused, `retry_after` is the
    // seconds until an entry that stands in the way expires.
    RevocationAdded add(const Digest &digest, uint32_t expires_at, uint32_t now,
                        RevocationCharge charge, uint32_t &retry_after) noexcept;

    // add() charged to nobody (a state file's entries). False when refused.
    bool add(const Digest &digest, uint32_t expires_at, uint32_t now) noexcept;

    // A client's share: a quarter of capacity(), as a client's default
    // max_tokens is a quarter of its token store.
    static uint32_t share_of(size_t capacity) noexcept;
    uint32_t default_share() const noexcept;

    // True when `digest` is held and not expired at `now`. Takes no lock.
    bool contains(const Digest &digest, uint32_t now) const noexcept;

    // Calls `visit` for each entry not expired at `now`, read without the lock.
    void visit_live(uint32_t now, RevocationVisitor visit, void *context) const noexcept;

    // visit_live() over `slots` slots from `first_slot` only (the list is as
    // big as a zone's counters, some 3% of it); answers the slot to start the
    // next range at: slot_count() once done.
    uint32_t visit_live(uint32_t now, uint32_t first_slot, uint32_t slots, RevocationVisitor visit,
                        void *context) const noexcept;
    uint32_t slot_count() const noexcept;

    size_t capacity() const noexcept;

    // Brings the entry contains(digest) starts at into the cache (see TokenStore::prefetch).
    void prefetch(const Digest &digest) const noexcept;

  private:
    struct Header;
    struct Probe;

    Probe probe(const uint64_t (&words)[4], uint32_t now) const noexcept;
    bool at_share(RevocationCharge charge, uint32_t now, uint32_t &retry_after) noexcept;

    Header *header_;
    StoreLock lock_;
    ChangeLog changes_;
};

}  // namespace oauth
