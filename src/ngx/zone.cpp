// The shared memory zone: the token store and the brute-force counters
// laid over it, reused on reload.
#include "ngx/module.hpp"

#include <new>

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
    new (regions->state) ZoneState{};
    return oauth::AuthThrottle::format(regions->throttle, regions->throttle_size) &&
           oauth::RevocationList::format(regions->revocations, regions->revocations_size) &&
           oauth::TokenStore::format(regions->tokens, regions->tokens_size);
}

bool regionsFormatted(const ZoneRegions *regions) {
    return oauth::AuthThrottle::is_formatted(regions->throttle, regions->throttle_size) &&
           oauth::RevocationList::is_formatted(regions->revocations, regions->revocations_size) &&
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

oauth::RevocationList revocationsOf(ngx_shm_zone_t *zone) {
    return oauth::RevocationList(static_cast<ZoneRegions *>(zone->data)->revocations,
                                 zoneLock(zone));
}

// About 3% of the zone: enough for thousands of (client, address) counters,
// and as many revocations.
size_t regionSize(size_t zone, size_t minimum) {
    size_t size = zone / 32;
    return ngx_align(size < minimum ? minimum : size, ngx_pagesize);
}

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

    regions->throttle_size = regionSize(zone->shm.size, oauth::AuthThrottle::kMinRegionSize);
    regions->throttle = ngx_slab_alloc(pool, regions->throttle_size);
    regions->revocations_size = regionSize(zone->shm.size, oauth::RevocationList::kMinRegionSize);
    regions->revocations = ngx_slab_alloc(pool, regions->revocations_size);
    regions->state = static_cast<ZoneState *>(ngx_slab_alloc(pool, sizeof(ZoneState)));
    // The tokens take every page left; the token store does its own layout.
    regions->tokens_size = pool->pfree * ngx_pagesize;
    regions->tokens = ngx_slab_alloc(pool, regions->tokens_size);
    if (regions->throttle == nullptr || regions->revocations == nullptr ||
        regions->state == nullptr || regions->tokens == nullptr || !formatRegions(regions)) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" is too small for a token store", &zone->shm.name);
        return NGX_ERROR;
    }
    pool->data = regions;
    zone->data = regions;
    loadStateFile(zone, conf);
    return NGX_OK;
}

}  // namespace oauth_ngx
