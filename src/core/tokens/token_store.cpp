// The token store: see token_store.hpp for the layout and the concurrency rules.
// The mechanisms it is made of have files of their own: the slot table
// (slot_table.hpp: probing, backward-shift deletion, whole entries for a
// reader), the client records and their dictionaries (client_records.hpp) and
// the seqlock (seqlock.hpp). Here: the region's header, the token entries, and
// the store's rules over them (reclaiming, sweeping, caps, repair).
//
// A writer may die at any instruction. It writes a client record before the
// token that points at it, and removes it only after its last token; it
// writes a token's bindings before the token, and removes them after it.
// repair() then mends what an interrupted change leaves.
#include "core/tokens/token_store.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>

#include "core/tokens/client_records.hpp"
#include "core/tokens/seqlock.hpp"
#include "core/tokens/slot_table.hpp"

namespace oauth {
namespace {

using client_records::ClientKey;
using client_records::ClientPlan;
using client_records::Head;
using slot_table::Entry;
using slot_table::is_empty;
using slot_table::kind_of;
using slot_table::kNone;
using slot_table::kRelaxed;
using slot_table::Words;

constexpr uint64_t kMagic = 0x4b4f544854554f41;  // "OAUTHTOK"
constexpr uint32_t kVersion = 3;  // 2: client records in the token table; 3: audiences
constexpr size_t kCacheLine = 64;
constexpr unsigned kReclaimStep = 8;
constexpr uint64_t kAudienceBits = 0xffff;  // kMaxResources bits
static_assert(kMaxResources == 16, "a token keeps its audience in 16 bits of w[7]");

// A token entry's words (slot_table.hpp has the key and the state,
// client_records.cpp the records'):
//   key = digest; w[4] = expires_at | issued_at << 32; w[5] = scope mask over
//   the client's dictionary; w[6], w[7] low 40 bits = client key; w[7] bits
//   40-55: audience mask over its audience dictionary; its kind kToken, or
//   kBoundToken for a token with one or two binding entries.
// A binding entry's: w[0], w[1] = the first half of its token's digest (so it
// shares its token's home, and 128 random bits tell tokens apart);
// w[2], w[3], w[5], w[6] = the thumbprint; w[4] = its token's expires_at;
// kind kCertificateBinding (x5t#S256) or kKeyBinding (jkt).

struct Region {
    uint64_t magic;
    uint32_t version;
    uint32_t spare;
    uint64_t size;
    uint64_t slots_offset;
    uint32_t slot_count;
    uint32_t cursor;  // where the next insert looks for expired entries
    // 0, or the soonest expiry of the stored tokens: until then a sweep would
    // free nothing, so a full store refuses at once, and says how long to wait.
    uint32_t no_expiry_before;
    uint32_t used;               // entries of any kind
    std::atomic<uint32_t> seq;   // odd while a writer changes anything
    std::atomic<uint32_t> live;  // tokens stored; read without the lock by live_tokens()
};
static_assert(offsetof(Region, seq) == 48, "fuzz/token_store.cpp knows where seq lies");

struct Layout {
    uint64_t slots_offset;
    uint32_t slot_count;
};

constexpr size_t round_up(size_t n, size_t to) {
    return (n + to - 1) / to * to;
}

Layout layout_for(size_t size) noexcept {
    Layout layout;
    layout.slots_offset = round_up(sizeof(Region), kCacheLine);
    layout.slot_count = std::min((size - layout.slots_offset) / sizeof(Entry), size_t{UINT32_MAX});
    return layout;
}

bool is_aligned(const void *region) {
    return reinterpret_cast<uintptr_t>(region) % alignof(Region) == 0;
}

Entry *slots_of(Region &region) {
    return reinterpret_cast<Entry *>(reinterpret_cast<char *>(&region) + region.slots_offset);
}

Words words_of(const Digest &digest) {
    Words words;
    std::memcpy(words.data(), digest.data(), sizeof words);
    return words;
}

Digest digest_of(const Words &words) {
    Digest digest;
    std::memcpy(digest.data(), words.data(), sizeof words);
    return digest;
}

bool is_token_kind(slot_table::Kind kind) {
    return kind == slot_table::kToken || kind == slot_table::kBoundToken;
}

bool is_binding_kind(slot_table::Kind kind) {
    return kind == slot_table::kCertificateBinding || kind == slot_table::kKeyBinding;
}

bool is_token(const Entry &entry) {
    return !is_empty(entry) && is_token_kind(kind_of(entry));
}

// Whether `entry` is the first half of the digest `token_key`, of `kind`: a
// token's binding, or a binding's token.
bool shares_digest_half(const Entry &entry, slot_table::Kind kind, const Words &token_key) {
    return kind_of(entry) == kind && entry.w[0].load(kRelaxed) == token_key[0] &&
           entry.w[1].load(kRelaxed) == token_key[1];
}

slot_table::EntryWords binding_words(const Words &token_key, slot_table::Kind kind,
                                     const Digest &thumbprint, uint32_t expires_at) {
    Words print = words_of(thumbprint);
    return {token_key[0], token_key[1], print[0], print[1],
            expires_at,   print[2],     print[3], uint64_t{kind} << 56};
}

Digest thumbprint_of(const Entry &binding) {
    return digest_of({binding.w[2].load(kRelaxed), binding.w[3].load(kRelaxed),
                      binding.w[5].load(kRelaxed), binding.w[6].load(kRelaxed)});
}

size_t binding_entries(const TokenBindings &bindings) {
    return size_t{bindings.certificate.bound} + size_t{bindings.dpop.bound};
}

bool is_expired(const Entry &entry, uint32_t now) {
    return is_token(entry) && slot_table::state_of(entry) <= now;
}

uint32_t expiry_of(const Entry &token) {
    return slot_table::state_of(token);
}

ClientKey client_of(const Entry &token) {
    return {token.w[6].load(kRelaxed), token.w[7].load(kRelaxed) & client_records::kClientKeyLow40};
}

uint64_t audience_mask_of(const Entry &token) {
    return token.w[7].load(kRelaxed) >> 40 & kAudienceBits;
}

// The tokens of a region, in its slot table beside their clients' records.
// Everything but the read functions runs under the caller's lock.
class Tokens {
  public:
    explicit Tokens(Region &region) noexcept
        : region_(region),
          table_(slots_of(region), region.slot_count, region.used),
          records_(table_) {}
    Tokens(const Tokens &) = delete;
    Tokens &operator=(const Tokens &) = delete;

    size_t capacity() const { return table_.capacity(); }
    uint32_t slot_count() const { return table_.slot_count(); }
    void prefetch(const Digest &digest) const { table_.prefetch(words_of(digest)[0]); }

    uint32_t locate_token(const Digest &digest) const {
        Words key = words_of(digest);
        return table_.locate_if(key[0], [&](const Entry &entry) {
            return slot_table::holds(entry, {key, slot_table::kToken}) ||
                   slot_table::holds(entry, {key, slot_table::kBoundToken});
        });
    }

    // The binding of `kind` of the token `token_key`, or kNone.
    uint32_t locate_binding(const Words &token_key, slot_table::Kind kind) const {
        return table_.locate_if(token_key[0], [&](const Entry &entry) {
            return shares_digest_half(entry, kind, token_key);
        });
    }

    // ---- reading (without the lock the result may be torn; the caller checks seq)

    bool read_token(uint32_t i, uint32_t now, TokenGrant &out) const {
        const Entry &entry = table_.slot(i);
        uint64_t state = entry.w[4].load(kRelaxed);
        if (!is_token_kind(kind_of(entry)) || uint32_t(state) == 0 || now >= uint32_t(state) ||
            !read_bindings(entry, out)) {
            return false;
        }
        out.expires_at = uint32_t(state);
        out.issued_at = uint32_t(state >> 32);
        uint64_t mask = entry.w[5].load(kRelaxed);
        uint64_t audience_mask = audience_mask_of(entry);
        ClientKey client = client_of(entry);
        Head head;
        char text[client_records::kMaxText];
        char audiences[kMaxResourceListLength];
        // Most tokens of a client with resources carry an audience; a token
        // without one spares the reads.
        if (!records_.read_head(client, head) || !records_.read_text(client, head, text) ||
            (audience_mask != 0 && !records_.read_audiences(client, head, audiences))) {
            return false;
        }
        std::memcpy(out.client_id, text, head.id_length);
        out.client_id_length = head.id_length;
        out.scope_length = client_records::render_granted(text + head.id_length,
                                                          head.dictionary_length, mask, out.scope);
        out.audience_length = audience_mask == 0
                                  ? 0
                                  : client_records::render_granted(audiences, head.audience_length,
                                                                   audience_mask, out.audience);
        return true;
    }

    // A bound token's thumbprints. False when it has neither binding: a
    // token that lost what it is bound to is nobody's, never a bearer token.
    bool read_bindings(const Entry &token, TokenGrant &out) const {
        out.certificate = {};
        out.dpop = {};
        if (kind_of(token) != slot_table::kBoundToken) {
            return true;
        }
        Words key = slot_table::key_of(token);
        read_binding(key, slot_table::kCertificateBinding, out.certificate.bound,
                     out.certificate.thumbprint);
        read_binding(key, slot_table::kKeyBinding, out.dpop.bound, out.dpop.thumbprint);
        return out.certificate.bound || out.dpop.bound;
    }

    void read_binding(const Words &token_key, slot_table::Kind kind, bool &bound,
                      Digest &thumbprint) const {
        uint32_t i = locate_binding(token_key, kind);
        bound = i != kNone;
        if (bound) {
            thumbprint = thumbprint_of(table_.slot(i));
        }
    }

    bool read(const Digest &digest, uint32_t now, TokenGrant &out) const {
        uint32_t i = locate_token(digest);
        return i != kNone && read_token(i, now, out);
    }

    Digest digest_at(uint32_t i) const { return digest_of(slot_table::key_of(table_.slot(i))); }

    bool read_client(uint32_t i, char *id, Head &head) const {
        return records_.read_client(i, id, head);
    }

    bool belongs_to(uint32_t i, std::string_view client_id) const {
        return records_.has_id(client_of(table_.slot(i)), client_id);
    }

    bool plan(const ClientKey &client, std::string_view client_id, std::string_view list,
              uint64_t mask, const Audience &audience, ClientPlan &plan) const {
        return records_.plan(client, client_id, list, mask, audience, plan);
    }

    // ---- changing

    bool has_room(size_t entries) const { return table_.has_room(entries); }

    // Writes the client's record as planned, then the token's bindings, then
    // the token: a reader that finds the token finds its record and bindings.
    void place_token(const Digest &digest, const ClientKey &client, const ClientPlan &plan,
                     uint32_t issued_at, uint32_t expires_at, uint32_t cap,
                     const TokenBindings &bindings) {
        records_.write(client, plan, expires_at, cap);
        Words key = words_of(digest);
        if (bindings.certificate.bound) {
            table_.add(binding_words(key, slot_table::kCertificateBinding,
                                     bindings.certificate.thumbprint, expires_at));
        }
        if (bindings.dpop.bound) {
            table_.add(
                binding_words(key, slot_table::kKeyBinding, bindings.dpop.thumbprint, expires_at));
        }
        slot_table::Kind kind = bindings.any() ? slot_table::kBoundToken : slot_table::kToken;
        slot_table::EntryWords words{};
        std::copy(key.begin(), key.end(), words.begin());
        words[4] = expires_at | uint64_t{issued_at} << 32;
        words[5] = plan.mask;
        words[6] = client.a;
        words[7] = client.b | (plan.audience_mask & kAudienceBits) << 40 | uint64_t{kind} << 56;
        table_.add(words);
        region_.live.store(region_.live.load(kRelaxed) + 1, kRelaxed);
        if (region_.no_expiry_before > expires_at) {
            region_.no_expiry_before = expires_at;
        }
        records_.count_token(client, +1);
    }

    // Removes token i; with `drop_client`, its client's record too when it was
    // the last token (a sweep drops those once it has removed every token).
    void remove_token(uint32_t i, bool drop_client) {
        Entry &entry = table_.slot(i);
        uint32_t expires_at = expiry_of(entry);
        ClientKey client = client_of(entry);
        bool bound = kind_of(entry) == slot_table::kBoundToken;
        Words key = slot_table::key_of(entry);
        if (expires_at == region_.no_expiry_before) {
            region_.no_expiry_before = 0;  // the soonest expiry may be later now: unknown
        }
        table_.erase(i);
        if (bound) {
            erase_binding(key, slot_table::kCertificateBinding);
            erase_binding(key, slot_table::kKeyBinding);
        }
        region_.live.store(region_.live.load(kRelaxed) - 1, kRelaxed);
        Head head;
        if (records_.read_head(client, head)) {
            if (head.soonest == expires_at) {
                records_.set_soonest(head, 0);
            }
            records_.count_token(client, -1);
            if (drop_client && head.tokens == 1) {
                records_.remove(client);
            }
        }
    }

    void erase_binding(const Words &token_key, slot_table::Kind kind) {
        uint32_t i = locate_binding(token_key, kind);
        if (i != kNone) {
            table_.erase(i);
        }
    }

    // Deletes the expired entries among the next few slots, so that expired
    // tokens go at the pace new ones come.
    void reclaim_some(uint32_t now) {
        for (unsigned step = 0; step < kReclaimStep; ++step) {
            uint32_t i = region_.cursor;
            if (is_expired(table_.slot(i), now)) {
                remove_token(i, true);  // an entry may have moved into slot i: look at it next
            } else {
                region_.cursor = table_.next(i);
            }
        }
    }

    bool sweep_is_futile(uint32_t now) const { return now < region_.no_expiry_before; }

    // Deletes every expired token and the records of clients left without
    // one, then notes the soonest expiry of the tokens left, overall and per client.
    void sweep(uint32_t now) {
        for (uint32_t i = 0; i < table_.slot_count(); ++i) {
            while (is_expired(table_.slot(i), now)) {
                remove_token(i, false);
            }
        }
        records_.drop_clients_without_tokens();
        note_soonest_expiries();
    }

    uint32_t seconds_until_expiry(uint32_t now) const {
        return seconds_until(region_.no_expiry_before, now);
    }

    static uint32_t seconds_until(uint32_t when, uint32_t now) {
        return when > now ? when - now : 1;
    }

    // What an interrupted change leaves: counts off by one, a probe chain cut
    // by a hole, an entry present twice, a client record no token points at,
    // a text entry without its head, or a binding without its token.
    void repair() {
        table_.restore_probe_chains();
        drop_broken_records();
        recount();
    }

  private:
    void note_soonest_expiries() {
        records_.forget_soonest_expiries();
        uint32_t soonest = 0;
        for (uint32_t i = 0; i < table_.slot_count(); ++i) {
            const Entry &entry = table_.slot(i);
            if (!is_token(entry)) {
                continue;
            }
            uint32_t expires_at = expiry_of(entry);
            soonest = soonest == 0 ? expires_at : std::min(soonest, expires_at);
            Head head;
            if (records_.read_head(client_of(entry), head) &&
                (head.soonest == 0 || expires_at < head.soonest)) {
                records_.set_soonest(head, expires_at);
            }
        }
        region_.no_expiry_before = soonest;
    }

    // An entry that cannot be read whole is dropped: a token without its
    // client's whole record, and a broken record's entry. Each drop may shift
    // entries back past the pass, hence the loops; recount() counts the
    // entries again.
    void drop_broken_records() {
        bool dropped;
        do {
            dropped = false;
            for (uint32_t i = 0; i < table_.slot_count(); ++i) {
                while (!is_empty(table_.slot(i)) && is_broken(table_.slot(i))) {
                    table_.erase(i);
                    dropped = true;
                }
            }
        } while (dropped);
    }

    bool is_broken(const Entry &entry) const {
        slot_table::Kind kind = kind_of(entry);
        if (is_token_kind(kind)) {
            return !records_.is_whole(client_of(entry)) ||
                   (kind == slot_table::kBoundToken && !has_binding(entry));
        }
        if (is_binding_kind(kind)) {
            return !has_bound_token(entry);
        }
        return records_.is_broken(entry);
    }

    bool has_binding(const Entry &token) const {
        Words key = slot_table::key_of(token);
        return locate_binding(key, slot_table::kCertificateBinding) != kNone ||
               locate_binding(key, slot_table::kKeyBinding) != kNone;
    }

    bool has_bound_token(const Entry &binding) const {
        Words key = slot_table::key_of(binding);
        return table_.locate_if(key[0], [&](const Entry &entry) {
            return shares_digest_half(entry, slot_table::kBoundToken, key);
        }) != kNone;
    }

    // Counts tokens per client again, drops the records no token points at,
    // and forgets the soonest expiries, which the next sweep finds again.
    void recount() {
        records_.reset_counts();
        uint32_t live = 0;
        for (uint32_t i = 0; i < table_.slot_count(); ++i) {
            if (is_token(table_.slot(i))) {
                records_.count_token(client_of(table_.slot(i)), +1);
                ++live;
            }
        }
        table_.recount_used();
        records_.drop_clients_without_tokens();
        region_.live.store(live, kRelaxed);
        region_.no_expiry_before = 0;
    }

    Region &region_;
    slot_table::Table table_;
    client_records::Records records_;
};

// A write section of the store's seqlock (seqlock.hpp) that repairs the
// store first when the last writer died mid-change.
class Change {
  public:
    Change(Region &region, const StoreLock &lock) noexcept : write_(region.seq, lock) {
        if (write_.found_dead_writer()) {
            Tokens(region).repair();
        }
    }

  private:
    seqlock::Write write_;
};

// Runs `read` without the lock until it saw no writer; else under the lock.
template <typename Read>
bool read_consistently(Region &region, const StoreLock &lock, Read read) {
    return seqlock::read_consistently(region.seq, read, [&] {
        Change change(region, lock);
        return read();
    });
}

}  // namespace

struct TokenStore::Header : Region {};

size_t TokenStore::capacity_for(size_t size) noexcept {
    return size < kMinRegionSize ? 0 : slot_table::capacity_of(layout_for(size).slot_count);
}

size_t TokenStore::entries_for_client(std::string_view client_id, std::string_view scope_list,
                                      std::string_view audience_list) noexcept {
    return client_records::entries_for(client_id, scope_list, audience_list);
}

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
           header->slots_offset == layout.slots_offset && header->slot_count == layout.slot_count;
}

TokenStore::TokenStore(void *region, StoreLock lock, ChangeLog changes) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock), changes_(changes) {}

InsertResult TokenStore::insert(const Digest &digest, std::string_view client_id,
                                std::string_view scope_list, uint64_t scope_mask,
                                uint32_t issued_at, uint32_t expires_at, uint32_t now,
                                uint32_t &retry_after, uint32_t client_cap,
                                const Audience &audience, const TokenBindings &bindings) noexcept {
    ClientKey client;
    if (client_id.size() > kMaxClientIdLength || scope_list.size() > kMaxScopeListLength ||
        audience.list.size() > kMaxResourceListLength ||
        !client_records::client_key_of(client_id, client)) {
        retry_after = 1;  // the registry keeps within these; a client record cannot hold more
        return InsertResult::full;
    }
    if (expires_at <= now) {
        return InsertResult::ok;  // find() would never answer it
    }
    Change change(*header_, lock_);
    Tokens table(*header_);
    uint32_t cap =
        client_cap == kDefaultClientCap ? std::max<size_t>(1, table.capacity() / 4) : client_cap;
    table.reclaim_some(now);
    uint32_t stale = table.locate_token(digest);
    if (stale != kNone) {
        table.remove_token(stale, true);  // a digest issued again replaces its entry
    }
    ClientPlan plan;
    if (!table.plan(client, client_id, scope_list, scope_mask, audience, plan)) {
        retry_after = 1;
        return InsertResult::full;
    }
    // The client at its cap, or the store full: reclaim what expired, once
    // per soonest expiry, and look again.
    bool at_cap = plan.head.slot != kNone && plan.head.tokens >= cap;
    bool sweep_may_help =
        at_cap ? plan.head.soonest == 0 || plan.head.soonest <= now : !table.sweep_is_futile(now);
    if ((at_cap || !table.has_room(plan.entries_needed() + binding_entries(bindings))) &&
        sweep_may_help) {
        table.sweep(now);
        table.plan(client, client_id, scope_list, scope_mask, audience, plan);
        at_cap = plan.head.slot != kNone && plan.head.tokens >= cap;
    }
    if (at_cap) {
        retry_after = Tokens::seconds_until(plan.head.soonest, now);
        return InsertResult::client_at_cap;
    }
    if (plan.overflow) {
        retry_after = 0;
        return InsertResult::dictionary_overflow;
    }
    if (!table.has_room(plan.entries_needed() + binding_entries(bindings))) {
        retry_after = table.seconds_until_expiry(now);
        return InsertResult::full;
    }
    table.place_token(digest, client, plan, issued_at, expires_at, cap, bindings);
    changes_.note(digest, 0);
    return InsertResult::ok;
}

bool TokenStore::find(const Digest &digest, uint32_t now, TokenGrant &out) const noexcept {
    Tokens table(*header_);
    return read_consistently(*header_, lock_, [&] { return table.read(digest, now, out); });
}

void TokenStore::visit_live(uint32_t now, LiveTokenVisitor visit, void *context) const noexcept {
    visit_live(now, 0, slot_count(), visit, context);
}

uint32_t TokenStore::slot_count() const noexcept {
    return Tokens(*header_).slot_count();
}

uint32_t TokenStore::visit_live(uint32_t now, uint32_t first_slot, uint32_t slots,
                                LiveTokenVisitor visit, void *context) const noexcept {
    Tokens table(*header_);
    seqlock::LockFreeReader reader(header_->seq);
    uint32_t first = std::min(first_slot, table.slot_count());
    uint32_t end = first + std::min(slots, table.slot_count() - first);
    for (uint32_t i = first; i < end; ++i) {
        Digest digest;
        TokenGrant grant;
        bool live = reader.read([&] {
            digest = table.digest_at(i);
            return table.read_token(i, now, grant);
        });
        if (live) {
            visit(context, digest, grant);
        }
    }
    return end;
}

void TokenStore::visit_clients(ClientVisitor visit, void *context) const noexcept {
    Tokens table(*header_);
    for (uint32_t i = 0; i < table.slot_count(); ++i) {
        char id[kMaxClientIdLength];
        Head head;
        if (read_consistently(*header_, lock_, [&] { return table.read_client(i, id, head); })) {
            visit(context, std::string_view(id, head.id_length), head.tokens, head.cap);
        }
    }
}

bool TokenStore::revoke(const Digest &digest, std::string_view client_id) noexcept {
    Change change(*header_, lock_);
    Tokens table(*header_);
    uint32_t i = table.locate_token(digest);
    if (i == kNone || !table.belongs_to(i, client_id)) {
        return false;
    }
    table.remove_token(i, true);
    return true;
}

void TokenStore::prefetch(const Digest &digest) const noexcept {
    Tokens(*header_).prefetch(digest);
}

size_t TokenStore::live_tokens() const noexcept {
    return header_->live.load(kRelaxed);
}

size_t TokenStore::capacity() const noexcept {
    return Tokens(*header_).capacity();
}

}  // namespace oauth
