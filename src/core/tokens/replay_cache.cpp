// The replay cache: see replay_cache.hpp for the rules.
#include "core/tokens/replay_cache.hpp"

#include <algorithm>
#include <cstring>

#include "core/tokens/revocation_list.hpp"
#include "core/tokens/slot_region.hpp"

namespace oauth {
namespace {

constexpr uint64_t kMagic = 0x594c504552545541;  // "AUTREPLY"
constexpr uint32_t kVersion = 1;

struct Entry {
    Digest key;
    uint32_t expires_at;  // 0: never used, the end of every probe chain
    uint32_t client_tag;
};

// As the revocation list's: the live entries of the tags of one bucket, at
// most; the last client of the bucket found at its share, and until when.
struct TagCounter {
    uint32_t entries;
    uint32_t full_tag;
    uint32_t full_until;
};

constexpr uint32_t kTagBuckets = 256;

struct Region : SlotRegionHeader {
    TagCounter charged[kTagBuckets];
};

constexpr size_t kEntriesOffset = (sizeof(Region) + 63) / 64 * 64;

Entry *entries(Region &region) {
    return reinterpret_cast<Entry *>(reinterpret_cast<char *>(&region) + kEntriesOffset);
}

uint32_t home_of(const Digest &key, uint32_t count) {
    uint64_t word;
    std::memcpy(&word, key.data(), sizeof word);
    return uint32_t(word % count);
}

// The live entries of a client and of its bucket, and the client's soonest expiry.
struct Recount {
    uint32_t client = 0;
    uint32_t bucket = 0;
    uint32_t soonest = UINT32_MAX;
};

Recount recount(const Entry *slots, uint32_t count, uint32_t tag, uint32_t now) {
    Recount found;
    for (uint32_t i = 0; i < count; ++i) {
        const Entry &entry = slots[i];
        if (entry.expires_at <= now || entry.client_tag % kTagBuckets != tag % kTagBuckets) {
            continue;
        }
        ++found.bucket;
        if (entry.client_tag == tag) {
            ++found.client;
            found.soonest = std::min(found.soonest, entry.expires_at);
        }
    }
    return found;
}

constexpr SlotRegionShape kShape{kMagic, kVersion, ReplayCache::kMinRegionSize, kEntriesOffset,
                                 sizeof(Entry)};

}  // namespace

struct ReplayCache::Header : Region {};

size_t ReplayCache::capacity_for(size_t size) noexcept {
    return size < kShape.min_size ? 0 : kShape.slots_in(size);
}

bool ReplayCache::format(void *region, size_t size) noexcept {
    return format_slot_region<Header>(region, size, kShape);
}

bool ReplayCache::is_formatted(const void *region, size_t size) noexcept {
    return is_slot_region<Header>(region, size, kShape);
}

ReplayCache::ReplayCache(void *region, StoreLock lock) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock) {}

bool ReplayCache::key_of(std::string_view client_id, std::string_view jti, Digest &key) noexcept {
    return sha256_digest({client_id, std::string_view("\0", 1), jti}, key);
}

uint32_t ReplayCache::client_tag(std::string_view client_id) noexcept {
    return RevocationList::client_tag(client_id);  // one hash of ids for every table
}

uint32_t ReplayCache::default_share() const noexcept {
    return std::max<uint32_t>(1, header_->slot_count / 4);
}

size_t ReplayCache::capacity() const noexcept {
    return header_->slot_count;
}

// The client's bucket is recounted only when its counter reaches the share,
// and not again for a client found full until its soonest entry expires.
bool ReplayCache::at_share(ReplayCharge charge, uint32_t now, uint32_t &retry_after) noexcept {
    TagCounter &counter = header_->charged[charge.tag % kTagBuckets];
    if (counter.entries < charge.share) {
        return false;
    }
    if (counter.full_tag == charge.tag && now < counter.full_until) {
        retry_after = counter.full_until - now;
        return true;
    }
    Recount live = recount(entries(*header_), header_->slot_count, charge.tag, now);
    counter.entries = live.bucket;
    if (live.client < charge.share) {
        return false;
    }
    counter.full_tag = charge.tag;
    counter.full_until = live.soonest;
    retry_after = live.soonest - now;
    return true;
}

ReplayVerdict ReplayCache::admit(const Digest &key, uint32_t expires_at, uint32_t now,
                                 ReplayCharge charge, uint32_t &retry_after) noexcept {
    retry_after = 0;
    Locked locked(lock_);
    Entry *slots = entries(*header_);
    const uint32_t count = header_->slot_count;
    Entry *reusable = nullptr;
    uint32_t soonest = UINT32_MAX;
    for (uint32_t d = 0, i = home_of(key, count); d < kProbeLimit && d < count;
         ++d, i = (i + 1) % count) {
        Entry &entry = slots[i];
        if (entry.expires_at > now) {
            if (entry.key == key) {
                return ReplayVerdict::replayed;
            }
            soonest = std::min(soonest, entry.expires_at);
            continue;
        }
        if (reusable == nullptr) {
            reusable = &entry;
        }
        if (entry.expires_at == 0) {
            break;  // the end of the chain: the key is not further on
        }
    }
    if (reusable == nullptr) {
        retry_after = soonest - now;
        return ReplayVerdict::full;
    }
    charge.share = charge.share != 0 ? charge.share : default_share();
    if (at_share(charge, now, retry_after)) {
        return ReplayVerdict::client_at_share;
    }
    reusable->key = key;
    reusable->client_tag = charge.tag;
    reusable->expires_at = std::max(expires_at, now + 1);
    ++header_->charged[charge.tag % kTagBuckets].entries;
    return ReplayVerdict::fresh;
}

}  // namespace oauth
