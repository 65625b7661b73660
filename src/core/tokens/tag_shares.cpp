// A fair share of a table by client tag: see tag_shares.hpp for the rules.
#include "core/tokens/tag_shares.hpp"

#include <algorithm>

namespace oauth {
namespace {

uint32_t bucket_of(uint32_t tag) {
    return tag % TagShares::kBuckets;
}

}  // namespace

void TagRecount::count(uint32_t entry_tag, uint32_t expires_at, uint32_t now) noexcept {
    if (expires_at <= now || entry_tag == TagShares::kNobody ||
        bucket_of(entry_tag) != bucket_of(tag)) {
        return;
    }
    ++bucket;
    if (entry_tag == tag) {
        ++client;
        soonest = std::min(soonest, expires_at);
    }
}

// FNV-1a: spreads ids over the buckets; 0 is left for nobody.
uint32_t TagShares::tag_of(std::string_view client_id) noexcept {
    uint32_t hash = 2166136261u;
    for (unsigned char c : client_id) {
        hash = (hash ^ c) * 16777619u;
    }
    return hash != kNobody ? hash : 1;
}

uint32_t TagShares::share_of(size_t capacity) noexcept {
    return std::max<uint32_t>(1, uint32_t(capacity / 4));
}

void TagShares::charge(uint32_t tag) noexcept {
    if (tag != kNobody) {
        ++counters_[bucket_of(tag)].entries;
    }
}

// The bucket's counter bounds the client's live entries from above: below
// the share, the client is too. A client found at its share stays so until
// its soonest entry expires.
TagShares::Known TagShares::known_share(uint32_t tag, uint32_t share, uint32_t now,
                                        uint32_t &retry_after) const noexcept {
    const Counter &counter = counters_[bucket_of(tag)];
    if (tag == kNobody || share == 0 || counter.entries < share) {
        return Known::below_share;
    }
    if (counter.full_tag == tag && now < counter.full_until) {
        retry_after = counter.full_until - now;
        return Known::at_share;
    }
    return Known::unknown;
}

bool TagShares::settle(const TagRecount &live, uint32_t share, uint32_t now,
                       uint32_t &retry_after) noexcept {
    Counter &counter = counters_[bucket_of(live.tag)];
    counter.entries = live.bucket;
    if (live.client < share) {
        return false;
    }
    counter.full_tag = live.tag;
    counter.full_until = live.soonest;
    retry_after = live.soonest - now;
    return true;
}

}  // namespace oauth
