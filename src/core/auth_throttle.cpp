#include "core/auth_throttle.hpp"

#include <openssl/rand.h>

#include <cstring>

#include "core/tokens/token.hpp"

namespace oauth {

namespace {

constexpr uint64_t kMagic = 0x4c54544854554f41;  // "OAUTHTTL"
constexpr uint32_t kVersion = 1;
// Counters a key may live in. Wider than the 8 it was: a full neighbourhood
// now refuses a registered pair instead of evicting, so make that rarer.
constexpr size_t kNeighbourhood = 16;

}  // namespace

struct AuthThrottle::Header {
    uint64_t magic;
    uint32_t version;
    uint32_t counter_count;
    uint64_t size;
    unsigned char salt[32];
};

struct AuthThrottle::Counter {
    uint64_t key;  // 0: free
    uint32_t window_start;
    uint32_t failures;
    uint32_t blocked_until;
    ClientKind kind;  // was a spare 0: counters of an older module read as registered
};

bool AuthThrottle::format(void *region, size_t size) noexcept {
    if (region == nullptr || size < kMinRegionSize) {
        return false;
    }
    std::memset(region, 0, size);
    auto *header = static_cast<Header *>(region);
    if (RAND_bytes(header->salt, sizeof(header->salt)) != 1) {
        return false;
    }
    header->magic = kMagic;
    header->version = kVersion;
    header->size = size;
    header->counter_count = uint32_t((size - sizeof(Header)) / sizeof(Counter));
    return true;
}

bool AuthThrottle::is_formatted(const void *region, size_t size) noexcept {
    auto *header = static_cast<const Header *>(region);
    return region != nullptr && header->magic == kMagic && header->version == kVersion &&
           header->size == size;
}

AuthThrottle::AuthThrottle(void *region, StoreLock lock, ThrottlePolicy policy) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock), policy_(policy) {}

uint64_t AuthThrottle::key_of(std::string_view client_id, std::string_view address) const noexcept {
    // Not a fresh EVP_MD_CTX with EVP_sha256(): OpenSSL 3 looks the algorithm
    // up by name on each such call, which costs more than the hashing.
    Digest digest;
    bool ok = sha256_digest(
        {std::string_view(reinterpret_cast<const char *>(header_->salt), sizeof(header_->salt)),
         client_id, std::string_view("\0", 1), address},
        digest);
    uint64_t key = 1;  // a failed digest shares one counter rather than skip counting
    if (ok) {
        std::memcpy(&key, digest.data(), sizeof(key));
    }
    return key == 0 ? 1 : key;
}

AuthThrottle::Counter *AuthThrottle::find(uint64_t key) noexcept {
    auto *counters = reinterpret_cast<Counter *>(header_ + 1);
    for (size_t i = 0; i < kNeighbourhood; ++i) {
        Counter &c = counters[(key + i) % header_->counter_count];
        if (c.key == key) {
            return &c;
        }
    }
    return nullptr;
}

bool AuthThrottle::is_live(const Counter &c, uint32_t now) const noexcept {
    return c.key != 0 &&
           (c.blocked_until > now || (c.failures != 0 && now - c.window_start < policy_.window));
}

// A counter `key` may take without losing anything that protects a client:
// a free or idle one, else, for a registered id, the stalest live counter of
// an unknown id. nullptr when every one is live and may not be displaced.
AuthThrottle::Counter *AuthThrottle::claimable(uint64_t key, ClientKind kind,
                                               uint32_t now) noexcept {
    auto *counters = reinterpret_cast<Counter *>(header_ + 1);
    Counter *unknown = nullptr;
    for (size_t i = 0; i < kNeighbourhood; ++i) {
        Counter &c = counters[(key + i) % header_->counter_count];
        if (!is_live(c, now)) {
            return &c;
        }
        if (c.kind == ClientKind::unknown &&
            (unknown == nullptr || c.window_start < unknown->window_start)) {
            unknown = &c;
        }
    }
    return kind == ClientKind::registered ? unknown : nullptr;
}

// When the first counter of a full neighbourhood stops being live.
uint32_t AuthThrottle::seconds_until_claimable(uint64_t key, uint32_t now) noexcept {
    auto *counters = reinterpret_cast<Counter *>(header_ + 1);
    uint32_t soonest = UINT32_MAX;
    for (size_t i = 0; i < kNeighbourhood; ++i) {
        const Counter &c = counters[(key + i) % header_->counter_count];
        uint32_t until =
            c.blocked_until > now ? c.blocked_until - now : c.window_start + policy_.window - now;
        soonest = until < soonest ? until : soonest;
    }
    return soonest == 0 ? 1 : soonest;
}

AuthThrottle::Standing AuthThrottle::standing(std::string_view client_id, std::string_view address,
                                              ClientKind kind, uint32_t now) noexcept {
    uint64_t key = key_of(client_id, address);
    Locked locked(lock_);
    Standing standing;
    if (const Counter *c = find(key)) {
        standing.blocked_for = c->blocked_until > now ? c->blocked_until - now : 0;
        standing.has_failures = true;
    } else if (kind == ClientKind::registered && claimable(key, kind, now) == nullptr) {
        standing.uncountable_for = seconds_until_claimable(key, now);
    }
    return standing;
}

bool AuthThrottle::record_failure(std::string_view client_id, std::string_view address,
                                  ClientKind kind, uint32_t now) noexcept {
    uint64_t key = key_of(client_id, address);
    Locked locked(lock_);
    Counter *c = find(key);
    if (c == nullptr) {
        c = claimable(key, kind, now);
        if (c == nullptr) {
            return false;
        }
        *c = Counter{key, now, 0, 0, kind};
    }
    c->kind = kind;  // a reload may have registered or removed the id
    if (now - c->window_start >= policy_.window) {
        c->window_start = now;
        c->failures = 0;
    }
    if (++c->failures < policy_.limit) {
        return false;
    }
    c->blocked_until = now + policy_.block;
    c->failures = 0;
    c->window_start = now;
    return true;
}

void AuthThrottle::clear(std::string_view client_id, std::string_view address) noexcept {
    uint64_t key = key_of(client_id, address);
    Locked locked(lock_);
    if (Counter *c = find(key)) {
        *c = Counter{};
    }
}

}  // namespace oauth
