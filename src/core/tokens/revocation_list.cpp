// The revocation list: see revocation_list.hpp for the layout and the rules.
//
// A reader compares a slot's digest between two loads of its expiry. A
// writer reusing a slot sets the expiry to 1 (past, but not empty) before it
// touches the digest and stores the real expiry last, so a reader never
// takes half of one digest and half of another for a live entry.
#include "core/tokens/revocation_list.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <new>

#include "core/tokens/slot_region.hpp"

namespace oauth {
namespace {

constexpr uint64_t kMagic = 0x4b56455248545541;  // "AUTHREVK"
// 2: entries carry their client's tag, and the header the counters of the tags.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kRewriting = 1;  // an expiry long past: the slot is being reused
constexpr uint32_t kNobody = 0;     // the tag of an entry charged to no client
constexpr auto kRelaxed = std::memory_order_relaxed;

struct Entry {
    std::atomic<uint64_t> digest[4];
    std::atomic<uint32_t> expires_at;  // 0: never used, the end of every probe chain
    uint32_t client_tag;               // whom it is charged to; read and written under the lock
};

// The live entries charged to the tags of one bucket, at most; and the last
// client of the bucket found at its share, with the expiry of its soonest
// entry, before which its count cannot drop.
struct TagCounter {
    uint32_t entries;
    uint32_t full_tag;
    uint32_t full_until;
};

// Enough buckets that two clients rarely share one: a client sharing a
// bucket with one at its share pays a scan per new entry, as that one does.
constexpr uint32_t kTagBuckets = 256;

struct Region : SlotRegionHeader {
    TagCounter charged[kTagBuckets];
};

constexpr size_t kEntriesOffset = (sizeof(Region) + 63) / 64 * 64;

Entry *entries(Region &region) {
    return reinterpret_cast<Entry *>(reinterpret_cast<char *>(&region) + kEntriesOffset);
}

void load_words(const Digest &digest, uint64_t (&words)[4]) {
    std::memcpy(words, digest.data(), sizeof words);
}

bool holds(const Entry &entry, const uint64_t (&words)[4]) {
    for (size_t i = 0; i < 4; ++i) {
        if (entry.digest[i].load(kRelaxed) != words[i]) {
            return false;
        }
    }
    return true;
}

void rewrite(Entry &entry, const uint64_t (&words)[4], uint32_t expires_at, uint32_t tag) {
    entry.expires_at.store(kRewriting, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    for (size_t i = 0; i < 4; ++i) {
        entry.digest[i].store(words[i], kRelaxed);
    }
    entry.client_tag = tag;
    entry.expires_at.store(expires_at, std::memory_order_release);
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
        uint32_t until = entry.expires_at.load(kRelaxed);
        if (until <= now || entry.client_tag == kNobody ||
            entry.client_tag % kTagBuckets != tag % kTagBuckets) {
            continue;
        }
        ++found.bucket;
        if (entry.client_tag == tag) {
            ++found.client;
            found.soonest = std::min(found.soonest, until);
        }
    }
    return found;
}

}  // namespace

struct RevocationList::Header : Region {};

// Where a digest is, or may go, among the slots it may take.
struct RevocationList::Probe {
    Entry *held = nullptr;          // the digest's own entry
    Entry *reusable = nullptr;      // the first slot free or expired
    uint32_t soonest = UINT32_MAX;  // the soonest expiry of the live entries passed
};

constexpr SlotRegionShape kShape{kMagic, kVersion, RevocationList::kMinRegionSize, kEntriesOffset,
                                 sizeof(Entry)};

bool RevocationList::format(void *region, size_t size) noexcept {
    return format_slot_region<Header>(region, size, kShape);
}

bool RevocationList::is_formatted(const void *region, size_t size) noexcept {
    return is_slot_region<Header>(region, size, kShape);
}

RevocationList::RevocationList(void *region, StoreLock lock, ChangeLog changes) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock), changes_(changes) {}

// FNV-1a: spreads ids over the buckets; 0 is left for nobody.
uint32_t RevocationList::client_tag(std::string_view client_id) noexcept {
    uint32_t hash = 2166136261u;
    for (unsigned char c : client_id) {
        hash = (hash ^ c) * 16777619u;
    }
    return hash != kNobody ? hash : 1;
}

size_t RevocationList::capacity_for(size_t size) noexcept {
    return size < kShape.min_size ? 0 : kShape.slots_in(size);
}

uint32_t RevocationList::share_of(size_t capacity) noexcept {
    return std::max<uint32_t>(1, uint32_t(capacity / 4));
}

uint32_t RevocationList::default_share() const noexcept {
    return share_of(header_->slot_count);
}

RevocationList::Probe RevocationList::probe(const uint64_t (&words)[4],
                                            uint32_t now) const noexcept {
    Probe found;
    Entry *slots = entries(*header_);
    uint32_t count = header_->slot_count;
    for (uint32_t d = 0, i = words[0] % count; d < kProbeLimit && d < count;
         ++d, i = (i + 1) % count) {
        Entry &entry = slots[i];
        uint32_t held_until = entry.expires_at.load(kRelaxed);
        if (held_until != 0 && holds(entry, words)) {
            // Expired, it is taken again as a new entry, charged anew.
            (held_until > now ? found.held : found.reusable) = &entry;
            return found;
        }
        if (held_until > now) {
            found.soonest = std::min(found.soonest, held_until);
        } else if (found.reusable == nullptr) {
            found.reusable = &entry;
        }
        if (held_until == 0) {
            break;  // the end of the chain: the digest is not further on
        }
    }
    return found;
}

// True when the client `charge` names holds its share of live entries. Its
// bucket's counter is recounted only when it reaches the share, and not again
// for a client found full until that client's soonest entry expires.
bool RevocationList::at_share(RevocationCharge charge, uint32_t now,
                              uint32_t &retry_after) noexcept {
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

RevocationAdded RevocationList::add(const Digest &digest, uint32_t expires_at, uint32_t now,
                                    RevocationCharge charge, uint32_t &retry_after) noexcept {
    retry_after = 0;
    if (expires_at <= now) {
        return RevocationAdded::added;  // nothing left to refuse
    }
    uint64_t words[4];
    load_words(digest, words);
    Locked locked(lock_);
    Probe found = probe(words, now);
    if (found.held != nullptr) {
        if (found.held->expires_at.load(kRelaxed) < expires_at) {
            found.held->expires_at.store(expires_at, std::memory_order_release);
            changes_.note(digest, expires_at);
        }
        return RevocationAdded::added;
    }
    if (found.reusable == nullptr) {
        retry_after = found.soonest - now;
        return RevocationAdded::full;
    }
    if (charge.tag != kNobody && charge.share != 0 && at_share(charge, now, retry_after)) {
        return RevocationAdded::client_at_share;
    }
    rewrite(*found.reusable, words, expires_at, charge.tag);
    if (charge.tag != kNobody) {
        ++header_->charged[charge.tag % kTagBuckets].entries;
    }
    changes_.note(digest, expires_at);
    return RevocationAdded::added;
}

bool RevocationList::add(const Digest &digest, uint32_t expires_at, uint32_t now) noexcept {
    uint32_t retry_after = 0;
    return add(digest, expires_at, now, RevocationCharge{}, retry_after) == RevocationAdded::added;
}

void RevocationList::prefetch(const Digest &digest) const noexcept {
    uint64_t words[4];
    load_words(digest, words);
    __builtin_prefetch(&entries(*header_)[words[0] % header_->slot_count]);
}

bool RevocationList::contains(const Digest &digest, uint32_t now) const noexcept {
    uint64_t words[4];
    load_words(digest, words);
    const Entry *slots = entries(*header_);
    uint32_t count = header_->slot_count;
    for (uint32_t d = 0, i = words[0] % count; d < kProbeLimit && d < count;
         ++d, i = (i + 1) % count) {
        const Entry &entry = slots[i];
        uint32_t before = entry.expires_at.load(std::memory_order_acquire);
        if (before == 0) {
            return false;
        }
        if (before <= now) {
            continue;
        }
        bool match = holds(entry, words);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (match && entry.expires_at.load(kRelaxed) > now) {
            return true;
        }
    }
    return false;
}

void RevocationList::visit_live(uint32_t now, RevocationVisitor visit,
                                void *context) const noexcept {
    visit_live(now, 0, slot_count(), visit, context);
}

uint32_t RevocationList::slot_count() const noexcept {
    return header_->slot_count;
}

uint32_t RevocationList::visit_live(uint32_t now, uint32_t first_slot, uint32_t slots,
                                    RevocationVisitor visit, void *context) const noexcept {
    const Entry *table = entries(*header_);
    uint32_t first = std::min(first_slot, header_->slot_count);
    uint32_t end = first + std::min(slots, header_->slot_count - first);
    for (uint32_t i = first; i < end; ++i) {
        const Entry &entry = table[i];
        uint32_t before = entry.expires_at.load(std::memory_order_acquire);
        if (before <= now) {
            continue;
        }
        Digest digest;
        for (size_t w = 0; w < 4; ++w) {
            uint64_t word = entry.digest[w].load(kRelaxed);
            std::memcpy(digest.data() + w * 8, &word, 8);
        }
        std::atomic_thread_fence(std::memory_order_acquire);
        if (entry.expires_at.load(kRelaxed) == before) {
            visit(context, digest, before);
        }
    }
    return end;
}

size_t RevocationList::capacity() const noexcept {
    return header_->slot_count;
}

}  // namespace oauth
