// The shared memory zone of keys from a URL: one SharedSource per source,
// found by its key (issuer and URL), so that a reload with the same sources
// keeps what was fetched, in whatever order they come now. A zone whose
// layout this build does not know is dropped with a warning.
#include "ngx/jwks_source.hpp"

#include <cstring>
#include <new>

namespace oauth_ngx {

struct JwksZoneHeader {
    uint64_t magic;
    uint32_t layout;
    uint32_t count;
};

namespace {

constexpr uint64_t kMagic = 0x534b574a48545541;  // "AUTHJWKS"
constexpr uint32_t kLayout = 1;
const ngx_str_t kZoneName = ngx_string("ngx_http_oauth_module:trusted_keys");

size_t blockSize(size_t count) {
    return sizeof(JwksZoneHeader) + count * sizeof(SharedSource);
}

SharedSource *sourcesOf(JwksZoneHeader *header) {
    return reinterpret_cast<SharedSource *>(header + 1);
}

bool holdsKey(const SharedSource &shared, const std::string &key) {
    return shared.key_length == key.size() && std::memcmp(shared.key, key.data(), key.size()) == 0;
}

void resetSource(SharedSource &shared, const std::string &key) {
    std::memset(static_cast<void *>(&shared), 0, offsetof(SharedSource, text));
    shared.record = oauth::jose::FetchRecord();
    shared.key_length = uint32_t(key.size());
    std::memcpy(shared.key, key.data(), key.size());
}

void swapSources(SharedSource &a, SharedSource &b) {
    static SharedSource spare;  // too big for the stack; init runs in the master only
    std::memcpy(static_cast<void *>(&spare), &a, sizeof spare);
    std::memcpy(static_cast<void *>(&a), &b, sizeof spare);
    std::memcpy(static_cast<void *>(&b), &spare, sizeof spare);
}

// Source i gets record i: the one of its key when the old zone held it,
// else an empty one. Nothing else runs while the master sets the zone up, but
// workers of the last configuration may still finish a fetch: they write
// only into a record that holds their key (jwks_fetch.cpp), and a lease they
// held is dropped here so that a new worker need not wait it out.
void matchSources(JwksZoneHeader *header, const JwksSources &sources) {
    SharedSource *shared = sourcesOf(header);
    for (size_t i = 0; i < sources.list.size(); ++i) {
        std::string key = sourceKey(sources.list[i]);
        for (size_t j = i + 1; !holdsKey(shared[i], key) && j < header->count; ++j) {
            if (holdsKey(shared[j], key)) {
                swapSources(shared[i], shared[j]);
            }
        }
        if (!holdsKey(shared[i], key)) {
            resetSource(shared[i], key);
        }
        shared[i].record.lease_holder = 0;
    }
}

JwksZoneHeader *newBlock(ngx_slab_pool_t *pool, const JwksSources &sources) {
    auto *header =
        static_cast<JwksZoneHeader *>(ngx_slab_alloc(pool, blockSize(sources.list.size())));
    if (header == nullptr) {
        return nullptr;
    }
    header->magic = kMagic;
    header->layout = kLayout;
    header->count = uint32_t(sources.list.size());
    for (size_t i = 0; i < sources.list.size(); ++i) {
        resetSource(sourcesOf(header)[i], sourceKey(sources.list[i]));
    }
    pool->data = header;
    return header;
}

ngx_int_t initKeysZone(ngx_shm_zone_t *zone, void *reused) {
    auto *sources = static_cast<JwksSources *>(zone->data);
    auto *pool = reinterpret_cast<ngx_slab_pool_t *>(zone->shm.addr);
    if (reused != nullptr) {
        auto *header = static_cast<JwksZoneHeader *>(pool->data);
        if (header != nullptr && header->magic == kMagic && header->layout == kLayout &&
            header->count == sources->list.size()) {
            ngx_shmtx_lock(&pool->mutex);
            matchSources(header, *sources);
            ngx_shmtx_unlock(&pool->mutex);
            sources->shared = header;
            return NGX_OK;
        }
        ngx_log_error(NGX_LOG_WARN, zone->shm.log, 0,
                      "oauth_trust_issuer: the keys fetched before are in a layout this build "
                      "does not read: they are fetched again");
        ngx_slab_init(pool);
    }
    sources->shared = newBlock(pool, *sources);
    return sources->shared != nullptr ? NGX_OK : NGX_ERROR;
}

}  // namespace

std::string sourceKey(const JwksSource &source) {
    return source.issuer + "\n" + (source.discovery ? std::string("discovery") : source.url);
}

// Sized by the count of sources, so that a reload with the same count
// reuses it; the slab allocator's page descriptors and header get their share.
ngx_int_t addJwksZone(ngx_conf_t *cf, JwksSources &sources) {
    size_t block = blockSize(sources.list.size());
    size_t size = block + block / 128 + 64 * 1024;
    ngx_str_t name = kZoneName;
    ngx_shm_zone_t *zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_oauth_module);
    if (zone == nullptr) {
        return NGX_ERROR;
    }
    zone->init = initKeysZone;
    zone->data = &sources;
    sources.zone = zone;
    return NGX_OK;
}

SharedSource *sharedSource(const JwksSources &sources, size_t index) {
    if (sources.shared == nullptr || index >= sources.shared->count) {
        return nullptr;
    }
    return &sourcesOf(sources.shared)[index];
}

void lockJwksZone(const JwksSources &sources) {
    ngx_shmtx_lock(&reinterpret_cast<ngx_slab_pool_t *>(sources.zone->shm.addr)->mutex);
}

void unlockJwksZone(const JwksSources &sources) {
    ngx_shmtx_unlock(&reinterpret_cast<ngx_slab_pool_t *>(sources.zone->shm.addr)->mutex);
}

}  // namespace oauth_ngx
