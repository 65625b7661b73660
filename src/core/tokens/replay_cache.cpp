// The replay cache: see replay_cache.hpp for the rules.
#include "core/tokens/replay_cache.hpp"

#include <algorithm>
#include <cstring>

#include "core/tokens/slot_region.hpp"
#include "core/tokens/tag_shares.hpp"

namespace oauth {
namespace {

constexpr uint64_t kMagic = 0x594c504552545541;  // "AUTREPLY"
constexpr uint32_t kVersion = 1;

struct Entry {
    Digest key;
    uint32_t expires_at;  // 0: never used, the end of every probe chain
    uint32_t client_tag;
};

// The bytes of a slot under this kVersion: another layout is another kVersion.
static_assert(sizeof(Entry) == 40);

Entry *entries(TaggedSlotRegion &region) {
    return tagged_slots<Entry>(region);
}

uint32_t home_of(const Digest &key, uint32_t count) {
    uint64_t word;
    std::memcpy(&word, key.data(), sizeof word);
    return uint32_t(word % count);
}

constexpr SlotRegionShape kShape{kMagic, kVersion, ReplayCache::kMinRegionSize, kTaggedSlotsOffset,
                                 sizeof(Entry)};

}  // namespace

struct ReplayCache::Header : TaggedSlotRegion {};

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
    return TagShares::tag_of(client_id);
}

uint32_t ReplayCache::default_share() const noexcept {
    return TagShares::share_of(header_->slot_count);
}

size_t ReplayCache::capacity() const noexcept {
    return header_->slot_count;
}

bool ReplayCache::at_share(ReplayCharge charge, uint32_t now, uint32_t &retry_after) noexcept {
    return header_->shares.at_share(charge.tag, charge.share, entries(*header_),
                                    header_->slot_count, now, retry_after,
                                    [](const Entry &entry) { return entry.expires_at; });
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
    header_->shares.charge(charge.tag);
    return ReplayVerdict::fresh;
}

ReplayVerdict ReplayCache::admit_jti(std::string_view client_id, const Digest &key,
                                     uint32_t expires_at, uint32_t now,
                                     uint32_t &retry_after) noexcept {
    return admit(key, expires_at, now, ReplayCharge{client_tag(client_id), 0}, retry_after);
}

}  // namespace oauth
