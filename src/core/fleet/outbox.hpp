// The fleet's outbox: revocations made on this node that wait to be
// published, laid over a memory region the caller hands over (a zone's
// shared memory), so that they outlive a lost link, a reload and the worker
// that made them. Bounded: a full outbox refuses, and counts what it refused,
// so that the publisher knows to publish the whole revocation list again.
//
// Every worker pushes; one (the holder of the zone's reader lease) publishes
// the front and pops it once Redis took it. Both under the caller's lock.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/fleet/entry.hpp"
#include "core/tokens/store_lock.hpp"

namespace oauth::fleet {

class Outbox {
  public:
    static constexpr size_t kMinRegionSize = 16 * 1024;

    // Writes an empty outbox over `region`. False when `size` is too small.
    static bool format(void *region, size_t size) noexcept;
    static bool is_formatted(const void *region, size_t size) noexcept;

    Outbox(void *region, StoreLock lock) noexcept;

    // Queues a revocation. False when the outbox is full (counted in dropped()).
    bool push(const Revocation &revocation) noexcept;

    // The oldest revocation waiting, and its sequence number for pop().
    bool front(Revocation &out, uint64_t &sequence) const noexcept;

    // Removes the front if it is still `sequence`.
    void pop(uint64_t sequence) noexcept;

    size_t waiting() const noexcept;
    uint64_t dropped() const noexcept;  // pushes refused since the outbox was made
    size_t capacity() const noexcept;

  private:
    struct Header;
    Header *header_;
    StoreLock lock_;
};

}  // namespace oauth::fleet
