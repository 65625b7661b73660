// Live access tokens, laid over a memory region the caller hands over: plain
// memory in the unit tests, an nginx shared zone in the module. Everything in
// the region is position-independent (offsets, no pointers), so every process
// may map it at its own address, and a reload reuses it as it is.
//
// Layout: a header, a table of grant records (client id + the client's scope
// list, reference-counted, shared by all tokens of that client), then an
// open-addressing table of 64-byte token entries keyed by the token digest.
//
// Concurrency: writers (insert, revoke, reclaim) take the caller's lock.
// Readers (find) take no lock: a sequence counter in the header is odd while a
// writer changes anything, and a reader that saw it change retries. A writer
// that died mid-change (a killed nginx worker) leaves the counter odd; the next
// writer, holding the lock the caller recovers from the dead owner, repairs it,
// and a reader that keeps seeing it odd falls back to taking the lock.
//
// Live tokens are never evicted: expired ones are reclaimed a few at a time on
// each insert, and all at once before an insert is refused as full.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/registry.hpp"
#include "core/token.hpp"

namespace oauth {

struct StoreLock {
    void *context = nullptr;
    void (*lock)(void *context) = nullptr;
    void (*unlock)(void *context) = nullptr;
};

// What a live token was issued for, copied out of the region.
struct TokenGrant {
    char client_id[kMaxClientIdLength];
    size_t client_id_length = 0;
    char scope[kMaxScopeListLength];  // the granted scopes, space-joined
    size_t scope_length = 0;
    uint32_t issued_at = 0;
    uint32_t expires_at = 0;

    std::string_view client() const { return {client_id, client_id_length}; }
    std::string_view scopes() const { return {scope, scope_length}; }
};

enum class InsertResult { ok, full };

using LiveTokenVisitor = void (*)(void *context, const Digest &digest, const TokenGrant &grant);

class TokenStore {
  public:
    static constexpr size_t kMinRegionSize = 64 * 1024;

    // Writes an empty store over `region`. False when `size` is too small.
    static bool format(void *region, size_t size) noexcept;

    // True when `region` holds a store written by format() of this version.
    static bool is_formatted(const void *region, size_t size) noexcept;

    TokenStore(void *region, StoreLock lock) noexcept;

    // Stores a token issued to `client_id` for the scopes `scope_mask` of
    // `scope_list`, valid until `expires_at` (Unix seconds). When neither a
    // free slot nor a grant record can be had, even after reclaiming expired
    // tokens, answers full and sets `retry_after` to the seconds until the
    // soonest live token expires (at least 1).
    InsertResult insert(const Digest &digest, std::string_view client_id,
                        std::string_view scope_list, uint64_t scope_mask, uint32_t issued_at,
                        uint32_t expires_at, uint32_t now, uint32_t &retry_after) noexcept;

    // Fills `out` and answers true when the token is live at `now`.
    bool find(const Digest &digest, uint32_t now, TokenGrant &out) const noexcept;

    // Calls `visit` with a copy of each token live at `now`, read without the lock (seqlock-checked
    // per entry).
    void visit_live(uint32_t now, LiveTokenVisitor visit, void *context) const noexcept;

    // Removes the token when it was issued to `client_id`. True if removed.
    bool revoke(const Digest &digest, std::string_view client_id) noexcept;

    size_t live_tokens() const noexcept;  // entries stored, expired or not yet reclaimed
    size_t capacity() const noexcept;     // entries that may be stored at once

  private:
    struct Header;
    Header *header_;
    StoreLock lock_;
};

}  // namespace oauth
