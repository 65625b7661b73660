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
constexpr uint32_t kVersion = 1;
constexpr uint32_t kRewriting = 1;  // an expiry long past: the slot is being reused
constexpr auto kRelaxed = std::memory_order_relaxed;

struct Entry {
    std::atomic<uint64_t> digest[4];
    std::atomic<uint32_t> expires_at;  // 0: never used, the end of every probe chain
    uint32_t spare;
};

struct Region : SlotRegionHeader {};

constexpr size_t kEntriesOffset = 64;

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

void rewrite(Entry &entry, const uint64_t (&words)[4], uint32_t expires_at) {
    entry.expires_at.store(kRewriting, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    for (size_t i = 0; i < 4; ++i) {
        entry.digest[i].store(words[i], kRelaxed);
    }
    entry.expires_at.store(expires_at, std::memory_order_release);
}

}  // namespace

struct RevocationList::Header : Region {};

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

bool RevocationList::add(const Digest &digest, uint32_t expires_at, uint32_t now) noexcept {
    if (expires_at <= now) {
        return true;  // nothing left to refuse
    }
    uint64_t words[4];
    load_words(digest, words);
    Entry *slots = entries(*header_);
    uint32_t count = header_->slot_count;
    Locked locked(lock_);
    Entry *reusable = nullptr;
    bool added = false;
    for (uint32_t d = 0, i = words[0] % count; d < kProbeLimit && d < count;
         ++d, i = (i + 1) % count) {
        Entry &entry = slots[i];
        uint32_t held_until = entry.expires_at.load(kRelaxed);
        if (held_until != 0 && holds(entry, words)) {
            if (held_until < expires_at) {
                entry.expires_at.store(expires_at, std::memory_order_release);
                changes_.note(digest, expires_at);
            }
            added = true;
            reusable = nullptr;
            break;
        }
        if (reusable == nullptr && held_until <= now) {
            reusable = &entry;
        }
        if (held_until == 0) {
            break;  // the end of the chain: the digest is not further on
        }
    }
    if (reusable != nullptr) {
        rewrite(*reusable, words, expires_at);
        changes_.note(digest, expires_at);
        added = true;
    }
    return added;
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
