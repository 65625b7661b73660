// The sequence lock of a table laid over shared memory: writers take the
// caller's lock and keep a 32-bit counter odd while they change anything;
// readers take no lock and read again when they saw the counter move.
//
// A writer that died mid-change (a killed nginx worker) leaves the counter
// odd. The next writer, holding the lock the caller recovers from the dead
// owner, finds it odd already and repairs the table (found_dead_writer());
// its odd count keeps readers off meanwhile. A reader that keeps finding it
// odd either falls back to the lock (read_consistently) or, where it may not
// take the lock, takes the writer for dead after a while (LockFreeReader).
#pragma once

#include <atomic>
#include <cstdint>

#include "core/tokens/store_lock.hpp"

namespace oauth::seqlock {

// Some 50 microseconds of retries: longer than any change but a sweep or a
// repair, which a reader may as well wait for on the lock.
constexpr unsigned kReadAttempts = 1000;

// Some 50 ms of a counter kept odd: its writer is taken for dead.
constexpr unsigned kDeadWriterSpins = 1000 * kReadAttempts;

inline void pause_cpu() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Holds the caller's lock and keeps `seq` odd for its lifetime.
class Write {
  public:
    Write(std::atomic<uint32_t> &seq, const StoreLock &lock) noexcept : seq_(seq), lock_(lock) {
        if (lock_.lock) {
            lock_.lock(lock_.context);
        }
        odd_seq_ = seq_.load(std::memory_order_relaxed);
        dead_writer_ = (odd_seq_ & 1) != 0;
        if (!dead_writer_) {
            seq_.store(++odd_seq_, std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_release);
        }
    }

    ~Write() {
        seq_.store(odd_seq_ + 1, std::memory_order_release);
        if (lock_.unlock) {
            lock_.unlock(lock_.context);
        }
    }

    Write(const Write &) = delete;
    Write &operator=(const Write &) = delete;

    // The counter was odd already: the last writer died mid-change, and the
    // table needs repairing before this writer changes it.
    bool found_dead_writer() const noexcept { return dead_writer_; }

  private:
    std::atomic<uint32_t> &seq_;
    const StoreLock lock_;  // a copy: callers may pass a temporary
    uint32_t odd_seq_;
    bool dead_writer_;
};

// Runs `read` until it saw no writer change anything; past kReadAttempts,
// runs `read_under_lock` (a writer died mid-change, or a sweep is long).
template <typename Read, typename ReadUnderLock>
bool read_consistently(const std::atomic<uint32_t> &seq, Read read, ReadUnderLock read_under_lock) {
    for (unsigned attempt = 0; attempt < kReadAttempts; ++attempt) {
        uint32_t before = seq.load(std::memory_order_acquire);
        if (before & 1) {
            pause_cpu();
            continue;
        }
        bool found = read();
        std::atomic_thread_fence(std::memory_order_acquire);
        if (seq.load(std::memory_order_relaxed) == before) {
            return found;
        }
    }
    return read_under_lock();
}

// A reader that may not take the lock: its caller may be nginx's master
// copying an old zone, whose lock a dead worker may hold, and a repair there
// would race the old workers. It waits kDeadWriterSpins for a writer that
// keeps the counter odd, then takes that writer for dead (a dead writer
// leaves every entry whole) and reads on without waiting for it again.
class LockFreeReader {
  public:
    explicit LockFreeReader(const std::atomic<uint32_t> &seq) noexcept : seq_(seq) {}

    template <typename Read>
    bool read(Read read_once) {
        uint32_t odd_seq = 0;
        unsigned spins = 0;
        for (;;) {
            uint32_t seq = seq_.load(std::memory_order_acquire);
            if ((seq & 1) && seq != dead_seq_) {
                spins = seq == odd_seq ? spins + 1 : 0;
                odd_seq = seq;
                if (spins < kDeadWriterSpins) {
                    pause_cpu();
                    continue;
                }
                dead_seq_ = seq;
            }
            bool found = read_once();
            std::atomic_thread_fence(std::memory_order_acquire);
            if (seq_.load(std::memory_order_relaxed) == seq) {
                return found;
            }
        }
    }

  private:
    const std::atomic<uint32_t> &seq_;
    uint32_t dead_seq_ = 0;  // even: no writer taken for dead
};

}  // namespace oauth::seqlock
