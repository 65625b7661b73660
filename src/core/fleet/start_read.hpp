// The master's read of the fleet's stream at start: nginx does not start
// until it ends, so it ends by one deadline and takes bounded memory,
// whatever Redis, or anything on its address, sends or withholds.
#pragma once

#include <cstddef>
#include <cstdint>

namespace oauth::fleet {

// One deadline for every zone's read together: connects, AUTH, SELECT and
// every command, however the peer spreads its bytes. Times in ms of a
// monotonic clock.
class StartDeadline {
  public:
    static constexpr uint64_t kBudgetMs = 4000;
    // A connect waits no longer than this: an address that drops packets
    // leaves the other zones time to be read.
    static constexpr uint64_t kConnectMs = 1000;

    explicit StartDeadline(uint64_t now_ms) noexcept : ends_at_(now_ms + kBudgetMs) {}

    // How long the next wait may last; 0 once the deadline has passed.
    uint64_t left(uint64_t now_ms) const noexcept {
        return now_ms < ends_at_ ? ends_at_ - now_ms : 0;
    }
    uint64_t connect_wait(uint64_t now_ms) const noexcept {
        return left(now_ms) < kConnectMs ? left(now_ms) : kConnectMs;
    }

  private:
    uint64_t ends_at_;
};

// What one reply may take. The largest the read asks for, XREAD COUNT 1000,
// is about 20 000 elements and 1 MiB: anything much larger is not Redis.
class ReplyBound {
  public:
    static constexpr size_t kMaxBytes = 16 * 1024 * 1024;
    static constexpr size_t kMaxElements = 64 * 1024;  // of every array in the reply together

    // False once the reply's bytes so far, with `n` more, pass the bound.
    bool admit_bytes(size_t n) noexcept {
        bytes_ += n;
        return bytes_ <= kMaxBytes;
    }
    // False once the reply's arrays so far, with one of `elements` more,
    // pass the bound: checked before the array's table is allocated.
    bool admit_array(size_t elements) noexcept {
        elements_ += elements;
        return elements_ <= kMaxElements;
    }
    bool exceeded() const noexcept { return bytes_ > kMaxBytes || elements_ > kMaxElements; }

  private:
    size_t bytes_ = 0;
    size_t elements_ = 0;
};

}  // namespace oauth::fleet
