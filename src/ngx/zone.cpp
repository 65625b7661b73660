// The shared memory zone: the token store, the brute-force counters and the
// JWT verdicts laid over it, reused on reload.
#include "ngx/module.hpp"

#include "core/auth_throttle.hpp"
#include "core/jose/verdict_cache.hpp"

#include <algorithm>

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
           oauth::jose::VerdictCache::format(regions->verdicts, regions->verdicts_size) &&
           oauth::TokenStore::format(regions->tokens, regions->tokens_size);
}

bool regionsFormatted(const ZoneRegions *regions) {
    return oauth::AuthThrottle::is_formatted(regions->throttle, regions->throttle_size) &&
           oauth::jose::VerdictCache::is_formatted(regions->verdicts, regions->verdicts_size) &&
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

// About 3% of the zone, enough for thousands of (client, address) counters.
size_t throttleSize(size_t zone) {
    size_t size = zone / 32;
    return ngx_align(
        size < oauth::AuthThrottle::kMinRegionSize ? oauth::AuthThrottle::kMinRegionSize : size,
        ngx_pagesize);
}

// About 3% of the zone too: 36-byte entries, some 14 000 in a 16m zone.
size_t verdictsSize(size_t zone) {
    return ngx_align(std::max(zone / 32, oauth::jose::VerdictCache::kMinRegionSize), ngx_pagesize);
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
    regions->verdicts_size = verdictsSize(zone->shm.size);
    regions->verdicts = ngx_slab_alloc(pool, regions->verdicts_size);
    // The tokens take every page left; the token store does its own layout.
    regions->tokens_size = pool->pfree * ngx_pagesize;
    regions->tokens = ngx_slab_alloc(pool, regions->tokens_size);
    if (regions->throttle == nullptr || regions->verdicts == nullptr ||
        regions->tokens == nullptr || !formatRegions(regions)) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" is too small for a token store", &zone->shm.name);
        return NGX_ERROR;
    }
    pool->data = regions;
    zone->data = regions;
    return NGX_OK;
}

}  // namespace oauth_ngx
