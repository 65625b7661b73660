// Metrics: the counters of one token zone, laid over a memory region beside
// its tokens, and what each response adds to them.
//
// Every counter is a 64-bit atomic: a worker counts with one relaxed
// increment and no lock, and every process may map the region at its own
// address (no pointers inside). A reload reuses the region, so counters keep
// counting; a restart formats it, and they start from zero.
//
// Token requests are counted per client. A client's counters sit in a slot of
// an open-addressing table keyed by its id, found without a lock; only the
// first request of a client claims a slot, under the caller's lock. Only ids
// of registered clients ever reach the table (HttpResponse::Outcome::client),
// so the registry bounds it; anything else, and any client once the table is
// full, is counted under the empty id.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "core/http/http.hpp"
#include "core/registry.hpp"
#include "core/tokens/store_lock.hpp"

namespace oauth::metrics {

// The values of each family's `result` label, in the order they are
// rendered. A result the endpoint has no name for is counted as "other".
constexpr std::string_view kTokenResults[] = {"issued",
                                              "invalid_request",
                                              "invalid_client",
                                              "unauthorized_client",
                                              "invalid_scope",
                                              "invalid_target",
                                              "unsupported_grant_type",
                                              "server_error",
                                              "temporarily_unavailable",
                                              "other"};
constexpr std::string_view kIntrospectionResults[] = {"active",
                                                      "inactive",
                                                      "invalid_request",
                                                      "invalid_client",
                                                      "unauthorized_client",
                                                      "server_error",
                                                      "temporarily_unavailable",
                                                      "other"};
constexpr std::string_view kRevocationResults[] = {
    "ok", "invalid_request", "invalid_client", "server_error", "temporarily_unavailable", "other"};
constexpr std::string_view kBearerResults[] = {
    "ok",           "no_token", "invalid_request", "invalid_token", "insufficient_scope",
    "server_error", "other"};

// Client authentications at the three endpoints, by method (RFC 7591 §2,
// RFC 8705 §2; "other": a certificate presented for a client of a secret or
// an unknown one) and result: ok, failed, replayed (an assertion's jti seen
// before), no_room (the replay cache had no room for the client's
// assertion), throttled (blocked by oauth_auth_failure_limit before any check).
constexpr std::string_view kAuthMethods[] = {
    "client_secret_basic", "client_secret_post",          "private_key_jwt",
    "tls_client_auth",     "self_signed_tls_client_auth", "other"};
constexpr std::string_view kAuthResults[] = {"ok",      "failed",    "replayed",
                                             "no_room", "throttled", "other"};
// DPoP proofs (RFC 9449), where they were checked and how they fared: ok,
// invalid, replayed (a jti taken before), nonce (without the server's
// current nonce), no_room (the replay cache full for that client).
constexpr std::string_view kDpopPlaces[] = {"token_endpoint", "gate"};
constexpr std::string_view kDpopResults[] = {"ok",    "invalid", "replayed",
                                             "nonce", "no_room", "other"};
constexpr size_t kDpopPlaceCount = std::size(kDpopPlaces);
constexpr size_t kDpopResultCount = std::size(kDpopResults);

constexpr size_t kAuthMethodCount = std::size(kAuthMethods);
constexpr size_t kAuthResultCount = std::size(kAuthResults);

constexpr size_t kTokenResultCount = std::size(kTokenResults);
constexpr size_t kIntrospectionResultCount = std::size(kIntrospectionResults);
constexpr size_t kRevocationResultCount = std::size(kRevocationResults);
constexpr size_t kBearerResultCount = std::size(kBearerResults);

// A copy of a zone's counters, read without a lock, for rendering.
struct Snapshot {
    struct Client {
        std::string id;  // empty: unknown clients
        uint64_t token_requests[kTokenResultCount] = {};
    };
    std::vector<Client> clients;  // the empty id first, then by id
    uint64_t introspection_requests[kIntrospectionResultCount] = {};
    uint64_t revocation_requests[kRevocationResultCount] = {};
    uint64_t bearer_checks[kBearerResultCount] = {};
    uint64_t throttled = 0;  // refused with 429 by the brute-force throttle
    uint64_t zone_full = 0;  // token requests refused because the zone was full
    uint64_t authentications[kAuthMethodCount][kAuthResultCount] = {};
    uint64_t dpop_proofs[kDpopPlaceCount][kDpopResultCount] = {};
};

class Counters {
  public:
    static constexpr size_t kMinRegionSize = 8192;

    // Writes zeroed counters over `region`. False when `size` is too small.
    static bool format(void *region, size_t size) noexcept;

    // True when `region` holds counters written by format() of this version.
    static bool is_formatted(const void *region, size_t size) noexcept;

    Counters(void *region, StoreLock lock) noexcept;

    void count_token_response(const HttpResponse::Outcome &outcome) noexcept;
    void count_introspection_response(const HttpResponse::Outcome &outcome) noexcept;
    void count_revocation_response(const HttpResponse::Outcome &outcome) noexcept;
    // `dpop_result`: how the request's DPoP proof fared; empty: it had none.
    void count_bearer_check(std::string_view result, std::string_view dpop_result = {}) noexcept;

    Snapshot snapshot() const;

    size_t client_slots() const noexcept;  // distinct clients the table can tell apart

  private:
    struct Header;
    struct ClientSlot;

    ClientSlot *slots() const noexcept;  // slot_count of them, after the header

    ClientSlot *find_slot(std::string_view client) const noexcept;
    ClientSlot *claim_slot(std::string_view client) noexcept;
    ClientSlot &slot_of(std::string_view client) noexcept;
    void count_cause(HttpResponse::Outcome::Cause cause) noexcept;
    void count_authentication(const HttpResponse::Outcome &outcome) noexcept;
    void count_dpop_proof(size_t place, std::string_view result) noexcept;

    Header *header_;
    StoreLock lock_;
};

}  // namespace oauth::metrics
