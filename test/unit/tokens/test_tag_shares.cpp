// A fair share of a table by client tag: the counters bound a client's live
// entries from above, the table is scanned only when they reach its share,
// and a client found at its share is not scanned again until an entry of its
// expires.
#include "unit.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "core/tokens/replay_cache.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/tokens/tag_shares.hpp"

namespace {

using oauth::TagRecount;
using oauth::TagShares;

constexpr uint32_t kNow = 1700000000;

struct Slot {
    uint32_t expires_at;
    uint32_t client_tag;
};

// A table of slots and its shares, as the revocation list and the replay
// cache keep them; counts the slots a check reads.
struct Table {
    std::vector<Slot> slots;
    TagShares shares{};
    uint32_t retry_after = 0;
    unsigned slots_read = 0;

    void add(uint32_t tag, uint32_t until, unsigned count = 1) {
        for (unsigned i = 0; i < count; ++i) {
            slots.push_back({until, tag});
            shares.charge(tag);
        }
    }

    bool at_share(uint32_t tag, uint32_t share, uint32_t now = kNow) {
        return shares.at_share(tag, share, slots.data(), uint32_t(slots.size()), now, retry_after,
                               [this](const Slot &slot) {
                                   ++slots_read;
                                   return slot.expires_at;
                               });
    }
};

// A tag of another client in the bucket of `tag`.
uint32_t neighbour_of(uint32_t tag) {
    return tag + TagShares::kBuckets;
}

void one_hash_of_ids_for_every_table(void **) {
    assert_int_equal(TagShares::tag_of(""), 2166136261u);  // FNV-1a's offset basis
    assert_int_equal(TagShares::tag_of("app"), TagShares::tag_of("app"));
    assert_true(TagShares::tag_of("app") != TagShares::tag_of("other"));
    assert_int_equal(oauth::RevocationList::client_tag("app"), TagShares::tag_of("app"));
    assert_int_equal(oauth::ReplayCache::client_tag("app"), TagShares::tag_of("app"));
}

void a_share_is_a_quarter_and_at_least_one(void **) {
    assert_int_equal(TagShares::share_of(0), 1);
    assert_int_equal(TagShares::share_of(7), 1);
    assert_int_equal(TagShares::share_of(400), 100);
    assert_int_equal(oauth::RevocationList::share_of(400), 100);
}

void below_its_share_a_client_is_served_without_a_scan(void **) {
    Table t;
    t.add(7, kNow + 100, 9);
    assert_false(t.at_share(7, 10));
    assert_int_equal(t.slots_read, 0);
}

void at_its_share_a_client_is_refused_until_its_soonest_entry_expires(void **) {
    Table t;
    t.add(7, kNow + 100, 9);
    t.add(7, kNow + 40);
    assert_true(t.at_share(7, 10));
    assert_int_equal(t.retry_after, 40);
    assert_int_equal(t.slots_read, 10);
    // Remembered as full: refused again without a scan.
    assert_true(t.at_share(7, 10, kNow + 30));
    assert_int_equal(t.retry_after, 10);
    assert_int_equal(t.slots_read, 10);
    // Its soonest entry expired: scanned again, and served.
    assert_false(t.at_share(7, 10, kNow + 40));
    assert_int_equal(t.slots_read, 20);
    // The scan left the counter at the 9 live entries: served without one.
    assert_false(t.at_share(7, 10, kNow + 40));
    assert_int_equal(t.slots_read, 20);
}

// Neither is looked up, even in a bucket past any share.
void nobody_and_a_share_of_zero_are_never_bounded(void **) {
    Table t;
    t.add(TagShares::kNobody, kNow + 100, 20);
    t.add(neighbour_of(TagShares::kNobody), kNow + 100, 20);
    assert_false(t.at_share(TagShares::kNobody, 1));
    t.add(7, kNow + 100, 20);
    assert_false(t.at_share(7, 0));
    assert_int_equal(t.slots_read, 0);
}

// Entries of nobody, of another bucket or expired do not count; a neighbour's
// count against the bucket, not against the client.
void a_recount_counts_the_clients_live_entries_and_its_buckets(void **) {
    TagRecount live{7};
    live.count(7, kNow + 50, kNow);
    live.count(7, kNow + 20, kNow);
    live.count(7, kNow, kNow);  // expired
    live.count(neighbour_of(7), kNow + 10, kNow);
    live.count(8, kNow + 10, kNow);
    live.count(TagShares::kNobody, kNow + 10, kNow);
    assert_int_equal(live.client, 2);
    assert_int_equal(live.bucket, 3);
    assert_int_equal(live.soonest, kNow + 20);
}

// A neighbour fills the bucket's counter: the client is scanned, found below
// its share, served; the counter keeps the bucket's live entries only.
void a_client_sharing_a_bucket_with_one_at_its_share_is_served(void **) {
    Table t;
    t.add(neighbour_of(7), kNow + 100, 10);
    t.add(neighbour_of(7), kNow + 5, 5);
    assert_true(t.at_share(neighbour_of(7), 10, kNow + 10));
    assert_false(t.at_share(7, 10, kNow + 10));
    t.add(7, kNow + 100, 9);
    assert_false(t.at_share(7, 10, kNow + 10));
    t.add(7, kNow + 100);
    assert_true(t.at_share(7, 10, kNow + 10));
}

// The counters are the bytes a zone holds: per bucket of tags (tag % 256),
// three words at 12 * bucket: the live entries, the tag found full, until when.
// Nobody's entries are in no bucket.
void the_counters_lie_in_the_zone_as_three_words_a_bucket(void **) {
    Table t;
    t.add(TagShares::kNobody, kNow + 40);
    t.add(TagShares::kBuckets + 3, kNow + 40, 2);
    assert_true(t.at_share(TagShares::kBuckets + 3, 2));
    uint32_t words[TagShares::kBuckets * 3];
    std::memcpy(words, &t.shares, sizeof words);
    for (uint32_t i = 0; i < TagShares::kBuckets * 3; ++i) {
        uint32_t expected = i == 9    ? 2
                            : i == 10 ? TagShares::kBuckets + 3
                            : i == 11 ? kNow + 40
                                      : 0;
        assert_int_equal(words[i], expected);
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_hash_of_ids_for_every_table),
        cmocka_unit_test(a_share_is_a_quarter_and_at_least_one),
        cmocka_unit_test(below_its_share_a_client_is_served_without_a_scan),
        cmocka_unit_test(at_its_share_a_client_is_refused_until_its_soonest_entry_expires),
        cmocka_unit_test(nobody_and_a_share_of_zero_are_never_bounded),
        cmocka_unit_test(a_recount_counts_the_clients_live_entries_and_its_buckets),
        cmocka_unit_test(a_client_sharing_a_bucket_with_one_at_its_share_is_served),
        cmocka_unit_test(the_counters_lie_in_the_zone_as_three_words_a_bucket),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
