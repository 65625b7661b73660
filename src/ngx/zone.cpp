// The shared memory zone: the token store, the brute-force counters and the
// metrics and the JWT verdicts laid over it, reused on reload, its tokens
// copied when nginx makes it anew.
#include "ngx/module.hpp"

#include <cstring>
#include <new>

#include "core/auth_throttle.hpp"
#include "core/jose/verdict_cache.hpp"
#include "core/tokens/zone_tables.hpp"
#include "core/zone_layout.hpp"

#include <algorithm>
#include <optional>

namespace oauth_ngx {

// ---- the token store over a shared zone ----------------------------------

namespace {

void lockZone(void *mutex) {
    ngx_shmtx_lock(static_cast<ngx_shmtx_t *>(mutex));
}

void unlockZone(void *mutex) {
    ngx_shmtx_unlock(static_cast<ngx_shmtx_t *>(mutex));
}

bool formatRegions(ZoneRegions *regions) {
    new (regions->state) ZoneState{};
    return (regions->changes == nullptr ||
            oauth::ChangeLog::format(regions->changes, regions->changes_size)) &&
           oauth::AuthThrottle::format(regions->throttle, regions->throttle_size) &&
           oauth::metrics::Counters::format(regions->metrics, regions->metrics_size) &&
           oauth::jose::VerdictCache::format(regions->verdicts, regions->verdicts_size) &&
           oauth::RevocationList::format(regions->revocations, regions->revocations_size) &&
           oauth::ReplayCache::format(regions->replays, regions->replays_size) &&
           (regions->outbox == nullptr ||
            oauth::fleet::Outbox::format(regions->outbox, regions->outbox_size)) &&
           oauth::TokenStore::format(regions->tokens, regions->tokens_size);
}

bool regionsFormatted(const ZoneRegions *regions) {
    return (regions->changes == nullptr ||
            oauth::ChangeLog::is_formatted(regions->changes, regions->changes_size)) &&
           oauth::AuthThrottle::is_formatted(regions->throttle, regions->throttle_size) &&
           oauth::metrics::Counters::is_formatted(regions->metrics, regions->metrics_size) &&
           oauth::jose::VerdictCache::is_formatted(regions->verdicts, regions->verdicts_size) &&
           oauth::RevocationList::is_formatted(regions->revocations, regions->revocations_size) &&
           oauth::ReplayCache::is_formatted(regions->replays, regions->replays_size) &&
           (regions->outbox == nullptr ||
            oauth::fleet::Outbox::is_formatted(regions->outbox, regions->outbox_size)) &&
           oauth::TokenStore::is_formatted(regions->tokens, regions->tokens_size);
}

}  // namespace

// The slab pool's mutex is the writers' lock: nginx force-unlocks it when a
// worker dies holding it.
oauth::StoreLock zoneLock(ngx_shm_zone_t *zone) {
    auto *pool = reinterpret_cast<ngx_slab_pool_t *>(zone->shm.addr);
    return oauth::StoreLock{&pool->mutex, lockZone, unlockZone};
}

oauth::ChangeLog changesOf(ngx_shm_zone_t *zone) {
    return oauth::ChangeLog(static_cast<ZoneRegions *>(zone->data)->changes);
}

oauth::TokenStore storeOf(ngx_shm_zone_t *zone) {
    return oauth::TokenStore(static_cast<ZoneRegions *>(zone->data)->tokens, zoneLock(zone),
                             changesOf(zone));
}

oauth::metrics::Counters countersOf(ngx_shm_zone_t *zone) {
    return oauth::metrics::Counters(static_cast<ZoneRegions *>(zone->data)->metrics,
                                    zoneLock(zone));
}

oauth::RevocationList revocationsOf(ngx_shm_zone_t *zone) {
    return oauth::RevocationList(static_cast<ZoneRegions *>(zone->data)->revocations,
                                 zoneLock(zone), changesOf(zone));
}

oauth::ReplayCache replaysOf(ngx_shm_zone_t *zone) {
    return oauth::ReplayCache(static_cast<ZoneRegions *>(zone->data)->replays, zoneLock(zone));
}

std::optional<oauth::fleet::Outbox> outboxOf(ngx_shm_zone_t *zone) {
    void *outbox = static_cast<ZoneRegions *>(zone->data)->outbox;
    if (outbox == nullptr) {
        return std::nullopt;
    }
    return oauth::fleet::Outbox(outbox, zoneLock(zone));
}

namespace {

// The slab pool's log context: " in oauth_token_zone \"NAME\"".
size_t logContextSize(const ngx_str_t &name) {
    return name.len + 32;
}

// nginx's slab pool, as ngx_slab_init() lays it over a zone.
oauth::SlabGeometry slabGeometry() {
    constexpr size_t kZoneMinShift = 3;  // ngx_init_zone_pool()
    return {ngx_pagesize,
            ngx_pagesize_shift,
            kZoneMinShift,
            sizeof(ngx_slab_pool_t),
            sizeof(ngx_slab_page_t),
            sizeof(ngx_slab_stat_t)};
}

// What initZone allocates beside the tables, in the order it does.
oauth::ZoneRecords zoneRecords(const ngx_str_t &name) {
    return {sizeof(ZoneRegions), logContextSize(name), sizeof(ZoneState)};
}

}  // namespace

oauth::ZoneLayout zoneLayout(size_t size, const ngx_str_t &name,
                             const oauth::ZoneOptions &options) {
    return oauth::ZoneLayout::of(size, options, zoneRecords(name), slabGeometry());
}

size_t zoneMinimumSize(const ngx_str_t &name, const oauth::ZoneOptions &options) {
    return oauth::ZoneLayout::minimum_size(options, zoneRecords(name), slabGeometry());
}

// ---- a new zone takes the tokens of the old one ----------------------------
//
// nginx reuses a zone on reload only when its size and its tag (the module
// struct's address) are unchanged: a resize, or this module loaded from a new
// path, gets a new, empty zone. While the new cycle initialises, ngx_cycle is
// still the old one and the old zone is still mapped, so its live tokens are
// copied over. Old workers keep issuing into the old zone until they exit:
// what they issue or revoke after the copy is not carried over.

namespace {

// The running cycle, which the one being initialised replaces.
ngx_cycle_t *oldCycle() {
    return const_cast<ngx_cycle_t *>(ngx_cycle);
}

// True when `tag` is this module's struct in the old cycle, of whatever build.
bool isOldModuleTag(void *tag) {
    for (ngx_module_t **module = oldCycle()->modules; module && *module; ++module) {
        if (*module == tag && std::strcmp((*module)->name, "ngx_http_oauth_module") == 0) {
            return true;
        }
    }
    return false;
}

ngx_shm_zone_t *oldZoneNamed(const ngx_str_t &name) {
    for (ngx_list_part_t *part = &oldCycle()->shared_memory.part; part; part = part->next) {
        auto *zones = static_cast<ngx_shm_zone_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; ++i) {
            if (view(zones[i].shm.name) == view(name) && isOldModuleTag(zones[i].tag)) {
                return &zones[i];
            }
        }
    }
    return nullptr;
}

// The old zone's token store, or nullptr when another build of the module
// laid it out otherwise. Nothing outside the old zone's memory is read.
const ZoneRegions *readableRegions(const ngx_shm_zone_t *old) {
    const u_char *start = old->shm.addr;
    const u_char *end = start + old->shm.size;
    auto within = [&](const void *p, size_t size) {
        auto *at = static_cast<const u_char *>(p);
        return at >= start && at <= end && size <= static_cast<size_t>(end - at);
    };
    auto *regions = static_cast<const ZoneRegions *>(old->data);
    if (regions == nullptr || !within(regions, sizeof *regions) ||
        !within(regions->tokens, regions->tokens_size) ||
        !oauth::TokenStore::is_formatted(regions->tokens, regions->tokens_size)) {
        return nullptr;
    }
    return regions;
}

struct TokenCopy {
    oauth::ZoneTables *to;
    uint32_t now;
    size_t kept;
    size_t dropped;
    size_t revocations_dropped;
};

void copyToken(void *context, const oauth::Digest &digest, const oauth::TokenGrant &grant) {
    auto *copy = static_cast<TokenCopy *>(context);
    ++(copy->to->restore_token(digest, grant, copy->now) ? copy->kept : copy->dropped);
}

void copyRevocation(void *context, const oauth::Digest &digest, uint32_t expires_at) {
    auto *copy = static_cast<TokenCopy *>(context);
    copy->revocations_dropped += copy->to->restore_revocation({digest, expires_at}, copy->now) ==
                                 oauth::RevocationRestored::refused;
}

// False when there was no old zone of that name.
bool copyOldTokens(ngx_shm_zone_t *zone) {
    ngx_shm_zone_t *old = oldZoneNamed(zone->shm.name);
    if (old == nullptr) {
        return false;
    }
    const ZoneRegions *from = readableRegions(old);
    if (from == nullptr) {
        ngx_log_error(NGX_LOG_WARN, zone->shm.log, 0,
                      "oauth_token_zone \"%V\": the previous zone was laid out by another "
                      "version of the module; all its live tokens are dropped",
                      &zone->shm.name);
        return true;
    }
    oauth::TokenStore store = storeOf(zone);
    oauth::RevocationList revocations = revocationsOf(zone);
    oauth::ZoneTables to(store, revocations);
    TokenCopy copy{&to, static_cast<uint32_t>(ngx_time()), 0, 0, 0};
    // No lock on the old zone: a worker may have died holding it. The
    // revocations first: a revoked JWT lives in no store, and only the list
    // keeps it refused.
    oauth::RevocationList(from->revocations, oauth::StoreLock{})
        .visit_live(copy.now, copyRevocation, &copy);
    if (copy.revocations_dropped > 0) {
        ngx_log_error(NGX_LOG_ERR, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" (%uzk, was %uzk): %uz revocations do not fit in "
                      "its revocation list and are dropped: those tokens pass again until they "
                      "expire",
                      &zone->shm.name, zone->shm.size / 1024, old->shm.size / 1024,
                      copy.revocations_dropped);
    }
    oauth::TokenStore(from->tokens, oauth::StoreLock{}).visit_live(copy.now, copyToken, &copy);
    if (copy.dropped > 0) {
        ngx_log_error(NGX_LOG_WARN, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" (%uzk, was %uzk): %uz live tokens do not fit and "
                      "are dropped, %uz kept",
                      &zone->shm.name, zone->shm.size / 1024, old->shm.size / 1024, copy.dropped,
                      copy.kept);
        return true;
    }
    ngx_log_error(NGX_LOG_NOTICE, zone->shm.log, 0,
                  "oauth_token_zone \"%V\" (%uzk, was %uzk): kept its %uz live tokens",
                  &zone->shm.name, zone->shm.size / 1024, old->shm.size / 1024, copy.kept);
    return true;
}

// A region of the layout, or nullptr for an absent one (size 0).
void *allocRegion(ngx_slab_pool_t *pool, const oauth::ZoneRegion &region, size_t *size) {
    *size = region.size;
    return region.size != 0 ? ngx_slab_alloc(pool, region.size) : nullptr;
}

}  // namespace

ngx_int_t initZone(ngx_shm_zone_t *zone, void *reused) {
    auto *pool = reinterpret_cast<ngx_slab_pool_t *>(zone->shm.addr);
    const Zone &conf = *static_cast<const Zone *>(zone->data);  // set by oauth_token_zone
    if (checkStateDirectory(zone, conf) != NGX_OK) {
        return NGX_ERROR;
    }
    if (reused != nullptr) {
        // nginx -s reload: keep every token, unless a rebuilt module lays
        // the zone out differently.
        zone->data = reused;
        auto *regions = static_cast<ZoneRegions *>(reused);
        if (conf.fleet && regions->outbox == nullptr) {
            ngx_log_error(NGX_LOG_WARN, zone->shm.log, 0,
                          "oauth_token_zone \"%V\" was made before oauth_fleet_redis and has no "
                          "outbox: its revocations reach the other nodes only after a restart "
                          "(or a resize); it reads theirs already",
                          &zone->shm.name);
        }
        if (regionsFormatted(regions)) {
            return NGX_OK;
        }
        ngx_log_error(NGX_LOG_WARN, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" was laid out by another version of the module; "
                      "its tokens are dropped",
                      &zone->shm.name);
        return formatRegions(regions) ? NGX_OK : NGX_ERROR;
    }
    if (zone->shm.exists) {
        zone->data = pool->data;
        return NGX_OK;
    }
    auto *regions = static_cast<ZoneRegions *>(ngx_slab_alloc(pool, sizeof(ZoneRegions)));
    pool->log_ctx = static_cast<u_char *>(ngx_slab_alloc(pool, logContextSize(zone->shm.name)));
    if (regions == nullptr || pool->log_ctx == nullptr) {
        return NGX_ERROR;
    }
    ngx_sprintf(pool->log_ctx, " in oauth_token_zone \"%V\"%Z", &zone->shm.name);

    const oauth::ZoneLayout layout =
        zoneLayout(zone->shm.size, zone->shm.name, {conf.state_file.len != 0, conf.fleet});
    // In the layout's order: each allocation takes the next free pages.
    regions->throttle = allocRegion(pool, layout.throttle, &regions->throttle_size);
    regions->metrics = allocRegion(pool, layout.metrics, &regions->metrics_size);
    regions->verdicts = allocRegion(pool, layout.verdicts, &regions->verdicts_size);
    regions->revocations = allocRegion(pool, layout.revocations, &regions->revocations_size);
    regions->replays = allocRegion(pool, layout.replays, &regions->replays_size);
    regions->changes = allocRegion(pool, layout.changes, &regions->changes_size);
    regions->outbox = allocRegion(pool, layout.outbox, &regions->outbox_size);
    regions->state = static_cast<ZoneState *>(ngx_slab_alloc(pool, sizeof(ZoneState)));
    // The tokens take every page left; the token store does its own layout.
    regions->tokens = allocRegion(pool, layout.tokens, &regions->tokens_size);
    if (!layout.fits || regions->throttle == nullptr || regions->metrics == nullptr ||
        regions->verdicts == nullptr || regions->revocations == nullptr ||
        regions->replays == nullptr ||
        (regions->changes == nullptr && regions->changes_size != 0) ||
        (conf.fleet && regions->outbox == nullptr) || regions->state == nullptr ||
        regions->tokens == nullptr || !formatRegions(regions)) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" is too small for a token store", &zone->shm.name);
        return NGX_ERROR;
    }
    pool->data = regions;
    zone->data = regions;
    // A zone nginx makes anew on reload (resized, or the module loaded from a
    // new path) takes the old zone's tokens; a zone new to the master (a start,
    // a binary upgrade) takes the state file's, then what the fleet's
    // stream holds past the file's position.
    if (!copyOldTokens(zone)) {
        loadStateFile(zone, conf);
        readFleetAtStart(zone, conf);
    }
    return NGX_OK;
}

}  // namespace oauth_ngx
