// core/tokens/slot_table: linear probing from an entry's home, backward-shift
// deletion, and the repair of probe chains a dead writer cut.
#include "unit.hpp"

#include <cstring>
#include <vector>

#include "core/tokens/slot_table.hpp"

using namespace oauth;
using namespace oauth::slot_table;

namespace {

constexpr uint32_t kSlots = 16;

// A table of kSlots empty slots over plain memory.
struct Slots {
    Slots() : memory(kSlots * sizeof(Entry) / sizeof(uint64_t)) {}
    std::vector<uint64_t> memory;
    uint32_t used = 0;
    Table table{reinterpret_cast<Entry *>(memory.data()), kSlots, used};
};

// Entry `n` whose home is slot `home`.
Key key(uint32_t home, uint64_t n, Kind kind = kToken) {
    return {{home, n, ~n, 0}, kind};
}

EntryWords words_for(const Key &key, uint64_t state = 1) {
    EntryWords words{};
    std::copy(key.words.begin(), key.words.end(), words.begin());
    words[4] = state;
    words[7] = uint64_t{key.kind} << 56;
    return words;
}

void add(Slots &slots, const Key &key) {
    slots.table.add(words_for(key));
}

void an_entry_is_found_by_its_key_and_kind(void **) {
    Slots slots;
    add(slots, key(3, 1));
    assert_int_equal(slots.table.locate(key(3, 1)), 3);
    assert_int_equal(slots.used, 1);
    assert_int_equal(slots.table.locate(key(3, 2)), kNone);
    assert_int_equal(slots.table.locate(key(3, 1, kClientHead)), kNone);
    assert_int_equal(slots.table.locate(key(4, 1)), kNone);
}

void entries_of_one_home_take_the_next_slots_round_the_end(void **) {
    Slots slots;
    for (uint64_t n = 0; n < 3; ++n) {
        add(slots, key(kSlots - 2, n));
    }
    assert_int_equal(slots.table.locate(key(kSlots - 2, 0)), kSlots - 2);
    assert_int_equal(slots.table.locate(key(kSlots - 2, 1)), kSlots - 1);
    assert_int_equal(slots.table.locate(key(kSlots - 2, 2)), 0);
}

void the_table_keeps_an_eighth_of_its_slots_empty(void **) {
    assert_int_equal(capacity_of(16), 14);
    assert_int_equal(capacity_of(1024), 896);
    Slots slots;
    assert_int_equal(slots.table.capacity(), 14);
    for (uint64_t n = 0; n < 13; ++n) {
        add(slots, key(uint32_t(n), n));
    }
    assert_true(slots.table.has_room(1));
    assert_false(slots.table.has_room(2));
    add(slots, key(13, 13));
    assert_false(slots.table.has_room(1));
}

void an_erase_pulls_the_rest_of_the_cluster_back(void **) {
    Slots slots;
    add(slots, key(2, 0));  // slot 2
    add(slots, key(2, 1));  // slot 3
    add(slots, key(3, 2));  // slot 4, home 3
    add(slots, key(5, 3));  // slot 5, at home
    slots.table.erase(2);
    assert_int_equal(slots.used, 3);
    assert_int_equal(slots.table.locate(key(2, 0)), kNone);
    assert_int_equal(slots.table.locate(key(2, 1)), 2);
    assert_int_equal(slots.table.locate(key(3, 2)), 3);
    assert_int_equal(slots.table.locate(key(5, 3)), 5);  // its path never crossed the hole
    assert_true(is_empty(slots.table.slot(4)));
}

void an_erase_round_the_end_pulls_entries_back_across_it(void **) {
    Slots slots;
    add(slots, key(kSlots - 1, 0));  // the last slot
    add(slots, key(kSlots - 1, 1));  // slot 0
    slots.table.erase(kSlots - 1);
    assert_int_equal(slots.table.locate(key(kSlots - 1, 1)), kSlots - 1);
    assert_true(is_empty(slots.table.slot(0)));
}

void erase_if_present_leaves_the_table_alone_without_the_key(void **) {
    Slots slots;
    add(slots, key(1, 0));
    slots.table.erase_if_present(key(1, 9));
    assert_int_equal(slots.used, 1);
    slots.table.erase_if_present(key(1, 0));
    assert_int_equal(slots.used, 0);
    assert_int_equal(slots.table.locate(key(1, 0)), kNone);
}

// What a writer that died in the middle of a backward shift leaves: an entry
// copied into the hole but not yet cleared where it was, and further on one
// cut off from its home by the hole the shift would have filled next.
void a_repair_moves_cut_off_entries_home_and_drops_copies(void **) {
    Slots slots;
    add(slots, key(6, 0));                                            // slot 6
    add(slots, key(6, 1));                                            // slot 7
    add(slots, key(6, 2));                                            // slot 8
    write_entry(slots.table.slot(6), words_of(slots.table.slot(7)));  // moved, not yet cleared
    set_state(slots.table.slot(8), 0);                                // a hole before key 2...
    write_entry(slots.table.slot(9), words_for(key(6, 2)));           // ...cut off past it
    assert_int_equal(slots.table.locate(key(6, 2)), kNone);

    slots.table.restore_probe_chains();
    assert_int_equal(slots.table.locate(key(6, 1)), 6);
    assert_int_equal(slots.table.locate(key(6, 2)), 7);
    for (uint32_t i = 8; i < kSlots; ++i) {
        assert_true(is_empty(slots.table.slot(i)));
    }
    slots.table.recount_used();
    assert_int_equal(slots.used, 2);
}

void a_repair_drops_an_entry_of_no_known_kind(void **) {
    Slots slots;
    add(slots, key(4, 0));
    write_entry(slots.table.slot(5), words_for(key(5, 1, Kind(9))));
    slots.table.restore_probe_chains();
    assert_true(is_empty(slots.table.slot(5)));
    assert_int_equal(slots.table.locate(key(4, 0)), 4);
}

void an_entry_is_written_whole_its_state_saying_it_is_there(void **) {
    Slots slots;
    EntryWords words = words_for(key(1, 7), 0x1234);
    words[5] = 55;
    write_entry(slots.table.slot(1), words);
    assert_true(words_of(slots.table.slot(1)) == words);
    assert_int_equal(state_of(slots.table.slot(1)), 0x1234);
    assert_true(key_of(slots.table.slot(1)) == key(1, 7).words);
    set_state(slots.table.slot(1), 0);
    assert_true(is_empty(slots.table.slot(1)));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_entry_is_found_by_its_key_and_kind),
        cmocka_unit_test(entries_of_one_home_take_the_next_slots_round_the_end),
        cmocka_unit_test(the_table_keeps_an_eighth_of_its_slots_empty),
        cmocka_unit_test(an_erase_pulls_the_rest_of_the_cluster_back),
        cmocka_unit_test(an_erase_round_the_end_pulls_entries_back_across_it),
        cmocka_unit_test(erase_if_present_leaves_the_table_alone_without_the_key),
        cmocka_unit_test(a_repair_moves_cut_off_entries_home_and_drops_copies),
        cmocka_unit_test(a_repair_drops_an_entry_of_no_known_kind),
        cmocka_unit_test(an_entry_is_written_whole_its_state_saying_it_is_there),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
