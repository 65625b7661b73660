// What a zone's tables took in since some moment: the digest of each token
// stored and of each revocation listed, in order, in a ring laid over a
// memory region the caller hands over (an nginx shared zone). The state
// file's writer copies what changed from it into a journal, so that the cost
// of keeping a zone on disk follows what changed, not how big the zone is.
//
// Noted under the zone's lock, by the token store and the revocation list as
// they change; read without it. A note writes its entry, then advances the
// position; a reader that finds the position gone a whole ring past where it
// started reading knows that what it copied may have been overwritten.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/tokens/token.hpp"

namespace oauth {

struct ZoneChange {
    Digest digest;
    uint32_t revoked_until;  // 0: a token stored; else a revocation listed until then
};

class ChangeLog {
  public:
    static constexpr size_t kMinRegionSize = 16 * 1024;

    static bool format(void *region, size_t size) noexcept;
    static bool is_formatted(const void *region, size_t size) noexcept;

    ChangeLog() noexcept = default;  // a zone without a state file: notes nothing
    explicit ChangeLog(void *region) noexcept;

    // Under the zone's lock.
    void note(const Digest &digest, uint32_t revoked_until) noexcept;

    // How many changes were ever noted.
    uint64_t position() const noexcept;

    // Appends to `out` the changes from position `from` on, and answers the
    // position after the last one appended; nullopt when the ring has
    // overwritten some of them since (more changes than it holds went by).
    std::optional<uint64_t> read(uint64_t from, std::vector<ZoneChange> &out) const;

    size_t capacity() const noexcept;

  private:
    struct Header;
    Header *header_ = nullptr;
};

}  // namespace oauth
