// The lock every table laid over a zone takes to write (the token store, the
// revocation list, the outbox, the counters, the verdict cache): the caller's,
// an nginx shared zone's mutex in the module, none or a spin lock in the unit
// tests. Its own header, so that a table needs no other table to take it.
#pragma once

namespace oauth {

struct StoreLock {
    void *context = nullptr;
    void (*lock)(void *context) = nullptr;
    void (*unlock)(void *context) = nullptr;
};

// Holds a StoreLock for a scope: what every table of a zone takes to write.
class Locked {
  public:
    explicit Locked(const StoreLock &lock) noexcept : lock_(lock) {
        if (lock_.lock) {
            lock_.lock(lock_.context);
        }
    }
    ~Locked() {
        if (lock_.unlock) {
            lock_.unlock(lock_.context);
        }
    }
    Locked(const Locked &) = delete;
    Locked &operator=(const Locked &) = delete;

  private:
    const StoreLock &lock_;
};

}  // namespace oauth
