// A fair share of a table in a zone by client: the one rule the revocation
// list and the replay cache bound a client's live entries by, so that no
// client can fill a table and crowd out every other client's entries.
//
// Each entry is charged to its client's tag (a 32-bit hash of the client id;
// 0 is nobody's, charged to no client and never bounded). A counter per
// bucket of tags is an upper bound of the live entries charged to those tags
// (entries expire without anyone noticing); only when it reaches a client's
// share is the table scanned for that client's live entries, and a client
// found at its share is remembered as such until its soonest entry expires,
// so the scan is paid by the client at its share, once per entry of its that
// expires.
//
// TagShares lies in the header of each such table in shared memory (a
// TaggedSlotRegion): its bytes are the counters, three words a bucket, and
// nothing else. They are read and written under the zone's lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/tokens/slot_region.hpp"

namespace oauth {

// What a scan of a table found of one client: its live entries, those of its
// bucket (its own among them), and its soonest expiry.
struct TagRecount {
    uint32_t tag = 0;
    uint32_t client = 0;
    uint32_t bucket = 0;
    uint32_t soonest = UINT32_MAX;

    // Counts an entry charged to `entry_tag`, held until `expires_at`: only
    // when it is live at `now` and charged to a client of tag's bucket.
    void count(uint32_t entry_tag, uint32_t expires_at, uint32_t now) noexcept;
};

class TagShares {
  public:
    static constexpr uint32_t kNobody = 0;
    // Enough buckets that two clients rarely share one: a client sharing a
    // bucket with one at its share pays a scan per new entry, as that one does.
    static constexpr uint32_t kBuckets = 256;

    // The tag a client's entries are charged to: never kNobody. One hash of
    // ids for every table.
    static uint32_t tag_of(std::string_view client_id) noexcept;

    // A client's share of a table of `capacity` entries: a quarter of it, as
    // a client's default max_tokens is a quarter of its token store.
    static uint32_t share_of(size_t capacity) noexcept;

    // Notes a new live entry charged to `tag` (nothing for kNobody).
    void charge(uint32_t tag) noexcept;

    // True when the client of `tag` holds `share` live entries of the
    // `count` slots from `slots`; then `retry_after` is the seconds until
    // the soonest of them expires. Never for kNobody or a `share` of 0 (no
    // bound). A Slot has a `client_tag`; `expiry_of(slot)` reads its expiry.
    template <class Slot, class ExpiryOf>
    bool at_share(uint32_t tag, uint32_t share, const Slot *slots, uint32_t count, uint32_t now,
                  uint32_t &retry_after, ExpiryOf expiry_of) noexcept {
        Known known = known_share(tag, share, now, retry_after);
        if (known != Known::unknown) {
            return known == Known::at_share;
        }
        TagRecount live{tag};
        for (uint32_t i = 0; i < count; ++i) {
            live.count(slots[i].client_tag, expiry_of(slots[i]), now);
        }
        return settle(live, share, now, retry_after);
    }

  private:
    // The live entries charged to the tags of one bucket, at most; and the
    // last client of the bucket found at its share, with the expiry of its
    // soonest entry, before which its count cannot drop.
    struct Counter {
        uint32_t entries;
        uint32_t full_tag;
        uint32_t full_until;
    };
    enum class Known { below_share, at_share, unknown };

    // What the counters tell without a scan.
    Known known_share(uint32_t tag, uint32_t share, uint32_t now,
                      uint32_t &retry_after) const noexcept;
    // Takes a scan's count into the client's bucket; true when at its share.
    bool settle(const TagRecount &live, uint32_t share, uint32_t now,
                uint32_t &retry_after) noexcept;

    Counter counters_[kBuckets];
};

// The bytes in the zone: the counters alone, as every table laid them out.
static_assert(sizeof(TagShares) == TagShares::kBuckets * 3 * sizeof(uint32_t));
static_assert(alignof(TagShares) == alignof(uint32_t));

// The opening of a table of slots shared by client tag (the revocation list,
// the replay cache): the region's stamp, then the counters; the slots start
// at the next cache line.
struct TaggedSlotRegion : SlotRegionHeader {
    TagShares shares;
};

constexpr size_t kTaggedSlotsOffset = (sizeof(TaggedSlotRegion) + 63) / 64 * 64;

// The bytes a zone holds under the kVersion of each such table (a reload or a
// binary upgrade reads the old zone as it is): another layout is another
// kVersion of every one of them.
static_assert(sizeof(TaggedSlotRegion) == 3096 && kTaggedSlotsOffset == 3136);

template <class Slot>
Slot *tagged_slots(TaggedSlotRegion &region) noexcept {
    return reinterpret_cast<Slot *>(reinterpret_cast<char *>(&region) + kTaggedSlotsOffset);
}

}  // namespace oauth
