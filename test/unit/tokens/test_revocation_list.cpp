// The revocation list's fair shares: no client's revocations crowd out the
// others', and a client at its share is refused until its own entries expire.
#include "unit.hpp"

#include <string>
#include <vector>

#include "core/tokens/token.hpp"
#include "core/tokens/revocation_list.hpp"
#include "fixtures.hpp"

namespace {

using fixture::Revocations;

using oauth::RevocationAdded;
using oauth::RevocationCharge;
using oauth::RevocationList;

constexpr uint32_t kNow = 1700000000;

struct List {
    std::vector<uint64_t> memory = std::vector<uint64_t>(RevocationList::kMinRegionSize / 8);
    RevocationList list = open();
    uint32_t retry_after = 0;

    RevocationList open() {
        assert_true(RevocationList::format(memory.data(), memory.size() * 8));
        return RevocationList(memory.data(), {});
    }

    // The revocation endpoint's charge: the client's default share.
    RevocationCharge capped(std::string_view client) const {
        return {RevocationList::client_tag(client), list.default_share()};
    }

    RevocationAdded add(const std::string &token, uint32_t until, RevocationCharge charge,
                        uint32_t now = kNow) {
        return list.add(oauth::digest_token(token), until, now, charge, retry_after);
    }

    // Lists `count` tokens of `client` ("client-0", ...), each added.
    void fill(std::string_view client, uint32_t first, uint32_t count, uint32_t until,
              uint32_t share_bound = 1) {
        RevocationCharge charge = capped(client);
        charge.share = share_bound == 0 ? 0 : charge.share;
        for (uint32_t i = first; i < first + count; ++i) {
            assert_int_equal(int(add(std::string(client) + "-" + std::to_string(i), until, charge)),
                             int(RevocationAdded::added));
        }
    }
};

oauth::Digest digest_of(int n) {
    return oauth::digest_token("token-" + std::to_string(n));
}

void the_revocation_list_holds_entries_until_they_expire(void **) {
    Revocations revoked;
    assert_false(revoked.list.contains(digest_of(1), kNow));
    assert_true(revoked.list.add(digest_of(1), kNow + 10, kNow));
    assert_true(revoked.list.contains(digest_of(1), kNow + 9));
    assert_false(revoked.list.contains(digest_of(1), kNow + 10));
    assert_true(revoked.list.add(digest_of(1), kNow + 5, kNow));  // keeps the later expiry
    assert_true(revoked.list.contains(digest_of(1), kNow + 9));
    assert_false(revoked.list.contains(digest_of(2), kNow));
}

void the_revocation_list_is_bounded_and_reuses_expired_entries(void **) {
    Revocations revoked;
    size_t capacity = revoked.list.capacity();
    size_t added = 0;
    for (int n = 0; n < int(capacity) + 100; ++n) {
        added += revoked.list.add(digest_of(n), kNow + 10, kNow);
    }
    assert_true(added <= capacity);
    assert_true(added > capacity / 2);
    for (int n = 0; n < int(capacity) + 100; ++n) {
        if (n < 50) {
            assert_true(revoked.list.contains(digest_of(n), kNow) ||
                        !revoked.list.add(digest_of(n), kNow + 10, kNow));
        }
    }
    // Once they expire, their slots take new entries.
    size_t later = 0;
    for (int n = 100000; n < 100000 + int(added); ++n) {
        later += revoked.list.add(digest_of(n), kNow + 100, kNow + 10);
    }
    assert_true(later > added * 9 / 10);
    assert_true(revoked.list.contains(digest_of(100000), kNow + 10));
    assert_false(revoked.list.contains(digest_of(0), kNow + 10));
}

void region_of_another_layout_is_not_a_revocation_list(void **) {
    std::vector<uint64_t> memory(RevocationList::kMinRegionSize / 8);
    assert_false(RevocationList::is_formatted(memory.data(), memory.size() * 8));
    assert_true(RevocationList::format(memory.data(), memory.size() * 8));
    assert_true(RevocationList::is_formatted(memory.data(), memory.size() * 8));
    assert_false(RevocationList::is_formatted(memory.data(), memory.size() * 8 - 64));
    assert_false(RevocationList::format(memory.data(), 1024));
}

void a_client_is_refused_past_its_share(void **) {
    List l;
    uint32_t share = l.list.default_share();
    assert_int_equal(share, l.list.capacity() / 4);
    l.fill("app", 0, share, kNow + 100);
    assert_int_equal(int(l.add("app-over", kNow + 100, l.capped("app"))),
                     int(RevocationAdded::client_at_share));
    assert_int_equal(l.retry_after, 100);  // until its soonest entry expires
    assert_false(l.list.contains(oauth::digest_token("app-over"), kNow));
    // A token it already listed is no new entry: still answered.
    assert_int_equal(int(l.add("app-0", kNow + 200, l.capped("app"))), int(RevocationAdded::added));
    assert_true(l.list.contains(oauth::digest_token("app-0"), kNow + 150));
    // Refused again, without a scan, as long as nothing of its expires.
    assert_int_equal(int(l.add("app-over", kNow + 100, l.capped("app"), kNow + 40)),
                     int(RevocationAdded::client_at_share));
    assert_int_equal(l.retry_after, 60);
}

void another_client_still_revokes_while_one_is_at_its_share(void **) {
    List l;
    l.fill("app", 0, l.list.default_share(), kNow + 100);
    assert_int_equal(int(l.add("app-over", kNow + 100, l.capped("app"))),
                     int(RevocationAdded::client_at_share));
    l.fill("other", 0, l.list.default_share(), kNow + 100);
    // Entries charged to nobody (a state file's) are never refused for a share.
    for (int i = 0; i < 20; ++i) {
        assert_true(
            l.list.add(oauth::digest_token("restored-" + std::to_string(i)), kNow + 100, kNow));
    }
}

// A client whose tag shares a bucket of counters with one at its share is
// recounted, found below its own share, and served.
void a_client_sharing_a_counter_with_one_at_its_share_is_served(void **) {
    List l;
    uint32_t app = RevocationList::client_tag("app");
    std::string neighbour;
    for (int i = 0; neighbour.empty(); ++i) {
        std::string id = "client-" + std::to_string(i);
        if (RevocationList::client_tag(id) % 256 == app % 256) {
            neighbour = id;
        }
    }
    l.fill("app", 0, l.list.default_share(), kNow + 100);
    l.fill(neighbour, 0, 10, kNow + 100);
    assert_int_equal(int(l.add("app-over", kNow + 100, l.capped("app"))),
                     int(RevocationAdded::client_at_share));
}

// The counter is an upper bound: once some of its entries expire, a client at
// its share is recounted and takes as many new ones.
void expiry_frees_a_client_share(void **) {
    List l;
    uint32_t share = l.list.default_share();
    l.fill("app", 0, 10, kNow + 10);
    l.fill("app", 10, share - 10, kNow + 100);
    assert_int_equal(int(l.add("app-over", kNow + 100, l.capped("app"))),
                     int(RevocationAdded::client_at_share));
    assert_int_equal(l.retry_after, 10);
    for (int i = 0; i < 10; ++i) {
        assert_int_equal(
            int(l.add("app-later-" + std::to_string(i), kNow + 100, l.capped("app"), kNow + 10)),
            int(RevocationAdded::added));
    }
    assert_int_equal(int(l.add("app-over", kNow + 100, l.capped("app"), kNow + 10)),
                     int(RevocationAdded::client_at_share));
    assert_int_equal(l.retry_after, 90);
}

// What a client revoked on other nodes (the fleet's entries) is never
// refused, but counts against its share on this node.
void uncapped_entries_count_against_the_share(void **) {
    List l;
    l.fill("app", 0, l.list.default_share(), kNow + 100, 0);
    assert_int_equal(int(l.add("app-over", kNow + 100, l.capped("app"))),
                     int(RevocationAdded::client_at_share));
}

// When every slot a digest may take holds a live entry, add() refuses and
// says when the soonest of them expires.
void a_full_list_refuses_with_a_retry_after(void **) {
    List l;
    size_t refused = 0;
    for (size_t i = 0; i < 4 * l.list.capacity(); ++i) {
        uint32_t until = kNow + 50 + uint32_t(i % 7);
        refused += !l.list.add(oauth::digest_token("t-" + std::to_string(i)), until, kNow);
    }
    assert_true(refused >= 64);
    assert_int_equal(int(l.add("one-more", kNow + 100, l.capped("app"))),
                     int(RevocationAdded::full));
    assert_in_range(l.retry_after, 50, 56);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_revocation_list_holds_entries_until_they_expire),
        cmocka_unit_test(the_revocation_list_is_bounded_and_reuses_expired_entries),
        cmocka_unit_test(region_of_another_layout_is_not_a_revocation_list),
        cmocka_unit_test(a_client_is_refused_past_its_share),
        cmocka_unit_test(another_client_still_revokes_while_one_is_at_its_share),
        cmocka_unit_test(a_client_sharing_a_counter_with_one_at_its_share_is_served),
        cmocka_unit_test(expiry_frees_a_client_share),
        cmocka_unit_test(uncapped_entries_count_against_the_share),
        cmocka_unit_test(a_full_list_refuses_with_a_retry_after),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
