// Brute-force protection: counters per (client id, address) in a region.
#include "unit.hpp"

#include <cstring>
#include <vector>

#include "core/auth_throttle.hpp"
#include "core/token_endpoint.hpp"
#include "fixtures.hpp"

namespace {

constexpr uint32_t kNow = 1700000000;

struct Counters {
    std::vector<char> memory = std::vector<char>(64 * 1024);
    oauth::AuthThrottle throttle;

    explicit Counters(oauth::ThrottlePolicy policy = {3, 60, 120})
        : throttle(format(memory), oauth::StoreLock{}, policy) {}

    static void *format(std::vector<char> &memory) {
        assert_true(oauth::AuthThrottle::format(memory.data(), memory.size()));
        return memory.data();
    }
};

void refuses_a_region_too_small(void **) {
    std::vector<char> small(oauth::AuthThrottle::kMinRegionSize - 1);
    assert_false(oauth::AuthThrottle::format(small.data(), small.size()));
    std::vector<char> garbage(8192, 'x');
    assert_false(oauth::AuthThrottle::is_formatted(garbage.data(), garbage.size()));
}

void blocks_after_the_limit_for_the_block_time(void **) {
    Counters c;
    assert_false(c.throttle.record_failure("app", "10.0.0.1", kNow));
    assert_false(c.throttle.record_failure("app", "10.0.0.1", kNow + 1));
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kNow + 1).blocked_for, 0);
    assert_true(c.throttle.record_failure("app", "10.0.0.1", kNow + 2));
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kNow + 2).blocked_for, 120);
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kNow + 100).blocked_for, 22);
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kNow + 122).blocked_for, 0);
}

void other_clients_and_addresses_are_unaffected(void **) {
    Counters c;
    for (int i = 0; i < 3; ++i) {
        c.throttle.record_failure("app", "10.0.0.1", kNow);
    }
    assert_int_not_equal(c.throttle.standing("app", "10.0.0.1", kNow).blocked_for, 0);
    assert_int_equal(c.throttle.standing("app", "10.0.0.2", kNow).blocked_for, 0);
    assert_int_equal(c.throttle.standing("other", "10.0.0.1", kNow).blocked_for, 0);
    assert_false(c.throttle.standing("other", "10.0.0.1", kNow).has_failures);
}

void failures_outside_the_window_start_over(void **) {
    Counters c;
    c.throttle.record_failure("app", "a", kNow);
    c.throttle.record_failure("app", "a", kNow + 1);
    assert_false(c.throttle.record_failure("app", "a", kNow + 61));
    assert_false(c.throttle.record_failure("app", "a", kNow + 62));
    assert_true(c.throttle.record_failure("app", "a", kNow + 63));
}

void clear_forgets_failures(void **) {
    Counters c;
    c.throttle.record_failure("app", "a", kNow);
    c.throttle.record_failure("app", "a", kNow);
    assert_true(c.throttle.standing("app", "a", kNow).has_failures);
    c.throttle.clear("app", "a");
    assert_false(c.throttle.standing("app", "a", kNow).has_failures);
    assert_false(c.throttle.record_failure("app", "a", kNow));
}

void a_spray_of_ids_keeps_memory_bounded_and_counting(void **) {
    Counters c;
    for (int i = 0; i < 100000; ++i) {
        c.throttle.record_failure("ghost-" + std::to_string(i), "10.0.0.9", kNow);
    }
    for (int i = 0; i < 3; ++i) {
        c.throttle.record_failure("app", "10.0.0.1", kNow);
    }
    assert_int_not_equal(c.throttle.standing("app", "10.0.0.1", kNow).blocked_for, 0);
}

const oauth::Registry &slow_registry() {
    static auto registry = fixture::registry(
        R"({"clients":[{"client_id":"slow","client_secret_hash":"$pbkdf2-sha256$i=20000$dGhyb3R0bGUtc2FsdC0xNg$)"
        R"(Tuvn48bwZIINaH2sAuBboBrpgnUxXEMya+YL0+z1+GM","scope":""}]})");
    return *registry;
}

const oauth::Client &slow_client() {
    return *slow_registry().find("slow");
}

oauth::HttpResponse token_request(oauth::AuthThrottle &throttle, const std::string &credentials,
                                  const std::string &address, uint32_t now) {
    static fixture::Store memory;
    std::string authorization = fixture::basic_header(credentials);
    oauth::FormRequest request;
    request.method = "POST";
    request.content_type = "application/x-www-form-urlencoded";
    request.authorization_headers = 1;
    request.authorization = authorization;
    request.body = "grant_type=client_credentials";
    request.client_address = address;
    oauth::TokenStore store = memory.open();
    return oauth::handle_token_request(request, slow_registry(), store, {60, {"r", &throttle}},
                                       now);
}

// A blocked pair is refused before its secret is looked at: even the right
// secret gets 429 until the block ends, and the KDF never runs for it.
void blocked_attempts_get_429_before_the_secret_is_checked(void **) {
    Counters c({2, 60, 30});
    assert_int_equal(token_request(c.throttle, "slow:wrong", "10.0.0.1", kNow).status, 401);
    oauth::HttpResponse second = token_request(c.throttle, "slow:wrong", "10.0.0.1", kNow);
    assert_int_equal(second.status, 401);
    assert_true(second.log == oauth::HttpResponse::Log::warn);

    uint64_t kdf_runs = slow_client().secret.kdf_runs();
    oauth::HttpResponse blocked = token_request(c.throttle, "slow:right", "10.0.0.1", kNow + 5);
    assert_int_equal(blocked.status, 429);
    assert_int_equal(blocked.retry_after, 25);
    assert_non_null(strstr(blocked.body.c_str(), "temporarily_unavailable"));
    assert_int_equal(slow_client().secret.kdf_runs(), kdf_runs);

    assert_int_equal(token_request(c.throttle, "slow:wrong", "10.0.0.2", kNow + 5).status, 401);
    assert_int_equal(slow_client().secret.kdf_runs(), kdf_runs + 1);
    assert_int_equal(token_request(c.throttle, "slow:right", "10.0.0.1", kNow + 30).status, 200);
    assert_false(c.throttle.standing("slow", "10.0.0.1", kNow + 30).has_failures);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_a_region_too_small),
        cmocka_unit_test(blocks_after_the_limit_for_the_block_time),
        cmocka_unit_test(other_clients_and_addresses_are_unaffected),
        cmocka_unit_test(failures_outside_the_window_start_over),
        cmocka_unit_test(clear_forgets_failures),
        cmocka_unit_test(a_spray_of_ids_keeps_memory_bounded_and_counting),
        cmocka_unit_test(blocked_attempts_get_429_before_the_secret_is_checked),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
