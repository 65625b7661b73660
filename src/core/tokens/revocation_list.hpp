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
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/token.hpp"
#include "core/token_store.hpp"
#include "core/tokens/change_log.hpp"

namespace oauth {

using RevocationVisitor = void (*)(void *context, const Digest &digest, uint32_t expires_at);

class RevocationList {
  public:
    static constexpr size_t kMinRegionSize = 16 * 1024;
    static constexpr unsigned kProbeLimit = 32;

    // Writes an empty list over `region`. False when `size` is too small.
    static bool format(void *region, size_t size) noexcept;

    // True when `region` holds a list written by format() of this version.
    static bool is_formatted(const void *region, size_t size) noexcept;

    // Each entry added or prolonged is noted in `changes` (a zone with a state file).
    RevocationList(void *region, StoreLock lock, ChangeLog changes = ChangeLog()) noexcept;

    // Records `digest` as revoked until `expires_at`; a digest already held
    // keeps the later of its two expiries. False when the list is full there.
    bool add(const Digest &digest, uint32_t expires_at, uint32_t now) noexcept;

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
    Header *header_;
    StoreLock lock_;
    ChangeLog changes_;
};

}  // namespace oauth
