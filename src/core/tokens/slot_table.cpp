// The token store's slot table: see slot_table.hpp.
#include "core/tokens/slot_table.hpp"

namespace oauth::slot_table {

Words key_of(const Entry &entry) {
    Words words;
    for (size_t i = 0; i < words.size(); ++i) {
        words[i] = entry.w[i].load(kRelaxed);
    }
    return words;
}

EntryWords words_of(const Entry &entry) {
    EntryWords words;
    for (size_t i = 0; i < words.size(); ++i) {
        words[i] = entry.w[i].load(kRelaxed);
    }
    return words;
}

void set_state(Entry &entry, uint64_t state) {
    std::atomic_thread_fence(std::memory_order_release);
    entry.w[4].store(state, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
}

void write_entry(Entry &entry, const EntryWords &words) {
    for (size_t i = 0; i < words.size(); ++i) {
        if (i != 4) {
            entry.w[i].store(words[i], kRelaxed);
        }
    }
    set_state(entry, words[4]);
}

size_t capacity_of(uint32_t slot_count) {
    return uint64_t{slot_count} * 7 / 8;
}

void Table::add(const EntryWords &words) {
    uint32_t i = home(words[0]);
    while (!is_empty(slot(i))) {  // used < capacity() < slot_count: there is an empty slot
        i = next(i);
    }
    write_entry(slot(i), words);
    ++used_;
}

void Table::erase(uint32_t i) {
    set_state(slot(i), 0);
    --used_;
    close_gap(i);
}

void Table::erase_if_present(const Key &key) {
    uint32_t i = locate(key);
    if (i != kNone) {
        erase(i);
    }
}

// Backward-shift deletion: pulls each following entry of the cluster whose
// probe path crosses the hole into it.
void Table::close_gap(uint32_t hole) {
    uint32_t i = next(hole);
    for (uint32_t steps = 1; steps < slot_count_; ++steps, i = next(i)) {
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

void Table::restore_probe_chains() {
    bool changed;
    do {
        changed = false;
        for (uint32_t i = 0; i < slot_count_; ++i) {
            Entry &entry = slot(i);
            if (is_empty(entry)) {
                continue;
            }
            if (!is_known_kind(kind_of(entry))) {
                set_state(entry, 0);
                changed = true;
                continue;
            }
            changed |= settle(i);
        }
    } while (changed);
}

bool Table::settle(uint32_t i) {
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

void Table::recount_used() {
    uint32_t used = 0;
    for (uint32_t i = 0; i < slot_count_; ++i) {
        used += !is_empty(slot(i));
    }
    used_ = used;
}

}  // namespace oauth::slot_table
