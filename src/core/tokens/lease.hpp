// The one-writer lease: of several processes sharing memory, the one that
// holds it does a job no other may do at the same time (write a zone's state
// file; later, read the fleet's stream). The holder renews it; another takes
// it over once its holder has exited, died, or gone silent too long.
#pragma once

#include <atomic>
#include <cstdint>

namespace oauth {

// One word in shared memory: the holder's id in the high half, the second of
// its last renewal in the low half, so a take-over is one compare-and-swap.
struct LeaseWord {
    std::atomic<uint64_t> word{0};
};

struct LeasePolicy {
    uint32_t stale_after = 3;  // seconds without renewal
    // Whether a holder id (a pid) still names a running process.
    bool (*is_alive)(uint32_t holder) = nullptr;
};

// True when `self` holds the lease on return: it held it already (renewed
// for `now`), or took it from nobody, a dead holder, or a stale one.
bool hold_lease(LeaseWord &lease, uint32_t self, uint32_t now, const LeasePolicy &policy) noexcept;

// Gives the lease up, if `self` holds it, so that a successor need not wait.
void release_lease(LeaseWord &lease, uint32_t self) noexcept;

}  // namespace oauth
