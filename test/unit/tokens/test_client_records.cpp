// core/tokens/client_records: a client's record in the slot table (its head,
// its id and dictionaries in text entries), and the dictionaries' rules.
#include "unit.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "core/tokens/client_records.hpp"

using namespace oauth;
using namespace oauth::client_records;
using slot_table::Entry;

namespace {

constexpr uint32_t kSlots = 64;
constexpr uint32_t kExpiry = 1'700'000'000;

struct Slots {
    Slots() : memory(kSlots * sizeof(Entry) / sizeof(uint64_t)) {}
    std::vector<uint64_t> memory;
    uint32_t used = 0;
    slot_table::Table table{reinterpret_cast<Entry *>(memory.data()), kSlots, used};
    Records records{table};
};

ClientKey key_of(std::string_view client_id) {
    ClientKey key;
    assert_true(client_key_of(client_id, key));
    return key;
}

// Plans and writes the record of a client's token, and counts the token.
ClientPlan record(Slots &slots, std::string_view client_id, std::string_view list, uint64_t mask,
                  const Audience &audience = {}, uint32_t cap = 5) {
    ClientPlan plan;
    assert_true(slots.records.plan(key_of(client_id), client_id, list, mask, audience, plan));
    slots.records.write(key_of(client_id), plan, kExpiry, cap);
    slots.records.count_token(key_of(client_id), +1);
    return plan;
}

std::string text_of(Slots &slots, std::string_view client_id) {
    Head head;
    char text[kMaxText];
    assert_true(slots.records.read_head(key_of(client_id), head));
    assert_true(slots.records.read_text(key_of(client_id), head, text));
    return std::string(text, head.text_length());
}

std::string audiences_of(Slots &slots, std::string_view client_id) {
    Head head;
    char text[kMaxResourceListLength];
    assert_true(slots.records.read_head(key_of(client_id), head));
    assert_true(slots.records.read_audiences(key_of(client_id), head, text));
    return std::string(text, head.audience_length);
}

std::string rendered(std::string_view dictionary, uint64_t mask) {
    char out[kMaxScopeListLength];
    return std::string(out, render_granted(dictionary.data(), dictionary.size(), mask, out));
}

// map_names over a copy of `dictionary`; "(overflow)" when it refuses.
std::string mapped(std::string_view dictionary, std::string_view list, uint64_t mask, uint64_t &out,
                   size_t max_names = kMaxScopes) {
    char text[kMaxScopeListLength];
    size_t length = dictionary.size();
    std::memcpy(text, dictionary.data(), length);
    if (!map_names({text, length, max_names, kMaxScopeListLength}, list, mask, out)) {
        return "(overflow)";
    }
    return std::string(text, length);
}

void a_client_key_is_its_ids_and_fits_a_token_entry(void **) {
    ClientKey a = key_of("client-a");
    assert_true(a == key_of("client-a"));
    assert_false(a == key_of("client-b"));
    assert_int_equal(a.b & ~kClientKeyLow40, 0);
}

void a_records_entries_have_their_own_homes_and_kinds(void **) {
    ClientKey client = key_of("client");
    slot_table::Key head = client_entry_key(client, 0);
    slot_table::Key text = client_entry_key(client, 1);
    assert_int_equal(head.kind, slot_table::kClientHead);
    assert_int_equal(text.kind, slot_table::kClientText);
    assert_true(head.words[0] != text.words[0]);
    assert_int_equal(text.words[2], 1);
}

void a_text_entry_holds_23_bytes(void **) {
    assert_int_equal(text_entries(0), 0);
    assert_int_equal(text_entries(23), 1);
    assert_int_equal(text_entries(24), 2);
    assert_int_equal(entries_for("client-99999", "read write", ""), 2);
    assert_int_equal(entries_for("client-99999", "read write", "https://api.example"), 3);
}

void granted_names_render_in_dictionary_order(void **) {
    assert_text(rendered("read write admin", 0b101), "read admin");
    assert_text(rendered("read write admin", 0), "");
    assert_text(rendered("read write admin", 0b110), "write admin");
}

void a_dictionary_that_is_the_list_keeps_the_mask(void **) {
    uint64_t mask = 0;
    assert_text(mapped("read write", "read write", 0b10, mask), "read write");
    assert_int_equal(mask, 0b10);
}

// A reload changed the list: names keep their places, new ones go at the end.
void a_changed_list_maps_onto_the_dictionary_and_extends_it(void **) {
    uint64_t mask = 0;
    assert_text(mapped("read write", "admin write", 0b11, mask), "read write admin");
    assert_int_equal(mask, 0b110);
}

void a_full_dictionary_takes_only_the_granted_names(void **) {
    uint64_t mask = 0;
    assert_text(mapped("a b", "c d e", 0b010, mask, 3), "a b d");
    assert_int_equal(mask, 0b100);
    assert_text(mapped("a b", "c d e", 0b011, mask, 3), "(overflow)");
}

void a_written_record_reads_back_whole(void **) {
    Slots slots;
    std::string list = "read write admin:users audit:logs";  // past one text entry
    ClientPlan plan = record(slots, "client", list, 0b11, {"https://a.example https://b", 0b10});
    assert_int_equal(plan.head.slot, kNone);
    assert_int_equal(plan.entries_needed(),
                     1 + entries_for("client", list, "https://a.example https://b"));

    Head head;
    assert_true(slots.records.read_head(key_of("client"), head));
    assert_int_equal(head.tokens, 1);
    assert_int_equal(head.soonest, kExpiry);
    assert_int_equal(head.cap, 5);
    assert_int_equal(head.id_length, 6);
    assert_text(text_of(slots, "client"), "client" + list);
    assert_text(audiences_of(slots, "client"), "https://a.example https://b");
    assert_int_equal(slots.used, head.entries());
    assert_true(slots.records.is_whole(key_of("client")));
    assert_true(slots.records.has_id(key_of("client"), "client"));
    assert_false(slots.records.has_id(key_of("client"), "other"));

    char id[kMaxClientIdLength];
    Head read;
    assert_true(slots.records.read_client(head.slot, id, read));
    assert_text(std::string(id, read.id_length), "client");
}

void a_second_token_extends_the_record_in_place(void **) {
    Slots slots;
    record(slots, "client", "read", 0b1);
    ClientPlan plan;
    assert_true(slots.records.plan(key_of("client"), "client", "read write:all", 0b10, {}, plan));
    assert_true(plan.head.slot != kNone);
    assert_false(plan.overflow);
    assert_int_equal(plan.mask, 0b10);
    assert_int_equal(plan.entries_needed(), 1);  // the token; the text still fits one entry
    slots.records.write(key_of("client"), plan, kExpiry - 10, 5);
    slots.records.count_token(key_of("client"), +1);
    assert_text(text_of(slots, "client"), "clientread write:all");

    Head head;
    assert_true(slots.records.read_head(key_of("client"), head));
    assert_int_equal(head.tokens, 2);
    assert_int_equal(head.soonest, kExpiry - 10);
    assert_int_equal(slots.used, 2);
}

void another_id_under_the_same_key_is_refused(void **) {
    Slots slots;
    record(slots, "client", "read", 0b1);
    ClientPlan plan;
    assert_false(slots.records.plan(key_of("client"), "intruder", "read", 0b1, {}, plan));
}

void a_removed_record_leaves_no_entry(void **) {
    Slots slots;
    record(slots, "client", "read write admin:users audit:logs", 0b1, {"https://a.example", 1});
    record(slots, "other", "read", 0b1);
    slots.records.remove(key_of("client"));
    Head head;
    assert_false(slots.records.read_head(key_of("client"), head));
    assert_int_equal(slots.used, 2);
    assert_true(slots.records.is_whole(key_of("other")));
}

void records_without_tokens_are_dropped(void **) {
    Slots slots;
    record(slots, "gone", "read", 0b1);
    record(slots, "kept", "read", 0b1);
    slots.records.count_token(key_of("gone"), -1);
    slots.records.drop_clients_without_tokens();
    Head head;
    assert_false(slots.records.read_head(key_of("gone"), head));
    assert_true(slots.records.read_head(key_of("kept"), head));
    assert_int_equal(slots.used, 2);
}

void soonest_expiries_and_counts_can_be_forgotten(void **) {
    Slots slots;
    record(slots, "client", "read", 0b1);
    Head head;
    assert_true(slots.records.read_head(key_of("client"), head));
    slots.records.set_soonest(head, kExpiry + 5);
    assert_true(slots.records.read_head(key_of("client"), head));
    assert_int_equal(head.soonest, kExpiry + 5);
    slots.records.forget_soonest_expiries();
    assert_true(slots.records.read_head(key_of("client"), head));
    assert_int_equal(head.soonest, 0);
    assert_int_equal(head.tokens, 1);
    assert_int_equal(head.id_length, 6);  // the lengths beside it stay

    slots.records.set_soonest(head, kExpiry);
    slots.records.reset_counts();
    assert_true(slots.records.read_head(key_of("client"), head));
    assert_int_equal(head.tokens, 0);
    assert_int_equal(head.soonest, 0);
    assert_int_equal(head.dictionary_length, 4);
}

void a_text_entry_without_its_head_is_broken(void **) {
    Slots slots;
    record(slots, "client", "read", 0b1);
    uint32_t text = slots.table.locate(client_entry_key(key_of("client"), 1));
    assert_false(slots.records.is_broken(slots.table.slot(text)));
    slots.table.erase(slots.table.locate(client_entry_key(key_of("client"), 0)));
    text = slots.table.locate(client_entry_key(key_of("client"), 1));
    assert_true(slots.records.is_broken(slots.table.slot(text)));
}

void a_head_without_a_text_entry_is_broken(void **) {
    Slots slots;
    record(slots, "client", "read", 0b1, {"https://a.example", 1});
    uint32_t head = slots.table.locate(client_entry_key(key_of("client"), 0));
    assert_false(slots.records.is_broken(slots.table.slot(head)));
    slots.table.erase(slots.table.locate(client_entry_key(key_of("client"), kAudienceRun + 1)));
    head = slots.table.locate(client_entry_key(key_of("client"), 0));
    assert_true(slots.records.is_broken(slots.table.slot(head)));
    assert_false(slots.records.is_whole(key_of("client")));
}

void a_text_entry_past_its_text_is_broken(void **) {
    Slots slots;
    record(slots, "client", "read", 0b1);
    slot_table::Key extra = client_entry_key(key_of("client"), 2);  // the text takes one entry
    slot_table::EntryWords words{};
    std::copy(extra.words.begin(), extra.words.end(), words.begin());
    words[4] = 1;
    words[7] = uint64_t{slot_table::kClientText} << 56;
    slots.table.add(words);
    assert_true(slots.records.is_broken(slots.table.slot(slots.table.locate(extra))));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_client_key_is_its_ids_and_fits_a_token_entry),
        cmocka_unit_test(a_records_entries_have_their_own_homes_and_kinds),
        cmocka_unit_test(a_text_entry_holds_23_bytes),
        cmocka_unit_test(granted_names_render_in_dictionary_order),
        cmocka_unit_test(a_dictionary_that_is_the_list_keeps_the_mask),
        cmocka_unit_test(a_changed_list_maps_onto_the_dictionary_and_extends_it),
        cmocka_unit_test(a_full_dictionary_takes_only_the_granted_names),
        cmocka_unit_test(a_written_record_reads_back_whole),
        cmocka_unit_test(a_second_token_extends_the_record_in_place),
        cmocka_unit_test(another_id_under_the_same_key_is_refused),
        cmocka_unit_test(a_removed_record_leaves_no_entry),
        cmocka_unit_test(records_without_tokens_are_dropped),
        cmocka_unit_test(soonest_expiries_and_counts_can_be_forgotten),
        cmocka_unit_test(a_text_entry_without_its_head_is_broken),
        cmocka_unit_test(a_head_without_a_text_entry_is_broken),
        cmocka_unit_test(a_text_entry_past_its_text_is_broken),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
