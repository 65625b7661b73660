// Brute-force protection: counters per (client id, address) in a region.
#include "unit.hpp"

#include <openssl/rand.h>

#include <cstring>
#include <string>
#include <vector>

#include "core/auth_throttle.hpp"
#include "core/http/base64.hpp"
#include "core/endpoints/token_endpoint.hpp"
#include "fixtures.hpp"

namespace {

constexpr uint32_t kNow = 1700000000;
constexpr auto kKnown = oauth::ClientKind::registered;
constexpr auto kUnknown = oauth::ClientKind::unknown;

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
    assert_false(c.throttle.record_failure("app", "10.0.0.1", kKnown, kNow));
    assert_false(c.throttle.record_failure("app", "10.0.0.1", kKnown, kNow + 1));
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kKnown, kNow + 1).blocked_for, 0);
    assert_true(c.throttle.record_failure("app", "10.0.0.1", kKnown, kNow + 2));
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kKnown, kNow + 2).blocked_for, 120);
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kKnown, kNow + 100).blocked_for, 22);
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kKnown, kNow + 122).blocked_for, 0);
}

void other_clients_and_addresses_are_unaffected(void **) {
    Counters c;
    for (int i = 0; i < 3; ++i) {
        c.throttle.record_failure("app", "10.0.0.1", kKnown, kNow);
    }
    assert_int_not_equal(c.throttle.standing("app", "10.0.0.1", kKnown, kNow).blocked_for, 0);
    assert_int_equal(c.throttle.standing("app", "10.0.0.2", kKnown, kNow).blocked_for, 0);
    assert_int_equal(c.throttle.standing("other", "10.0.0.1", kKnown, kNow).blocked_for, 0);
    assert_false(c.throttle.standing("other", "10.0.0.1", kKnown, kNow).has_failures);
}

void failures_outside_the_window_start_over(void **) {
    Counters c;
    c.throttle.record_failure("app", "a", kKnown, kNow);
    c.throttle.record_failure("app", "a", kKnown, kNow + 1);
    assert_false(c.throttle.record_failure("app", "a", kKnown, kNow + 61));
    assert_false(c.throttle.record_failure("app", "a", kKnown, kNow + 62));
    assert_true(c.throttle.record_failure("app", "a", kKnown, kNow + 63));
}

void clear_forgets_failures(void **) {
    Counters c;
    c.throttle.record_failure("app", "a", kKnown, kNow);
    c.throttle.record_failure("app", "a", kKnown, kNow);
    assert_true(c.throttle.standing("app", "a", kKnown, kNow).has_failures);
    c.throttle.clear("app", "a");
    assert_false(c.throttle.standing("app", "a", kKnown, kNow).has_failures);
    assert_false(c.throttle.record_failure("app", "a", kKnown, kNow));
}

void a_spray_of_ids_keeps_memory_bounded_and_counting(void **) {
    Counters c;
    for (int i = 0; i < 100000; ++i) {
        c.throttle.record_failure("ghost-" + std::to_string(i), "10.0.0.9", kUnknown, kNow);
    }
    for (int i = 0; i < 3; ++i) {
        c.throttle.record_failure("app", "10.0.0.1", kKnown, kNow);
    }
    assert_int_not_equal(c.throttle.standing("app", "10.0.0.1", kKnown, kNow).blocked_for, 0);
}

std::string address(int i) {
    return "10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) + "." +
           std::to_string(i & 255);
}

std::string random_id() {
    unsigned char bytes[12];
    assert_int_equal(RAND_bytes(bytes, sizeof(bytes)), 1);
    return "ghost-" + oauth::encode_base64url(
                          std::string_view(reinterpret_cast<const char *>(bytes), sizeof(bytes)));
}

void block(oauth::AuthThrottle &throttle, std::string_view id, std::string_view at, uint32_t now) {
    while (!throttle.record_failure(id, at, kKnown, now)) {
    }
}

// The flood that once lifted blocks: unknown ids are free to send, from the
// blocked address or any other.
void a_block_survives_a_flood_of_unknown_ids(void **) {
    Counters c;
    block(c.throttle, "app", "10.0.0.1", kNow);
    for (int i = 0; i < 20000; ++i) {
        c.throttle.record_failure(random_id(), i % 2 ? "10.0.0.1" : address(i), kUnknown, kNow + 1);
    }
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kKnown, kNow + 1).blocked_for, 119);
}

void a_block_survives_a_flood_of_known_ids_from_many_addresses(void **) {
    Counters c;
    block(c.throttle, "app", "10.0.0.1", kNow);
    for (int i = 0; i < 20000; ++i) {
        c.throttle.record_failure(i % 2 ? "app" : "other", address(i + 1000), kKnown, kNow + 1);
    }
    assert_int_equal(c.throttle.standing("app", "10.0.0.1", kKnown, kNow + 1).blocked_for, 119);
}

// Unknown ids take only unused counters; a registered id displaces them.
void unknown_ids_cannot_crowd_out_known_ones(void **) {
    Counters c;
    for (int i = 0; i < 20000; ++i) {
        c.throttle.record_failure(random_id(), address(i), kUnknown, kNow);
    }
    for (int i = 0; i < 1000; ++i) {
        assert_int_equal(c.throttle.standing("app", address(i), kKnown, kNow).uncountable_for, 0);
        c.throttle.record_failure("app", address(i), kKnown, kNow);
        assert_true(c.throttle.standing("app", address(i), kKnown, kNow).has_failures);
    }
}

// Filled with live counters, the table keeps every one of them: their counts
// go on to a block, and pairs without a counter wait for one to free.
void a_full_table_keeps_its_counters(void **) {
    Counters c;
    std::vector<std::string> counted, uncounted;
    for (int i = 0; i < 20000; ++i) {
        c.throttle.record_failure("app", address(i), kKnown, kNow);
        bool has = c.throttle.standing("app", address(i), kKnown, kNow).has_failures;
        (has ? counted : uncounted).push_back(address(i));
    }
    assert_true(counted.size() > 1000);
    assert_true(uncounted.size() > 1000);
    for (int i = 0; i < 20000; ++i) {
        c.throttle.record_failure(i % 2 ? "other" : random_id(), address(i + 30000),
                                  i % 2 ? kKnown : kUnknown, kNow + 1);
    }
    for (const std::string &at : uncounted) {
        oauth::AuthThrottle::Standing s = c.throttle.standing("app", at, kKnown, kNow + 2);
        assert_false(s.has_failures);
        assert_in_range(s.uncountable_for, 1, 58);
    }
    // Once the window of the oldest counters is over, they are free again.
    assert_int_equal(c.throttle.standing("app", uncounted[0], kKnown, kNow + 61).uncountable_for,
                     0);
    for (const std::string &at : counted) {
        assert_false(c.throttle.record_failure("app", at, kKnown, kNow + 2));
        assert_true(c.throttle.record_failure("app", at, kKnown, kNow + 2));
    }
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
    assert_false(c.throttle.standing("slow", "10.0.0.1", kKnown, kNow + 30).has_failures);
}

// Fail closed: a registered id the full table cannot count is refused, its
// secret unchecked (even the right one: answering it would be an oracle),
// until a counter frees. Pairs with a counter go on as before.
void an_uncountable_pair_is_refused_before_its_secret_is_checked(void **) {
    Counters c;
    std::string counted, uncounted;
    for (int i = 0; i < 20000; ++i) {
        c.throttle.record_failure("slow", address(i), kKnown, kNow);
        bool has = c.throttle.standing("slow", address(i), kKnown, kNow).has_failures;
        (has ? counted : uncounted) = address(i);
    }
    uint64_t kdf_runs = slow_client().secret.kdf_runs();
    oauth::HttpResponse refused = token_request(c.throttle, "slow:right", uncounted, kNow + 5);
    assert_int_equal(refused.status, 429);
    assert_in_range(refused.retry_after, 1, 55);
    assert_non_null(strstr(refused.body.c_str(), "temporarily_unavailable"));
    assert_int_equal(slow_client().secret.kdf_runs(), kdf_runs);
    assert_int_equal(token_request(c.throttle, "slow:wrong", uncounted, kNow + 5).status, 429);
    assert_int_equal(slow_client().secret.kdf_runs(), kdf_runs);

    assert_int_equal(token_request(c.throttle, "slow:right", counted, kNow + 5).status, 200);
    assert_int_equal(token_request(c.throttle, "slow:right", uncounted, kNow + 60).status, 200);
}

// One warning a minute per process while the table stays full.
void the_full_table_is_logged_at_warn_once_a_minute(void **) {
    Counters c;
    for (int i = 0; i < 20000; ++i) {
        c.throttle.record_failure("slow", address(i), kKnown, kNow + 1000);
    }
    std::vector<oauth::HttpResponse::Log> logs;
    for (int i = 20000; logs.size() < 3; ++i) {
        if (c.throttle.standing("slow", address(i), kKnown, kNow + 1000).uncountable_for != 0) {
            uint32_t at = kNow + 1000 + (logs.size() == 2 ? 59 : 0);
            logs.push_back(token_request(c.throttle, "slow:x", address(i), at).log);
        }
    }
    assert_true(logs[0] == oauth::HttpResponse::Log::warn);
    assert_true(logs[1] == oauth::HttpResponse::Log::none);
    assert_true(logs[2] == oauth::HttpResponse::Log::none);
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
        cmocka_unit_test(a_block_survives_a_flood_of_unknown_ids),
        cmocka_unit_test(a_block_survives_a_flood_of_known_ids_from_many_addresses),
        cmocka_unit_test(unknown_ids_cannot_crowd_out_known_ones),
        cmocka_unit_test(a_full_table_keeps_its_counters),
        cmocka_unit_test(an_uncountable_pair_is_refused_before_its_secret_is_checked),
        cmocka_unit_test(the_full_table_is_logged_at_warn_once_a_minute),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
