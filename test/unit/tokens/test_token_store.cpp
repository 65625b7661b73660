// The token store over plain memory, and over memory shared by processes that
// read while another writes, or die while writing.
#include "unit.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <new>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/tokens/token_store.hpp"

using namespace oauth;

namespace {

constexpr size_t kSmall = TokenStore::kMinRegionSize;
constexpr uint32_t kNow = 1'700'000'000;
constexpr uint32_t kHourLater = kNow + 3600;
constexpr uint32_t kForever = UINT32_MAX;

uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
    x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
    return x ^ (x >> 31);
}

// The store hashes a digest's first 8 bytes; the rest tells tokens apart.
Digest digest_with_hash(uint64_t hash, uint64_t n) {
    uint64_t words[4] = {hash, n, mix(n + 1), ~n};
    Digest digest;
    std::memcpy(digest.data(), words, sizeof words);
    return digest;
}

Digest token(uint64_t n) {
    return digest_with_hash(mix(n), n);
}

// Tokens that share a few home slots, for long clusters and long shifts.
Digest clustered_token(uint64_t n, unsigned homes) {
    return digest_with_hash(mix(n % homes), n);
}

struct SpinLock {
    std::atomic<uint32_t> held{0};
    std::atomic<uint32_t> acquisitions{0};
};

void spin_lock(void *context) {
    auto *lock = static_cast<SpinLock *>(context);
    while (lock->held.exchange(1, std::memory_order_acquire)) {
        sched_yield();
    }
    lock->acquisitions.fetch_add(1, std::memory_order_relaxed);
}

void spin_unlock(void *context) {
    static_cast<SpinLock *>(context)->held.store(0, std::memory_order_release);
}

StoreLock store_lock(SpinLock &lock) {
    return {&lock, spin_lock, spin_unlock};
}

// A formatted region in this process's memory.
struct Zone {
    explicit Zone(size_t size = kSmall) : memory(size / sizeof(uint64_t)) {
        assert_true(TokenStore::format(memory.data(), size));
    }

    std::vector<uint64_t> memory;
    SpinLock lock;
    TokenStore store{memory.data(), store_lock(lock)};
};

// Without a client cap: most tests are about the store as a whole.
InsertResult issue(TokenStore &store, const Digest &digest, std::string_view client,
                   uint32_t expires_at = kHourLater, uint32_t now = kNow) {
    uint32_t retry_after = 0;
    return store.insert(digest, client, "read write", 0b11, now, expires_at, now, retry_after,
                        TokenStore::kNoClientCap);
}

InsertResult issue_capped(TokenStore &store, const Digest &digest, std::string_view client,
                          uint32_t cap, uint32_t &retry_after, uint32_t expires_at = kHourLater,
                          uint32_t now = kNow) {
    return store.insert(digest, client, "read write", 0b11, now, expires_at, now, retry_after, cap);
}

bool is_live(const TokenStore &store, const Digest &digest, uint32_t now = kNow) {
    TokenGrant grant;
    return store.find(digest, now, grant);
}

std::string found_client(const TokenStore &store, const Digest &digest, uint32_t now = kNow) {
    TokenGrant grant;
    return store.find(digest, now, grant) ? std::string(grant.client()) : "(not found)";
}

std::string granted_scopes(std::string_view list, uint64_t mask) {
    Zone zone;
    uint32_t retry_after = 0;
    assert_int_equal(
        zone.store.insert(token(1), "client", list, mask, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(1), kNow, grant));
    return std::string(grant.scopes());
}

// The tokens one client can store: the capacity less its client record.
size_t room_for_one_client(const TokenStore &store, std::string_view client = "filler") {
    return store.capacity() - TokenStore::entries_for_client(client, "read write");
}

// Fills the store with tokens of one client, token i expiring at kNow + 100 + i.
void fill(TokenStore &store) {
    for (size_t i = 0; i < room_for_one_client(store); ++i) {
        assert_int_equal(issue(store, token(i), "filler", kNow + 100 + i), InsertResult::ok);
    }
}

void *map_shared(size_t size) {
    void *memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(memory != MAP_FAILED);
    return memory;
}

// What nginx does for a worker that died holding the slab pool mutex.
void unlock_for_dead_owner(SpinLock &lock) {
    lock.held.store(0, std::memory_order_release);
}

int wait_for(pid_t pid) {
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

void format_refuses_a_region_below_the_minimum_size(void **) {
    std::vector<uint64_t> memory(kSmall / sizeof(uint64_t));
    assert_false(TokenStore::format(memory.data(), kSmall - 1));
    assert_false(TokenStore::is_formatted(memory.data(), kSmall - 1));
    assert_true(TokenStore::format(memory.data(), kSmall));
}

void format_refuses_a_misaligned_region(void **) {
    std::vector<uint64_t> memory(2 * kSmall / sizeof(uint64_t));
    assert_false(TokenStore::format(reinterpret_cast<char *>(memory.data()) + 1, kSmall));
}

void is_formatted_refuses_garbage(void **) {
    std::vector<uint64_t> memory(kSmall / sizeof(uint64_t));
    assert_false(TokenStore::is_formatted(memory.data(), kSmall));
    std::mt19937_64 random(1);
    std::generate(memory.begin(), memory.end(), random);
    assert_false(TokenStore::is_formatted(memory.data(), kSmall));
}

void is_formatted_refuses_a_store_of_another_size(void **) {
    std::vector<uint64_t> memory(2 * kSmall / sizeof(uint64_t));
    assert_true(TokenStore::format(memory.data(), 2 * kSmall));
    assert_true(TokenStore::is_formatted(memory.data(), 2 * kSmall));
    assert_false(TokenStore::is_formatted(memory.data(), 2 * kSmall - 8));
}

void format_empties_a_used_store(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(1), "reporting"), InsertResult::ok);
    assert_true(TokenStore::format(zone.memory.data(), kSmall));
    assert_false(is_live(zone.store, token(1)));
    assert_int_equal(zone.store.live_tokens(), 0);
}

void found_token_carries_its_client_times_and_granted_scopes(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    assert_int_equal(zone.store.insert(token(1), "reporting", "reports:read metrics:read admin",
                                       0b011, kNow, kHourLater, kNow, retry_after),
                     InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(1), kNow + 10, grant));
    assert_text(grant.client(), "reporting");
    assert_text(grant.scopes(), "reports:read metrics:read");
    assert_int_equal(grant.issued_at, kNow);
    assert_int_equal(grant.expires_at, kHourLater);
    assert_int_equal(zone.store.live_tokens(), 1);
}

void granted_scopes_follow_the_mask_in_list_order(void **) {
    assert_text(granted_scopes("a b c", 0b101), "a c");
    assert_text(granted_scopes("a b c", 0b111), "a b c");
    assert_text(granted_scopes("a b c", 0b100), "c");
    assert_text(granted_scopes("a b c", 0), "");
    assert_text(granted_scopes("a b c", ~uint64_t{0}), "a b c");
    assert_text(granted_scopes("a b c", uint64_t{1} << 63 | 0b1000 | 0b10), "b");
    assert_text(granted_scopes("", ~uint64_t{0}), "");
}

void granted_scopes_reach_the_64th_scope_of_a_list(void **) {
    std::string list;
    for (int i = 0; i < 64; ++i) {
        list += (i ? " s" : "s") + std::to_string(i);
    }
    assert_text(granted_scopes(list, uint64_t{1} << 63 | 1), "s0 s63");
}

void same_client_with_another_scope_list_keeps_each_tokens_scopes(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    assert_int_equal(
        zone.store.insert(token(1), "reporting", "a b", 0b01, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    assert_int_equal(
        zone.store.insert(token(2), "reporting", "b c", 0b01, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(1), kNow, grant));
    assert_text(grant.scopes(), "a");
    assert_true(zone.store.find(token(2), kNow, grant));
    assert_text(grant.scopes(), "b");
}

// RFC 8707: a token's audience is a mask over the client's audience
// dictionary, which only grows while tokens point at it: a reload that
// changes the client's resources changes no live token's audience.
void each_token_keeps_its_audience_across_resource_lists(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    auto issue_for = [&](uint32_t n, std::string_view list, uint64_t mask) {
        return zone.store.insert(token(n), "api", "read", 1, kNow, kHourLater, kNow, retry_after,
                                 TokenStore::kNoClientCap, Audience{list, mask});
    };
    auto audience_of = [&](uint32_t n) {
        TokenGrant grant;
        assert_true(zone.store.find(token(n), kNow, grant));
        assert_text(grant.scopes(), "read");
        return std::string(grant.audiences());
    };
    assert_int_equal(issue_for(1, "https://a.test https://b.test", 0b10), InsertResult::ok);
    assert_int_equal(issue_for(2, "https://a.test https://b.test", 0b11), InsertResult::ok);
    assert_int_equal(issue_for(3, "https://c.test https://a.test", 0b11), InsertResult::ok);
    assert_int_equal(issue_for(4, "https://as.test", 0b1), InsertResult::ok);  // the issuer
    assert_int_equal(issue_for(5, "", 0), InsertResult::ok);
    assert_text(audience_of(1), "https://b.test");
    assert_text(audience_of(2), "https://a.test https://b.test");
    assert_text(audience_of(3), "https://a.test https://c.test");  // dictionary order
    assert_text(audience_of(4), "https://as.test");
    assert_text(audience_of(5), "");
    // The scopes and the audiences each keep their own dictionary.
    assert_int_equal(
        zone.store.insert(token(6), "api", "write read", 0b11, kNow, kHourLater, kNow, retry_after,
                          TokenStore::kNoClientCap, Audience{"https://d.test", 1}),
        InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(6), kNow, grant));
    assert_text(grant.scopes(), "read write");
    assert_text(grant.audiences(), "https://d.test");
    assert_text(audience_of(1), "https://b.test");
}

void a_full_audience_dictionary_refuses_only_new_names(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    std::string list;
    for (int i = 0; i < 16; ++i) {
        list += (i ? " urn:r" : "urn:r") + std::to_string(i);
    }
    auto issue_for = [&](uint32_t n, std::string_view uris, uint64_t mask) {
        return zone.store.insert(token(n), "api", "read", 1, kNow, kHourLater, kNow, retry_after,
                                 TokenStore::kNoClientCap, Audience{uris, mask});
    };
    assert_int_equal(issue_for(1, list, uint64_t{1} << 15), InsertResult::ok);
    assert_int_equal(issue_for(2, "urn:new", 1), InsertResult::dictionary_overflow);
    assert_int_equal(issue_for(3, "urn:new urn:r15", 0b10), InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(1), kNow, grant));
    assert_text(grant.audiences(), "urn:r15");
    assert_true(zone.store.find(token(3), kNow, grant));
    assert_text(grant.audiences(), "urn:r15");
}

void longest_client_id_and_scope_list_are_kept_whole(void **) {
    Zone zone;
    std::string client(kMaxClientIdLength, 'c');
    std::string list = std::string(kMaxScopeListLength - 2, 'x') + " y";
    uint32_t retry_after = 0;
    assert_int_equal(
        zone.store.insert(token(1), client, list, 0b11, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(1), kNow, grant));
    assert_text(grant.client(), client);
    assert_text(grant.scopes(), list);
}

void unknown_digest_is_not_found(void **) {
    Zone zone;
    assert_false(is_live(zone.store, token(1)));
    for (int i = 0; i < 100; ++i) {
        assert_int_equal(issue(zone.store, token(i), "reporting"), InsertResult::ok);
    }
    assert_false(is_live(zone.store, token(100)));
    assert_false(is_live(zone.store, digest_with_hash(mix(5), 6)));  // same home as token 5
}

void token_expires_at_its_expiry_second(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(1), "reporting", kNow + 60), InsertResult::ok);
    assert_true(is_live(zone.store, token(1), kNow + 59));
    assert_false(is_live(zone.store, token(1), kNow + 60));
    assert_false(is_live(zone.store, token(1), kNow + 61));
    assert_int_equal(zone.store.live_tokens(), 1);  // expired, not yet reclaimed
}

void token_expired_on_arrival_is_not_stored(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(1), "reporting", kNow, kNow), InsertResult::ok);
    assert_false(is_live(zone.store, token(1), kNow - 1));
    assert_int_equal(zone.store.live_tokens(), 0);
}

void digest_issued_again_replaces_its_token(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(1), "reporting"), InsertResult::ok);
    assert_int_equal(issue(zone.store, token(1), "billing"), InsertResult::ok);
    assert_text(found_client(zone.store, token(1)), "billing");
    assert_int_equal(zone.store.live_tokens(), 1);
}

void revoke_by_its_client_removes_the_token(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(1), "reporting"), InsertResult::ok);
    assert_int_equal(issue(zone.store, token(2), "reporting"), InsertResult::ok);
    assert_true(zone.store.revoke(token(1), "reporting"));
    assert_false(is_live(zone.store, token(1)));
    assert_true(is_live(zone.store, token(2)));
    assert_int_equal(zone.store.live_tokens(), 1);
    assert_false(zone.store.revoke(token(1), "reporting"));
}

void revoke_by_another_client_keeps_the_token(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(1), "reporting"), InsertResult::ok);
    assert_false(zone.store.revoke(token(1), "billing"));
    assert_false(zone.store.revoke(token(1), "reportin"));
    assert_false(zone.store.revoke(token(1), "reporting2"));
    assert_false(zone.store.revoke(token(1), "Reporting"));
    assert_text(found_client(zone.store, token(1)), "reporting");
}

void revoke_of_an_unknown_token_removes_nothing(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(1), "reporting"), InsertResult::ok);
    assert_false(zone.store.revoke(token(2), "reporting"));
    assert_int_equal(zone.store.live_tokens(), 1);
}

void store_is_read_at_another_address(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(1), "reporting"), InsertResult::ok);
    std::vector<uint64_t> copy = zone.memory;
    assert_true(TokenStore::is_formatted(copy.data(), kSmall));
    SpinLock lock;
    TokenStore moved(copy.data(), store_lock(lock));
    assert_text(found_client(moved, token(1)), "reporting");
    assert_int_equal(issue(moved, token(2), "billing"), InsertResult::ok);
    assert_false(is_live(zone.store, token(2)));
}

void full_store_holds_exactly_its_capacity(void **) {
    Zone zone;
    fill(zone.store);
    assert_int_equal(zone.store.live_tokens(), room_for_one_client(zone.store));
    uint32_t retry_after = 0;
    assert_int_equal(zone.store.insert(token(100000), "other", "read", 1, kNow, kHourLater, kNow,
                                       retry_after, TokenStore::kNoClientCap),
                     InsertResult::full);
    assert_int_equal(retry_after, 100);  // until token 0 expires
    for (size_t i = 0; i < room_for_one_client(zone.store); ++i) {
        assert_true(is_live(zone.store, token(i)));
    }
    assert_false(is_live(zone.store, token(100000)));
}

void full_store_refuses_again_with_the_same_retry_after(void **) {
    Zone zone;
    fill(zone.store);
    uint32_t retry_after = 0;
    for (uint32_t n = 0; n < 3; ++n) {
        assert_int_equal(zone.store.insert(token(100000 + n), "filler", "read write", 1, kNow,
                                           kHourLater, kNow, retry_after, TokenStore::kNoClientCap),
                         InsertResult::full);
        assert_int_equal(retry_after, 100);
    }
    assert_int_equal(
        zone.store.insert(token(100000), "filler", "read write", 1, kNow + 40, kHourLater,
                          kNow + 40, retry_after, TokenStore::kNoClientCap),
        InsertResult::full);
    assert_int_equal(retry_after, 60);
}

void full_store_admits_again_once_its_soonest_token_expires(void **) {
    Zone zone;
    fill(zone.store);
    uint32_t retry_after = 0;
    assert_int_equal(issue(zone.store, token(100000), "filler", kHourLater, kNow + 99),
                     InsertResult::full);
    assert_int_equal(issue(zone.store, token(100000), "filler", kHourLater, kNow + 100),
                     InsertResult::ok);
    assert_false(is_live(zone.store, token(0), kNow + 100));
    assert_true(is_live(zone.store, token(1), kNow + 100));
    assert_text(found_client(zone.store, token(100000), kNow + 100), "filler");
    assert_int_equal(
        zone.store.insert(token(100001), "filler", "read write", 1, kNow + 100, kHourLater,
                          kNow + 100, retry_after, TokenStore::kNoClientCap),
        InsertResult::full);
    assert_int_equal(retry_after, 1);  // token 1 expires at kNow + 101
}

void revoked_token_makes_room_in_a_full_store_at_once(void **) {
    Zone zone;
    fill(zone.store);
    assert_int_equal(issue(zone.store, token(100000), "filler"), InsertResult::full);
    assert_true(zone.store.revoke(token(7), "filler"));
    assert_int_equal(issue(zone.store, token(100000), "filler"), InsertResult::ok);
    assert_int_equal(issue(zone.store, token(100001), "filler"), InsertResult::full);
}

void shorter_lived_token_shortens_the_retry_after(void **) {
    Zone zone;
    fill(zone.store);
    assert_int_equal(issue(zone.store, token(100000), "filler"), InsertResult::full);
    assert_true(zone.store.revoke(token(7), "filler"));
    assert_int_equal(issue(zone.store, token(100000), "filler", kNow + 10), InsertResult::ok);
    uint32_t retry_after = 0;
    assert_int_equal(zone.store.insert(token(100001), "filler", "read", 1, kNow, kHourLater, kNow,
                                       retry_after, TokenStore::kNoClientCap),
                     InsertResult::full);
    assert_int_equal(retry_after, 10);
}

void revoking_the_soonest_token_lengthens_the_retry_after(void **) {
    Zone zone;
    fill(zone.store);
    assert_int_equal(issue(zone.store, token(100000), "filler"), InsertResult::full);
    assert_true(zone.store.revoke(token(0), "filler"));
    assert_int_equal(issue(zone.store, token(100000), "filler"), InsertResult::ok);
    uint32_t retry_after = 0;
    assert_int_equal(zone.store.insert(token(100001), "filler", "read", 1, kNow, kHourLater, kNow,
                                       retry_after, TokenStore::kNoClientCap),
                     InsertResult::full);
    assert_int_equal(retry_after, 101);  // token 1 is now the soonest
}

void expired_tokens_are_reclaimed_a_few_per_insert(void **) {
    Zone zone;
    const size_t old_tokens = 400;
    for (size_t i = 0; i < old_tokens; ++i) {
        assert_int_equal(issue(zone.store, token(i), "old", kNow + 10), InsertResult::ok);
    }
    const uint32_t later = kNow + 20;
    assert_int_equal(issue(zone.store, token(100000), "new", kHourLater, later), InsertResult::ok);
    assert_in_range(zone.store.live_tokens(), old_tokens + 1 - 8, old_tokens + 1);
    // Each insert looks at 8 slots, and a deleted entry's slot is looked at again.
    size_t max_slots = (zone.store.capacity() + 1) * 8 / 7 + 1;
    size_t inserts = (max_slots + old_tokens) / 8 + 1;
    for (size_t n = 1; n < inserts; ++n) {
        assert_int_equal(issue(zone.store, token(100000 + n), "new", kHourLater, later),
                         InsertResult::ok);
    }
    assert_int_equal(zone.store.live_tokens(), inserts);
}

void ten_thousand_tokens_are_all_found(void **) {
    Zone zone(1024 * 1024);
    for (int i = 0; i < 10000; ++i) {
        std::string client = "client-" + std::to_string(i % 10);
        assert_int_equal(issue(zone.store, token(i), client), InsertResult::ok);
    }
    assert_int_equal(zone.store.live_tokens(), 10000);
    for (int i = 0; i < 10000; ++i) {
        assert_text(found_client(zone.store, token(i)), "client-" + std::to_string(i % 10));
    }
}

void sixteen_mebibytes_hold_over_two_hundred_thousand_tokens(void **) {
    Zone zone(16 * 1024 * 1024);
    assert_true(zone.store.capacity() > 200000);
}

// Gives distinct clients one token each until the store refuses, and answers
// how many got one. Tokens expire at kNow + 50 + the client's number.
size_t fill_with_distinct_clients(TokenStore &store, std::string_view list = "read write") {
    for (size_t client = 0;; ++client) {
        uint32_t retry_after = 0;
        InsertResult result =
            store.insert(token(client), "client-" + std::to_string(client), list, 1, kNow,
                         kNow + 50 + client, kNow, retry_after, TokenStore::kNoClientCap);
        if (result != InsertResult::ok) {
            assert_int_equal(result, InsertResult::full);
            return client;
        }
    }
}

// How many lone tokens of distinct clients an empty store holds.
size_t distinct_clients_of_a_fresh_zone() {
    Zone fresh;
    return fill_with_distinct_clients(fresh.store);
}

// Each client-N (at most 23 bytes with "read write") takes a token, a head and one text entry.
constexpr size_t kEntriesPerLoneToken = 3;

void zone_holds_one_token_per_distinct_client_up_to_its_capacity(void **) {
    Zone zone(1024 * 1024);
    size_t clients = fill_with_distinct_clients(zone.store);
    assert_int_equal(TokenStore::entries_for_client("client-99999", "read write"), 2);
    assert_int_equal(clients, zone.store.capacity() / kEntriesPerLoneToken);
    assert_true(clients > 4000);
    for (size_t client = 0; client < clients; ++client) {
        assert_text(found_client(zone.store, token(client)), "client-" + std::to_string(client));
    }
}

void tokens_of_one_client_share_its_record(void **) {
    Zone zone;
    for (size_t i = 0; i < room_for_one_client(zone.store, "reporting"); ++i) {
        assert_int_equal(issue(zone.store, token(i), "reporting"), InsertResult::ok);
    }
    assert_int_equal(zone.store.live_tokens(), room_for_one_client(zone.store, "reporting"));
    assert_int_equal(issue(zone.store, token(100000), "reporting"), InsertResult::full);
}

void client_beyond_the_capacity_waits_for_the_soonest_expiry(void **) {
    Zone zone;
    size_t clients = fill_with_distinct_clients(zone.store);
    uint32_t retry_after = 0;
    assert_int_equal(zone.store.insert(token(100000), "newcomer", "read", 1, kNow, kHourLater, kNow,
                                       retry_after),
                     InsertResult::full);
    assert_int_equal(retry_after, 50);
    assert_int_equal(issue(zone.store, token(100000), "newcomer", kHourLater, kNow + 50),
                     InsertResult::ok);
    assert_false(is_live(zone.store, token(0), kNow + 50));
    assert_int_equal(zone.store.live_tokens(), clients);
}

void client_record_is_freed_with_its_last_token(void **) {
    Zone zone;
    size_t clients = fill_with_distinct_clients(zone.store);
    size_t left_over = zone.store.capacity() - clients * kEntriesPerLoneToken;
    assert_true(zone.store.revoke(token(3), "client-3"));  // room for a token and a record
    assert_int_equal(issue(zone.store, token(100000), "newcomer"), InsertResult::ok);
    assert_text(found_client(zone.store, token(100000)), "newcomer");
    for (size_t client = 0; client < clients; ++client) {
        assert_int_equal(is_live(zone.store, token(client)), client != 3);
    }
    for (size_t n = 1; n <= left_over; ++n) {
        assert_int_equal(issue(zone.store, token(100000 + n), "newcomer"), InsertResult::ok);
    }
    assert_int_equal(issue(zone.store, token(200000), "newcomer"), InsertResult::full);
}

void clients_come_and_go_beyond_the_capacity(void **) {
    Zone zone;
    assert_int_equal(issue(zone.store, token(0), "steady", kForever), InsertResult::ok);
    for (uint32_t round = 0; round < 2000; ++round) {
        uint32_t now = kNow + 10 * round;
        std::string client = "client-" + std::to_string(round);
        for (uint32_t i = 1; i <= 20; ++i) {
            assert_int_equal(issue(zone.store, token(round * 100 + i), client, now + 5, now),
                             InsertResult::ok);
        }
        assert_text(found_client(zone.store, token(round * 100 + 1), now), client);
        assert_text(found_client(zone.store, token(0), now), "steady");
    }
}

// Tokens issued under a client's list and then, after a reload, under a
// changed list: how many distinct clients still fit after them.
size_t clients_fitting_after_a_reload(std::string_view list_after) {
    Zone zone;
    for (size_t i = 0; i < 100; ++i) {
        std::string client = "old-" + std::to_string(i);
        uint32_t retry_after = 0;
        assert_int_equal(zone.store.insert(token(500000 + i), client, "read", 1, kNow, kHourLater,
                                           kNow, retry_after, TokenStore::kNoClientCap),
                         InsertResult::ok);
        assert_int_equal(zone.store.insert(token(600000 + i), client, list_after, 0b11, kNow,
                                           kHourLater, kNow, retry_after, TokenStore::kNoClientCap),
                         InsertResult::ok);
    }
    return fill_with_distinct_clients(zone.store);
}

void changed_scope_list_does_not_halve_any_limit(void **) {
    assert_int_equal(clients_fitting_after_a_reload("write read"),
                     clients_fitting_after_a_reload("read write"));
    Zone zone;
    uint32_t retry_after = 0;
    assert_int_equal(
        zone.store.insert(token(1), "app", "read", 1, kNow, kHourLater, kNow, retry_after, 1),
        InsertResult::ok);
    assert_int_equal(zone.store.insert(token(2), "app", "write read", 0b10, kNow, kHourLater, kNow,
                                       retry_after, 1),
                     InsertResult::client_at_cap);  // one cap per client, whatever its lists
}

void changed_scope_list_keeps_every_tokens_scopes(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    assert_int_equal(
        zone.store.insert(token(1), "app", "a b", 0b10, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    assert_int_equal(
        zone.store.insert(token(2), "app", "c b", 0b11, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    assert_int_equal(
        zone.store.insert(token(3), "app", "c", 0b1, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(1), kNow, grant));
    assert_text(grant.scopes(), "b");
    assert_true(zone.store.find(token(2), kNow, grant));
    assert_text(grant.scopes(), "b c");  // in the order the client was first granted them
    assert_true(zone.store.find(token(3), kNow, grant));
    assert_text(grant.scopes(), "c");
}

std::string names(const char *prefix, int count) {
    std::string list;
    for (int i = 0; i < count; ++i) {
        list += (i ? " " : "") + std::string(prefix) + std::to_string(i);
    }
    return list;
}

void dictionary_past_64_names_is_refused_while_tokens_point_at_it(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    std::string before = names("s", 64);
    std::string after = "new " + names("s", 63);
    assert_int_equal(
        zone.store.insert(token(1), "app", before, 1, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    // Granted only names it knows: the token fits, whatever else the list holds.
    assert_int_equal(
        zone.store.insert(token(2), "app", after, 0b10, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    assert_int_equal(
        zone.store.insert(token(3), "app", after, 0b1, kNow, kHourLater, kNow, retry_after),
        InsertResult::dictionary_overflow);
    TokenGrant grant;
    assert_true(zone.store.find(token(2), kNow, grant));
    assert_text(grant.scopes(), "s0");
    assert_true(zone.store.revoke(token(1), "app"));
    assert_true(zone.store.revoke(token(2), "app"));
    assert_int_equal(
        zone.store.insert(token(3), "app", after, 0b1, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);  // a new record, with the new list
    assert_true(zone.store.find(token(3), kNow, grant));
    assert_text(grant.scopes(), "new");
}

void client_at_its_cap_waits_for_its_soonest_token(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    for (uint32_t i = 0; i < 3; ++i) {
        assert_int_equal(
            issue_capped(zone.store, token(i), "greedy", 3, retry_after, kNow + 50 + i),
            InsertResult::ok);
    }
    assert_int_equal(issue_capped(zone.store, token(10), "greedy", 3, retry_after),
                     InsertResult::client_at_cap);
    assert_int_equal(retry_after, 50);
    assert_int_equal(
        issue_capped(zone.store, token(10), "greedy", 3, retry_after, kHourLater, kNow + 49),
        InsertResult::client_at_cap);
    assert_int_equal(retry_after, 1);
    assert_int_equal(
        issue_capped(zone.store, token(10), "greedy", 3, retry_after, kHourLater, kNow + 50),
        InsertResult::ok);  // token 0 expired and was reclaimed
    assert_false(is_live(zone.store, token(0), kNow + 50));
    assert_int_equal(
        issue_capped(zone.store, token(11), "greedy", 3, retry_after, kHourLater, kNow + 50),
        InsertResult::client_at_cap);
    assert_int_equal(retry_after, 1);  // token 1 expires at kNow + 51
    assert_true(zone.store.revoke(token(2), "greedy"));
    assert_int_equal(
        issue_capped(zone.store, token(11), "greedy", 3, retry_after, kHourLater, kNow + 50),
        InsertResult::ok);
}

void other_clients_are_served_while_one_is_at_its_cap(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    size_t greedy = 0;
    while (zone.store.insert(token(greedy), "greedy", "read write", 1, kNow, kHourLater, kNow,
                             retry_after) == InsertResult::ok) {
        ++greedy;
    }
    assert_int_equal(greedy, zone.store.capacity() / 4);  // the default cap
    assert_int_equal(retry_after, 3600);
    for (size_t i = 0; i < 2 * greedy; ++i) {
        std::string client = "modest-" + std::to_string(i % 50);
        assert_int_equal(zone.store.insert(token(100000 + i), client, "read", 1, kNow, kHourLater,
                                           kNow, retry_after),
                         InsertResult::ok);
    }
    assert_int_equal(zone.store.insert(token(greedy), "greedy", "read write", 1, kNow, kHourLater,
                                       kNow, retry_after),
                     InsertResult::client_at_cap);
}

void cap_refusals_sweep_once_per_soonest_expiry(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    assert_int_equal(issue_capped(zone.store, token(1), "greedy", 1, retry_after, kNow + 10),
                     InsertResult::ok);
    // An expired token of another client, which a sweep would reclaim.
    assert_int_equal(issue(zone.store, token(2), "other", kNow + 1), InsertResult::ok);
    assert_int_equal(
        issue_capped(zone.store, token(3), "greedy", 1, retry_after, kHourLater, kNow + 5),
        InsertResult::client_at_cap);
    assert_int_equal(retry_after, 5);
    assert_int_equal(zone.store.live_tokens(), 2);  // its soonest expiry was known: no sweep
}

struct Visited {
    std::map<std::string, std::string> tokens;  // digest bytes -> "client:scopes"
    std::map<std::string, std::pair<size_t, size_t>> clients;
};

void visit_token(void *context, const Digest &digest, const TokenGrant &grant) {
    static_cast<Visited *>(context)->tokens[std::string(digest.begin(), digest.end())] =
        std::string(grant.client()) + ":" + std::string(grant.scopes());
}

void visit_client(void *context, std::string_view client, size_t tokens, size_t cap) {
    static_cast<Visited *>(context)->clients[std::string(client)] = {tokens, cap};
}

std::string key_of(const Digest &digest) {
    return std::string(digest.begin(), digest.end());
}

void visit_live_copies_each_live_token(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    assert_int_equal(
        zone.store.insert(token(1), "app", "read write", 0b10, kNow, kHourLater, kNow, retry_after),
        InsertResult::ok);
    assert_int_equal(
        zone.store.insert(token(2), "billing", "pay", 1, kNow, kHourLater, kNow, retry_after, 7),
        InsertResult::ok);
    assert_int_equal(issue(zone.store, token(3), "app", kNow + 5), InsertResult::ok);
    Visited visited;
    zone.store.visit_live(kNow + 5, visit_token, &visited);
    assert_int_equal(visited.tokens.size(), 2);
    assert_text(visited.tokens[key_of(token(1))], "app:write");
    assert_text(visited.tokens[key_of(token(2))], "billing:pay");
    zone.store.visit_clients(visit_client, &visited);
    assert_int_equal(visited.clients.size(), 2);
    assert_int_equal(visited.clients["app"].first, 2);  // the expired one is not reclaimed yet
    assert_int_equal(visited.clients["app"].second, TokenStore::kNoClientCap);
    assert_int_equal(visited.clients["billing"].first, 1);
    assert_int_equal(visited.clients["billing"].second, 7);
}

void capacity_for_a_size_is_the_capacity_of_a_store_that_size(void **) {
    for (size_t size : {kSmall, size_t{1024 * 1024}, size_t{3 * 1024 * 1024 + 4096}}) {
        Zone zone(size);
        assert_int_equal(TokenStore::capacity_for(size), zone.store.capacity());
    }
    assert_int_equal(TokenStore::capacity_for(kSmall - 1), 0);
}

// Random inserts, revokes (some by the wrong client) and time passing, with
// tokens crowded onto few home slots, checked against a plain map.
void deletions_keep_every_other_token_findable(void **) {
    Zone zone;
    TokenStore &store = zone.store;
    struct Issued {
        std::string client;
        uint32_t expires_at;
    };
    constexpr uint64_t kTokens = 3000;
    std::map<uint64_t, Issued> model;
    std::mt19937_64 random(7);
    uint32_t now = kNow;
    size_t refusals = 0;
    for (int op = 1; op <= 40000; ++op) {
        uint64_t id = random() % kTokens;
        Digest digest = clustered_token(id, 48);
        auto issued = model.find(id);
        unsigned action = random() % 100;
        if (action < 4) {
            now += 1 + random() % 3;
            for (auto it = model.begin(); it != model.end();) {
                it = it->second.expires_at <= now ? model.erase(it) : std::next(it);
            }
        } else if (issued == model.end()) {
            std::string client = "client-" + std::to_string(id % 4);
            uint32_t expires_at = now + 1 + random() % 400;
            uint32_t retry_after = 0;
            InsertResult result = store.insert(digest, client, "read write", 1, now, expires_at,
                                               now, retry_after, TokenStore::kNoClientCap);
            std::set<std::string> clients{client};
            for (const auto &[other, token] : model) {
                clients.insert(token.client);
            }
            // Each client holding tokens has a record: a head and one text entry.
            if (model.size() + 1 + 2 * clients.size() <= store.capacity()) {
                assert_int_equal(result, InsertResult::ok);
                model[id] = {client, expires_at};
            } else {
                assert_int_equal(result, InsertResult::full);
                uint32_t soonest = UINT32_MAX;
                for (const auto &[other, token] : model) {
                    soonest = std::min(soonest, token.expires_at);
                }
                assert_int_equal(retry_after, soonest - now);
                ++refusals;
            }
        } else if (action < 60) {
            bool by_owner = random() % 8 != 0;
            assert_int_equal(store.revoke(digest, by_owner ? issued->second.client : "client-x"),
                             by_owner);
            if (by_owner) {
                model.erase(issued);
            }
        }
        if (op % 500 == 0) {
            for (uint64_t n = 0; n < kTokens; ++n) {
                auto it = model.find(n);
                assert_text(found_client(store, clustered_token(n, 48), now),
                            it == model.end() ? "(not found)" : it->second.client);
            }
        }
    }
    assert_true(refusals > 0);
}

struct SharedZone {
    SharedZone(size_t size) : size(size), memory(map_shared(size + sizeof(SpinLock))) {
        assert_true(TokenStore::format(memory, size));
        lock = new (static_cast<char *>(memory) + size) SpinLock;
    }
    ~SharedZone() { munmap(memory, size + sizeof(SpinLock)); }

    TokenStore store() { return TokenStore(memory, store_lock(*lock)); }

    size_t size;
    void *memory;
    SpinLock *lock;
};

// Runs `change` in a child to whom the region is read-only from `writable_end`
// on: its first write there kills it, in the middle of the change and holding
// the lock, as a killed nginx worker would die.
constexpr int kDiedMidChange = 42;

template <typename Change>
void die_mid_change(SharedZone &zone, size_t writable_end, Change change) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sigaction action = {};
        action.sa_handler = [](int) { _exit(kDiedMidChange); };
        sigaction(SIGSEGV, &action, nullptr);
        char *region = static_cast<char *>(zone.memory);
        mprotect(region + writable_end, zone.size - writable_end, PROT_READ);
        TokenStore store = zone.store();
        change(store);
        _exit(0);
    }
    int status = wait_for(pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), kDiedMidChange);
    unlock_for_dead_owner(*zone.lock);
}

// The store's header lies in the first page, with the first entries; an
// insert whose entries lie past it dies after it made the sequence counter odd.
void die_mid_insert(SharedZone &zone, const Digest &digest, std::string_view client) {
    die_mid_change(zone, sysconf(_SC_PAGESIZE),
                   [&](TokenStore &store) { issue(store, digest, client); });
}

void find_takes_the_lock_after_a_writer_died_mid_change(void **) {
    SharedZone zone(kSmall);
    TokenStore store = zone.store();
    assert_int_equal(issue(store, token(1), "reporting"), InsertResult::ok);
    die_mid_insert(zone, token(2), "reporting");
    uint32_t locked = zone.lock->acquisitions;
    assert_text(found_client(store, token(1)), "reporting");
    assert_int_equal(zone.lock->acquisitions, locked + 1);
    assert_false(is_live(store, token(2)));
}

void next_writer_repairs_what_a_dead_writer_left(void **) {
    size_t records = distinct_clients_of_a_fresh_zone();
    for (int n = 0; n < 8; ++n) {
        SharedZone zone(kSmall);
        TokenStore store = zone.store();
        std::string client = "dying-" + std::to_string(n);
        assert_int_equal(issue(store, token(1001), client), InsertResult::ok);
        die_mid_insert(zone, token(1002), client);
        assert_int_equal(issue(store, token(1003), client), InsertResult::ok);
        uint32_t locked = zone.lock->acquisitions;
        assert_text(found_client(store, token(1001)), client);
        assert_text(found_client(store, token(1003)), client);
        assert_false(is_live(store, token(1002)));
        assert_int_equal(zone.lock->acquisitions, locked);  // found without the lock again
        assert_int_equal(store.live_tokens(), 2);
        assert_true(store.revoke(token(1001), client));
        assert_true(store.revoke(token(1003), client));
        assert_int_equal(store.live_tokens(), 0);
        assert_int_equal(fill_with_distinct_clients(store), records);
    }
}

// Where `bytes` lie in the region (a copy of it, or the region itself).
size_t offset_of(const void *region, size_t size, const void *bytes, size_t length) {
    const void *found = memmem(region, size, bytes, length);
    assert_non_null(found);
    return static_cast<const char *>(found) - static_cast<const char *>(region);
}

// Tries the inserts insert(store, n) on copies of the zone until one writes
// what `written_first` finds (its offset in the copy) on a page before its
// token's, then runs that insert in a writer that dies at its token's page,
// between the two. Answers that n, -1 when none of `tries` did.
template <typename Insert, typename Offset>
int die_before_the_token(SharedZone &zone, int tries, Insert insert, Offset written_first) {
    const size_t page = sysconf(_SC_PAGESIZE);
    for (int n = 0; n < tries; ++n) {
        std::vector<uint64_t> scratch(zone.size / sizeof(uint64_t));
        std::memcpy(scratch.data(), zone.memory, zone.size);
        SpinLock lock;
        TokenStore copy(scratch.data(), store_lock(lock));
        insert(copy, n);
        Digest digest = token(2000 + n);
        size_t token_page =
            offset_of(scratch.data(), zone.size, digest.data(), digest.size()) / page * page;
        if (written_first(scratch.data(), n) < token_page) {
            die_mid_change(zone, token_page, [&](TokenStore &dying) { insert(dying, n); });
            return n;
        }
    }
    return -1;
}

// A writer that dies after it wrote a new client's record, before the token
// that would point at it: the next writer drops the record.
void repair_drops_a_client_record_no_token_points_at(void **) {
    size_t clients = distinct_clients_of_a_fresh_zone();
    SharedZone zone(kSmall);
    TokenStore store = zone.store();
    assert_int_equal(issue(store, token(1), "steady"), InsertResult::ok);
    auto client = [](int n) { return "newcomer-" + std::to_string(n); };
    int died = die_before_the_token(
        zone, 1000,
        [&](TokenStore &into, int n) {
            assert_int_equal(issue(into, token(2000 + n), client(n)), InsertResult::ok);
        },
        [&](const void *copy, int n) {
            std::string id = client(n);
            return offset_of(copy, zone.size, id.data(), id.size());
        });
    assert_true(died >= 0);
    assert_false(is_live(store, token(2000 + died)));
    assert_text(found_client(store, token(1)), "steady");
    assert_int_equal(store.live_tokens(), 1);
    assert_true(store.revoke(token(1), "steady"));
    assert_int_equal(fill_with_distinct_clients(store), clients);
}

// Where the region holds `digest`. Token entries are 64-byte slots, 64-byte
// aligned from the region's start, that hold the digest as it is.
size_t digest_offset(const SharedZone &zone, const Digest &digest) {
    const char *region = static_cast<const char *>(zone.memory);
    const void *found = memmem(region, zone.size, digest.data(), digest.size());
    assert_non_null(found);
    return static_cast<const char *>(found) - region;
}

void repair_drops_the_copy_a_writer_left_mid_shift(void **) {
    SharedZone zone(kSmall);
    TokenStore store = zone.store();
    const size_t tokens = room_for_one_client(store, "reporting");
    std::vector<size_t> offsets(tokens);
    for (size_t i = 0; i < tokens; ++i) {
        assert_int_equal(issue(store, clustered_token(i, 32), "reporting"), InsertResult::ok);
    }
    for (size_t i = 0; i < tokens; ++i) {
        offsets[i] = digest_offset(zone, clustered_token(i, 32));
    }
    // Look, in a copy of the region, for a token at the end of a page whose
    // revocation shifts back a token from the next page: a writer that may
    // write only up to that page dies with the shifted token in two slots.
    const size_t page = sysconf(_SC_PAGESIZE);
    const size_t first_page_of_slots =
        (*std::min_element(offsets.begin(), offsets.end()) / page + 1) * page;
    size_t revoked = tokens;
    size_t shifted = tokens;
    for (size_t i = 0; i < tokens && shifted == tokens; ++i) {
        size_t page_end = (offsets[i] / 64 + 1) * 64;
        if (page_end % page != 0 || page_end < first_page_of_slots + page) {
            continue;
        }
        std::vector<uint64_t> scratch(zone.size / sizeof(uint64_t));
        std::memcpy(scratch.data(), zone.memory, zone.size);
        SpinLock lock;
        assert_true(TokenStore(scratch.data(), store_lock(lock))
                        .revoke(clustered_token(i, 32), "reporting"));
        const char *copy = reinterpret_cast<const char *>(scratch.data());
        for (size_t j = 0; j < tokens; ++j) {
            Digest digest = clustered_token(j, 32);
            if (offsets[j] >= page_end && offsets[j] < page_end + page &&
                std::memcmp(copy + offsets[i] - offsets[i] % 64 + offsets[j] % 64, digest.data(),
                            digest.size()) == 0) {
                revoked = i;
                shifted = j;
            }
        }
        if (shifted != tokens) {
            die_mid_change(zone, page_end, [&](TokenStore &dying) {
                dying.revoke(clustered_token(revoked, 32), "reporting");
            });
        }
    }
    assert_true(shifted != tokens);
    for (size_t i = 0; i < tokens; ++i) {
        assert_int_equal(is_live(store, clustered_token(i, 32)), i != revoked);
    }
    assert_int_equal(store.live_tokens(), tokens - 1);
    assert_true(store.revoke(clustered_token(shifted, 32), "reporting"));
    assert_false(is_live(store, clustered_token(shifted, 32)));
    assert_int_equal(store.live_tokens(), tokens - 2);
}

// Killed at random moments, writers that insert and revoke crowded tokens
// leave behind every token they had finished inserting and none they had
// finished revoking, with the live count right.
constexpr uint32_t kPool = 1500;
enum TokenState : uint8_t { absent, inserting, present, revoking };

std::string pool_client(uint32_t id) {
    return "client-" + std::to_string(id % 5);
}
Digest pool_token(uint32_t id) {
    return clustered_token(id, 64);
}

[[noreturn]] void churn_until_killed(TokenStore &store, std::atomic<uint8_t> *states,
                                     uint64_t seed) {
    std::mt19937_64 random(seed);
    for (;;) {
        uint32_t id = random() % kPool;
        if (states[id] == absent) {
            states[id] = inserting;
            bool stored = issue(store, pool_token(id), pool_client(id)) == InsertResult::ok;
            states[id] = stored ? present : absent;
        } else {
            states[id] = revoking;
            store.revoke(pool_token(id), pool_client(id));
            states[id] = absent;
        }
    }
}

// ---- bound tokens (RFC 8705 §3, RFC 9449 §6): a binding entry beside the token

Digest thumbprint_of(uint64_t n) {
    return digest_token("thumbprint-" + std::to_string(n));
}

TokenBindings bound_to(bool certificate, bool key, uint64_t n = 1) {
    TokenBindings bindings;
    bindings.certificate = {certificate, thumbprint_of(n)};
    bindings.dpop = {key, thumbprint_of(n + 1000)};
    return bindings;
}

InsertResult issue_bound(TokenStore &store, const Digest &digest, std::string_view client,
                         const TokenBindings &bindings, uint32_t expires_at = kHourLater) {
    uint32_t retry_after = 0;
    return store.insert(digest, client, "read write", 0b11, kNow, expires_at, kNow, retry_after,
                        TokenStore::kNoClientCap, {}, bindings);
}

void bound_token_carries_its_thumbprints(void **) {
    Zone zone;
    assert_int_equal(issue_bound(zone.store, token(1), "app", bound_to(true, false, 1)),
                     InsertResult::ok);
    assert_int_equal(issue_bound(zone.store, token(2), "app", bound_to(false, true, 2)),
                     InsertResult::ok);
    assert_int_equal(issue_bound(zone.store, token(3), "app", bound_to(true, true, 3)),
                     InsertResult::ok);
    assert_int_equal(issue(zone.store, token(4), "app"), InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(1), kNow, grant));
    assert_true(grant.certificate.bound && grant.certificate.thumbprint == thumbprint_of(1));
    assert_false(grant.dpop.bound);
    assert_true(zone.store.find(token(2), kNow, grant));
    assert_false(grant.certificate.bound);
    assert_true(grant.dpop.bound && grant.dpop.thumbprint == thumbprint_of(1002));
    assert_true(zone.store.find(token(3), kNow, grant));
    assert_true(grant.certificate.bound && grant.certificate.thumbprint == thumbprint_of(3));
    assert_true(grant.dpop.bound && grant.dpop.thumbprint == thumbprint_of(1003));
    assert_true(zone.store.find(token(4), kNow, grant));
    assert_false(grant.certificate.bound || grant.dpop.bound);
    assert_text(grant.client(), "app");
    assert_int_equal(zone.store.live_tokens(), 4);
}

// Each binding takes an entry of the capacity, and gives it back with its
// token, revoked or expired.
void bindings_take_room_and_give_it_back(void **) {
    Zone zone;
    size_t room = room_for_one_client(zone.store, "bound");
    size_t fitted = 0;
    while (issue_bound(zone.store, token(10000 + fitted), "bound", bound_to(true, true, fitted),
                       kNow + 10) == InsertResult::ok) {
        ++fitted;
    }
    assert_int_equal(fitted, room / 3);
    for (size_t i = 0; i < fitted; ++i) {
        assert_true(zone.store.revoke(token(10000 + i), "bound"));
    }
    assert_int_equal(fill_with_distinct_clients(zone.store), distinct_clients_of_a_fresh_zone());

    Zone expiring;
    for (size_t i = 0; i < fitted; ++i) {
        assert_int_equal(issue_bound(expiring.store, token(10000 + i), "bound",
                                     bound_to(true, true, i), kNow + 10),
                         InsertResult::ok);
    }
    size_t after = 0;
    while (issue(expiring.store, token(20000 + after), "after", kNow + 60, kNow + 10) ==
           InsertResult::ok) {
        ++after;
    }
    assert_int_equal(after, room_for_one_client(expiring.store, "after"));
}

// A digest issued again replaces its token, bindings and all.
void a_digest_issued_again_drops_its_old_bindings(void **) {
    Zone zone;
    assert_int_equal(issue_bound(zone.store, token(1), "app", bound_to(true, true)),
                     InsertResult::ok);
    assert_int_equal(issue(zone.store, token(1), "app"), InsertResult::ok);
    TokenGrant grant;
    assert_true(zone.store.find(token(1), kNow, grant));
    assert_false(grant.certificate.bound || grant.dpop.bound);
    assert_true(zone.store.revoke(token(1), "app"));
    assert_int_equal(fill_with_distinct_clients(zone.store), distinct_clients_of_a_fresh_zone());
}

// The binding entry of `digest` and `thumbprint`: their first halves side by side.
size_t binding_offset(const void *region, size_t size, const Digest &digest,
                      const Digest &thumbprint) {
    uint8_t halves[32];
    std::memcpy(halves, digest.data(), 16);
    std::memcpy(halves + 16, thumbprint.data(), 16);
    return offset_of(region, size, halves, sizeof halves);
}

// A token that lost its binding is nobody's: never taken for a bearer token.
void a_bound_token_without_its_binding_is_not_found(void **) {
    Zone zone;
    assert_int_equal(issue_bound(zone.store, token(1), "app", bound_to(true, false)),
                     InsertResult::ok);
    assert_true(is_live(zone.store, token(1)));
    size_t at = binding_offset(zone.memory.data(), zone.memory.size() * sizeof(uint64_t), token(1),
                               thumbprint_of(1));
    reinterpret_cast<char *>(zone.memory.data())[at + 8] ^= 1;  // w[1]: no longer its token's
    assert_false(is_live(zone.store, token(1)));
}

// A writer that dies after it wrote a binding, before its token: the next
// writer drops the binding, and its room comes back.
void repair_drops_a_binding_without_its_token(void **) {
    size_t clients = distinct_clients_of_a_fresh_zone();
    SharedZone zone(kSmall);
    TokenStore store = zone.store();
    assert_int_equal(issue(store, token(1), "steady"), InsertResult::ok);
    int died = die_before_the_token(
        zone, 4000,
        [&](TokenStore &into, int n) {
            issue_bound(into, token(2000 + n), "steady", bound_to(true, false, n));
        },
        [&](const void *copy, int n) {
            return binding_offset(copy, zone.size, token(2000 + n), thumbprint_of(n));
        });
    assert_true(died >= 0);
    assert_false(is_live(store, token(2000 + died)));
    assert_text(found_client(store, token(1)), "steady");
    assert_true(store.revoke(token(1), "steady"));
    assert_int_equal(fill_with_distinct_clients(store), clients);
}

void killed_writers_lose_no_stored_token(void **) {
    SharedZone zone(kSmall);
    TokenStore store = zone.store();
    auto *states = static_cast<std::atomic<uint8_t> *>(map_shared(kPool));  // zeroed: absent
    std::mt19937_64 random(11);
    int died_mid_change = 0;
    for (int round = 0; round < 150; ++round) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            churn_until_killed(store, states, round);
        }
        usleep(random() % 3000);
        kill(pid, SIGKILL);
        wait_for(pid);
        unlock_for_dead_owner(*zone.lock);
        uint32_t locked = zone.lock->acquisitions;
        size_t live = 0;
        for (uint32_t id = 0; id < kPool; ++id) {
            std::string client = found_client(store, pool_token(id));
            bool found = client != "(not found)";
            if (states[id] == present || states[id] == absent) {
                assert_int_equal(found, states[id] == present);
            }
            states[id] = found ? present : absent;
            if (found) {
                assert_text(client, pool_client(id));
                ++live;
            }
        }
        died_mid_change += zone.lock->acquisitions != locked;
        assert_int_equal(store.live_tokens(), live);
    }
    assert_true(died_mid_change > 0);
    munmap(states, kPool);
}

// ---- visit_live: every live token, copied out without the lock ----------------

struct LiveCopies {
    std::map<std::string, std::string> by_client;  // client -> "scopes issued_at expires_at"
    std::vector<Digest> digests;
};

void remember_visit(void *context, const Digest &digest, const TokenGrant &grant) {
    auto *visited = static_cast<LiveCopies *>(context);
    visited->digests.push_back(digest);
    visited->by_client[std::string(grant.client())] = std::string(grant.scopes()) + " " +
                                                      std::to_string(grant.issued_at) + " " +
                                                      std::to_string(grant.expires_at);
}

void visit_live_copies_each_live_token_once(void **) {
    Zone zone;
    uint32_t retry_after = 0;
    assert_int_equal(zone.store.insert(token(1), "reporting", "read write admin", 0b101, kNow,
                                       kHourLater, kNow, retry_after),
                     InsertResult::ok);
    assert_int_equal(issue(zone.store, token(2), "short", kNow + 10), InsertResult::ok);
    assert_int_equal(issue(zone.store, token(3), "revoked"), InsertResult::ok);
    assert_int_equal(
        zone.store.insert(token(4), "bare", "read", 0, kNow - 5, kHourLater, kNow, retry_after),
        InsertResult::ok);
    assert_true(zone.store.revoke(token(3), "revoked"));
    uint32_t locked = zone.lock.acquisitions;

    LiveCopies visited;
    zone.store.visit_live(kNow + 10, remember_visit, &visited);  // token 2 expires then
    assert_int_equal(visited.digests.size(), 2);
    assert_int_equal(visited.by_client.size(), 2);
    assert_text(visited.by_client["reporting"],
                "read admin " + std::to_string(kNow) + " " + std::to_string(kHourLater));
    assert_text(visited.by_client["bare"],
                " " + std::to_string(kNow - 5) + " " + std::to_string(kHourLater));
    std::vector<Digest> expected = {token(1), token(4)};
    std::sort(visited.digests.begin(), visited.digests.end());
    std::sort(expected.begin(), expected.end());
    assert_true(visited.digests == expected);
    assert_int_equal(zone.lock.acquisitions, locked);
}

// A walk in ranges of a few slots, as the state writer spreads it over turns,
// sees exactly the tokens a whole walk sees, each once.
void visit_live_in_ranges_sees_what_a_whole_walk_sees(void **) {
    Zone zone;
    for (uint64_t n = 0; n < 300; ++n) {
        uint32_t expires_at = n % 5 == 0 ? kNow + 10 : kHourLater;  // some expired at the walk
        assert_int_equal(
            issue(zone.store, clustered_token(n, 40), "app" + std::to_string(n % 7), expires_at),
            InsertResult::ok);
    }
    LiveCopies whole;
    zone.store.visit_live(kNow + 10, remember_visit, &whole);
    LiveCopies ranged;
    uint32_t ranges = 0;
    for (uint32_t slot = 0; slot < zone.store.slot_count(); ++ranges) {
        uint32_t next = zone.store.visit_live(kNow + 10, slot, 7, remember_visit, &ranged);
        assert_true(next > slot && next <= slot + 7);
        slot = next;
    }
    assert_int_equal(ranges, (zone.store.slot_count() + 6) / 7);
    assert_int_equal(
        zone.store.visit_live(kNow + 10, zone.store.slot_count(), 7, remember_visit, &ranged),
        zone.store.slot_count());
    assert_int_equal(whole.digests.size(), 240);
    std::sort(whole.digests.begin(), whole.digests.end());
    std::sort(ranged.digests.begin(), ranged.digests.end());
    assert_true(ranged.digests == whole.digests);
    assert_true(ranged.by_client == whole.by_client);
}

// The scopes of a space-joined list, sorted: a set to compare.
std::string sorted_scopes(std::string_view scopes) {
    std::vector<std::string> names;
    for (size_t start = 0; start < scopes.size();) {
        size_t end = std::min(scopes.find(' ', start), scopes.size());
        names.emplace_back(scopes.substr(start, end - start));
        start = end + 1;
    }
    std::sort(names.begin(), names.end());
    std::string joined;
    for (const std::string &name : names) {
        joined += (joined.empty() ? "" : " ") + name;
    }
    return joined;
}

// The copy a reload makes into a resized zone: every token, re-inserted with
// its granted scopes and a mask of all of them, is found as it was.
void visit_live_feeds_an_insert_into_another_store(void **) {
    Zone from;
    for (uint64_t n = 0; n < 500; ++n) {
        uint32_t retry_after = 0;
        assert_int_equal(
            from.store.insert(token(n), "client-" + std::to_string(n % 2), "a b c d", n % 3 + 5,
                              kNow, kHourLater + n, kNow, retry_after, TokenStore::kNoClientCap),
            InsertResult::ok);
    }
    Zone to(2 * kSmall);
    struct Copy {
        TokenStore *store;
        size_t copied;
    } copy{&to.store, 0};
    from.store.visit_live(
        kNow,
        [](void *context, const Digest &digest, const TokenGrant &grant) {
            auto *c = static_cast<Copy *>(context);
            size_t scopes = grant.scopes().empty() ? 0 : 1;
            for (char ch : grant.scopes()) {
                scopes += ch == ' ';
            }
            uint32_t retry_after = 0;
            c->copied +=
                c->store->insert(digest, grant.client(), grant.scopes(),
                                 (uint64_t{1} << scopes) - 1, grant.issued_at, grant.expires_at,
                                 kNow, retry_after, TokenStore::kNoClientCap) == InsertResult::ok;
        },
        &copy);
    assert_int_equal(copy.copied, 500);
    for (uint64_t n = 0; n < 500; ++n) {
        TokenGrant was, is;
        assert_true(from.store.find(token(n), kNow, was));
        assert_true(to.store.find(token(n), kNow, is));
        assert_text(is.client(), was.client());
        // the same scopes; the new store lists them in the order it first saw them
        assert_text(sorted_scopes(is.scopes()), sorted_scopes(was.scopes()));
        assert_int_equal(is.expires_at, was.expires_at);
        assert_int_equal(is.issued_at, was.issued_at);
    }
}

// nginx's master copies a zone on reload while a worker may have died holding
// the lock: visit_live takes no lock and still sees every token.
void visit_live_reads_past_a_writer_that_died_holding_the_lock(void **) {
    SharedZone zone(kSmall);
    TokenStore store = zone.store();
    for (uint64_t n = 0; n < 20; ++n) {
        assert_int_equal(issue(store, token(n), "reporting"), InsertResult::ok);
    }
    die_mid_insert(zone, token(99), "reporting");
    zone.lock->held = 1;  // as if nobody had recovered it yet
    uint32_t locked = zone.lock->acquisitions;
    LiveCopies visited;
    store.visit_live(kNow, remember_visit, &visited);
    assert_int_equal(visited.digests.size(), 20);
    assert_int_equal(zone.lock->acquisitions, locked);
    unlock_for_dead_owner(*zone.lock);
}

// One process inserts, revokes and lets tokens expire, crowded onto the same
// home slots as a set of long-lived tokens, while two others look those up
// without a pause: they must always find them, whole, and whatever else they
// find must be whole too.
struct Race {
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> issued{0};
    std::atomic<uint64_t> writes{0};
    std::atomic<uint64_t> finds{0};
    std::atomic<uint64_t> failures{0};
};

constexpr uint32_t kPinned = 300;
constexpr unsigned kRaceHomes = 512;

Digest pinned_token(uint32_t i) {
    return clustered_token(1'000'000'000 + i, kRaceHomes);
}
std::string pinned_client(uint32_t i) {
    return "pinned-" + std::to_string(i % 2);
}
uint64_t pinned_mask(uint32_t i) {
    return i % 7 + 1;
}
std::string pinned_scopes(uint32_t i) {
    const char *scopes[] = {"",      "read",       "write",       "read write",
                            "admin", "read admin", "write admin", "read write admin"};
    return scopes[pinned_mask(i)];
}

Digest churn_token(uint64_t t) {
    return clustered_token(t, kRaceHomes);
}
std::string churn_client(uint64_t t) {
    return "churn-" + std::to_string(t / 250 % 40);
}
std::string churn_list(uint64_t t) {
    return "s" + std::to_string(t / 250 % 40) + " shared";
}
std::string churn_scopes(uint64_t t) {
    return t % 2 ? churn_list(t) : "s" + std::to_string(t / 250 % 40);
}

bool holds_whole(const TokenStore &store, const Digest &digest, std::string_view client,
                 std::string_view scopes) {
    TokenGrant grant;
    return store.find(digest, 0, grant) && grant.client() == client && grant.scopes() == scopes;
}

[[noreturn]] void write_for(TokenStore &store, Race &race, std::chrono::milliseconds duration) {
    auto deadline = std::chrono::steady_clock::now() + duration;
    std::mt19937_64 random(3);
    std::deque<uint64_t> issued;
    uint32_t now = kNow;
    for (uint64_t t = 0; std::chrono::steady_clock::now() < deadline; ++t) {
        uint32_t retry_after = 0;
        InsertResult result =
            store.insert(churn_token(t), churn_client(t), churn_list(t), t % 2 ? 0b11 : 0b01, now,
                         now + 1 + random() % 60, now, retry_after);
        race.issued = t + 1;
        if (result == InsertResult::ok) {
            issued.push_back(t);
        }
        if (result == InsertResult::full || issued.size() > 2800) {
            store.revoke(churn_token(issued.front()), churn_client(issued.front()));
            issued.pop_front();
        }
        now += t % 64 == 0;
        ++race.writes;
    }
    race.stop = true;
    _exit(0);
}

[[noreturn]] void read_until_stopped(const TokenStore &store, Race &race, uint64_t seed) {
    std::mt19937_64 random(seed);
    for (uint32_t i = 0; !race.stop; i = (i + 1) % kPinned) {
        if (!holds_whole(store, pinned_token(i), pinned_client(i), pinned_scopes(i))) {
            ++race.failures;
        }
        uint64_t issued = race.issued;
        uint64_t t = issued - std::min<uint64_t>(issued, random() % 4000);
        TokenGrant grant;
        if (store.find(churn_token(t), 0, grant) &&
            (grant.client() != churn_client(t) || grant.scopes() != churn_scopes(t))) {
            ++race.failures;
        }
        race.finds += 2;
    }
    _exit(0);
}

void readers_in_other_processes_always_find_live_tokens_whole(void **) {
    SharedZone zone(256 * 1024);
    TokenStore store = zone.store();
    auto *race = new (map_shared(sizeof(Race))) Race;
    for (uint32_t i = 0; i < kPinned; ++i) {
        uint32_t retry_after = 0;
        assert_int_equal(store.insert(pinned_token(i), pinned_client(i), "read write admin",
                                      pinned_mask(i), kNow, kForever, kNow, retry_after),
                         InsertResult::ok);
    }
    pid_t children[3];
    for (int n = 0; n < 3; ++n) {
        children[n] = fork();
        assert_true(children[n] >= 0);
        if (children[n] == 0) {
            if (n == 0) {
                write_for(store, *race, std::chrono::milliseconds(1500));
            }
            read_until_stopped(store, *race, n);
        }
    }
    for (pid_t child : children) {
        int status = wait_for(child);
        race->stop = true;  // should the writer have died early
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(race->failures, 0);
    assert_true(race->writes > 1000);
    assert_true(race->finds > 1000);
    for (uint32_t i = 0; i < kPinned; ++i) {
        assert_true(holds_whole(store, pinned_token(i), pinned_client(i), pinned_scopes(i)));
    }
    munmap(race, sizeof(Race));
}

struct VisitCheck {
    size_t visited = 0;
    size_t torn = 0;
};

// Every token visit_live copies while another process writes is whole: its
// client and scopes are those it was issued with.
void visit_live_copies_only_whole_tokens_while_another_process_writes(void **) {
    SharedZone zone(256 * 1024);
    TokenStore store = zone.store();
    auto *race = new (map_shared(sizeof(Race))) Race;
    for (uint32_t i = 0; i < kPinned; ++i) {
        uint32_t retry_after = 0;
        assert_int_equal(store.insert(pinned_token(i), pinned_client(i), "read write admin",
                                      pinned_mask(i), kNow, kForever, kNow, retry_after),
                         InsertResult::ok);
    }
    pid_t writer = fork();
    assert_true(writer >= 0);
    if (writer == 0) {
        write_for(store, *race, std::chrono::milliseconds(800));
    }
    VisitCheck check;
    while (!race->stop) {
        store.visit_live(
            0,
            [](void *context, const Digest &digest, const TokenGrant &grant) {
                auto *c = static_cast<VisitCheck *>(context);
                uint64_t n;
                std::memcpy(&n, digest.data() + 8, sizeof n);
                bool pinned = n >= 1'000'000'000;
                uint32_t i = static_cast<uint32_t>(n - 1'000'000'000);
                bool whole =
                    pinned
                        ? grant.client() == pinned_client(i) && grant.scopes() == pinned_scopes(i)
                        : grant.client() == churn_client(n) && grant.scopes() == churn_scopes(n);
                c->torn += !whole;
                ++c->visited;
            },
            &check);
    }
    int status = wait_for(writer);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(check.torn, 0);
    assert_true(check.visited > kPinned);
    assert_true(race->writes > 1000);
    munmap(race, sizeof(Race));
}
}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_refuses_a_region_below_the_minimum_size),
        cmocka_unit_test(format_refuses_a_misaligned_region),
        cmocka_unit_test(is_formatted_refuses_garbage),
        cmocka_unit_test(is_formatted_refuses_a_store_of_another_size),
        cmocka_unit_test(format_empties_a_used_store),
        cmocka_unit_test(found_token_carries_its_client_times_and_granted_scopes),
        cmocka_unit_test(granted_scopes_follow_the_mask_in_list_order),
        cmocka_unit_test(granted_scopes_reach_the_64th_scope_of_a_list),
        cmocka_unit_test(same_client_with_another_scope_list_keeps_each_tokens_scopes),
        cmocka_unit_test(longest_client_id_and_scope_list_are_kept_whole),
        cmocka_unit_test(each_token_keeps_its_audience_across_resource_lists),
        cmocka_unit_test(a_full_audience_dictionary_refuses_only_new_names),
        cmocka_unit_test(unknown_digest_is_not_found),
        cmocka_unit_test(token_expires_at_its_expiry_second),
        cmocka_unit_test(token_expired_on_arrival_is_not_stored),
        cmocka_unit_test(digest_issued_again_replaces_its_token),
        cmocka_unit_test(bound_token_carries_its_thumbprints),
        cmocka_unit_test(bindings_take_room_and_give_it_back),
        cmocka_unit_test(a_digest_issued_again_drops_its_old_bindings),
        cmocka_unit_test(a_bound_token_without_its_binding_is_not_found),
        cmocka_unit_test(repair_drops_a_binding_without_its_token),
        cmocka_unit_test(revoke_by_its_client_removes_the_token),
        cmocka_unit_test(revoke_by_another_client_keeps_the_token),
        cmocka_unit_test(revoke_of_an_unknown_token_removes_nothing),
        cmocka_unit_test(store_is_read_at_another_address),
        cmocka_unit_test(full_store_holds_exactly_its_capacity),
        cmocka_unit_test(full_store_refuses_again_with_the_same_retry_after),
        cmocka_unit_test(full_store_admits_again_once_its_soonest_token_expires),
        cmocka_unit_test(revoked_token_makes_room_in_a_full_store_at_once),
        cmocka_unit_test(shorter_lived_token_shortens_the_retry_after),
        cmocka_unit_test(revoking_the_soonest_token_lengthens_the_retry_after),
        cmocka_unit_test(expired_tokens_are_reclaimed_a_few_per_insert),
        cmocka_unit_test(ten_thousand_tokens_are_all_found),
        cmocka_unit_test(sixteen_mebibytes_hold_over_two_hundred_thousand_tokens),
        cmocka_unit_test(zone_holds_one_token_per_distinct_client_up_to_its_capacity),
        cmocka_unit_test(tokens_of_one_client_share_its_record),
        cmocka_unit_test(client_beyond_the_capacity_waits_for_the_soonest_expiry),
        cmocka_unit_test(client_record_is_freed_with_its_last_token),
        cmocka_unit_test(clients_come_and_go_beyond_the_capacity),
        cmocka_unit_test(changed_scope_list_does_not_halve_any_limit),
        cmocka_unit_test(changed_scope_list_keeps_every_tokens_scopes),
        cmocka_unit_test(dictionary_past_64_names_is_refused_while_tokens_point_at_it),
        cmocka_unit_test(client_at_its_cap_waits_for_its_soonest_token),
        cmocka_unit_test(other_clients_are_served_while_one_is_at_its_cap),
        cmocka_unit_test(cap_refusals_sweep_once_per_soonest_expiry),
        cmocka_unit_test(visit_live_copies_each_live_token),
        cmocka_unit_test(capacity_for_a_size_is_the_capacity_of_a_store_that_size),
        cmocka_unit_test(deletions_keep_every_other_token_findable),
        cmocka_unit_test(find_takes_the_lock_after_a_writer_died_mid_change),
        cmocka_unit_test(next_writer_repairs_what_a_dead_writer_left),
        cmocka_unit_test(repair_drops_a_client_record_no_token_points_at),
        cmocka_unit_test(repair_drops_the_copy_a_writer_left_mid_shift),
        cmocka_unit_test(killed_writers_lose_no_stored_token),
        cmocka_unit_test(readers_in_other_processes_always_find_live_tokens_whole),
        cmocka_unit_test(visit_live_copies_each_live_token_once),
        cmocka_unit_test(visit_live_in_ranges_sees_what_a_whole_walk_sees),
        cmocka_unit_test(visit_live_feeds_an_insert_into_another_store),
        cmocka_unit_test(visit_live_reads_past_a_writer_that_died_holding_the_lock),
        cmocka_unit_test(visit_live_copies_only_whole_tokens_while_another_process_writes),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
