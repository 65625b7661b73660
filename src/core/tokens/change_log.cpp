// The change log: see change_log.hpp.
#include "core/tokens/change_log.hpp"

#include <atomic>
#include <cstring>
#include <new>

#include "core/tokens/slot_region.hpp"

namespace oauth {
namespace {

constexpr uint64_t kMagic = 0x474c484354554141;  // "AAUTCHLG"
constexpr uint32_t kVersion = 1;
constexpr auto kRelaxed = std::memory_order_relaxed;

// Words, so that a reader racing a note reads torn values, never undefined ones.
struct Entry {
    std::atomic<uint64_t> digest[4];
    std::atomic<uint64_t> revoked_until;
};

struct Region : SlotRegionHeader {
    std::atomic<uint64_t> position;
};

constexpr size_t kEntriesOffset = 64;

Entry *entries(Region *header) {
    return reinterpret_cast<Entry *>(reinterpret_cast<char *>(header) + kEntriesOffset);
}

}  // namespace

struct ChangeLog::Header : Region {};

constexpr SlotRegionShape kShape{kMagic, kVersion, ChangeLog::kMinRegionSize, kEntriesOffset,
                                 sizeof(Entry)};

bool ChangeLog::format(void *region, size_t size) noexcept {
    return format_slot_region<Header>(region, size, kShape);
}

bool ChangeLog::is_formatted(const void *region, size_t size) noexcept {
    return is_slot_region<Header>(region, size, kShape);
}

ChangeLog::ChangeLog(void *region) noexcept : header_(static_cast<Header *>(region)) {}

void ChangeLog::note(const Digest &digest, uint32_t revoked_until) noexcept {
    if (header_ == nullptr) {
        return;
    }
    uint64_t at = header_->position.load(kRelaxed);
    Entry &entry = entries(header_)[at % header_->slot_count];
    uint64_t words[4];
    std::memcpy(words, digest.data(), sizeof words);
    for (int i = 0; i < 4; ++i) {
        entry.digest[i].store(words[i], kRelaxed);
    }
    entry.revoked_until.store(revoked_until, kRelaxed);
    header_->position.store(at + 1, std::memory_order_release);
}

uint64_t ChangeLog::position() const noexcept {
    return header_ == nullptr ? 0 : header_->position.load(std::memory_order_acquire);
}

size_t ChangeLog::capacity() const noexcept {
    return header_ == nullptr ? 0 : header_->slot_count;
}

std::optional<uint64_t> ChangeLog::read(uint64_t from, std::vector<ZoneChange> &out) const {
    uint64_t to = position();
    uint64_t slots = capacity();
    // A note under way writes the entry at the position before advancing it:
    // the ring is lapped once the position is a whole ring past `from`.
    auto lapped = [&](uint64_t at) { return at < from || at - from >= slots; };
    if (to == from) {
        return to;
    }
    if (lapped(to)) {
        return std::nullopt;
    }
    out.reserve(out.size() + (to - from));
    const Entry *ring = entries(header_);
    for (uint64_t i = from; i < to; ++i) {
        const Entry &entry = ring[i % slots];
        uint64_t words[4];
        for (int w = 0; w < 4; ++w) {
            words[w] = entry.digest[w].load(kRelaxed);
        }
        ZoneChange change;
        std::memcpy(change.digest.data(), words, sizeof words);
        change.revoked_until = uint32_t(entry.revoked_until.load(kRelaxed));
        out.push_back(change);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (lapped(position())) {
        return std::nullopt;
    }
    return to;
}

}  // namespace oauth
