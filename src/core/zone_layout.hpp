// Where each table of an oauth_token_zone lies: the one computation of the
// regions' sizes and offsets, of the smallest zone that holds them all and of
// how many tokens the store gets, that the directive (its minimum and its
// capacity notice) and the zone's init (its allocations) both read.
//
// nginx lays a slab pool over the zone (ngx_slab.c): its own bookkeeping,
// then pages. The zone's init takes, in this order, a page for its records
// (ZoneRegions, the log context), whole pages for each table, a page for the
// shared state when its size class has none yet, and every page left for
// the token store. SlabGeometry carries the sizes of nginx's structures so
// that this stays plain arithmetic; the glue fills it in.
//
// At the root of the core, as it spans the tables of tokens/, jose/,
// metrics/, fleet/ and the brute-force counters.
#pragma once

#include <cstddef>

namespace oauth {

// What nginx's slab allocator keeps for itself, and how it hands out memory.
struct SlabGeometry {
    size_t page_size;        // ngx_pagesize
    size_t page_shift;       // ngx_pagesize_shift
    size_t min_shift;        // the pool's min_shift (3 for a shared zone)
    size_t pool_header;      // sizeof(ngx_slab_pool_t)
    size_t page_descriptor;  // sizeof(ngx_slab_page_t)
    size_t slot_stat;        // sizeof(ngx_slab_stat_t)

    // The pages a pool laid over `zone_size` bytes holds free (ngx_slab_init).
    size_t pages_in(size_t zone_size) const noexcept;

    // The size class (slot) of an allocation of at most half a page.
    size_t slot_of(size_t size) const noexcept;

    // Whole pages an allocation of more than half a page takes.
    size_t pages_of(size_t size) const noexcept;
};

// Which of the optional tables a zone holds.
struct ZoneOptions {
    bool state_file = false;  // the change log, for oauth_token_zone state=
    bool fleet = false;       // the outbox, for oauth_fleet_redis
};

// The small records the zone's init allocates beside its tables.
struct ZoneRecords {
    size_t regions;      // sizeof(ZoneRegions), before the tables
    size_t log_context;  // the slab pool's log context, before the tables
    size_t state;        // sizeof(ZoneState), after the tables
};

// A region's offset from the pool's first page, and its size; size 0: absent.
struct ZoneRegion {
    size_t offset = 0;
    size_t size = 0;
};

struct ZoneLayout {
    ZoneRegion throttle;     // the brute-force counters (core/auth_throttle.hpp)
    ZoneRegion metrics;      // core/metrics/counters.hpp
    ZoneRegion verdicts;     // core/jose/verdict_cache.hpp
    ZoneRegion revocations;  // core/tokens/revocation_list.hpp
    ZoneRegion replays;      // core/tokens/replay_cache.hpp: client assertions' jtis
    ZoneRegion changes;      // core/tokens/change_log.hpp, with a state file
    ZoneRegion outbox;       // core/fleet/outbox.hpp, on a fleet node
    ZoneRegion tokens;       // core/tokens/token_store.hpp: every page left

    // False when the pages run out before the token store gets its minimum.
    bool fits = false;

    // The tokens the store holds, the revocations the list holds, and the
    // assertions' jtis the replay cache holds.
    size_t token_capacity() const noexcept;
    size_t revocation_capacity() const noexcept;
    size_t replay_capacity() const noexcept;

    // Every table of a zone of `zone_size` bytes.
    static ZoneLayout of(size_t zone_size, const ZoneOptions &options, const ZoneRecords &records,
                         const SlabGeometry &slab) noexcept;

    // The smallest zone from which every larger one lays out too.
    static size_t minimum_size(const ZoneOptions &options, const ZoneRecords &records,
                               const SlabGeometry &slab) noexcept;
};

}  // namespace oauth
