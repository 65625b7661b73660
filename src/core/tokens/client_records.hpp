// The token store's client records (token_store.hpp has the layout): in the
// slot table, a head entry per client holding tokens (tokens held, their
// soonest expiry, the lengths, the cap of its last insert) and text entries
// holding its id, its scope dictionary and its audience dictionary; and the
// dictionaries' rules: a name keeps its place, so that a token's mask over it
// stays true, and new names go at the end.
//
// Writers run under the caller's lock. A writer writes a record's text before
// its head says how long it is, and removes text entries before the head, so
// that a dead writer leaves a record repair() reads whole or drops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/registry.hpp"
#include "core/resource.hpp"
#include "core/scope.hpp"
#include "core/tokens/slot_table.hpp"
#include "core/tokens/token_store.hpp"

namespace oauth::client_records {

using slot_table::Entry;
using slot_table::kNone;

constexpr size_t kTextBytesPerEntry = TokenStore::kTextBytesPerEntry;
constexpr size_t kMaxText = kMaxClientIdLength + kMaxScopeListLength;
// Text entry numbers of the audience dictionary start past this; the id and
// scope dictionary's from 1, so that each grows at its end alone.
constexpr uint32_t kAudienceRun = 1 << 16;

// A client's key: 104 bits of SHA-256 of its id, so that ids never collide in
// practice (and an insert that finds another id under its key is refused).
struct ClientKey {
    uint64_t a = 0, b = 0;
    bool operator==(const ClientKey &o) const { return a == o.a && b == o.b; }
};

// The low 40 bits of a ClientKey's b: what a token entry has room for.
constexpr uint64_t kClientKeyLow40 = (uint64_t{1} << 40) - 1;

bool client_key_of(std::string_view client_id, ClientKey &key);

// Entry n of a client record: the head (0) or a text entry, each with its own home.
slot_table::Key client_entry_key(const ClientKey &client, uint32_t n);

// The client a head or text entry belongs to.
ClientKey client_of_record_entry(const Entry &entry);

// Text entries `text_length` bytes take.
size_t text_entries(size_t text_length);

// Entries a client record takes: a head and its text entries.
size_t entries_for(std::string_view client_id, std::string_view scope_list,
                   std::string_view audience_list);

// The names of `mask` in a dictionary, joined by single spaces in dictionary
// order. Each byte written stands for a byte read, so `out`, as long as the
// longest list, is never overrun, whatever a torn read gives.
size_t render_granted(const char *list, size_t length, uint64_t mask, char *out);

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

// The mask over `dictionary` of the names `mask` picks from `list` (a registry
// list: at most kMaxScopes names), into `out`. When the dictionary is not the
// list, the whole list is appended, so that later tokens map as they are; else
// only the names this token is granted. False when even those do not fit.
bool map_names(Dictionary dictionary, std::string_view list, uint64_t mask, uint64_t &out);

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

// The client records of a slot table.
class Records {
  public:
    explicit Records(slot_table::Table &table) noexcept : table_(table) {}

    // ---- reading (without the lock the result may be torn; the caller checks seq)

    // False when the client has no head, or one whose lengths are past the bounds.
    bool read_head(const ClientKey &client, Head &head) const;
    // The client's id and dictionary, into `text` (kMaxText bytes).
    bool read_text(const ClientKey &client, const Head &head, char *text) const;
    // The client's audience dictionary, into `text` (kMaxResourceListLength bytes).
    bool read_audiences(const ClientKey &client, const Head &head, char *text) const;
    // The head, the text and the audiences of the client are all there.
    bool is_whole(const ClientKey &client) const;
    // The id of the client whose head is in slot `i` (kMaxClientIdLength bytes).
    bool read_client(uint32_t i, char *id, Head &head) const;
    bool has_id(const ClientKey &client, std::string_view client_id) const;

    // What the client's record must become for a token of `mask` over `list`
    // and of `audience`. False when another client's id has the same key
    // (never, in practice).
    bool plan(const ClientKey &client, std::string_view client_id, std::string_view list,
              uint64_t mask, const Audience &audience, ClientPlan &plan) const;

    // ---- changing

    // Writes the client's record as planned, its soonest expiry as a token
    // expiring at `expires_at` leaves it, its tokens not counted yet.
    void write(const ClientKey &client, const ClientPlan &plan, uint32_t expires_at, uint32_t cap);
    void count_token(const ClientKey &client, int delta);
    void set_soonest(const Head &head, uint32_t soonest);
    // Text entries first: a record whose head is gone is dropped by repair.
    void remove(const ClientKey &client);
    // Until a pass finds none: dropping a record shifts entries back, maybe
    // past the pass.
    void drop_clients_without_tokens();
    // Every head's soonest expiry becomes unknown.
    void forget_soonest_expiries();
    // Every head's soonest expiry becomes unknown and its token count 0, for
    // a repair that counts them again.
    void reset_counts();

    // ---- repairing

    // A head or text entry that cannot be read whole: a text entry without
    // its head or past its text, a head missing a text entry.
    bool is_broken(const Entry &entry) const;

  private:
    bool read_run(const ClientKey &client, uint32_t first, size_t length, char *text) const;
    void write_run(const ClientKey &client, uint32_t first_entry, const char *text,
                   size_t old_length, size_t length);
    void write_head(const ClientKey &client, const ClientPlan &plan, uint32_t expires_at,
                    uint32_t cap);

    slot_table::Table &table_;
};

}  // namespace oauth::client_records
