// Brute-force protection for client authentication (RFC 6749 §2.3.1: the
// server "MUST protect against brute force attacks").
//
// Failed authentications are counted per (client id, client address) in a
// small table laid over a memory region, beside the tokens in the same nginx
// zone. Past `limit` failures within `window` seconds, that pair is blocked
// for `block` seconds: its attempts are refused before any secret is checked,
// so they cost no KDF. Other clients and other addresses are unaffected.
//
// Keys are a SHA-256, salted with a random key written at format time, of the
// client id and the address: a client cannot aim collisions at another's
// counter. The table is small and fixed, so memory stays bounded under a
// spray of ids, and it never fails open:
// - a live counter (blocked, or with failures inside its window) is never
//   reused for another key; only free, idle or expired ones are;
// - counters of unknown client ids are a lower class: they take only unused
//   counters, and a registered id may displace them, so a spray of unknown
//   ids (free to send: a client id is no secret, RFC 6749 §2.2) cannot crowd
//   out the counters that matter;
// - a registered id whose failure could not be counted is refused before its
//   secret is checked (standing().uncountable_for), until a counter frees.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/tokens/store_lock.hpp"

namespace oauth {

struct ThrottlePolicy {
    uint32_t limit = 10;   // failures that start a block
    uint32_t window = 60;  // seconds over which failures are counted
    uint32_t block = 60;   // seconds a block lasts
};

// Whether the client id is in the registry: an unknown one can never
// authenticate, so its counter matters less.
enum class ClientKind : uint32_t { registered = 0, unknown = 1 };

class AuthThrottle {
  public:
    static constexpr size_t kMinRegionSize = 4096;

    static bool format(void *region, size_t size) noexcept;
    static bool is_formatted(const void *region, size_t size) noexcept;

    AuthThrottle(void *region, StoreLock lock, ThrottlePolicy policy) noexcept;

    struct Standing {
        uint32_t blocked_for = 0;   // seconds; 0: go ahead
        bool has_failures = false;  // a success should clear the counter
        // Seconds until a failure of this registered pair could be counted:
        // it has no counter and every one it may take is live. 0: go ahead.
        uint32_t uncountable_for = 0;
    };

    Standing standing(std::string_view client_id, std::string_view address, ClientKind kind,
                      uint32_t now) noexcept;

    // Counts a failure; true when it starts a block. A failure that finds no
    // counter to take goes uncounted: standing() refuses registered ids then.
    bool record_failure(std::string_view client_id, std::string_view address, ClientKind kind,
                        uint32_t now) noexcept;

    void clear(std::string_view client_id, std::string_view address) noexcept;

    const ThrottlePolicy &policy() const { return policy_; }

  private:
    struct Header;
    struct Counter;

    uint64_t key_of(std::string_view client_id, std::string_view address) const noexcept;
    Counter *find(uint64_t key) noexcept;
    Counter *claimable(uint64_t key, ClientKind kind, uint32_t now) noexcept;
    uint32_t seconds_until_claimable(uint64_t key, uint32_t now) noexcept;
    bool is_live(const Counter &c, uint32_t now) const noexcept;

    Header *header_;
    StoreLock lock_;
    ThrottlePolicy policy_;
};

}  // namespace oauth
