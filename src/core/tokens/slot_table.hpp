// The token store's open-addressing table (token_store.hpp has the layout):
// 64-byte entries in slots laid over shared memory, found by linear probing
// from the home slot their first key word picks, removed by backward shift,
// so no tombstone is needed. Knows an entry's key, kind and state word, not
// what a token or a client record keeps in the rest.
//
// Readers take no lock, so every word is a relaxed atomic: a value read once
// is the value bounds-checked and used, and the store's sequence counter tells
// the reader afterwards whether what it copied can be trusted. A writer may
// die at any instruction: it writes an entry's state word last and clears it
// first (with release fences around it), so a slot is either empty or holds a
// whole entry, and restore_probe_chains() mends what a move cut short.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace oauth::slot_table {

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "the store shares atomics between processes");

constexpr uint32_t kNone = UINT32_MAX;  // no slot
constexpr auto kRelaxed = std::memory_order_relaxed;

// What an entry holds, in w[7]'s top byte. A bound token (RFC 8705 §3,
// RFC 9449 §6) is a token of its own kind beside one entry per binding, so
// that a token whose binding is lost is never taken for a bearer token.
enum Kind : uint8_t {
    kToken = 1,
    kClientHead = 2,
    kClientText = 3,
    kBoundToken = 4,
    kCertificateBinding = 5,
    kKeyBinding = 6
};

// Eight words: w[0..3] the key (w[0] picks the home slot), w[4] the state,
// whose low half is 0 when the slot is empty; the rest is the kind's.
struct Entry {
    std::atomic<uint64_t> w[8];
};
static_assert(sizeof(Entry) == 64, "an entry fills one cache line");

using Words = std::array<uint64_t, 4>;
using EntryWords = std::array<uint64_t, 8>;

struct Key {
    Words words;
    Kind kind;
};

inline Kind kind_of(const Entry &entry) {
    return Kind(entry.w[7].load(kRelaxed) >> 56);
}

inline uint32_t state_of(const Entry &entry) {
    return uint32_t(entry.w[4].load(kRelaxed));
}

inline bool is_empty(const Entry &entry) {
    return state_of(entry) == 0;
}

// A kind this table's writers write: anything else is not theirs.
inline bool is_known_kind(Kind kind) {
    return kind >= kToken && kind <= kKeyBinding;
}

// Inline: locate() compares each entry of a probe chain.
inline bool holds(const Entry &entry, const Key &key) {
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

Words key_of(const Entry &entry);
EntryWords words_of(const Entry &entry);

// The state word makes a slot full or empty; the fences keep every other store
// of the change on its side of it, for whoever looks after this writer died.
void set_state(Entry &entry, uint64_t state);

// Writes all eight words, the state last.
void write_entry(Entry &entry, const EntryWords &words);

// Entries a table of `slot_count` slots holds at once: 7/8 of them, so that
// probe chains stay short and an add always finds an empty slot.
size_t capacity_of(uint32_t slot_count);

// The slots of a region and its count of entries. Everything but locate()
// and the reads of entries runs under the caller's lock.
class Table {
  public:
    Table(Entry *slots, uint32_t slot_count, uint32_t &used) noexcept
        : slots_(slots), slot_count_(slot_count), used_(used) {}

    Entry &slot(uint32_t i) const { return slots_[i]; }
    uint32_t slot_count() const { return slot_count_; }
    size_t capacity() const { return capacity_of(slot_count_); }
    bool has_room(size_t entries) const { return used_ + entries <= capacity(); }

    uint32_t home(uint64_t hash) const { return hash % slot_count_; }
    uint32_t next(uint32_t i) const { return i + 1 == slot_count_ ? 0 : i + 1; }

    // The slot holding `key`, or kNone.
    uint32_t locate(const Key &key) const {
        return locate_if(key.words[0], [&](const Entry &entry) { return holds(entry, key); });
    }

    // The first slot of the probe chain from `hash`'s home whose entry
    // `matches`, or kNone: for entries found by less than their whole key.
    template <typename Match>
    uint32_t locate_if(uint64_t hash, Match matches) const {
        uint32_t i = home(hash);
        for (uint32_t steps = 0; steps < slot_count_; ++steps, i = next(i)) {
            const Entry &entry = slot(i);
            if (is_empty(entry)) {
                return kNone;
            }
            if (matches(entry)) {
                return i;
            }
        }
        return kNone;
    }

    // Brings the slot a look-up of `hash` starts at into the cache.
    void prefetch(uint64_t hash) const { __builtin_prefetch(&slot(home(hash))); }

    // Writes an entry into the first empty slot from its home; the caller
    // made sure has_room().
    void add(const EntryWords &words);

    // Empties slot `i` and closes the gap it leaves.
    void erase(uint32_t i);
    void erase_if_present(const Key &key);

    // A dead writer's entries are whole (see set_state), but one in the middle
    // of a backward shift leaves entries cut off from their home by a hole, and
    // possibly one entry in two slots; one of an unknown kind was not written
    // here. Moves each cut-off entry to the first hole on its probe path, drops
    // second copies and unknown entries, until nothing changes: each move
    // shortens a probe path, so this ends.
    void restore_probe_chains();

    // Counts the entries again, after a repair.
    void recount_used();

  private:
    uint32_t distance(uint32_t from, uint32_t to) const {
        return (uint64_t{to} + slot_count_ - from) % slot_count_;
    }
    void close_gap(uint32_t hole);
    bool settle(uint32_t i);

    Entry *slots_;
    uint32_t slot_count_;
    uint32_t &used_;
};

}  // namespace oauth::slot_table
