// Metrics: the counters in a region, the outcomes the endpoints report, and
// their Prometheus text exposition.
#include "unit.hpp"

#include <cstring>
#include <vector>

#include "core/bearer.hpp"
#include "core/metrics/counters.hpp"
#include "core/metrics/exposition.hpp"
#include "core/metrics/gauges.hpp"
#include "core/endpoints/token_admin.hpp"
#include "core/endpoints/token_endpoint.hpp"
#include "fixtures.hpp"

namespace {

using oauth::HttpResponse;
using oauth::metrics::Counters;
using oauth::metrics::Snapshot;

constexpr uint32_t kNow = 1700000000;

struct Region {
    std::vector<char> memory;
    explicit Region(size_t size = 16 * 1024) : memory(size) {
        assert_true(Counters::format(memory.data(), memory.size()));
    }
    Counters open() { return Counters(memory.data(), oauth::StoreLock{}); }
};

HttpResponse::Outcome outcome(std::string_view result, std::string_view client = "",
                              HttpResponse::Outcome::Cause cause = {}) {
    HttpResponse::Outcome o;
    o.result = result;
    o.client = client;
    o.cause = cause;
    return o;
}

size_t token_result(std::string_view result) {
    for (size_t i = 0; i < oauth::metrics::kTokenResultCount; ++i) {
        if (oauth::metrics::kTokenResults[i] == result) {
            return i;
        }
    }
    fail_msg("no token result %s", std::string(result).c_str());
    return 0;
}

uint64_t token_count(const Snapshot &s, std::string_view client, std::string_view result) {
    for (const Snapshot::Client &c : s.clients) {
        if (c.id == client) {
            return c.token_requests[token_result(result)];
        }
    }
    return 0;
}

void refuses_a_region_too_small_or_foreign(void **) {
    std::vector<char> small(Counters::kMinRegionSize - 1);
    assert_false(Counters::format(small.data(), small.size()));
    std::vector<char> garbage(Counters::kMinRegionSize, 'x');
    assert_false(Counters::is_formatted(garbage.data(), garbage.size()));
    Region region;
    assert_true(Counters::is_formatted(region.memory.data(), region.memory.size()));
    assert_false(Counters::is_formatted(region.memory.data(), region.memory.size() - 8));
}

void counts_token_requests_per_client_and_result(void **) {
    Region region;
    Counters counters = region.open();
    counters.count_token_response(outcome("issued", "app"));
    counters.count_token_response(outcome("issued", "app"));
    counters.count_token_response(outcome("invalid_scope", "app"));
    counters.count_token_response(outcome("invalid_client", "other"));
    counters.count_token_response(outcome("invalid_client"));
    Snapshot s = counters.snapshot();
    assert_int_equal(s.clients.size(), 3);
    assert_text(s.clients[0].id, "");  // the unknown clients first, then by id
    assert_text(s.clients[1].id, "app");
    assert_text(s.clients[2].id, "other");
    assert_int_equal(token_count(s, "app", "issued"), 2);
    assert_int_equal(token_count(s, "app", "invalid_scope"), 1);
    assert_int_equal(token_count(s, "other", "invalid_client"), 1);
    assert_int_equal(token_count(s, "", "invalid_client"), 1);
    assert_int_equal(token_count(s, "", "issued"), 0);
}

void every_view_of_the_region_counts_in_the_same_place(void **) {
    Region region;
    Counters worker1 = region.open();
    Counters worker2 = region.open();
    worker1.count_token_response(outcome("issued", "app"));
    worker2.count_token_response(outcome("issued", "app"));
    worker2.count_bearer_check("ok");
    Snapshot s = worker1.snapshot();
    assert_int_equal(s.clients.size(), 2);
    assert_int_equal(token_count(s, "app", "issued"), 2);
    assert_int_equal(s.bearer_checks[0], 1);
}

void a_result_without_a_name_is_other(void **) {
    Region region;
    Counters counters = region.open();
    counters.count_token_response(outcome("invalid_something", "app"));
    counters.count_token_response(outcome("", "app"));
    counters.count_bearer_check("strange");
    Snapshot s = counters.snapshot();
    assert_int_equal(token_count(s, "app", "other"), 2);
    assert_int_equal(s.bearer_checks[oauth::metrics::kBearerResultCount - 1], 1);
}

void causes_are_counted_apart(void **) {
    Region region;
    Counters counters = region.open();
    using Cause = HttpResponse::Outcome::Cause;
    counters.count_token_response(outcome("temporarily_unavailable", "app", Cause::throttled));
    counters.count_introspection_response(outcome("temporarily_unavailable", "", Cause::throttled));
    counters.count_token_response(outcome("temporarily_unavailable", "app", Cause::zone_full));
    counters.count_revocation_response(outcome("ok"));
    Snapshot s = counters.snapshot();
    assert_int_equal(s.throttled, 2);
    assert_int_equal(s.zone_full, 1);
    assert_int_equal(token_count(s, "app", "temporarily_unavailable"), 2);
    assert_int_equal(s.revocation_requests[0], 1);
}

void a_full_client_table_counts_under_the_empty_id(void **) {
    Region region(Counters::kMinRegionSize);
    Counters counters = region.open();
    size_t slots = counters.client_slots();
    assert_true(slots >= 8);
    for (size_t i = 0; i < slots + 5; ++i) {
        counters.count_token_response(outcome("issued", "client-" + std::to_string(i)));
    }
    Snapshot s = counters.snapshot();
    assert_int_equal(s.clients.size(), slots + 1);
    assert_int_equal(token_count(s, "", "issued"), 5);
    std::string too_long(oauth::kMaxClientIdLength + 1, 'x');
    counters.count_token_response(outcome("issued", too_long));
    assert_int_equal(token_count(counters.snapshot(), "", "issued"), 6);
}

void a_format_starts_from_zero(void **) {
    Region region;
    region.open().count_token_response(outcome("issued", "app"));
    assert_true(Counters::format(region.memory.data(), region.memory.size()));
    Snapshot s = region.open().snapshot();
    assert_int_equal(s.clients.size(), 1);
    assert_int_equal(token_count(s, "", "issued"), 0);
}

// ---- the outcomes the endpoints report -------------------------------------------

struct Form {
    oauth::FormRequest request;
    std::string body, authorization;
    Form(std::string form, std::string basic) : body(std::move(form)) {
        request.method = "POST";
        request.content_type = "application/x-www-form-urlencoded";
        authorization = fixture::basic_header(basic);
        request.authorization_headers = 1;
        request.authorization = authorization;
        request.body = body;
    }
};

HttpResponse token_response(const std::string &form, const std::string &basic,
                            fixture::Store &memory) {
    static std::unique_ptr<oauth::Registry> registry = fixture::standard_registry();
    oauth::TokenStore store = memory.open();
    Form f(form, basic);
    return oauth::handle_token_request(f.request, *registry, store,
                                       oauth::TokenEndpointConfig{3600, {"test"}}, kNow);
}

void the_token_endpoint_says_what_it_answered(void **) {
    fixture::Store memory;
    HttpResponse r = token_response("grant_type=client_credentials", "app:app-secret", memory);
    assert_text(r.outcome.result, "issued");
    assert_text(r.outcome.client, "app");
    r = token_response("grant_type=client_credentials", "app:wrong", memory);
    assert_text(r.outcome.result, "invalid_client");
    assert_text(r.outcome.client, "app");  // registered: its own label
    r = token_response("grant_type=client_credentials", "\"\\\nhostile:x", memory);
    assert_text(r.outcome.result, "invalid_client");
    assert_text(r.outcome.client, "");  // unknown: never what it sent
    r = token_response("grant_type=client_credentials&scope=z", "app:app-secret", memory);
    assert_text(r.outcome.result, "invalid_scope");
    r = token_response("grant_type=password", "app:app-secret", memory);
    assert_text(r.outcome.result, "unsupported_grant_type");
    assert_int_equal(int(r.outcome.cause), int(HttpResponse::Outcome::Cause::none));
}

// oauth_client_authentications_total: each attempt under its method and
// result; a request that sent no credentials is no attempt.
void authentications_are_counted_by_method_and_result(void **) {
    fixture::Store memory;
    Region region;
    Counters counters = region.open();
    for (const char *basic : {"app:app-secret", "app:wrong"}) {
        counters.count_token_response(
            token_response("grant_type=client_credentials", basic, memory).outcome);
    }
    HttpResponse::Outcome assertion = outcome("invalid_client", "app");
    assertion.auth_method = "private_key_jwt";
    assertion.auth_result = "replayed";
    counters.count_introspection_response(assertion);
    HttpResponse::Outcome none = outcome("invalid_client");
    counters.count_revocation_response(none);
    Snapshot s = counters.snapshot();
    assert_int_equal(s.authentications[0][0], 1);  // client_secret_basic, ok
    assert_int_equal(s.authentications[0][1], 1);  // client_secret_basic, failed
    assert_int_equal(s.authentications[2][2], 1);  // private_key_jwt, replayed
    uint64_t total = 0;
    for (const auto &method : s.authentications) {
        for (uint64_t count : method) {
            total += count;
        }
    }
    assert_int_equal(total, 3);
    std::string text = oauth::metrics::render_exposition({{"z", s, 0, 0, {}, {}}});
    assert_true(text.find("oauth_client_authentications_total{zone=\"z\",method=\"private_key_"
                          "jwt\",result=\"replayed\"} 1\n") != std::string::npos);
}

// oauth_dpop_proofs_total: each proof where it was checked, by result; a
// request without one counts in no sample.
void dpop_proofs_are_counted_where_they_were_checked(void **) {
    Region region;
    Counters counters = region.open();
    HttpResponse::Outcome issued = outcome("issued", "app");
    issued.dpop_result = "ok";
    counters.count_token_response(issued);
    counters.count_token_response(outcome("issued", "app"));
    counters.count_bearer_check("invalid_token", "replayed");
    counters.count_bearer_check("invalid_token", "nonce");
    counters.count_bearer_check("ok");
    counters.count_bearer_check("invalid_token", "strange");
    Snapshot s = counters.snapshot();
    assert_int_equal(s.dpop_proofs[0][0], 1);  // token_endpoint, ok
    assert_int_equal(s.dpop_proofs[1][2], 1);  // gate, replayed
    assert_int_equal(s.dpop_proofs[1][3], 1);  // gate, nonce
    assert_int_equal(s.dpop_proofs[1][5], 1);  // gate, other
    uint64_t total = 0;
    for (const auto &place : s.dpop_proofs) {
        for (uint64_t count : place) {
            total += count;
        }
    }
    assert_int_equal(total, 4);
    std::string text = oauth::metrics::render_exposition({{"z", s, 0, 0, {}, {}}});
    assert_true(text.find("oauth_dpop_proofs_total{zone=\"z\",where=\"gate\",result=\"replayed\"} "
                          "1\n") != std::string::npos);
    assert_true(text.find("oauth_dpop_proofs_total{zone=\"z\",where=\"token_endpoint\",result="
                          "\"ok\"} 1\n") != std::string::npos);
}

void a_full_zone_and_a_block_say_why(void **) {
    fixture::Store memory(oauth::TokenStore::kMinRegionSize);
    oauth::TokenStore filled = memory.open();
    uint32_t retry_after = 0;
    for (uint32_t i = 0;; ++i) {  // another client, uncapped: only a full zone stops this
        oauth::Digest digest{};
        std::memcpy(digest.data(), &i, sizeof i);
        if (filled.insert(digest, "filler", "a", 1, kNow, kNow + 3600, kNow, retry_after,
                          oauth::TokenStore::kNoClientCap) != oauth::InsertResult::ok) {
            break;
        }
    }
    HttpResponse r = token_response("grant_type=client_credentials", "app:app-secret", memory);
    assert_int_equal(r.status, 503);
    assert_text(r.outcome.result, "temporarily_unavailable");
    assert_int_equal(int(r.outcome.cause), int(HttpResponse::Outcome::Cause::zone_full));

    std::vector<char> throttle_memory(64 * 1024);
    assert_true(oauth::AuthThrottle::format(throttle_memory.data(), throttle_memory.size()));
    oauth::AuthThrottle throttle(throttle_memory.data(), oauth::StoreLock{}, {1, 60, 60});
    static std::unique_ptr<oauth::Registry> registry = fixture::standard_registry();
    oauth::TokenStore store = memory.open();
    oauth::TokenEndpointConfig config{3600, {"test", &throttle}};
    Form wrong("grant_type=client_credentials", "app:wrong");
    oauth::handle_token_request(wrong.request, *registry, store, config, kNow);
    r = oauth::handle_token_request(wrong.request, *registry, store, config, kNow);
    assert_int_equal(r.status, 429);
    assert_text(r.outcome.client, "app");
    assert_int_equal(int(r.outcome.cause), int(HttpResponse::Outcome::Cause::throttled));
}

void introspection_and_revocation_say_what_they_answered(void **) {
    static std::unique_ptr<oauth::Registry> registry = fixture::standard_registry();
    fixture::Store memory;
    oauth::TokenStore store = memory.open();
    std::vector<uint64_t> revoked(2048);
    assert_true(oauth::RevocationList::format(revoked.data(), revoked.size() * sizeof(uint64_t)));
    oauth::RevocationList revocations(revoked.data(), {});
    oauth::TokenAdminConfig config{{"test"}, "", nullptr, &revocations};
    Form inactive("token=nope", "auditor:auditor-secret");
    HttpResponse r =
        oauth::handle_introspection_request(inactive.request, *registry, store, config, kNow);
    assert_text(r.outcome.result, "inactive");
    assert_text(r.outcome.client, "auditor");
    Form not_allowed("token=nope", "app:app-secret");
    r = oauth::handle_introspection_request(not_allowed.request, *registry, store, config, kNow);
    assert_text(r.outcome.result, "unauthorized_client");
    r = oauth::handle_revocation_request(not_allowed.request, *registry, store, config, kNow);
    assert_text(r.outcome.result, "ok");
}

void the_bearer_verdict_says_what_it_answered(void **) {
    fixture::Store memory;
    oauth::TokenStore store = memory.open();
    oauth::ScopeRequirement required;
    oauth::TokenGrant grant;
    auto verdict = [&](size_t headers, std::string_view authorization) {
        return std::string(
            oauth::check_bearer({headers, authorization}, store, required, "r", kNow, grant)
                .result);
    };
    assert_text(verdict(0, ""), "no_token");
    assert_text(verdict(1, "Bearer a,b"), "invalid_request");
    assert_text(verdict(1, "Bearer unknown"), "invalid_token");
}

// ---- the exposition --------------------------------------------------------------------

void label_values_are_escaped(void **) {
    std::string out;
    oauth::metrics::append_label_value(out, "a\"b\\c\nd");
    assert_text(out, "a\\\"b\\\\c\\nd");
}

void renders_each_family_once_with_help_and_type(void **) {
    Region one, two;
    one.open().count_token_response(outcome("issued", "we\"ird\\id"));
    two.open().count_bearer_check("insufficient_scope");
    std::vector<oauth::metrics::ZoneMetrics> zones;
    zones.push_back({"one", one.open().snapshot(), 3, 100, {}, {}});
    zones.push_back({"t\"wo", two.open().snapshot(), 0, 50, {}, {}});
    std::string text = oauth::metrics::render_exposition(zones);
    assert_true(text.find("oauth_fleet_") == std::string::npos);  // no fleet, no fleet gauges
    zones[1].fleet = oauth::metrics::FleetGauges{true, 4, 1700000000};
    text = oauth::metrics::render_exposition(zones);

    auto has = [&](const std::string &line) {
        if (text.find(line + "\n") == std::string::npos) {
            fail_msg("missing line: %s\nin:\n%s", line.c_str(), text.c_str());
        }
    };
    has("# TYPE oauth_token_requests_total counter");
    has("oauth_token_requests_total{zone=\"one\",client=\"we\\\"ird\\\\id\",result=\"issued\"} 1");
    has("oauth_token_requests_total{zone=\"one\",client=\"\",result=\"issued\"} 0");
    has("oauth_bearer_checks_total{zone=\"t\\\"wo\",result=\"insufficient_scope\"} 1");
    has("# TYPE oauth_zone_tokens gauge");
    has("oauth_zone_tokens{zone=\"one\"} 3");
    has("oauth_zone_token_capacity{zone=\"t\\\"wo\"} 50");
    has("oauth_throttle_blocks_total{zone=\"one\"} 0");
    has("oauth_token_zone_full_total{zone=\"one\"} 0");
    has("# TYPE oauth_fleet_connected gauge");
    has("oauth_fleet_connected{zone=\"t\\\"wo\"} 1");
    has("oauth_fleet_pending_revocations{zone=\"t\\\"wo\"} 4");
    has("oauth_fleet_last_sync_timestamp_seconds{zone=\"t\\\"wo\"} 1700000000");
    assert_true(text.find("oauth_fleet_connected{zone=\"one\"}") == std::string::npos);

    // A family's samples stand together, after its one TYPE line.
    size_t type = text.find("# TYPE oauth_bearer_checks_total");
    assert_int_equal(text.find("# TYPE oauth_bearer_checks_total", type + 1), std::string::npos);
    size_t last_sample = text.rfind("\noauth_bearer_checks_total");
    assert_true(type < last_sample);
    assert_true(last_sample < text.find("# HELP oauth_introspection_requests_total"));
    assert_true(text.back() == '\n');
}

void reads_each_client_holding_tokens_by_id(void **) {
    fixture::Store memory;
    oauth::TokenStore store = memory.open();
    uint32_t retry_after = 0;
    auto insert = [&](uint8_t n, std::string_view client, uint32_t cap) {
        oauth::Digest digest{};
        digest[0] = n;
        assert_int_equal(
            int(store.insert(digest, client, "read", 1, kNow, kNow + 3600, kNow, retry_after, cap)),
            int(oauth::InsertResult::ok));
    };
    insert(1, "capped", 3);
    insert(2, "capped", 3);
    insert(3, "restored", oauth::TokenStore::kNoClientCap);
    insert(4, "app", oauth::TokenStore::kDefaultClientCap);
    std::vector<oauth::metrics::ClientTokens> clients = oauth::metrics::client_tokens_of(store);
    assert_int_equal(clients.size(), 3);
    assert_text(clients[0].id, "app");
    assert_int_equal(clients[0].tokens, 1);
    assert_int_equal(clients[0].cap, store.capacity() / 4);  // the default share
    assert_text(clients[1].id, "capped");
    assert_int_equal(clients[1].tokens, 2);
    assert_int_equal(clients[1].cap, 3);
    assert_text(clients[2].id, "restored");
    assert_int_equal(clients[2].cap, oauth::TokenStore::kNoClientCap);
    assert_int_equal(oauth::metrics::client_tokens_of(fixture::Store().open()).size(), 0);
}

void renders_each_clients_tokens_and_cap_but_no_cap_it_lacks(void **) {
    Region region;
    std::vector<oauth::metrics::ZoneMetrics> zones;
    zones.push_back({"one",
                     region.open().snapshot(),
                     5,
                     100,
                     {{"app", 2, 3}, {"re\\st\"ored", 3, oauth::TokenStore::kNoClientCap}},
                     {}});
    zones.push_back({"t\"wo", region.open().snapshot(), 0, 50, {}, {}});  // no client holds tokens
    std::string text = oauth::metrics::render_exposition(zones);

    auto has = [&](const std::string &line) {
        if (text.find(line + "\n") == std::string::npos) {
            fail_msg("missing line: %s\nin:\n%s", line.c_str(), text.c_str());
        }
    };
    has("# TYPE oauth_client_tokens gauge");
    has("oauth_client_tokens{zone=\"one\",client=\"app\"} 2");
    has("oauth_client_tokens{zone=\"one\",client=\"re\\\\st\\\"ored\"} 3");
    has("# TYPE oauth_client_token_cap gauge");
    has("oauth_client_token_cap{zone=\"one\",client=\"app\"} 3");
    assert_true(text.find("# HELP oauth_client_token_cap ") != std::string::npos);
    assert_true(text.find("# HELP oauth_client_tokens ") != std::string::npos);
    assert_int_equal(text.find("oauth_client_token_cap{zone=\"one\",client=\"re"),
                     std::string::npos);
    assert_int_equal(text.find("oauth_client_tokens{zone=\"t\\\"wo\""), std::string::npos);
}

void renders_the_fetches_of_keys_from_a_url(void **) {
    assert_text(oauth::metrics::render_trusted_keys({}), "");
    std::string text = oauth::metrics::render_trusted_keys(
        {{"https://idp.example", "https://idp.example/jwks", 3, 1, 1700000000},
         {"https://b\"", "discovery", 0, 2, 0}});
    assert_text(text,
                "# HELP oauth_trusted_key_fetches_total Fetches of a trusted issuer's JWK Set by "
                "result: ok (a usable set), or failed (the last good keys stay in service).\n"
                "# TYPE oauth_trusted_key_fetches_total counter\n"
                "oauth_trusted_key_fetches_total{issuer=\"https://idp.example\","
                "source=\"https://idp.example/jwks\",result=\"ok\"} 3\n"
                "oauth_trusted_key_fetches_total{issuer=\"https://idp.example\","
                "source=\"https://idp.example/jwks\",result=\"failed\"} 1\n"
                "oauth_trusted_key_fetches_total{issuer=\"https://b\\\"\",source=\"discovery\","
                "result=\"ok\"} 0\n"
                "oauth_trusted_key_fetches_total{issuer=\"https://b\\\"\",source=\"discovery\","
                "result=\"failed\"} 2\n"
                "# HELP oauth_trusted_keys_last_success_timestamp_seconds When a trusted issuer's "
                "JWK Set was last fetched and found usable (Unix time; 0: never).\n"
                "# TYPE oauth_trusted_keys_last_success_timestamp_seconds gauge\n"
                "oauth_trusted_keys_last_success_timestamp_seconds{issuer=\"https://idp.example\","
                "source=\"https://idp.example/jwks\"} 1700000000\n"
                "oauth_trusted_keys_last_success_timestamp_seconds{issuer=\"https://b\\\"\","
                "source=\"discovery\"} 0\n");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_a_region_too_small_or_foreign),
        cmocka_unit_test(counts_token_requests_per_client_and_result),
        cmocka_unit_test(every_view_of_the_region_counts_in_the_same_place),
        cmocka_unit_test(a_result_without_a_name_is_other),
        cmocka_unit_test(causes_are_counted_apart),
        cmocka_unit_test(a_full_client_table_counts_under_the_empty_id),
        cmocka_unit_test(a_format_starts_from_zero),
        cmocka_unit_test(the_token_endpoint_says_what_it_answered),
        cmocka_unit_test(authentications_are_counted_by_method_and_result),
        cmocka_unit_test(dpop_proofs_are_counted_where_they_were_checked),
        cmocka_unit_test(a_full_zone_and_a_block_say_why),
        cmocka_unit_test(introspection_and_revocation_say_what_they_answered),
        cmocka_unit_test(the_bearer_verdict_says_what_it_answered),
        cmocka_unit_test(label_values_are_escaped),
        cmocka_unit_test(renders_each_family_once_with_help_and_type),
        cmocka_unit_test(reads_each_client_holding_tokens_by_id),
        cmocka_unit_test(renders_each_clients_tokens_and_cap_but_no_cap_it_lacks),
        cmocka_unit_test(renders_the_fetches_of_keys_from_a_url),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
