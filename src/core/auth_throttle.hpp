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
// counter. The table is small and fixed; when a neighbourhood is full the
// stalest counter gives way, so memory stays bounded under a spray of ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/token_store.hpp"

namespace oauth {

struct ThrottlePolicy {
    uint32_t limit = 10;   // failures that start a block
    uint32_t window = 60;  // seconds over which failures are counted
    uint32_t block = 60;   // seconds a block lasts
};

class AuthThrottle {
  public:
    static constexpr size_t kMinRegionSize = 4096;

    static bool format(void *region, size_t size) noexcept;
    static bool is_formatted(const void *region, size_t size) noexcept;

    AuthThrottle(void *region, StoreLock lock, ThrottlePolicy policy) noexcept;

    struct Standing {
        uint32_t blocked_for = 0;   // seconds; 0: go ahead
        bool has_failures = false;  // a success should clear the counter
    };

    Standing standing(std::string_view client_id, std::string_view address, uint32_t now) noexcept;

    // Counts a failure; true when it starts a block.
    bool record_failure(std::string_view client_id, std::string_view address,
                        uint32_t now) noexcept;

    void clear(std::string_view client_id, std::string_view address) noexcept;

    const ThrottlePolicy &policy() const { return policy_; }

  private:
    struct Header;
    struct Counter;

    uint64_t key_of(std::string_view client_id, std::string_view address) const noexcept;
    Counter *find(uint64_t key) noexcept;
    Counter *claim(uint64_t key, uint32_t now) noexcept;

    Header *header_;
    StoreLock lock_;
    ThrottlePolicy policy_;
};

}  // namespace oauth
