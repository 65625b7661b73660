#include "core/jose/verdict_cache.hpp"

#include <cstring>

namespace oauth::jose {

namespace {

constexpr uint64_t kMagic = 0x5443445657414f41;  // "AOAWVDCT"
constexpr uint32_t kVersion = 2;                 // 2: each verdict names its key
constexpr size_t kWays = 4;                      // entries a digest may live in

}  // namespace

struct VerdictCache::Header {
    uint64_t magic;
    uint32_t version;
    uint32_t bucket_count;
    uint64_t size;
};

struct VerdictCache::Entry {
    Digest digest;
    KeyFingerprint key;
    uint32_t expires_at;  // 0: free
};

bool VerdictCache::format(void *region, size_t size) noexcept {
    if (region == nullptr || size < kMinRegionSize) {
        return false;
    }
    std::memset(region, 0, size);
    auto *header = static_cast<Header *>(region);
    header->magic = kMagic;
    header->version = kVersion;
    header->bucket_count = uint32_t((size - sizeof(Header)) / (kWays * sizeof(Entry)));
    header->size = size;
    return true;
}

bool VerdictCache::is_formatted(const void *region, size_t size) noexcept {
    const auto *header = static_cast<const Header *>(region);
    return region != nullptr && size >= kMinRegionSize && header->magic == kMagic &&
           header->version == kVersion && header->size == size;
}

VerdictCache::VerdictCache(void *region, StoreLock lock) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock) {}

// The digest is SHA-256 of the token: its first bytes are already uniform.
VerdictCache::Entry *VerdictCache::bucket(const Digest &digest) const noexcept {
    uint64_t index;
    std::memcpy(&index, digest.data(), sizeof index);
    auto *entries = reinterpret_cast<Entry *>(header_ + 1);
    return entries + (index % header_->bucket_count) * kWays;
}

std::optional<KeyFingerprint> VerdictCache::verified_with(const Digest &digest,
                                                          uint32_t now) const noexcept {
    Locked locked(lock_);
    const Entry *entries = bucket(digest);
    for (size_t i = 0; i < kWays; ++i) {
        if (entries[i].expires_at > now && entries[i].digest == digest) {
            return entries[i].key;
        }
    }
    return std::nullopt;
}

void VerdictCache::remember(const Digest &digest, const KeyFingerprint &key, uint32_t expires_at,
                            uint32_t now) noexcept {
    Locked locked(lock_);
    Entry *entries = bucket(digest);
    Entry *slot = &entries[0];
    for (size_t i = 0; i < kWays; ++i) {
        Entry &entry = entries[i];
        if (entry.digest == digest || entry.expires_at <= now) {
            slot = &entry;
            break;
        }
        if (entry.expires_at < slot->expires_at) {
            slot = &entry;
        }
    }
    slot->digest = digest;
    slot->key = key;
    slot->expires_at = expires_at;
}

}  // namespace oauth::jose
