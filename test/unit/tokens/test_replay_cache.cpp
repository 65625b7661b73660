// The replay cache: each assertion's jti is admitted once until it expires,
// per client, and a client at its share is refused without touching another's.
#include "unit.hpp"

#include <string>
#include <vector>

#include "core/tokens/replay_cache.hpp"

namespace {

using oauth::ReplayCache;
using oauth::ReplayCharge;
using oauth::ReplayVerdict;

constexpr uint32_t kNow = 1700000000;

struct Cache {
    std::vector<uint64_t> memory = std::vector<uint64_t>(2 * ReplayCache::kMinRegionSize / 8);
    ReplayCache cache = open();
    uint32_t retry_after = 0;

    ReplayCache open() {
        assert_true(ReplayCache::format(memory.data(), memory.size() * 8));
        return ReplayCache(memory.data(), {});
    }

    ReplayVerdict admit(std::string_view client, const std::string &jti, uint32_t until,
                        uint32_t now = kNow, uint32_t share = 0) {
        oauth::Digest key;
        assert_true(ReplayCache::key_of(client, jti, key));
        if (share == 0) {  // the default share: the jti checks' entry point
            return cache.admit_jti(client, key, until, now, retry_after);
        }
        return cache.admit(key, until, now, ReplayCharge{ReplayCache::client_tag(client), share},
                           retry_after);
    }
};

void a_jti_is_admitted_once_until_it_expires(void **) {
    Cache c;
    assert_int_equal(int(c.admit("app", "j1", kNow + 60)), int(ReplayVerdict::fresh));
    assert_int_equal(int(c.admit("app", "j1", kNow + 60, kNow + 59)), int(ReplayVerdict::replayed));
    // Past its exp the assertion is refused as expired before it gets here:
    // the entry may go.
    assert_int_equal(int(c.admit("app", "j1", kNow + 120, kNow + 60)), int(ReplayVerdict::fresh));
}

void equal_jtis_of_two_clients_are_two_entries(void **) {
    Cache c;
    assert_int_equal(int(c.admit("app", "same", kNow + 60)), int(ReplayVerdict::fresh));
    assert_int_equal(int(c.admit("other", "same", kNow + 60)), int(ReplayVerdict::fresh));
    assert_int_equal(int(c.admit("other", "same", kNow + 60)), int(ReplayVerdict::replayed));
}

void region_of_another_layout_is_not_a_replay_cache(void **) {
    Cache c;
    assert_true(ReplayCache::is_formatted(c.memory.data(), c.memory.size() * 8));
    assert_false(ReplayCache::is_formatted(c.memory.data(), c.memory.size() * 8 - 64));
    std::vector<uint64_t> zeroes(2 * ReplayCache::kMinRegionSize / 8);
    assert_false(ReplayCache::is_formatted(zeroes.data(), zeroes.size() * 8));
    assert_false(ReplayCache::format(zeroes.data(), ReplayCache::kMinRegionSize - 8));
}

// A flood of one client's assertions fills its share and no more: it is
// refused (fail closed), and another client's assertions are still admitted
// and still caught when replayed.
void a_client_at_its_share_is_refused_and_another_is_not(void **) {
    Cache c;
    assert_int_equal(int(c.admit("victim", "before", kNow + 300)), int(ReplayVerdict::fresh));
    uint32_t share = c.cache.default_share();
    for (uint32_t i = 0; i < share; ++i) {
        assert_int_equal(int(c.admit("flood", "f" + std::to_string(i), kNow + 100 + i % 50)),
                         int(ReplayVerdict::fresh));
    }
    assert_int_equal(int(c.admit("flood", "one-more", kNow + 300)),
                     int(ReplayVerdict::client_at_share));
    assert_int_equal(int(c.retry_after), 100);
    assert_int_equal(int(c.admit("flood", "f0", kNow + 300)), int(ReplayVerdict::replayed));
    assert_int_equal(int(c.admit("victim", "before", kNow + 300)), int(ReplayVerdict::replayed));
    for (int i = 0; i < 50; ++i) {
        assert_int_equal(int(c.admit("victim", "v" + std::to_string(i), kNow + 300)),
                         int(ReplayVerdict::fresh));
    }
    // Once the flood's first entries expire, it gets room again.
    assert_int_equal(int(c.admit("flood", "later", kNow + 400, kNow + 101)),
                     int(ReplayVerdict::fresh));
}

void a_registered_share_bounds_a_client(void **) {
    Cache c;
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(int(c.admit("small", "s" + std::to_string(i), kNow + 60, kNow, 3)),
                         int(ReplayVerdict::fresh));
    }
    assert_int_equal(int(c.admit("small", "s3", kNow + 60, kNow, 3)),
                     int(ReplayVerdict::client_at_share));
}

// When every slot a key may take holds a live entry, admit() refuses rather
// than evict one: an evicted jti could be replayed.
void a_full_cache_refuses_and_evicts_nothing(void **) {
    Cache c;
    size_t refused = 0;
    std::vector<std::string> admitted;
    for (size_t i = 0; i < 4 * c.cache.capacity(); ++i) {
        std::string client = "c" + std::to_string(i % 64);
        std::string jti = "j" + std::to_string(i);
        ReplayVerdict verdict = c.admit(client, jti, kNow + 50 + uint32_t(i % 7));
        if (verdict == ReplayVerdict::fresh) {
            admitted.push_back(client + " " + jti);
        } else {
            assert_int_equal(int(verdict), int(ReplayVerdict::full));
            ++refused;
        }
    }
    assert_true(refused >= 64);
    assert_true(admitted.size() <= c.cache.capacity());
    for (const std::string &one : admitted) {
        size_t space = one.find(' ');
        assert_int_equal(int(c.admit(one.substr(0, space), one.substr(space + 1), kNow + 60)),
                         int(ReplayVerdict::replayed));
    }
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_jti_is_admitted_once_until_it_expires),
        cmocka_unit_test(equal_jtis_of_two_clients_are_two_entries),
        cmocka_unit_test(region_of_another_layout_is_not_a_replay_cache),
        cmocka_unit_test(a_client_at_its_share_is_refused_and_another_is_not),
        cmocka_unit_test(a_registered_share_bounds_a_client),
        cmocka_unit_test(a_full_cache_refuses_and_evicts_nothing),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
