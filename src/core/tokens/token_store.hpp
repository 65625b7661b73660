// Live access tokens, laid over a memory region the caller hands over: plain
// memory in the unit tests, an nginx shared zone in the module. Everything in
// the region is position-independent (offsets, no pointers), so every process
// may map it at its own address, and a reload reuses it as it is.
//
// Layout: a header, then one open-addressing table of 64-byte entries of
// three kinds sharing one capacity: tokens, keyed by their digest, the
// bindings of bound tokens (RFC 8705 §3, RFC 9449 §6: the thumbprint of a
// certificate or a DPoP key, one entry each, beside their token), and client
// records, keyed by a hash of the client id. A client record is a head entry
// (tokens held, their soonest expiry) and text entries holding the client id
// and the client's scope dictionary: the scope names it has been granted, in
// the order they first appeared, never reordered while tokens point at it;
// then, in text entries of their own, its audience dictionary: the URIs its
// tokens were issued for (RFC 8707), kept the same way. A token names its
// client by key and holds its scopes as a 64-bit mask over the one dictionary
// and its audience as a 16-bit mask over the other, so a reload that changes
// a client's scope or resource list costs no room, and changes no live
// token's audience. A client record lives as long as tokens point at it.
//
// Concurrency: writers (insert, revoke, reclaim) take the caller's lock.
// Readers (find) take no lock: a sequence counter in the header is odd while a
// writer changes anything, and a reader that saw it change retries. A writer
// that died mid-change (a killed nginx worker) leaves the counter odd; the next
// writer, holding the lock the caller recovers from the dead owner, repairs it,
// and a reader that keeps seeing it odd falls back to taking the lock.
//
// Live tokens are never evicted: expired ones are reclaimed a few at a time on
// each insert, and all at once before an insert is refused as full, or
// refused because its client holds its cap of tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/registry.hpp"
#include "core/resource.hpp"
#include "core/tokens/store_lock.hpp"
#include "core/tokens/token.hpp"
#include "core/tokens/change_log.hpp"

namespace oauth {

// What a live token was issued for, copied out of the region.
struct TokenGrant {
    char client_id[kMaxClientIdLength];
    size_t client_id_length = 0;
    char scope[kMaxScopeListLength];  // the granted scopes, space-joined
    size_t scope_length = 0;
    char audience[kMaxResourceListLength];  // the URIs it is meant for, space-joined
    size_t audience_length = 0;
    uint32_t issued_at = 0;
    uint32_t expires_at = 0;
    CertificateBinding certificate;
    KeyBinding dpop;

    TokenBindings bindings() const { return {certificate, dpop}; }

    std::string_view client() const { return {client_id, client_id_length}; }
    std::string_view scopes() const { return {scope, scope_length}; }
    std::string_view audiences() const { return {audience, audience_length}; }
};

enum class InsertResult {
    ok,
    full,                // no room in the store, even after reclaiming expired tokens
    client_at_cap,       // the client holds as many live tokens as its cap allows
    dictionary_overflow  // a dictionary of the client cannot take a new name while it holds tokens
};

// A copy of each token live at `now`, from visit_live().
using LiveTokenVisitor = void (*)(void *context, const Digest &digest, const TokenGrant &grant);
// Each client holding tokens: its id, the tokens stored for it (expired ones
// not yet reclaimed included), and the cap its last insert carried.
using ClientVisitor = void (*)(void *context, std::string_view client_id, size_t tokens,
                               size_t cap);

class TokenStore {
  public:
    static constexpr size_t kMinRegionSize = 64 * 1024;
    // Client caps for insert(): a quarter of the store's capacity, or none
    // (for tokens restored from elsewhere, which were capped when issued).
    static constexpr uint32_t kDefaultClientCap = 0;
    static constexpr uint32_t kNoClientCap = UINT32_MAX;
    // Bytes of client id and scope dictionary one text entry holds.
    static constexpr size_t kTextBytesPerEntry = 23;

    // Entries a store over `size` bytes may hold at once: capacity() of it.
    static size_t capacity_for(size_t size) noexcept;

    // Entries a client record takes: a head and its text entries.
    static size_t entries_for_client(std::string_view client_id, std::string_view scope_list,
                                     std::string_view audience_list = {}) noexcept;

    // Writes an empty store over `region`. False when `size` is too small.
    static bool format(void *region, size_t size) noexcept;

    // True when `region` holds a store written by format() of this version.
    static bool is_formatted(const void *region, size_t size) noexcept;

    // Each token stored is noted in `changes` (a zone with a state file).
    TokenStore(void *region, StoreLock lock, ChangeLog changes = ChangeLog()) noexcept;

    // Stores a token issued to `client_id` for the scopes `scope_mask` of
    // `scope_list` (the client's list as the caller knows it), valid until
    // `expires_at` (Unix seconds). Refuses, even after reclaiming expired
    // tokens:
    // - full when the token, and the client's record if it has none, do not
    //   fit; `retry_after` is then the seconds until the soonest token expires;
    // - client_at_cap when the client holds `client_cap` live tokens;
    //   `retry_after` is then the seconds until its soonest token expires;
    // - dictionary_overflow when `scope_list` names scopes the client's
    //   dictionary lacks and they would take it past 64 names or
    //   kMaxScopeListLength bytes while tokens point at it, or `audience`
    //   URIs past kMaxResources or kMaxResourceListLength (only after reloads
    //   that keep changing the client's scopes, resources or the issuer);
    //   `retry_after` is then 0.
    // The token's audience is the bits `audience.mask` of `audience.list`
    // (the client's resources, or the issuer, as the caller knows them). A
    // bound token takes an entry more for each of its `bindings`.
    InsertResult insert(const Digest &digest, std::string_view client_id,
                        std::string_view scope_list, uint64_t scope_mask, uint32_t issued_at,
                        uint32_t expires_at, uint32_t now, uint32_t &retry_after,
                        uint32_t client_cap = kDefaultClientCap, const Audience &audience = {},
                        const TokenBindings &bindings = {}) noexcept;

    // Fills `out` and answers true when the token is live at `now`.
    bool find(const Digest &digest, uint32_t now, TokenGrant &out) const noexcept;

    // Removes the token when it was issued to `client_id`. True if removed.
    bool revoke(const Digest &digest, std::string_view client_id) noexcept;

    // Calls `visit` with a copy of each token live at `now`, read without the
    // lock (seqlock-checked per entry), even when a writer died holding it:
    // safe from nginx's master on a zone that live workers still write.
    void visit_live(uint32_t now, LiveTokenVisitor visit, void *context) const noexcept;

    // visit_live() over `slots` slots from `first_slot` only, so that a walk
    // of a big zone can be spread over several turns of an event loop.
    // Answers the slot to start the next range at: slot_count() once done.
    uint32_t visit_live(uint32_t now, uint32_t first_slot, uint32_t slots, LiveTokenVisitor visit,
                        void *context) const noexcept;
    uint32_t slot_count() const noexcept;

    // Calls `visit` for each client record, read like visit_live().
    void visit_clients(ClientVisitor visit, void *context) const noexcept;

    // Brings the entry a look-up of `digest` starts at into the cache, so
    // that many inserts in a row (a state file's load) overlap their misses.
    void prefetch(const Digest &digest) const noexcept;

    size_t live_tokens() const noexcept;  // tokens stored, expired or not yet reclaimed
    size_t capacity() const noexcept;     // entries (tokens and client records) stored at once

  private:
    struct Header;
    Header *header_;
    StoreLock lock_;
    ChangeLog changes_;
};

}  // namespace oauth
