#include "core/zone_layout.hpp"

#include <algorithm>

#include "core/auth_throttle.hpp"
#include "core/fleet/outbox.hpp"
#include "core/jose/verdict_cache.hpp"
#include "core/metrics/counters.hpp"
#include "core/tokens/change_log.hpp"
#include "core/tokens/replay_cache.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/tokens/token_store.hpp"

namespace oauth {

namespace {

size_t align_up(size_t size, size_t page) {
    return (size + page - 1) / page * page;
}

// A share of the zone, at least `minimum`, in whole pages.
size_t share(size_t zone, size_t divisor, size_t minimum, size_t page) {
    return align_up(std::max(zone / divisor, minimum), page);
}

// About 3% of the zone: enough for thousands of (client, address) counters.
size_t throttle_size(size_t zone, size_t page) {
    return share(zone, 32, AuthThrottle::kMinRegionSize, page);
}

// About 1.5% of the zone: the counters of some 76 clients per megabyte.
size_t metrics_size(size_t zone, size_t page) {
    return share(zone, 64, metrics::Counters::kMinRegionSize, page);
}

// About 3% of the zone too: 36-byte entries, some 14 000 in a 16m zone.
size_t verdicts_size(size_t zone, size_t page) {
    return share(zone, 32, jose::VerdictCache::kMinRegionSize, page);
}

// An eighth of the zone, 40-byte entries: some 3 200 revocations per
// megabyte. A zone that issues JWTs stores none of them, but holds one entry
// per revoked live JWT; a client may hold a quarter of them.
size_t revocations_size(size_t zone, size_t page) {
    return share(zone, 8, RevocationList::kMinRegionSize, page);
}

// About 3% of the zone, 40-byte entries: some 800 jtis per megabyte. A jti
// is kept until its assertion's exp, at most 5 minutes ahead, and a client
// may hold a quarter of them: in a 16m zone, some 3 300 assertions per 5
// minutes, 11 a second.
size_t replays_size(size_t zone, size_t page) {
    return share(zone, 32, ReplayCache::kMinRegionSize, page);
}

// About 1.5% of the zone, with a state file: room for what some 52 000
// issuances and revocations per 128m change between two writes, a second
// apart; more, and the writer rewrites the whole snapshot instead.
size_t changes_size(size_t zone, size_t page) {
    return share(zone, 64, ChangeLog::kMinRegionSize, page);
}

// Only on a fleet node, about 0.8% of the zone: some 760 revocations waiting
// for Redis in a 16m zone; past that, the whole revocation list is published
// again.
size_t outbox_size(size_t zone, size_t page) {
    return share(zone, 128, fleet::Outbox::kMinRegionSize, page);
}

// Pages taken one after the other from the pool's first free page.
class PageCursor {
  public:
    explicit PageCursor(size_t page) : page_(page) {}

    ZoneRegion take(size_t size) {
        ZoneRegion region{next_, size};
        next_ += size;
        return region;
    }
    void skip(size_t pages) { next_ += pages * page_; }
    size_t taken() const { return next_; }

  private:
    size_t page_;
    size_t next_ = 0;
};

// The pages the records take, before the tables and after them: a small
// record takes a page of its size class unless one is already taken.
struct RecordPages {
    size_t before = 0;
    size_t after = 0;
};

RecordPages record_pages(const ZoneRecords &records, const SlabGeometry &slab) {
    const size_t largest_small = slab.page_size / 2;
    bool slot_taken[64] = {};
    auto pages_for = [&](size_t size) -> size_t {
        if (size > largest_small) {
            return slab.pages_of(size);
        }
        bool &taken = slot_taken[slab.slot_of(size)];
        size_t pages = taken ? 0 : 1;
        taken = true;
        return pages;
    };
    RecordPages pages;
    pages.before = pages_for(records.regions);
    pages.before += pages_for(records.log_context);
    pages.after = pages_for(records.state);
    return pages;
}

}  // namespace

size_t SlabGeometry::pages_in(size_t zone_size) const noexcept {
    const size_t slots = page_shift - min_shift;
    const size_t bookkeeping = pool_header + slots * (page_descriptor + slot_stat);
    if (zone_size <= bookkeeping) {
        return 0;
    }
    size_t pages = (zone_size - bookkeeping) / (page_size + page_descriptor);
    // The pages start at the first page boundary past their descriptors.
    size_t start = align_up(bookkeeping + pages * page_descriptor, page_size);
    size_t room = zone_size > start ? (zone_size - start) / page_size : 0;
    return std::min(pages, room);
}

size_t SlabGeometry::slot_of(size_t size) const noexcept {
    size_t shift = min_shift;
    while ((size_t{1} << shift) < size) {
        ++shift;
    }
    return shift - min_shift;
}

size_t SlabGeometry::pages_of(size_t size) const noexcept {
    return (size + page_size - 1) / page_size;
}

size_t ZoneLayout::token_capacity() const noexcept {
    return fits ? TokenStore::capacity_for(tokens.size) : 0;
}

size_t ZoneLayout::revocation_capacity() const noexcept {
    return RevocationList::capacity_for(revocations.size);
}

size_t ZoneLayout::replay_capacity() const noexcept {
    return ReplayCache::capacity_for(replays.size);
}

ZoneLayout ZoneLayout::of(size_t zone_size, const ZoneOptions &options, const ZoneRecords &records,
                          const SlabGeometry &slab) noexcept {
    const size_t page = slab.page_size;
    const RecordPages record = record_pages(records, slab);
    PageCursor cursor(page);
    cursor.skip(record.before);
    ZoneLayout layout;
    layout.throttle = cursor.take(throttle_size(zone_size, page));
    layout.metrics = cursor.take(metrics_size(zone_size, page));
    layout.verdicts = cursor.take(verdicts_size(zone_size, page));
    layout.revocations = cursor.take(revocations_size(zone_size, page));
    layout.replays = cursor.take(replays_size(zone_size, page));
    if (options.state_file) {
        layout.changes = cursor.take(changes_size(zone_size, page));
    }
    if (options.fleet) {
        layout.outbox = cursor.take(outbox_size(zone_size, page));
    }
    cursor.skip(record.after);
    const size_t pool = slab.pages_in(zone_size) * page;
    if (pool < cursor.taken() + TokenStore::kMinRegionSize) {
        return layout;
    }
    layout.tokens = cursor.take(pool - cursor.taken());
    layout.fits = true;
    return layout;
}

size_t ZoneLayout::minimum_size(const ZoneOptions &options, const ZoneRecords &records,
                                const SlabGeometry &slab) noexcept {
    // No zone smaller than its tables' minimums lays out.
    size_t first = TokenStore::kMinRegionSize + AuthThrottle::kMinRegionSize +
                   metrics::Counters::kMinRegionSize + jose::VerdictCache::kMinRegionSize +
                   RevocationList::kMinRegionSize + ReplayCache::kMinRegionSize;
    while (!of(first, options, records, slab).fits) {
        ++first;
    }
    // Past the first size that fits, a table may grow by a page while the
    // pool has not yet (a 130k zone with a state file does not lay out); by
    // twice that size, the token store has pages to spare for every such step.
    size_t minimum = first;
    for (size_t size = first; size < 2 * first; ++size) {
        if (!of(size, options, records, slab).fits) {
            minimum = size + 1;
        }
    }
    return minimum;
}

}  // namespace oauth
