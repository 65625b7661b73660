// The token store: see token_store.hpp for the layout and the concurrency rules.
//
// Readers take no lock, so every byte they look at is a relaxed atomic: a value
// read once is the value bounds-checked and used, and the sequence counter tells
// the reader afterwards whether what it copied can be trusted.
//
// A writer may die at any instruction. It writes an entry's expiry last and
// clears it first (with release fences around it), so a slot is either empty or
// holds a whole entry; repair() then mends what an interrupted change leaves:
// counts off by one, a probe chain cut by a hole, an entry present twice.
#include "core/token_store.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <new>

namespace oauth {
namespace {

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free &&
                  std::atomic<uint16_t>::is_always_lock_free &&
                  std::atomic<char>::is_always_lock_free,
              "the store shares atomics between processes");

constexpr uint64_t kMagic = 0x4b4f544854554f41;  // "OAUTHTOK"
constexpr uint32_t kVersion = 1;
constexpr size_t kCacheLine = 64;
// Grant records take about 7% of the region: one per 16 KiB, far more than the
// clients a registry names, so that tokens, not grants, fill a zone.
constexpr size_t kRegionBytesPerGrant = 16 * 1024;
constexpr size_t kMinGrants = 8;
constexpr size_t kMaxGrants = 65536;
constexpr uint32_t kNone = UINT32_MAX;
constexpr unsigned kReclaimStep = 8;
// Some 50 microseconds of retries: longer than any change but a sweep or a
// repair, which a reader may as well wait for on the lock. Past them, the
// writer is taken for dead (see Change).
constexpr unsigned kReadAttempts = 1000;

constexpr auto kRelaxed = std::memory_order_relaxed;

struct Entry {
    std::atomic<uint64_t> digest[4];
    std::atomic<uint32_t> expires_at;  // 0: the slot is empty
    std::atomic<uint32_t> issued_at;
    std::atomic<uint32_t> grant;  // index of the grant record
    uint32_t spare32;
    std::atomic<uint64_t> scope_mask;
    uint64_t spare64;
};
static_assert(sizeof(Entry) == 64, "a token entry fills one cache line");

struct Grant {
    uint64_t hash;  // of client id and scope list
    uint32_t refs;  // entries that point here; 0: free for reuse
    std::atomic<uint16_t> client_id_length;
    std::atomic<uint16_t> scope_list_length;
    std::atomic<char> text[kMaxClientIdLength + kMaxScopeListLength];  // client id, scope list
};

struct Region {
    uint64_t magic;
    uint32_t version;
    uint32_t grant_count;
    uint64_t size;
    uint64_t grants_offset;
    uint64_t slots_offset;
    uint32_t slot_count;
    uint32_t grant_probe_limit;  // no grant record lies this far or further from its home
    std::atomic<uint32_t> seq;   // odd while a writer changes anything
    std::atomic<uint32_t> live;  // entries stored; read without the lock by live_tokens()
    uint32_t cursor;             // where the next insert looks for expired entries
    // 0, or the soonest expiry of the stored entries: until then a sweep would
    // free nothing, so a full store refuses at once, and says how long to wait.
    uint32_t no_expiry_before;
};

struct Layout {
    uint32_t grant_count;
    uint64_t grants_offset;
    uint64_t slots_offset;
    uint32_t slot_count;
};

constexpr size_t round_up(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}

Layout layout_for(size_t size) noexcept {
    Layout layout;
    layout.grant_count = std::clamp(size / kRegionBytesPerGrant, kMinGrants, kMaxGrants);
    layout.grants_offset = round_up(sizeof(Region), kCacheLine);
    layout.slots_offset =
        round_up(layout.grants_offset + layout.grant_count * sizeof(Grant), kCacheLine);
    layout.slot_count = std::min((size - layout.slots_offset) / sizeof(Entry), size_t{UINT32_MAX});
    return layout;
}

bool is_aligned(const void *region) {
    return reinterpret_cast<uintptr_t>(region) % alignof(Region) == 0;
}

using DigestWords = std::array<uint64_t, 4>;

DigestWords words_of(const Digest &digest) {
    DigestWords words;
    std::memcpy(words.data(), digest.data(), sizeof words);
    return words;
}

bool holds(const Entry &entry, const DigestWords &digest) {
    for (size_t i = 0; i < digest.size(); ++i) {
        if (entry.digest[i].load(kRelaxed) != digest[i]) {
            return false;
        }
    }
    return true;
}

DigestWords digest_of(const Entry &entry) {
    DigestWords words;
    for (size_t i = 0; i < words.size(); ++i) {
        words[i] = entry.digest[i].load(kRelaxed);
    }
    return words;
}

bool is_empty(const Entry &entry) {
    return entry.expires_at.load(kRelaxed) == 0;
}

bool is_expired(const Entry &entry, uint32_t now) {
    uint32_t expires_at = entry.expires_at.load(kRelaxed);
    return expires_at != 0 && expires_at <= now;
}

// The expiry makes a slot full or empty; the fences keep every other store of
// the change on its side of it, for whoever looks after this writer died.
void set_expiry(Entry &entry, uint32_t expires_at) {
    std::atomic_thread_fence(std::memory_order_release);
    entry.expires_at.store(expires_at, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
}

void write_entry(Entry &entry, const DigestWords &digest, uint32_t grant, uint64_t scope_mask,
                 uint32_t issued_at, uint32_t expires_at) {
    for (size_t i = 0; i < digest.size(); ++i) {
        entry.digest[i].store(digest[i], kRelaxed);
    }
    entry.issued_at.store(issued_at, kRelaxed);
    entry.grant.store(grant, kRelaxed);
    entry.scope_mask.store(scope_mask, kRelaxed);
    set_expiry(entry, expires_at);
}

void copy_entry(const Entry &from, Entry &to) {
    write_entry(to, digest_of(from), from.grant.load(kRelaxed), from.scope_mask.load(kRelaxed),
                from.issued_at.load(kRelaxed), from.expires_at.load(kRelaxed));
}

struct GrantKey {
    std::string_view client_id;
    std::string_view scope_list;
    uint64_t hash;
};

uint64_t fnv1a(uint64_t hash, std::string_view bytes) {
    for (unsigned char c : bytes) {
        hash = (hash ^ c) * 0x100000001b3;
    }
    return hash;
}

GrantKey grant_key(std::string_view client_id, std::string_view scope_list) {
    uint64_t hash = fnv1a(0xcbf29ce484222325, client_id);
    hash = fnv1a(hash ^ client_id.size(), scope_list);
    return {client_id, scope_list, hash};
}

bool text_equals(const std::atomic<char> *text, std::string_view expected) {
    for (size_t i = 0; i < expected.size(); ++i) {
        if (text[i].load(kRelaxed) != expected[i]) {
            return false;
        }
    }
    return true;
}

void store_text(std::atomic<char> *text, std::string_view value) {
    for (size_t i = 0; i < value.size(); ++i) {
        text[i].store(value[i], kRelaxed);
    }
}

bool is_issued_to(const Grant &grant, std::string_view client_id) {
    return grant.client_id_length.load(kRelaxed) == client_id.size() &&
           text_equals(grant.text, client_id);
}

bool holds(const Grant &grant, const GrantKey &key) {
    return grant.hash == key.hash && is_issued_to(grant, key.client_id) &&
           grant.scope_list_length.load(kRelaxed) == key.scope_list.size() &&
           text_equals(grant.text + key.client_id.size(), key.scope_list);
}

void write_grant(Grant &grant, const GrantKey &key) {
    grant.hash = key.hash;
    grant.client_id_length.store(key.client_id.size(), kRelaxed);
    grant.scope_list_length.store(key.scope_list.size(), kRelaxed);
    store_text(grant.text, key.client_id);
    store_text(grant.text + key.client_id.size(), key.scope_list);
}

// The scopes of `mask` in `list`, joined by single spaces in list order (as
// render_scope does). Each byte written stands for a byte read, so `out`,
// as long as the longest list, is never overrun, whatever a torn read gives.
size_t render_granted(const std::atomic<char> *list, size_t length, uint64_t mask, char *out) {
    size_t written = 0;
    unsigned index = 0;
    bool at_token_start = true;
    bool granted = false;
    for (size_t i = 0; i < length; ++i) {
        char c = list[i].load(kRelaxed);
        if (c == ' ') {
            ++index;
            at_token_start = true;
            continue;
        }
        if (at_token_start) {
            granted = index < 64 && (mask >> index & 1);
            if (granted && written > 0) {
                out[written++] = ' ';
            }
            at_token_start = false;
        }
        if (granted) {
            out[written++] = c;
        }
    }
    return written;
}

void pause_cpu() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// The two tables over a region. Everything but read() runs under the caller's lock.
class Table {
  public:
    explicit Table(Region &region) noexcept : region_(region) {}

    size_t capacity() const { return uint64_t{region_.slot_count} * 7 / 8; }

    uint32_t locate(const DigestWords &digest) {
        uint32_t i = home(digest[0]);
        for (uint32_t steps = 0; steps < region_.slot_count; ++steps, i = next(i)) {
            const Entry &entry = slot(i);
            if (is_empty(entry)) {
                return kNone;
            }
            if (holds(entry, digest)) {
                return i;
            }
        }
        return kNone;
    }

    // Without the lock the result may be torn; the caller checks the sequence counter.
    bool read(const DigestWords &digest, uint32_t now, TokenGrant &out) {
        uint32_t i = locate(digest);
        if (i == kNone) {
            return false;
        }
        const Entry &entry = slot(i);
        uint32_t expires_at = entry.expires_at.load(kRelaxed);
        if (now >= expires_at) {
            return false;
        }
        out.expires_at = expires_at;
        out.issued_at = entry.issued_at.load(kRelaxed);
        return read_grant(entry.grant.load(kRelaxed), entry.scope_mask.load(kRelaxed), out);
    }

    uint32_t slot_count() const { return region_.slot_count; }

    // The entry in slot `i` when it is live at `now`; torn without the lock, as read() is.
    bool read_slot(uint32_t i, uint32_t now, Digest &digest, TokenGrant &out) {
        const Entry &entry = slot(i);
        uint32_t expires_at = entry.expires_at.load(kRelaxed);
        if (now >= expires_at) {
            return false;
        }
        DigestWords words = digest_of(entry);
        std::memcpy(digest.data(), words.data(), sizeof words);
        out.expires_at = expires_at;
        out.issued_at = entry.issued_at.load(kRelaxed);
        return read_grant(entry.grant.load(kRelaxed), entry.scope_mask.load(kRelaxed), out);
    }

    bool belongs_to(uint32_t i, std::string_view client_id) {
        return is_issued_to(grant(slot(i).grant.load(kRelaxed)), client_id);
    }

    // A grant record for `key` and a slot for its entry, or kNone.
    uint32_t claim_room(const GrantKey &key) {
        if (region_.live.load(kRelaxed) >= capacity()) {
            return kNone;
        }
        return acquire_grant(key);
    }

    void place(const DigestWords &digest, uint32_t grant, uint64_t scope_mask, uint32_t issued_at,
               uint32_t expires_at) {
        if (region_.no_expiry_before > expires_at) {
            region_.no_expiry_before = expires_at;
        }
        uint32_t i = home(digest[0]);
        while (!is_empty(slot(i))) {  // live < capacity() < slot_count: there is an empty slot
            i = next(i);
        }
        write_entry(slot(i), digest, grant, scope_mask, issued_at, expires_at);
        region_.live.store(region_.live.load(kRelaxed) + 1, kRelaxed);
    }

    void remove(uint32_t hole) {
        Entry &entry = slot(hole);
        if (entry.expires_at.load(kRelaxed) == region_.no_expiry_before) {
            region_.no_expiry_before = 0;  // the soonest expiry may be later now: unknown
        }
        --grant(entry.grant.load(kRelaxed)).refs;
        set_expiry(entry, 0);
        region_.live.store(region_.live.load(kRelaxed) - 1, kRelaxed);
        close_gap(hole);
    }

    // Deletes the expired entries among the next few slots, so that expired
    // tokens go at the pace new ones come.
    void reclaim_some(uint32_t now) {
        for (unsigned step = 0; step < kReclaimStep; ++step) {
            uint32_t i = region_.cursor;
            if (is_expired(slot(i), now)) {
                remove(i);  // an entry may have moved into slot i: look at it next
            } else {
                region_.cursor = next(i);
            }
        }
    }

    bool sweep_is_futile(uint32_t now) const { return now < region_.no_expiry_before; }

    // Deletes every expired entry and notes the soonest expiry of those left.
    void sweep(uint32_t now) {
        uint32_t soonest = 0;
        for (uint32_t i = 0; i < region_.slot_count; ++i) {
            while (is_expired(slot(i), now)) {
                remove(i);
            }
            uint32_t expires_at = slot(i).expires_at.load(kRelaxed);
            if (expires_at != 0 && (soonest == 0 || expires_at < soonest)) {
                soonest = expires_at;
            }
        }
        region_.no_expiry_before = soonest;
    }

    uint32_t seconds_until_expiry(uint32_t now) const {
        return region_.no_expiry_before > now ? region_.no_expiry_before - now : 1;
    }

    void repair() {
        restore_probe_chains();
        recount();
        region_.no_expiry_before = 0;
    }

  private:
    Entry &slot(uint32_t i) {
        return reinterpret_cast<Entry *>(reinterpret_cast<char *>(&region_) +
                                         region_.slots_offset)[i];
    }

    Grant &grant(uint32_t i) {
        return reinterpret_cast<Grant *>(reinterpret_cast<char *>(&region_) +
                                         region_.grants_offset)[i];
    }

    uint32_t home(uint64_t hash) const { return hash % region_.slot_count; }
    uint32_t next(uint32_t i) const { return i + 1 == region_.slot_count ? 0 : i + 1; }
    uint32_t distance(uint32_t from, uint32_t to) const {
        return (uint64_t{to} + region_.slot_count - from) % region_.slot_count;
    }

    bool read_grant(uint32_t index, uint64_t scope_mask, TokenGrant &out) {
        if (index >= region_.grant_count) {
            return false;
        }
        const Grant &record = grant(index);
        size_t client_id_length = record.client_id_length.load(kRelaxed);
        size_t scope_list_length = record.scope_list_length.load(kRelaxed);
        if (client_id_length > kMaxClientIdLength || scope_list_length > kMaxScopeListLength) {
            return false;
        }
        for (size_t i = 0; i < client_id_length; ++i) {
            out.client_id[i] = record.text[i].load(kRelaxed);
        }
        out.client_id_length = client_id_length;
        out.scope_length = render_granted(record.text + client_id_length, scope_list_length,
                                          scope_mask, out.scope);
        return true;
    }

    // Backward-shift deletion: pulls each following entry of the cluster whose
    // probe path crosses the hole into it, so no tombstone is needed.
    void close_gap(uint32_t hole) {
        uint32_t i = next(hole);
        for (uint32_t steps = 1; steps < region_.slot_count; ++steps, i = next(i)) {
            Entry &entry = slot(i);
            if (is_empty(entry)) {
                return;
            }
            if (distance(hole, i) <= distance(home(entry.digest[0].load(kRelaxed)), i)) {
                copy_entry(entry, slot(hole));
                set_expiry(entry, 0);
                hole = i;
            }
        }
    }

    // Content-addressed: tokens of one client and scope list share a record. A
    // record left at 0 refs keeps its content, so the client's next token
    // takes it back without rewriting it.
    uint32_t acquire_grant(const GrantKey &key) {
        uint32_t count = region_.grant_count;
        uint32_t start = key.hash % count;
        uint32_t free = kNone;
        for (uint32_t d = 0; d < region_.grant_probe_limit; ++d) {
            uint32_t i = (start + d) % count;
            Grant &record = grant(i);
            if (holds(record, key)) {
                ++record.refs;
                return i;
            }
            if (record.refs == 0 && free == kNone) {
                free = i;
            }
        }
        for (uint32_t d = region_.grant_probe_limit; free == kNone && d < count; ++d) {
            if (grant((start + d) % count).refs == 0) {
                free = (start + d) % count;
                region_.grant_probe_limit = d + 1;
            }
        }
        if (free != kNone) {
            write_grant(grant(free), key);
            grant(free).refs = 1;
        }
        return free;
    }

    // A dead writer's entries are whole (see set_expiry), but one in the middle
    // of a backward shift leaves entries cut off from their home by a hole, and
    // possibly one entry in two slots. Moves each cut-off entry to the first
    // hole on its probe path and drops the second copy, until nothing changes:
    // each move shortens a probe path, so this ends.
    void restore_probe_chains() {
        bool changed;
        do {
            changed = false;
            for (uint32_t i = 0; i < region_.slot_count; ++i) {
                Entry &entry = slot(i);
                if (is_empty(entry)) {
                    continue;
                }
                if (entry.grant.load(kRelaxed) >= region_.grant_count) {
                    set_expiry(entry, 0);  // not written by this store
                    changed = true;
                    continue;
                }
                changed |= settle(i);
            }
        } while (changed);
    }

    bool settle(uint32_t i) {
        Entry &entry = slot(i);
        DigestWords digest = digest_of(entry);
        for (uint32_t j = home(digest[0]); j != i; j = next(j)) {
            Entry &earlier = slot(j);
            if (is_empty(earlier)) {
                copy_entry(entry, earlier);
                set_expiry(entry, 0);
                return true;
            }
            if (holds(earlier, digest)) {
                set_expiry(entry, 0);
                return true;
            }
        }
        return false;
    }

    void recount() {
        for (uint32_t i = 0; i < region_.grant_count; ++i) {
            grant(i).refs = 0;
        }
        uint32_t live = 0;
        for (uint32_t i = 0; i < region_.slot_count; ++i) {
            if (!is_empty(slot(i))) {
                ++grant(slot(i).grant.load(kRelaxed)).refs;
                ++live;
            }
        }
        region_.live.store(live, kRelaxed);
    }

    Region &region_;
};

// Holds the caller's lock and keeps the sequence counter odd while the store
// changes. Finding it odd already means the last writer died mid-change: its
// odd count still keeps readers off while this one repairs.
class Change {
  public:
    Change(Region &region, const StoreLock &lock) noexcept : region_(region), lock_(lock) {
        if (lock_.lock) {
            lock_.lock(lock_.context);
        }
        odd_seq_ = region_.seq.load(kRelaxed);
        if (odd_seq_ & 1) {
            Table(region_).repair();
        } else {
            region_.seq.store(++odd_seq_, kRelaxed);
            std::atomic_thread_fence(std::memory_order_release);
        }
    }

    ~Change() {
        region_.seq.store(odd_seq_ + 1, std::memory_order_release);
        if (lock_.unlock) {
            lock_.unlock(lock_.context);
        }
    }

    Change(const Change &) = delete;
    Change &operator=(const Change &) = delete;

  private:
    Region &region_;
    const StoreLock &lock_;
    uint32_t odd_seq_;
};

}  // namespace

struct TokenStore::Header : Region {};

bool TokenStore::format(void *region, size_t size) noexcept {
    if (size < kMinRegionSize || !is_aligned(region)) {
        return false;
    }
    std::memset(region, 0, size);
    Layout layout = layout_for(size);
    Header *header = new (region) Header{};
    header->magic = kMagic;
    header->version = kVersion;
    header->size = size;
    header->grant_count = layout.grant_count;
    header->grants_offset = layout.grants_offset;
    header->slots_offset = layout.slots_offset;
    header->slot_count = layout.slot_count;
    return true;
}

bool TokenStore::is_formatted(const void *region, size_t size) noexcept {
    if (size < kMinRegionSize || !is_aligned(region)) {
        return false;
    }
    const auto *header = static_cast<const Header *>(region);
    Layout layout = layout_for(size);
    return header->magic == kMagic && header->version == kVersion && header->size == size &&
           header->grant_count == layout.grant_count &&
           header->grants_offset == layout.grants_offset &&
           header->slots_offset == layout.slots_offset && header->slot_count == layout.slot_count;
}

TokenStore::TokenStore(void *region, StoreLock lock) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock) {}

InsertResult TokenStore::insert(const Digest &digest, std::string_view client_id,
                                std::string_view scope_list, uint64_t scope_mask,
                                uint32_t issued_at, uint32_t expires_at, uint32_t now,
                                uint32_t &retry_after) noexcept {
    if (client_id.size() > kMaxClientIdLength || scope_list.size() > kMaxScopeListLength) {
        retry_after = 1;  // the registry keeps within these; a grant record cannot hold more
        return InsertResult::full;
    }
    if (expires_at <= now) {
        return InsertResult::ok;  // find() would never answer it
    }
    DigestWords words = words_of(digest);
    GrantKey key = grant_key(client_id, scope_list);
    Change change(*header_, lock_);
    Table table(*header_);
    table.reclaim_some(now);
    uint32_t stale = table.locate(words);
    if (stale != kNone) {
        table.remove(stale);  // a digest issued again replaces its entry
    }
    uint32_t grant = table.claim_room(key);
    if (grant == kNone && !table.sweep_is_futile(now)) {
        table.sweep(now);
        grant = table.claim_room(key);
    }
    if (grant == kNone) {
        retry_after = table.seconds_until_expiry(now);
        return InsertResult::full;
    }
    table.place(words, grant, scope_mask, issued_at, expires_at);
    return InsertResult::ok;
}

bool TokenStore::find(const Digest &digest, uint32_t now, TokenGrant &out) const noexcept {
    DigestWords words = words_of(digest);
    Table table(*header_);
    for (unsigned attempt = 0; attempt < kReadAttempts; ++attempt) {
        uint32_t seq = header_->seq.load(std::memory_order_acquire);
        if (seq & 1) {
            pause_cpu();
            continue;
        }
        bool found = table.read(words, now, out);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (header_->seq.load(kRelaxed) == seq) {
            return found;
        }
    }
    Change change(*header_, lock_);  // a writer died mid-change, or a sweep is long
    return table.read(words, now, out);
}

// An entry a writer moves while the walk passes (a backward shift) may be
// seen twice or missed: whoever needs every entry walks again after a change.
void TokenStore::visit_live(uint32_t now, LiveTokenVisitor visit, void *context) const noexcept {
    Table table(*header_);
    Digest digest;
    TokenGrant grant;
    for (uint32_t i = 0; i < table.slot_count(); ++i) {
        bool live = false;
        bool consistent = false;
        for (unsigned attempt = 0; attempt < kReadAttempts && !consistent; ++attempt) {
            uint32_t seq = header_->seq.load(std::memory_order_acquire);
            if (seq & 1) {
                pause_cpu();
                continue;
            }
            live = table.read_slot(i, now, digest, grant);
            std::atomic_thread_fence(std::memory_order_acquire);
            consistent = header_->seq.load(kRelaxed) == seq;
        }
        if (!consistent) {
            Change change(*header_, lock_);  // a writer died mid-change, or a sweep is long
            live = table.read_slot(i, now, digest, grant);
        }
        if (live) {
            visit(context, digest, grant);
        }
    }
}

bool TokenStore::revoke(const Digest &digest, std::string_view client_id) noexcept {
    DigestWords words = words_of(digest);
    Change change(*header_, lock_);
    Table table(*header_);
    uint32_t i = table.locate(words);
    if (i == kNone || !table.belongs_to(i, client_id)) {
        return false;
    }
    table.remove(i);
    return true;
}

size_t TokenStore::live_tokens() const noexcept {
    return header_->live.load(kRelaxed);
}

size_t TokenStore::capacity() const noexcept {
    return Table(*header_).capacity();
}

}  // namespace oauth
