// The JWT signatures a node has verified, in a region of shared memory: a
// bounded table keyed by the SHA-256 of the token's whole text (what covers
// the signature, not only what it signs), so that each token's signature is
// checked once while it lives, not once a request. Each verdict names the
// key that verified it: the region outlives a reload, and a key replaced
// under the same kid must not vouch for what the old one verified.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/jose/key.hpp"
#include "core/tokens/token.hpp"
#include "core/tokens/store_lock.hpp"

namespace oauth::jose {

class VerdictCache {
  public:
    static constexpr size_t kMinRegionSize = 4096;

    // Writes an empty table over `region`. False when `size` is too small.
    static bool format(void *region, size_t size) noexcept;
    static bool is_formatted(const void *region, size_t size) noexcept;

    VerdictCache(void *region, StoreLock lock) noexcept;

    // The key that verified the token of `digest`, when it was remembered
    // and has not expired.
    std::optional<KeyFingerprint> verified_with(const Digest &digest, uint32_t now) const noexcept;

    // Remembers a token that passed every check with the key of `key`, until
    // `expires_at`. A full bucket gives up its entry closest to expiry: only
    // tokens with a good signature get here, so forged ones cannot push
    // anything out.
    void remember(const Digest &digest, const KeyFingerprint &key, uint32_t expires_at,
                  uint32_t now) noexcept;

  private:
    struct Header;
    struct Entry;
    Entry *bucket(const Digest &digest) const noexcept;

    Header *header_;
    StoreLock lock_;
};

}  // namespace oauth::jose
