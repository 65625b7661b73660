// The token store's client records and their dictionaries: see client_records.hpp.
//
// Entry words (slot_table.hpp has the key and the state):
//   head:   key = client key, n = 0; w[4] = 1 | tokens << 32; w[5] = soonest
//           expiry of its tokens (0: unknown) | id length << 32 | dictionary
//           length << 48; w[6] = the cap of its last insert | audience
//           dictionary length << 32
//   text:   key = client key, n >= 1; w[4] = 1; w[5], w[6], w[7] low 7 bytes:
//           bytes 23 (n - 1) on of the client id followed by the dictionary,
//           or for n > kAudienceRun bytes 23 (n - kAudienceRun - 1) on of the
//           audience dictionary
#include "core/tokens/client_records.hpp"

#include <algorithm>
#include <cstring>

#include "core/tokens/token.hpp"

namespace oauth::client_records {
namespace {

using slot_table::EntryWords;
using slot_table::is_empty;
using slot_table::Key;
using slot_table::kind_of;
using slot_table::kRelaxed;

constexpr uint64_t kLow56 = (uint64_t{1} << 56) - 1;
constexpr uint64_t kKeyStride = 0x9e3779b97f4a7c15;  // spreads a record's entries' homes

// Text bytes of a text entry: w[5], w[6] and the low 7 bytes of w[7].
void unpack_text(const Entry &entry, char *out) {
    uint64_t words[3] = {entry.w[5].load(kRelaxed), entry.w[6].load(kRelaxed),
                         entry.w[7].load(kRelaxed)};
    std::memcpy(out, words, kTextBytesPerEntry);  // little-endian: w[7]'s top byte is left out
}

void pack_text(const char *text, EntryWords &words) {
    uint64_t packed[3] = {0, 0, 0};
    std::memcpy(packed, text, kTextBytesPerEntry);
    words[5] = packed[0];
    words[6] = packed[1];
    words[7] = (packed[2] & kLow56) | uint64_t{slot_table::kClientText} << 56;
}
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "text packing assumes little-endian");

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

// Appends the names of `names` selected by `select` that the dictionary
// lacks, and sets in `mask` the bits of those `granted`; false when they
// take the dictionary past its names or bytes.
bool extend(Dictionary dictionary, const std::string_view *names, size_t count, uint64_t select,
            uint64_t granted, uint64_t &mask) {
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

}  // namespace

bool client_key_of(std::string_view client_id, ClientKey &key) {
    Digest digest;
    if (!sha256_digest({std::string_view("client\0", 7), client_id}, digest)) {
        return false;
    }
    std::memcpy(&key.a, digest.data(), 8);
    std::memcpy(&key.b, digest.data() + 8, 8);
    key.b &= kClientKeyLow40;
    return true;
}

Key client_entry_key(const ClientKey &client, uint32_t n) {
    return {{client.a + n * kKeyStride, client.b, n, 0},
            n == 0 ? slot_table::kClientHead : slot_table::kClientText};
}

ClientKey client_of_record_entry(const Entry &entry) {
    return {entry.w[0].load(kRelaxed) - entry.w[2].load(kRelaxed) * kKeyStride,
            entry.w[1].load(kRelaxed)};
}

size_t text_entries(size_t text_length) {
    return (text_length + kTextBytesPerEntry - 1) / kTextBytesPerEntry;
}

size_t entries_for(std::string_view client_id, std::string_view scope_list,
                   std::string_view audience_list) {
    return 1 + text_entries(client_id.size() + scope_list.size()) +
           text_entries(audience_list.size());
}

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

bool map_names(Dictionary dictionary, std::string_view list, uint64_t mask, uint64_t &out) {
    if (dictionary.view() == list) {
        out = mask;  // the usual case: the list has not changed
        return true;
    }
    std::string_view names[kMaxScopes];
    size_t count = 0;
    split_names(list, names, count);
    size_t length = dictionary.length;
    out = 0;
    if (extend(dictionary, names, count, ~uint64_t{0}, mask, out)) {
        return true;
    }
    dictionary.length = length;
    out = 0;
    return extend(dictionary, names, count, mask, mask, out);
}

bool Records::read_head(const ClientKey &client, Head &head) const {
    uint32_t i = table_.locate(client_entry_key(client, 0));
    if (i == kNone) {
        return false;
    }
    const Entry &entry = table_.slot(i);
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
    return head.id_length <= kMaxClientIdLength && head.dictionary_length <= kMaxScopeListLength &&
           head.audience_length <= kMaxResourceListLength;
}

// The `length` bytes of text entries first + 1.., into `text`.
bool Records::read_run(const ClientKey &client, uint32_t first, size_t length, char *text) const {
    size_t entries = text_entries(length);
    char chunk[kTextBytesPerEntry];
    for (uint32_t n = 1; n <= entries; ++n) {
        uint32_t i = table_.locate(client_entry_key(client, first + n));
        if (i == kNone) {
            return false;
        }
        unpack_text(table_.slot(i), chunk);
        size_t offset = (n - 1) * kTextBytesPerEntry;
        std::memcpy(text + offset, chunk, std::min(kTextBytesPerEntry, length - offset));
    }
    return true;
}

bool Records::read_text(const ClientKey &client, const Head &head, char *text) const {
    return read_run(client, 0, head.text_length(), text);
}

bool Records::read_audiences(const ClientKey &client, const Head &head, char *text) const {
    return read_run(client, kAudienceRun, head.audience_length, text);
}

bool Records::is_whole(const ClientKey &client) const {
    Head head;
    char text[kMaxText];
    char audiences[kMaxResourceListLength];
    return read_head(client, head) && read_text(client, head, text) &&
           read_audiences(client, head, audiences);
}

bool Records::read_client(uint32_t i, char *id, Head &head) const {
    const Entry &entry = table_.slot(i);
    if (is_empty(entry) || kind_of(entry) != slot_table::kClientHead) {
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

bool Records::has_id(const ClientKey &client, std::string_view client_id) const {
    Head head;
    char text[kMaxText];
    return read_head(client, head) && read_text(client, head, text) &&
           std::string_view(text, head.id_length) == client_id;
}

bool Records::plan(const ClientKey &client, std::string_view client_id, std::string_view list,
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
    plan.overflow = !map_names(plan.scopes(), list, mask, plan.mask) ||
                    !map_names(plan.audiences(), audience.list, audience.mask, plan.audience_mask);
    return true;
}

void Records::write(const ClientKey &client, const ClientPlan &plan, uint32_t expires_at,
                    uint32_t cap) {
    size_t old_text = plan.head.slot == kNone ? 0 : plan.head.text_length();
    size_t old_audience = plan.head.slot == kNone ? 0 : plan.head.audience_length;
    write_run(client, 0, plan.text, old_text, plan.text_length());
    write_run(client, kAudienceRun, plan.audience, old_audience, plan.audience_length);
    write_head(client, plan, expires_at, cap);
}

// Text entries first + 1.. that changed, from `text` of `length` bytes: an
// existing one in place (only bytes past the old length change), a new one
// added.
void Records::write_run(const ClientKey &client, uint32_t first_entry, const char *text,
                        size_t old_length, size_t length) {
    if (old_length == length) {
        return;
    }
    char chunk[kTextBytesPerEntry];
    size_t first = old_length / kTextBytesPerEntry;
    for (size_t n = first + 1; n <= text_entries(length); ++n) {
        size_t offset = (n - 1) * kTextBytesPerEntry;
        std::memset(chunk, 0, sizeof chunk);
        std::memcpy(chunk, text + offset, std::min(kTextBytesPerEntry, length - offset));
        Key key = client_entry_key(client, first_entry + uint32_t(n));
        EntryWords words{};
        std::copy(key.words.begin(), key.words.end(), words.begin());
        words[4] = 1;
        pack_text(chunk, words);
        uint32_t i = table_.locate(key);
        if (i == kNone) {
            table_.add(words);
        } else {
            for (size_t w = 5; w < 8; ++w) {
                table_.slot(i).w[w].store(words[w], kRelaxed);
            }
        }
    }
}

void Records::write_head(const ClientKey &client, const ClientPlan &plan, uint32_t expires_at,
                         uint32_t cap) {
    uint32_t soonest = expires_at;
    if (plan.head.slot != kNone) {
        soonest = plan.head.soonest == 0 ? 0 : std::min(plan.head.soonest, expires_at);
    }
    uint64_t lengths =
        soonest | uint64_t(plan.id_length) << 32 | uint64_t(plan.dictionary_length) << 48;
    if (plan.head.slot != kNone) {
        uint32_t i = table_.locate(client_entry_key(client, 0));
        // The longer text is whole before the head says so, for whoever
        // looks after this writer died.
        std::atomic_thread_fence(std::memory_order_release);
        table_.slot(i).w[5].store(lengths, kRelaxed);
        table_.slot(i).w[6].store(cap | uint64_t(plan.audience_length) << 32, kRelaxed);
        return;
    }
    Key key = client_entry_key(client, 0);
    EntryWords words{};
    std::copy(key.words.begin(), key.words.end(), words.begin());
    words[4] = 1;  // no token yet: count_token counts the first
    words[5] = lengths;
    words[6] = cap | uint64_t(plan.audience_length) << 32;
    words[7] = uint64_t{slot_table::kClientHead} << 56;
    table_.add(words);
}

void Records::count_token(const ClientKey &client, int delta) {
    uint32_t i = table_.locate(client_entry_key(client, 0));
    if (i != kNone) {
        uint64_t state = table_.slot(i).w[4].load(kRelaxed);
        table_.slot(i).w[4].store(1 | uint64_t(uint32_t(state >> 32) + delta) << 32, kRelaxed);
    }
}

void Records::set_soonest(const Head &head, uint32_t soonest) {
    Entry &entry = table_.slot(head.slot);
    uint64_t lengths = entry.w[5].load(kRelaxed);
    entry.w[5].store((lengths & ~uint64_t{UINT32_MAX}) | soonest, kRelaxed);
}

void Records::remove(const ClientKey &client) {
    Head head;
    if (!read_head(client, head)) {
        return;
    }
    for (uint32_t n = 1; n <= text_entries(head.text_length()); ++n) {
        table_.erase_if_present(client_entry_key(client, n));
    }
    for (uint32_t n = 1; n <= text_entries(head.audience_length); ++n) {
        table_.erase_if_present(client_entry_key(client, kAudienceRun + n));
    }
    table_.erase_if_present(client_entry_key(client, 0));
}

void Records::drop_clients_without_tokens() {
    bool dropped;
    do {
        dropped = false;
        for (uint32_t i = 0; i < table_.slot_count(); ++i) {
            const Entry &entry = table_.slot(i);
            if (!is_empty(entry) && kind_of(entry) == slot_table::kClientHead &&
                entry.w[4].load(kRelaxed) >> 32 == 0) {
                remove({entry.w[0].load(kRelaxed), entry.w[1].load(kRelaxed)});
                dropped = true;
            }
        }
    } while (dropped);
}

void Records::forget_soonest_expiries() {
    for (uint32_t i = 0; i < table_.slot_count(); ++i) {
        Entry &entry = table_.slot(i);
        if (!is_empty(entry) && kind_of(entry) == slot_table::kClientHead) {
            entry.w[5].store(entry.w[5].load(kRelaxed) & ~uint64_t{UINT32_MAX}, kRelaxed);
        }
    }
}

void Records::reset_counts() {
    for (uint32_t i = 0; i < table_.slot_count(); ++i) {
        Entry &entry = table_.slot(i);
        if (!is_empty(entry) && kind_of(entry) == slot_table::kClientHead) {
            entry.w[4].store(1, kRelaxed);
            entry.w[5].store(entry.w[5].load(kRelaxed) & ~uint64_t{UINT32_MAX}, kRelaxed);
        }
    }
}

bool Records::is_broken(const Entry &entry) const {
    ClientKey client = client_of_record_entry(entry);
    Head head;
    if (!read_head(client, head)) {
        return true;
    }
    if (kind_of(entry) == slot_table::kClientHead) {
        return !is_whole(client);
    }
    uint64_t n = entry.w[2].load(kRelaxed);
    if (n > kAudienceRun) {
        return n - kAudienceRun > text_entries(head.audience_length);
    }
    return n == 0 || n > text_entries(head.text_length());
}

}  // namespace oauth::client_records
