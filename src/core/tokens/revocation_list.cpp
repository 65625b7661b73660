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
#include "core/tokens/tag_shares.hpp"

namespace oauth {
namespace {

constexpr uint64_t kMagic = 0x4b56455248545541;  // "AUTHREVK"
// 2: entries carry their client's tag, and the header the counters of the tags.
constexpr uint32_t kVersion = 2;
constexpr uint32_t kRewriting = 1;  // an expiry long past: the slot is being reused
constexpr auto kRelaxed = std::memory_order_relaxed;

struct Entry {
    std::atomic<uint64_t> digest[4];
    std::atomic<uint32_t> expires_at;  // 0: never used, the end of every probe chain
    uint32_t client_tag;               // whom it is charged to; read and written under the lock
};

// The bytes of a slot under this kVersion: another layout is another kVersion.
static_assert(sizeof(Entry) == 40);

Entry *entries(TaggedSlotRegion &region) {
    return tagged_slots<Entry>(region);
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

}  // namespace

struct RevocationList::Header : TaggedSlotRegion {};

// Where a digest is, or may go, among the slots it may take.
struct RevocationList::Probe {
    Entry *held = nullptr;          // the digest's own entry
    Entry *reusable = nullptr;      // the first slot free or expired
    uint32_t soonest = UINT32_MAX;  // the soonest expiry of the live entries passed
};

constexpr SlotRegionShape kShape{kMagic, kVersion, RevocationList::kMinRegionSize,
                                 kTaggedSlotsOffset, sizeof(Entry)};

bool RevocationList::format(void *region, size_t size) noexcept {
    return format_slot_region<Header>(region, size, kShape);
}

bool RevocationList::is_formatted(const void *region, size_t size) noexcept {
    return is_slot_region<Header>(region, size, kShape);
}

RevocationList::RevocationList(void *region, StoreLock lock, ChangeLog changes) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock), changes_(changes) {}

uint32_t RevocationList::client_tag(std::string_view client_id) noexcept {
    return TagShares::tag_of(client_id);
}

size_t RevocationList::capacity_for(size_t size) noexcept {
    return size < kShape.min_size ? 0 : kShape.slots_in(size);
}

uint32_t RevocationList::share_of(size_t capacity) noexcept {
    return TagShares::share_of(capacity);
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

// True when the client `charge` names holds its share of live entries.
bool RevocationList::at_share(RevocationCharge charge, uint32_t now,
                              uint32_t &retry_after) noexcept {
    return header_->shares.at_share(
        charge.tag, charge.share, entries(*header_), header_->slot_count, now, retry_after,
        [](const Entry &entry) { return entry.expires_at.load(kRelaxed); });
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
    if (at_share(charge, now, retry_after)) {
        return RevocationAdded::client_at_share;
    }
    rewrite(*found.reusable, words, expires_at, charge.tag);
    header_->shares.charge(charge.tag);
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
