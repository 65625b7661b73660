#include "core/fleet/outbox.hpp"

#include <atomic>
#include <cstring>
#include <new>

#include "core/registry.hpp"
#include "core/tokens/slot_region.hpp"

namespace oauth::fleet {

namespace {

constexpr uint64_t kMagic = 0x584f42544c454546;  // "FLEETBOX"
constexpr uint32_t kVersion = 1;
constexpr size_t kSlotsOffset = 64;

struct Slot {
    Digest digest;
    uint32_t expires_at;
    uint32_t revoked_at;
    uint8_t kind;
    uint8_t client_length;
    char client[kMaxClientIdLength];
};

}  // namespace

struct Outbox::Header : SlotRegionHeader {
    std::atomic<uint64_t> head;  // the front's sequence number
    std::atomic<uint64_t> tail;  // the next push's
    std::atomic<uint64_t> dropped;
};

namespace {

Slot *slots(void *header) {
    return reinterpret_cast<Slot *>(static_cast<char *>(header) + kSlotsOffset);
}

}  // namespace

constexpr SlotRegionShape kShape{kMagic, kVersion, Outbox::kMinRegionSize, kSlotsOffset,
                                 sizeof(Slot)};

bool Outbox::format(void *region, size_t size) noexcept {
    return format_slot_region<Header>(region, size, kShape);
}

bool Outbox::is_formatted(const void *region, size_t size) noexcept {
    return is_slot_region<Header>(region, size, kShape);
}

Outbox::Outbox(void *region, StoreLock lock) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock) {}

bool Outbox::push(const Revocation &revocation) noexcept {
    Locked locked(lock_);
    uint64_t tail = header_->tail.load(std::memory_order_relaxed);
    if (tail - header_->head.load(std::memory_order_relaxed) >= header_->slot_count ||
        revocation.client.size() > kMaxClientIdLength) {
        header_->dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    Slot &slot = slots(header_)[tail % header_->slot_count];
    slot.digest = revocation.digest;
    slot.expires_at = revocation.expires_at;
    slot.revoked_at = revocation.revoked_at;
    slot.kind = uint8_t(revocation.kind);
    slot.client_length = uint8_t(revocation.client.size());
    std::memcpy(slot.client, revocation.client.data(), revocation.client.size());
    header_->tail.store(tail + 1, std::memory_order_release);
    return true;
}

bool Outbox::front(Revocation &out, uint64_t &sequence) const noexcept {
    Locked locked(lock_);
    uint64_t head = header_->head.load(std::memory_order_relaxed);
    if (head == header_->tail.load(std::memory_order_relaxed)) {
        return false;
    }
    const Slot &slot = slots(header_)[head % header_->slot_count];
    try {
        out.client.assign(slot.client, slot.client_length);
    } catch (...) {
        return false;
    }
    out.kind = Kind(slot.kind);
    out.digest = slot.digest;
    out.expires_at = slot.expires_at;
    out.revoked_at = slot.revoked_at;
    sequence = head;
    return true;
}

void Outbox::pop(uint64_t sequence) noexcept {
    Locked locked(lock_);
    if (header_->head.load(std::memory_order_relaxed) == sequence &&
        sequence != header_->tail.load(std::memory_order_relaxed)) {
        header_->head.store(sequence + 1, std::memory_order_release);
    }
}

size_t Outbox::waiting() const noexcept {
    uint64_t head = header_->head.load(std::memory_order_acquire);  // first: it never passes tail
    return size_t(header_->tail.load(std::memory_order_acquire) - head);
}

uint64_t Outbox::dropped() const noexcept {
    return header_->dropped.load(std::memory_order_relaxed);
}

size_t Outbox::capacity() const noexcept {
    return header_->slot_count;
}

}  // namespace oauth::fleet
