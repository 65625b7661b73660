// The shared memory zone: the token store, the brute-force counters and the
// metrics laid over it, reused on reload.
#include "ngx/module.hpp"

#include "core/auth_throttle.hpp"

namespace oauth_ngx {

// ---- the token store over a shared zone ----------------------------------

void lockZone(void *mutex) {
    ngx_shmtx_lock(static_cast<ngx_shmtx_t *>(mutex));
}

void unlockZone(void *mutex) {
    ngx_shmtx_unlock(static_cast<ngx_shmtx_t *>(mutex));
}

bool formatRegions(ZoneRegions *regions) {
    return oauth::AuthThrottle::format(regions->throttle, regions->throttle_size) &&
           oauth::metrics::Counters::format(regions->metrics, regions->metrics_size) &&
           oauth::TokenStore::format(regions->tokens, regions->tokens_size);
}

bool regionsFormatted(const ZoneRegions *regions) {
    return oauth::AuthThrottle::is_formatted(regions->throttle, regions->throttle_size) &&
           oauth::metrics::Counters::is_formatted(regions->metrics, regions->metrics_size) &&
           oauth::TokenStore::is_formatted(regions->tokens, regions->tokens_size);
}

// The slab pool's mutex is the writers' lock: nginx force-unlocks it when a
// worker dies holding it.
oauth::StoreLock zoneLock(ngx_shm_zone_t *zone) {
    auto *pool = reinterpret_cast<ngx_slab_pool_t *>(zone->shm.addr);
    return oauth::StoreLock{&pool->mutex, lockZone, unlockZone};
}

oauth::TokenStore storeOf(ngx_shm_zone_t *zone) {
    return oauth::TokenStore(static_cast<ZoneRegions *>(zone->data)->tokens, zoneLock(zone));
}

oauth::metrics::Counters countersOf(ngx_shm_zone_t *zone) {
    return oauth::metrics::Counters(static_cast<ZoneRegions *>(zone->data)->metrics,
                                    zoneLock(zone));
}

// About 1.5% of the zone: the counters of some 76 clients per megabyte.
size_t metricsSize(size_t zone) {
    size_t size = zone / 64;
    return ngx_align(size < oauth::metrics::Counters::kMinRegionSize
                         ? oauth::metrics::Counters::kMinRegionSize
                         : size,
                     ngx_pagesize);
}

// About 3% of the zone, enough for thousands of (client, address) counters.
size_t throttleSize(size_t zone) {
    size_t size = zone / 32;
    return ngx_align(
        size < oauth::AuthThrottle::kMinRegionSize ? oauth::AuthThrottle::kMinRegionSize : size,
        ngx_pagesize);
}

// The slab pool keeps a descriptor per page and two pages for itself and the
// small allocations (ZoneRegions, log_ctx); the brute-force counters and the
// metrics come next; the token store gets the rest (see initZone).
size_t zoneTokenCapacity(size_t size) {
    constexpr size_t kPageDescriptor = 3 * sizeof(uintptr_t);  // ngx_slab_page_t
    size_t pages = (size - sizeof(ngx_slab_pool_t) - 1024) / (ngx_pagesize + kPageDescriptor);
    size_t taken = 2 + (throttleSize(size) + metricsSize(size)) / ngx_pagesize;
    return pages > taken ? oauth::TokenStore::capacity_for((pages - taken) * ngx_pagesize) : 0;
}

ngx_int_t initZone(ngx_shm_zone_t *zone, void *reused) {
    auto *pool = reinterpret_cast<ngx_slab_pool_t *>(zone->shm.addr);
    if (reused != nullptr) {
        // nginx -s reload: keep every token, unless a rebuilt module lays
        // the zone out differently.
        zone->data = reused;
        auto *regions = static_cast<ZoneRegions *>(reused);
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
    pool->log_ctx = static_cast<u_char *>(ngx_slab_alloc(pool, zone->shm.name.len + 32));
    if (regions == nullptr || pool->log_ctx == nullptr) {
        return NGX_ERROR;
    }
    ngx_sprintf(pool->log_ctx, " in oauth_token_zone \"%V\"%Z", &zone->shm.name);

    regions->throttle_size = throttleSize(zone->shm.size);
    regions->throttle = ngx_slab_alloc(pool, regions->throttle_size);
    regions->metrics_size = metricsSize(zone->shm.size);
    regions->metrics = ngx_slab_alloc(pool, regions->metrics_size);
    // The tokens take every page left; the token store does its own layout.
    regions->tokens_size = pool->pfree * ngx_pagesize;
    regions->tokens = ngx_slab_alloc(pool, regions->tokens_size);
    if (regions->throttle == nullptr || regions->metrics == nullptr || regions->tokens == nullptr ||
        !formatRegions(regions)) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" is too small for a token store", &zone->shm.name);
        return NGX_ERROR;
    }
    pool->data = regions;
    zone->data = regions;
    return NGX_OK;
}

}  // namespace oauth_ngx
