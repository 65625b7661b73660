#include "core/tokens/lease.hpp"

namespace oauth {
namespace {

uint64_t lease_word(uint32_t holder, uint32_t renewed_at) {
    return uint64_t{holder} << 32 | renewed_at;
}

uint32_t holder_of(uint64_t word) {
    return uint32_t(word >> 32);
}

uint32_t renewed_at(uint64_t word) {
    return uint32_t(word);
}

bool may_take(uint64_t word, uint32_t self, uint32_t now, const LeasePolicy &policy) {
    uint32_t holder = holder_of(word);
    if (holder == 0 || holder == self) {
        return true;
    }
    if (now >= renewed_at(word) + uint64_t{policy.stale_after}) {
        return true;
    }
    return policy.is_alive != nullptr && !policy.is_alive(holder);
}

}  // namespace

bool hold_lease(LeaseWord &lease, uint32_t self, uint32_t now, const LeasePolicy &policy) noexcept {
    uint64_t seen = lease.word.load(std::memory_order_acquire);
    while (may_take(seen, self, now, policy)) {
        if (lease.word.compare_exchange_weak(seen, lease_word(self, now),
                                             std::memory_order_acq_rel)) {
            return true;
        }
    }
    return false;
}

void release_lease(LeaseWord &lease, uint32_t self) noexcept {
    uint64_t seen = lease.word.load(std::memory_order_acquire);
    while (holder_of(seen) == self &&
           !lease.word.compare_exchange_weak(seen, 0, std::memory_order_acq_rel)) {
    }
}

}  // namespace oauth
