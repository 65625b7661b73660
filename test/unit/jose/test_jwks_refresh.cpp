// core/jose/jwks_refresh: when a trusted issuer's JWK Set is fetched again,
// and by which worker (SPEC "Keys from a URL").
#include "unit.hpp"

#include "core/jose/jwks_refresh.hpp"

using namespace oauth::jose;

namespace {

constexpr uint32_t kNow = 1700000000;

void one_worker_fetches_at_a_time(void **) {
    FetchRecord record;
    assert_true(take_fetch(record, 100, kNow, true));  // nothing yet: at once
    assert_false(take_fetch(record, 200, kNow, true));
    assert_false(take_fetch(record, 100, kNow, true));  // already in flight
    // A holder gone, or its lease run out, no longer stops the others.
    assert_true(take_fetch(record, 200, kNow + 1, false));
    assert_false(take_fetch(record, 300, kNow + 1, true));
    assert_true(take_fetch(record, 300, kNow + 1 + kFetchLease, true));
}

void a_success_schedules_the_refresh(void **) {
    FetchRecord record;
    assert_true(take_fetch(record, 100, kNow, true));
    fetch_succeeded(record, kNow, 3600, std::nullopt, true);
    assert_int_equal(record.version, 1);
    assert_int_equal(record.fetched_at, kNow);
    assert_int_equal(record.next_fetch_at, kNow + 3600);
    assert_false(take_fetch(record, 200, kNow + 3599, true));
    assert_true(take_fetch(record, 200, kNow + 3600, true));
    fetch_succeeded(record, kNow + 3600, 3600, 600u, true);  // max-age sooner
    assert_int_equal(record.version, 2);
    assert_int_equal(record.next_fetch_at, kNow + 4200);
    assert_true(take_fetch(record, 200, kNow + 4200, true));
    fetch_succeeded(record, kNow + 4200, 3600, std::nullopt, false);  // the same set again
    assert_int_equal(record.version, 2);  // nothing for the workers to parse
    assert_int_equal(record.next_fetch_at, kNow + 7800);
}

void max_age_counts_within_bounds(void **) {
    assert_int_equal(refresh_delay(3600, std::nullopt), 3600);
    assert_int_equal(refresh_delay(3600, 600u), 600);
    assert_int_equal(refresh_delay(3600, 86400u), 3600);  // never later than refresh=
    assert_int_equal(refresh_delay(3600, 5u), 60);        // never below a minute
    assert_int_equal(refresh_delay(3600, 0u), 60);
    assert_int_equal(refresh_delay(10, std::nullopt), 60);
}

void cache_control_is_read_as_rfc_9111_says(void **) {
    assert_int_equal(*max_age("max-age=300"), 300);
    assert_int_equal(*max_age("public, Max-Age = 120 , must-revalidate"), 120);
    assert_int_equal(*max_age("max-age=\"90\""), 90);
    assert_int_equal(*max_age("max-age=99999999999"), UINT32_MAX);
    assert_false(max_age("").has_value());
    assert_false(max_age("public").has_value());
    assert_false(max_age("max-age=ten").has_value());
    assert_false(max_age("max-age=-5").has_value());
    assert_false(max_age("no-store, max-age=300").has_value());
    assert_false(max_age("max-age=300, no-cache").has_value());
}

void failures_back_off_and_log_once(void **) {
    FetchRecord record;
    assert_true(take_fetch(record, 100, kNow, true));
    assert_true(fetch_failed(record, kNow, 3600));  // the first of a streak: logged
    assert_int_equal(record.next_fetch_at, kNow + kFirstRetry);
    assert_true(take_fetch(record, 100, kNow + 5, true));
    assert_false(fetch_failed(record, kNow + 5, 3600));
    assert_int_equal(record.next_fetch_at, kNow + 15);
    assert_int_equal(retry_delay(3, 3600), 20);
    assert_int_equal(retry_delay(20, 3600), kLongestRetry);
    assert_int_equal(retry_delay(20, 120), 120);  // never later than refresh=
    // The last good keys stay: a failure leaves the version alone.
    assert_int_equal(record.version, 0);
    fetch_succeeded(record, kNow + 20, 3600, std::nullopt, true);
    assert_int_equal(record.failures, 0);
    assert_true(take_fetch(record, 100, kNow + 3620, true));
    assert_true(fetch_failed(record, kNow + 3620, 3600));  // a new streak
    assert_int_equal(record.version, 1);
}

void unknown_kids_refetch_once_per_interval(void **) {
    FetchRecord record;
    fetch_succeeded(record, kNow, 3600, std::nullopt, true);
    assert_true(demand_fetch(record, kNow + 10));
    assert_int_equal(record.next_fetch_at, kNow + 10);
    assert_true(take_fetch(record, 100, kNow + 10, true));
    fetch_succeeded(record, kNow + 11, 3600, std::nullopt, true);
    assert_false(demand_fetch(record, kNow + 12));
    assert_false(demand_fetch(record, kNow + 10 + kDemandInterval - 1));
    assert_false(take_fetch(record, 100, kNow + 10 + kDemandInterval - 1, true));
    assert_true(demand_fetch(record, kNow + 10 + kDemandInterval));
}

// A token that comes before the first fetch has ended waits for it, and does
// not use up the interval: a rotation soon after the start is still seen.
void a_due_fetch_is_not_a_demand(void **) {
    FetchRecord record;
    assert_true(demand_fetch(record, kNow));
    assert_true(take_fetch(record, 100, kNow, true));
    assert_true(demand_fetch(record, kNow + 1));  // under way
    assert_int_equal(record.demanded_at, 0);
    fetch_succeeded(record, kNow + 2, 3600, std::nullopt, true);
    assert_true(demand_fetch(record, kNow + 5));
    assert_int_equal(record.next_fetch_at, kNow + 5);
    assert_int_equal(record.demanded_at, kNow + 5);
}

void discovery_urls_and_documents(void **) {
    assert_text(openid_configuration_url("https://idp.example/realms/a"),
                "https://idp.example/realms/a/.well-known/openid-configuration");
    assert_text(openid_configuration_url("https://idp.example/"),
                "https://idp.example/.well-known/openid-configuration");
    assert_text(oauth_metadata_url("https://idp.example/realms/a"),
                "https://idp.example/.well-known/oauth-authorization-server/realms/a");
    assert_text(oauth_metadata_url("https://idp.example"),
                "https://idp.example/.well-known/oauth-authorization-server");
    assert_text(oauth_metadata_url("https://idp.example/"),
                "https://idp.example/.well-known/oauth-authorization-server");

    std::string uri;
    std::string error;
    assert_true(
        read_discovery(R"({"issuer":"https://idp.example","jwks_uri":"https://k.example/j"})",
                       "https://idp.example", uri, error));
    assert_text(uri, "https://k.example/j");
    assert_false(read_discovery(R"({"issuer":"https://evil.example","jwks_uri":"https://k/j"})",
                                "https://idp.example", uri, error));
    assert_text(error, "the discovery document's issuer is not the trusted issuer");
    assert_false(read_discovery(R"({"issuer":"https://idp.example","jwks_uri":"file:///etc/x"})",
                                "https://idp.example", uri, error));
    assert_false(read_discovery(R"({"issuer":"https://idp.example","jwks_uri":"http://k/j"})",
                                "https://idp.example", uri, error));
    assert_text(error, "the discovery document's jwks_uri is not https");
    assert_true(read_discovery(R"({"issuer":"http://127.0.0.1:9","jwks_uri":"http://k/j"})",
                               "http://127.0.0.1:9", uri, error));
    assert_false(read_discovery("<html>", "https://idp.example", uri, error));
    assert_false(
        read_discovery(R"({"issuer":"https://idp.example"})", "https://idp.example", uri, error));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_worker_fetches_at_a_time),
        cmocka_unit_test(a_success_schedules_the_refresh),
        cmocka_unit_test(max_age_counts_within_bounds),
        cmocka_unit_test(cache_control_is_read_as_rfc_9111_says),
        cmocka_unit_test(failures_back_off_and_log_once),
        cmocka_unit_test(unknown_kids_refetch_once_per_interval),
        cmocka_unit_test(a_due_fetch_is_not_a_demand),
        cmocka_unit_test(discovery_urls_and_documents),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
