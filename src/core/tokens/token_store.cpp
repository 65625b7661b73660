// The token store: see token_store.hpp for the layout and the concurrency rules.
//
// Readers take no lock, so every word they look at is a relaxed atomic: a value
// read once is the value bounds-checked and used, and the sequence counter tells
// the reader afterwards whether what it copied can be trusted.
//
// A writer may die at any instruction. It writes an entry's state word last and
// clears it first (with release fences around it), so a slot is either empty or
// holds a whole entry. It writes a client record before the token that points
// at it, and removes it only after its last token. repair() then mends what an
// interrupted change leaves: counts off by one, a probe chain cut by a hole, an
// entry present twice, a client record no token points at, or a text entry
// without its head.
#include "core/tokens/token_store.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <new>

#include "core/scope.hpp"
#include "core/tokens/seqlock.hpp"

namespace oauth {
namespace {

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "the store shares atomics between processes");

constexpr uint64_t kMagic = 0x4b4f544854554f41;  // "OAUTHTOK"
constexpr uint32_t kVersion = 3;  // 2: client records in the token table; 3: audiences
constexpr size_t kCacheLine = 64;
constexpr uint32_t kNone = UINT32_MAX;
constexpr unsigned kReclaimStep = 8;
constexpr size_t kMaxText = kMaxClientIdLength + kMaxScopeListLength;
constexpr uint64_t kLow56 = (uint64_t{1} << 56) - 1;
constexpr uint64_t kLow40 = (uint64_t{1} << 40) - 1;
constexpr uint64_t kAudienceBits = 0xffff;  // kMaxResources bits
static_assert(kMaxResources == 16, "a token keeps its audience in 16 bits of w[7]");
// Text entry numbers of the audience dictionary start past this; the id and
// scope dictionary's from 1, so that each grows at its end alone.
constexpr uint32_t kAudienceRun = 1 << 16;

constexpr auto kRelaxed = std::memory_order_relaxed;

enum Kind : uint8_t { kToken = 1, kClientHead = 2, kClientText = 3 };

// An entry is eight words; what they hold depends on its kind, in w[7]'s top byte.
//   all:    w[0..3] key (w[0] picks the home slot), w[4] state: low half 0 when
//           the slot is empty
//   token:  key = digest; w[4] = expires_at | issued_at << 32; w[5] = scope
//           mask over the client's dictionary; w[6], w[7] low 40 bits = client
//           key; w[7] bits 40-55: audience mask over its audience dictionary
//   head:   key = client key, n = 0; w[4] = 1 | tokens << 32; w[5] = soonest
//           expiry of its tokens (0: unknown) | id length << 32 | dictionary
//           length << 48; w[6] = the cap of its last insert | audience
//           dictionary length << 32
//   text:   key = client key, n >= 1; w[4] = 1; w[5], w[6], w[7] low 7 bytes:
//           bytes 23 (n - 1) on of the client id followed by the dictionary,
//           or for n > kAudienceRun bytes 23 (n - kAudienceRun - 1) on of the
//           audience dictionary
struct Entry {
    std::atomic<uint64_t> w[8];
};
static_assert(sizeof(Entry) == 64, "an entry fills one cache line");

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

size_t capacity_of(uint32_t slot_count) {
    return uint64_t{slot_count} * 7 / 8;
}

bool is_aligned(const void *region) {
    return reinterpret_cast<uintptr_t>(region) % alignof(Region) == 0;
}

using Words = std::array<uint64_t, 4>;

struct Key {
    Words words;
    Kind kind;
};

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

// A client's key: 104 bits of SHA-256 of its id, so that ids never collide in
// practice (and an insert that finds another id under its key is refused).
struct ClientKey {
    uint64_t a = 0, b = 0;
    bool operator==(const ClientKey &o) const { return a == o.a && b == o.b; }
};

bool client_key_of(std::string_view client_id, ClientKey &key) {
    Digest digest;
    if (!sha256_digest({std::string_view("client\0", 7), client_id}, digest)) {
        return false;
    }
    std::memcpy(&key.a, digest.data(), 8);
    std::memcpy(&key.b, digest.data() + 8, 8);
    key.b &= kLow40;
    return true;
}

// Entry n of a client record: the head (0) or a text entry, each with its own home.
Key client_entry_key(const ClientKey &client, uint32_t n) {
    return {{client.a + n * 0x9e3779b97f4a7c15, client.b, n, 0},
            n == 0 ? kClientHead : kClientText};
}

size_t text_entries(size_t text_length) {
    return (text_length + TokenStore::kTextBytesPerEntry - 1) / TokenStore::kTextBytesPerEntry;
}

Kind kind_of(const Entry &entry) {
    return Kind(entry.w[7].load(kRelaxed) >> 56);
}

uint32_t state_of(const Entry &entry) {
    return uint32_t(entry.w[4].load(kRelaxed));
}

bool is_empty(const Entry &entry) {
    return state_of(entry) == 0;
}

bool is_token(const Entry &entry) {
    return !is_empty(entry) && kind_of(entry) == kToken;
}

bool is_expired(const Entry &entry, uint32_t now) {
    return is_token(entry) && state_of(entry) <= now;
}

uint32_t expiry_of(const Entry &token) {
    return state_of(token);
}

ClientKey client_of(const Entry &token) {
    return {token.w[6].load(kRelaxed), token.w[7].load(kRelaxed) & kLow40};
}

uint64_t audience_mask_of(const Entry &token) {
    return token.w[7].load(kRelaxed) >> 40 & kAudienceBits;
}

Words key_of(const Entry &entry) {
    Words words;
    for (size_t i = 0; i < words.size(); ++i) {
        words[i] = entry.w[i].load(kRelaxed);
    }
    return words;
}

bool holds(const Entry &entry, const Key &key) {
    if (kind_of(entry) != key.kind) {
        return false;
    }
    for (size_t i = 0; i < key.words.size(); ++i) {
        if (entry.w[i].load(kRelaxed) != key.words[i]) {
            return false;
        }
    }
    return true;
}

// The state word makes a slot full or empty; the fences keep every other store
// of the change on its side of it, for whoever looks after this writer died.
void set_state(Entry &entry, uint64_t state) {
    std::atomic_thread_fence(std::memory_order_release);
    entry.w[4].store(state, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
}

// Writes all eight words, the state last.
void write_entry(Entry &entry, const std::array<uint64_t, 8> &words) {
    for (size_t i = 0; i < words.size(); ++i) {
        if (i != 4) {
            entry.w[i].store(words[i], kRelaxed);
        }
    }
    set_state(entry, words[4]);
}

std::array<uint64_t, 8> words_of(const Entry &entry) {
    std::array<uint64_t, 8> words;
    for (size_t i = 0; i < words.size(); ++i) {
        words[i] = entry.w[i].load(kRelaxed);
    }
    return words;
}

// Text bytes of a text entry: w[5], w[6] and the low 7 bytes of w[7].
void unpack_text(const Entry &entry, char *out) {
    uint64_t words[3] = {entry.w[5].load(kRelaxed), entry.w[6].load(kRelaxed),
                         entry.w[7].load(kRelaxed)};
    std::memcpy(out, words,
                TokenStore::kTextBytesPerEntry);  // little-endian: w[7]'s top byte is left out
}

void pack_text(const char *text, std::array<uint64_t, 8> &words) {
    uint64_t packed[3] = {0, 0, 0};
    std::memcpy(packed, text, TokenStore::kTextBytesPerEntry);
    words[5] = packed[0];
    words[6] = packed[1];
    words[7] = (packed[2] & kLow56) | uint64_t{kClientText} << 56;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "text packing assumes little-endian");

// The scopes of `mask` in the dictionary, joined by single spaces in dictionary
// order. Each byte written stands for a byte read, so `out`, as long as the
// longest list, is never overrun, whatever a torn read gives.
size_t render_granted(const char *list, size_t length, uint64_t mask, char *out) {
    size_t written = 0;
    unsigned index = 0;
    bool at_token_start = true;
    bool granted = false;
    for (size_t i = 0; i < length; ++i) {
        char c = list[i];
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

// The names of a space-joined list; false past kMaxScopes.
bool split_names(std::string_view list, std::string_view *names, size_t &count) {
    count = 0;
    while (!list.empty()) {
        size_t space = list.find(' ');
        std::string_view name = list.substr(0, space);
        if (!name.empty()) {
            if (count == kMaxScopes) {
                return false;
            }
            names[count++] = name;
        }
        list = space == std::string_view::npos ? std::string_view() : list.substr(space + 1);
    }
    return true;
}

// A client record as read from its head.
struct Head {
    uint32_t slot = kNone;
    uint32_t tokens = 0;
    uint32_t soonest = 0;
    size_t id_length = 0;
    size_t dictionary_length = 0;
    size_t audience_length = 0;
    uint32_t cap = 0;
    size_t text_length() const { return id_length + dictionary_length; }
    size_t entries() const {
        return 1 + text_entries(text_length()) + text_entries(audience_length);
    }
};

// A dictionary being planned: names joined by single spaces, `length` bytes
// of `text`, at most `max_names` of them and `max_bytes` bytes.
struct Dictionary {
    char *text;
    size_t &length;
    size_t max_names;
    size_t max_bytes;
    std::string_view view() const { return {text, length}; }
};

// What an insert will write for its client: the text, the audience
// dictionary, and the token's masks over them.
struct ClientPlan {
    Head head;  // slot kNone: the client has no record yet
    char text[kMaxText];
    char audience[kMaxResourceListLength];
    size_t id_length = 0;
    size_t dictionary_length = 0;
    size_t audience_length = 0;
    uint64_t mask = 0;
    uint64_t audience_mask = 0;
    bool overflow = false;
    size_t text_length() const { return id_length + dictionary_length; }
    // Entries this insert adds: the token, and text entries or a whole record.
    size_t entries_needed() const {
        size_t now = head.slot == kNone ? 0 : head.entries();
        return 1 + 1 + text_entries(text_length()) + text_entries(audience_length) - now;
    }
    Dictionary scopes() {
        return {text + id_length, dictionary_length, kMaxScopes, kMaxScopeListLength};
    }
    Dictionary audiences() {
        return {audience, audience_length, kMaxResources, kMaxResourceListLength};
    }
};

// The table over a region. Everything but the read functions runs under the caller's lock.
class Table {
  public:
    explicit Table(Region &region) noexcept : region_(region) {}

    size_t capacity() const { return capacity_of(region_.slot_count); }
    uint32_t slot_count() const { return region_.slot_count; }
    void prefetch(const Digest &digest) const {
        __builtin_prefetch(&slot(home(words_of(digest)[0])));
    }

    uint32_t locate(const Key &key) const {
        uint32_t i = home(key.words[0]);
        for (uint32_t steps = 0; steps < region_.slot_count; ++steps, i = next(i)) {
            const Entry &entry = slot(i);
            if (is_empty(entry)) {
                return kNone;
            }
            if (holds(entry, key)) {
                return i;
            }
        }
        return kNone;
    }

    uint32_t locate_token(const Digest &digest) const { return locate({words_of(digest), kToken}); }

    // ---- reading (without the lock the result may be torn; the caller checks seq)

    bool read_head(const ClientKey &client, Head &head) const {
        uint32_t i = locate(client_entry_key(client, 0));
        if (i == kNone) {
            return false;
        }
        const Entry &entry = slot(i);
        uint64_t counts = entry.w[4].load(kRelaxed);
        uint64_t lengths = entry.w[5].load(kRelaxed);
        head.slot = i;
        head.tokens = uint32_t(counts >> 32);
        head.soonest = uint32_t(lengths);
        head.id_length = (lengths >> 32) & 0xffff;
        head.dictionary_length = lengths >> 48;
        uint64_t cap = entry.w[6].load(kRelaxed);
        head.cap = uint32_t(cap);
        head.audience_length = cap >> 32;
        return head.id_length <= kMaxClientIdLength &&
               head.dictionary_length <= kMaxScopeListLength &&
               head.audience_length <= kMaxResourceListLength;
    }

    // The `length` bytes of text entries first + 1.., into `text`.
    bool read_run(const ClientKey &client, uint32_t first, size_t length, char *text) const {
        size_t entries = text_entries(length);
        char chunk[TokenStore::kTextBytesPerEntry];
        for (uint32_t n = 1; n <= entries; ++n) {
            uint32_t i = locate(client_entry_key(client, first + n));
            if (i == kNone) {
                return false;
            }
            unpack_text(slot(i), chunk);
            size_t offset = (n - 1) * TokenStore::kTextBytesPerEntry;
            std::memcpy(text + offset, chunk,
                        std::min(TokenStore::kTextBytesPerEntry, length - offset));
        }
        return true;
    }

    // The client's id and dictionary, into `text` (kMaxText bytes).
    bool read_text(const ClientKey &client, const Head &head, char *text) const {
        return read_run(client, 0, head.text_length(), text);
    }

    // The client's audience dictionary, into `text` (kMaxResourceListLength bytes).
    bool read_audiences(const ClientKey &client, const Head &head, char *text) const {
        return read_run(client, kAudienceRun, head.audience_length, text);
    }

    bool read_token(uint32_t i, uint32_t now, TokenGrant &out) const {
        const Entry &entry = slot(i);
        uint64_t state = entry.w[4].load(kRelaxed);
        if (kind_of(entry) != kToken || uint32_t(state) == 0 || now >= uint32_t(state)) {
            return false;
        }
        out.expires_at = uint32_t(state);
        out.issued_at = uint32_t(state >> 32);
        uint64_t mask = entry.w[5].load(kRelaxed);
        uint64_t audience_mask = audience_mask_of(entry);
        ClientKey client = client_of(entry);
        Head head;
        char text[kMaxText];
        char audiences[kMaxResourceListLength];
        // Most tokens of a client with resources carry an audience; a token
        // without one spares the reads.
        if (!read_head(client, head) || !read_text(client, head, text) ||
            (audience_mask != 0 && !read_audiences(client, head, audiences))) {
            return false;
        }
        std::memcpy(out.client_id, text, head.id_length);
        out.client_id_length = head.id_length;
        out.scope_length =
            render_granted(text + head.id_length, head.dictionary_length, mask, out.scope);
        out.audience_length = audience_mask == 0 ? 0
                                                 : render_granted(audiences, head.audience_length,
                                                                  audience_mask, out.audience);
        return true;
    }

    bool read(const Digest &digest, uint32_t now, TokenGrant &out) const {
        uint32_t i = locate_token(digest);
        return i != kNone && read_token(i, now, out);
    }

    Digest digest_at(uint32_t i) const { return digest_of(key_of(slot(i))); }

    bool read_client(uint32_t i, char *id, Head &head) const {
        const Entry &entry = slot(i);
        if (is_empty(entry) || kind_of(entry) != kClientHead) {
            return false;
        }
        ClientKey client{entry.w[0].load(kRelaxed), entry.w[1].load(kRelaxed)};
        char text[kMaxText];
        if (!read_head(client, head) || !read_text(client, head, text)) {
            return false;
        }
        std::memcpy(id, text, head.id_length);
        return true;
    }

    bool belongs_to(uint32_t i, std::string_view client_id) const {
        ClientKey client = client_of(slot(i));
        Head head;
        char text[kMaxText];
        return read_head(client, head) && read_text(client, head, text) &&
               std::string_view(text, head.id_length) == client_id;
    }

    // ---- planning an insert

    // What the client's record must become for a token of `mask` over `list`
    // and of `audience`. False when another client's id has the same key
    // (never, in practice).
    bool plan(const ClientKey &client, std::string_view client_id, std::string_view list,
              uint64_t mask, const Audience &audience, ClientPlan &plan) const {
        plan = ClientPlan();
        if (!read_head(client, plan.head)) {
            plan.head = Head();
            // std::copy: an empty view may hold no pointer, which memcpy may not take.
            std::copy(client_id.begin(), client_id.end(), plan.text);
            std::copy(list.begin(), list.end(), plan.text + client_id.size());
            std::copy(audience.list.begin(), audience.list.end(), plan.audience);
            plan.id_length = client_id.size();
            plan.dictionary_length = list.size();
            plan.audience_length = audience.list.size();
            plan.mask = mask;
            plan.audience_mask = audience.mask;
            return true;
        }
        if (!read_text(client, plan.head, plan.text) ||
            std::string_view(plan.text, plan.head.id_length) != client_id ||
            !read_audiences(client, plan.head, plan.audience)) {
            return false;
        }
        plan.id_length = plan.head.id_length;
        plan.dictionary_length = plan.head.dictionary_length;
        plan.audience_length = plan.head.audience_length;
        plan.overflow =
            !map_names(plan.scopes(), list, mask, plan.mask) ||
            !map_names(plan.audiences(), audience.list, audience.mask, plan.audience_mask);
        return true;
    }

    // ---- changing

    bool has_room(size_t entries) const { return region_.used + entries <= capacity(); }

    // Writes the client's record as planned, then the token: a reader that
    // finds the token finds its record.
    void place_token(const Digest &digest, const ClientKey &client, const ClientPlan &plan,
                     uint32_t issued_at, uint32_t expires_at, uint32_t cap) {
        size_t old_text = plan.head.slot == kNone ? 0 : plan.head.text_length();
        size_t old_audience = plan.head.slot == kNone ? 0 : plan.head.audience_length;
        write_run(client, 0, plan.text, old_text, plan.text_length());
        write_run(client, kAudienceRun, plan.audience, old_audience, plan.audience_length);
        write_head(client, plan, expires_at, cap);
        std::array<uint64_t, 8> words{};
        Words key = words_of(digest);
        std::copy(key.begin(), key.end(), words.begin());
        words[4] = expires_at | uint64_t{issued_at} << 32;
        words[5] = plan.mask;
        words[6] = client.a;
        words[7] = client.b | (plan.audience_mask & kAudienceBits) << 40 | uint64_t{kToken} << 56;
        add(words);
        region_.live.store(region_.live.load(kRelaxed) + 1, kRelaxed);
        if (region_.no_expiry_before > expires_at) {
            region_.no_expiry_before = expires_at;
        }
        count_token(client, +1);
    }

    // Removes token i; with `drop_client`, its client's record too when it was
    // the last token (a sweep drops those once it has removed every token).
    void remove_token(uint32_t i, bool drop_client) {
        Entry &entry = slot(i);
        uint32_t expires_at = expiry_of(entry);
        ClientKey client = client_of(entry);
        if (expires_at == region_.no_expiry_before) {
            region_.no_expiry_before = 0;  // the soonest expiry may be later now: unknown
        }
        erase(i);
        region_.live.store(region_.live.load(kRelaxed) - 1, kRelaxed);
        Head head;
        if (read_head(client, head)) {
            if (head.soonest == expires_at) {
                set_soonest(head, 0);
            }
            count_token(client, -1);
            if (drop_client && head.tokens == 1) {
                remove_client(client);
            }
        }
    }

    // Deletes the expired entries among the next few slots, so that expired
    // tokens go at the pace new ones come.
    void reclaim_some(uint32_t now) {
        for (unsigned step = 0; step < kReclaimStep; ++step) {
            uint32_t i = region_.cursor;
            if (is_expired(slot(i), now)) {
                remove_token(i, true);  // an entry may have moved into slot i: look at it next
            } else {
                region_.cursor = next(i);
            }
        }
    }

    bool sweep_is_futile(uint32_t now) const { return now < region_.no_expiry_before; }

    // Deletes every expired token and the records of clients left without
    // one, then notes the soonest expiry of the tokens left, overall and per client.
    void sweep(uint32_t now) {
        for (uint32_t i = 0; i < region_.slot_count; ++i) {
            while (is_expired(slot(i), now)) {
                remove_token(i, false);
            }
        }
        drop_clients_without_tokens();
        note_soonest_expiries();
    }

    uint32_t seconds_until_expiry(uint32_t now) const {
        return seconds_until(region_.no_expiry_before, now);
    }

    static uint32_t seconds_until(uint32_t when, uint32_t now) {
        return when > now ? when - now : 1;
    }

    void repair() {
        restore_probe_chains();
        drop_broken_records();
        recount();
    }

  private:
    Entry &slot(uint32_t i) const {
        return reinterpret_cast<Entry *>(reinterpret_cast<char *>(&region_) +
                                         region_.slots_offset)[i];
    }

    uint32_t home(uint64_t hash) const { return hash % region_.slot_count; }
    uint32_t next(uint32_t i) const { return i + 1 == region_.slot_count ? 0 : i + 1; }
    uint32_t distance(uint32_t from, uint32_t to) const {
        return (uint64_t{to} + region_.slot_count - from) % region_.slot_count;
    }

    // The mask over `dictionary` of the names `mask` picks from `list`, into
    // `out`. When the dictionary is not the list, the whole list is appended,
    // so that later tokens map as they are; else only the names this token
    // is granted. False when even those do not fit.
    static bool map_names(Dictionary dictionary, std::string_view list, uint64_t mask,
                          uint64_t &out) {
        if (dictionary.view() == list) {
            out = mask;  // the usual case: the list has not changed
            return true;
        }
        std::string_view names[kMaxScopes];
        size_t count = 0;
        split_names(list, names, count);  // the caller's list is a registry list: at most 64
        size_t length = dictionary.length;
        out = 0;
        if (extend(dictionary, names, count, ~uint64_t{0}, mask, out)) {
            return true;
        }
        dictionary.length = length;
        out = 0;
        return extend(dictionary, names, count, mask, mask, out);
    }

    // Appends the names of `names` selected by `select` that the dictionary
    // lacks, and sets in `mask` the bits of those `granted`; false when they
    // take the dictionary past its names or bytes.
    static bool extend(Dictionary dictionary, const std::string_view *names, size_t count,
                       uint64_t select, uint64_t granted, uint64_t &mask) {
        std::string_view have[kMaxScopes];
        size_t have_count = 0;
        split_names(dictionary.view(), have, have_count);
        for (size_t j = 0; j < count; ++j) {
            if (!(select >> j & 1)) {
                continue;
            }
            size_t index = std::find(have, have + have_count, names[j]) - have;
            if (index == have_count) {
                size_t extra = (dictionary.length > 0) + names[j].size();
                if (have_count >= dictionary.max_names ||
                    dictionary.length + extra > dictionary.max_bytes) {
                    return false;
                }
                char *end = dictionary.text + dictionary.length;
                if (dictionary.length > 0) {
                    *end++ = ' ';
                }
                std::memcpy(end, names[j].data(), names[j].size());
                have[have_count++] = std::string_view(end, names[j].size());
                dictionary.length += extra;
            }
            if (index >= dictionary.max_names) {
                return false;  // an older dictionary with more names than this build keeps
            }
            if (granted >> j & 1) {
                mask |= uint64_t{1} << index;
            }
        }
        return true;
    }

    // Text entries first + 1.. that changed, from `text` of `length` bytes:
    // an existing one in place (only bytes past the old length change), a
    // new one added.
    void write_run(const ClientKey &client, uint32_t first_entry, const char *text,
                   size_t old_length, size_t length) {
        if (old_length == length) {
            return;
        }
        char chunk[TokenStore::kTextBytesPerEntry];
        size_t first = old_length / TokenStore::kTextBytesPerEntry;
        for (size_t n = first + 1; n <= text_entries(length); ++n) {
            size_t offset = (n - 1) * TokenStore::kTextBytesPerEntry;
            std::memset(chunk, 0, sizeof chunk);
            std::memcpy(chunk, text + offset,
                        std::min(TokenStore::kTextBytesPerEntry, length - offset));
            Key key = client_entry_key(client, first_entry + uint32_t(n));
            std::array<uint64_t, 8> words{};
            std::copy(key.words.begin(), key.words.end(), words.begin());
            words[4] = 1;
            pack_text(chunk, words);
            uint32_t i = locate(key);
            if (i == kNone) {
                add(words);
            } else {
                for (size_t w = 5; w < 8; ++w) {
                    slot(i).w[w].store(words[w], kRelaxed);
                }
            }
        }
    }

    void write_head(const ClientKey &client, const ClientPlan &plan, uint32_t expires_at,
                    uint32_t cap) {
        uint32_t soonest = expires_at;
        if (plan.head.slot != kNone) {
            soonest = plan.head.soonest == 0 ? 0 : std::min(plan.head.soonest, expires_at);
        }
        uint64_t lengths =
            soonest | uint64_t(plan.id_length) << 32 | uint64_t(plan.dictionary_length) << 48;
        if (plan.head.slot != kNone) {
            uint32_t i = locate(client_entry_key(client, 0));
            // The longer text is whole before the head says so, for whoever
            // looks after this writer died.
            std::atomic_thread_fence(std::memory_order_release);
            slot(i).w[5].store(lengths, kRelaxed);
            slot(i).w[6].store(cap | uint64_t(plan.audience_length) << 32, kRelaxed);
            return;
        }
        Key key = client_entry_key(client, 0);
        std::array<uint64_t, 8> words{};
        std::copy(key.words.begin(), key.words.end(), words.begin());
        words[4] = 1;  // no token yet: count_token counts the first
        words[5] = lengths;
        words[6] = cap | uint64_t(plan.audience_length) << 32;
        words[7] = uint64_t{kClientHead} << 56;
        add(words);
    }

    void count_token(const ClientKey &client, int delta) {
        uint32_t i = locate(client_entry_key(client, 0));
        if (i != kNone) {
            uint64_t state = slot(i).w[4].load(kRelaxed);
            slot(i).w[4].store(1 | uint64_t(uint32_t(state >> 32) + delta) << 32, kRelaxed);
        }
    }

    void set_soonest(const Head &head, uint32_t soonest) {
        Entry &entry = slot(head.slot);
        uint64_t lengths = entry.w[5].load(kRelaxed);
        entry.w[5].store((lengths & ~uint64_t{UINT32_MAX}) | soonest, kRelaxed);
    }

    // Text entries first: a record whose head is gone is dropped by repair.
    void remove_client(const ClientKey &client) {
        Head head;
        if (!read_head(client, head)) {
            return;
        }
        for (uint32_t n = 1; n <= text_entries(head.text_length()); ++n) {
            erase_if_present(client_entry_key(client, n));
        }
        for (uint32_t n = 1; n <= text_entries(head.audience_length); ++n) {
            erase_if_present(client_entry_key(client, kAudienceRun + n));
        }
        uint32_t i = locate(client_entry_key(client, 0));
        if (i != kNone) {
            erase(i);
        }
    }

    void erase_if_present(const Key &key) {
        uint32_t i = locate(key);
        if (i != kNone) {
            erase(i);
        }
    }

    // Until a pass finds none: dropping a record shifts entries back, maybe
    // past the pass.
    void drop_clients_without_tokens() {
        bool dropped;
        do {
            dropped = false;
            for (uint32_t i = 0; i < region_.slot_count; ++i) {
                const Entry &entry = slot(i);
                if (!is_empty(entry) && kind_of(entry) == kClientHead &&
                    entry.w[4].load(kRelaxed) >> 32 == 0) {
                    remove_client({entry.w[0].load(kRelaxed), entry.w[1].load(kRelaxed)});
                    dropped = true;
                }
            }
        } while (dropped);
    }

    void note_soonest_expiries() {
        for (uint32_t i = 0; i < region_.slot_count; ++i) {
            if (!is_empty(slot(i)) && kind_of(slot(i)) == kClientHead) {
                slot(i).w[5].store(slot(i).w[5].load(kRelaxed) & ~uint64_t{UINT32_MAX}, kRelaxed);
            }
        }
        uint32_t soonest = 0;
        for (uint32_t i = 0; i < region_.slot_count; ++i) {
            if (!is_token(slot(i))) {
                continue;
            }
            uint32_t expires_at = expiry_of(slot(i));
            soonest = soonest == 0 ? expires_at : std::min(soonest, expires_at);
            Head head;
            if (read_head(client_of(slot(i)), head) &&
                (head.soonest == 0 || expires_at < head.soonest)) {
                set_soonest(head, expires_at);
            }
        }
        region_.no_expiry_before = soonest;
    }

    void add(const std::array<uint64_t, 8> &words) {
        uint32_t i = home(words[0]);
        while (!is_empty(slot(i))) {  // used < capacity() < slot_count: there is an empty slot
            i = next(i);
        }
        write_entry(slot(i), words);
        ++region_.used;
    }

    void erase(uint32_t hole) {
        set_state(slot(hole), 0);
        --region_.used;
        close_gap(hole);
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
            if (distance(hole, i) <= distance(home(entry.w[0].load(kRelaxed)), i)) {
                write_entry(slot(hole), words_of(entry));
                set_state(entry, 0);
                hole = i;
            }
        }
    }

    // A dead writer's entries are whole (see set_state), but one in the middle
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
                Kind kind = kind_of(entry);
                if (kind != kToken && kind != kClientHead && kind != kClientText) {
                    set_state(entry, 0);  // not written by this store
                    changed = true;
                    continue;
                }
                changed |= settle(i);
            }
        } while (changed);
    }

    bool settle(uint32_t i) {
        Entry &entry = slot(i);
        Key key{key_of(entry), kind_of(entry)};
        for (uint32_t j = home(key.words[0]); j != i; j = next(j)) {
            Entry &earlier = slot(j);
            if (is_empty(earlier)) {
                write_entry(earlier, words_of(entry));
                set_state(entry, 0);
                return true;
            }
            if (holds(earlier, key)) {
                set_state(entry, 0);
                return true;
            }
        }
        return false;
    }

    // An entry that cannot be read whole is dropped: a text entry without its
    // head or past its text, a head missing a text entry, a token without its
    // head. Each drop may shift entries back past the pass, hence the loops.
    void drop_broken_records() {
        bool dropped;
        do {
            dropped = false;
            for (uint32_t i = 0; i < region_.slot_count; ++i) {
                while (!is_empty(slot(i)) && is_broken(slot(i))) {
                    set_state(slot(i), 0);
                    close_gap(i);
                    dropped = true;
                }
            }
        } while (dropped);
    }

    bool is_broken(const Entry &entry) const {
        Kind kind = kind_of(entry);
        Head head;
        char text[kMaxText];
        char audiences[kMaxResourceListLength];
        if (kind == kToken) {
            ClientKey client = client_of(entry);
            return !read_head(client, head) || !read_text(client, head, text) ||
                   !read_audiences(client, head, audiences);
        }
        ClientKey client{entry.w[0].load(kRelaxed) - entry.w[2].load(kRelaxed) * 0x9e3779b97f4a7c15,
                         entry.w[1].load(kRelaxed)};
        if (!read_head(client, head)) {
            return true;
        }
        if (kind == kClientHead) {
            return !read_text(client, head, text) || !read_audiences(client, head, audiences);
        }
        uint64_t n = entry.w[2].load(kRelaxed);
        if (n > kAudienceRun) {
            return n - kAudienceRun > text_entries(head.audience_length);
        }
        return n == 0 || n > text_entries(head.text_length());
    }

    // Counts tokens per client again, drops the records no token points at,
    // and forgets the soonest expiries, which the next sweep finds again.
    void recount() {
        for (uint32_t i = 0; i < region_.slot_count; ++i) {
            Entry &entry = slot(i);
            if (!is_empty(entry) && kind_of(entry) == kClientHead) {
                entry.w[4].store(1, kRelaxed);
                entry.w[5].store(entry.w[5].load(kRelaxed) & ~uint64_t{UINT32_MAX}, kRelaxed);
            }
        }
        uint32_t live = 0;
        for (uint32_t i = 0; i < region_.slot_count; ++i) {
            if (is_token(slot(i))) {
                count_token(client_of(slot(i)), +1);
                ++live;
            }
        }
        uint32_t used = 0;
        for (uint32_t i = 0; i < region_.slot_count; ++i) {
            used += !is_empty(slot(i));
        }
        region_.used = used;
        drop_clients_without_tokens();
        region_.live.store(live, kRelaxed);
        region_.no_expiry_before = 0;
    }

    Region &region_;
};

// A write section of the store's seqlock (seqlock.hpp) that repairs the
// store first when the last writer died mid-change.
class Change {
  public:
    Change(Region &region, const StoreLock &lock) noexcept : write_(region.seq, lock) {
        if (write_.found_dead_writer()) {
            Table(region).repair();
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
    return size < kMinRegionSize ? 0 : capacity_of(layout_for(size).slot_count);
}

size_t TokenStore::entries_for_client(std::string_view client_id, std::string_view scope_list,
                                      std::string_view audience_list) noexcept {
    return 1 + text_entries(client_id.size() + scope_list.size()) +
           text_entries(audience_list.size());
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
                                const Audience &audience) noexcept {
    ClientKey client;
    if (client_id.size() > kMaxClientIdLength || scope_list.size() > kMaxScopeListLength ||
        audience.list.size() > kMaxResourceListLength || !client_key_of(client_id, client)) {
        retry_after = 1;  // the registry keeps within these; a client record cannot hold more
        return InsertResult::full;
    }
    if (expires_at <= now) {
        return InsertResult::ok;  // find() would never answer it
    }
    Change change(*header_, lock_);
    Table table(*header_);
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
    if ((at_cap || !table.has_room(plan.entries_needed())) && sweep_may_help) {
        table.sweep(now);
        table.plan(client, client_id, scope_list, scope_mask, audience, plan);
        at_cap = plan.head.slot != kNone && plan.head.tokens >= cap;
    }
    if (at_cap) {
        retry_after = Table::seconds_until(plan.head.soonest, now);
        return InsertResult::client_at_cap;
    }
    if (plan.overflow) {
        retry_after = 0;
        return InsertResult::dictionary_overflow;
    }
    if (!table.has_room(plan.entries_needed())) {
        retry_after = table.seconds_until_expiry(now);
        return InsertResult::full;
    }
    table.place_token(digest, client, plan, issued_at, expires_at, cap);
    changes_.note(digest, 0);
    return InsertResult::ok;
}

bool TokenStore::find(const Digest &digest, uint32_t now, TokenGrant &out) const noexcept {
    Table table(*header_);
    return read_consistently(*header_, lock_, [&] { return table.read(digest, now, out); });
}

void TokenStore::visit_live(uint32_t now, LiveTokenVisitor visit, void *context) const noexcept {
    visit_live(now, 0, slot_count(), visit, context);
}

uint32_t TokenStore::slot_count() const noexcept {
    return Table(*header_).slot_count();
}

uint32_t TokenStore::visit_live(uint32_t now, uint32_t first_slot, uint32_t slots,
                                LiveTokenVisitor visit, void *context) const noexcept {
    Table table(*header_);
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
    Table table(*header_);
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
    Table table(*header_);
    uint32_t i = table.locate_token(digest);
    if (i == kNone || !table.belongs_to(i, client_id)) {
        return false;
    }
    table.remove_token(i, true);
    return true;
}

void TokenStore::prefetch(const Digest &digest) const noexcept {
    Table(*header_).prefetch(digest);
}

size_t TokenStore::live_tokens() const noexcept {
    return header_->live.load(kRelaxed);
}

size_t TokenStore::capacity() const noexcept {
    return Table(*header_).capacity();
}

}  // namespace oauth
