// core/lease: the one-writer lease that a zone's state file writer and its
// fleet reader each hold (src/ngx/lease.cpp gives both the same policy).
#include "unit.hpp"

#include "core/tokens/lease.hpp"

using namespace oauth;

namespace {

constexpr uint32_t kNow = 1700000000;

bool nobody_alive(uint32_t) {
    return false;
}
bool everybody_alive(uint32_t) {
    return true;
}

void the_lease_has_one_holder_until_it_goes(void **) {
    LeaseWord lease;
    LeasePolicy alive{3, everybody_alive};
    assert_true(hold_lease(lease, 100, kNow, alive));
    assert_false(hold_lease(lease, 200, kNow, alive));
    assert_true(hold_lease(lease, 100, kNow + 2, alive));  // renewed
    assert_false(hold_lease(lease, 200, kNow + 4, alive));
    assert_true(hold_lease(lease, 200, kNow + 5, alive));  // stale: taken over
    assert_false(hold_lease(lease, 100, kNow + 5, alive));

    LeasePolicy dead{3, nobody_alive};
    assert_true(hold_lease(lease, 300, kNow + 5, dead));  // its holder died
    release_lease(lease, 200);                            // not the holder: no effect
    assert_false(hold_lease(lease, 400, kNow + 5, alive));
    release_lease(lease, 300);
    assert_true(hold_lease(lease, 400, kNow + 5, alive));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_lease_has_one_holder_until_it_goes),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
