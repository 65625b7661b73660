// The change log: each change to the zone's tables, noted for the state
// writer's journal until the ring laps it.
#include "unit.hpp"

#include <string>
#include <vector>

#include "core/tokens/change_log.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/tokens/token_store.hpp"
#include "fixtures.hpp"

using namespace oauth;

namespace {

using fixture::Logged;
using fixture::Revocations;

constexpr uint32_t kNow = 1'700'000'000;

Digest digest_of(int n) {
    return digest_token("token-" + std::to_string(n));
}

void issue(TokenStore &store, int n) {
    uint32_t retry_after = 0;
    assert_int_equal(store.insert(digest_of(n), "app", "a", 1, kNow - 5, kNow + 3600, kNow,
                                  retry_after, TokenStore::kDefaultClientCap, {}),
                     InsertResult::ok);
}

void the_change_log_holds_each_change_until_it_laps(void **) {
    Logged logged;
    fixture::Store memory;
    TokenStore store(memory.memory.data(), {}, logged.log);
    Revocations revoked;
    RevocationList list(revoked.memory.data(), {}, logged.log);
    issue(store, 1);
    issue(store, 2);
    assert_true(list.add(digest_of(1), kNow + 60, kNow));
    assert_true(list.add(digest_of(1), kNow + 30, kNow));  // nothing changes: not noted
    assert_int_equal(logged.log.position(), 3);
    std::vector<ZoneChange> changes;
    assert_int_equal(*logged.log.read(0, changes), 3);
    assert_int_equal(changes.size(), 3);
    assert_true(changes[0].digest == digest_of(1) && changes[0].revoked_until == 0);
    assert_true(changes[1].digest == digest_of(2) && changes[1].revoked_until == 0);
    assert_true(changes[2].digest == digest_of(1) && changes[2].revoked_until == kNow + 60);
    changes.clear();
    assert_int_equal(*logged.log.read(3, changes), 3);
    assert_int_equal(changes.size(), 0);

    // A reader further behind than the ring holds learns that it lost some.
    size_t capacity = logged.log.capacity();
    for (size_t n = 0; n < capacity - 3; ++n) {
        logged.log.note(digest_of(int(100 + n)), 0);
    }
    assert_true(logged.log.read(1, changes).has_value());
    assert_false(logged.log.read(0, changes).has_value());
    ChangeLog none;  // a zone without a state file
    none.note(digest_of(1), 0);
    assert_int_equal(none.position(), 0);
    assert_false(ChangeLog::is_formatted(memory.memory.data(), ChangeLog::kMinRegionSize));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_change_log_holds_each_change_until_it_laps),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
