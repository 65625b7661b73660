// Keys from a URL (SPEC "Trusted issuers as the IdPs publish them"): when a
// trusted issuer's JWK Set is fetched again, and by which worker. The record
// that every worker shares for one issuer, its state machine as plain
// functions on plain values, and the reading of what the IdP answers
// (Cache-Control, RFC 8414 / OpenID discovery). The glue (ngx/jwks_fetch.cpp)
// keeps the record in shared memory and calls these under its lock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oauth::jose {

// Bounds of the refresh schedule, in seconds.
constexpr uint32_t kDefaultRefresh = 3600;  // refresh= when not written
constexpr uint32_t kShortestRefresh = 60;   // what max-age may bring it down to
constexpr uint32_t kDemandInterval = 30;    // refetches an unknown kid may cause
constexpr uint32_t kFirstRetry = 5;         // after a first failure
constexpr uint32_t kLongestRetry = 300;     // back-off cap
constexpr uint32_t kFetchLease = 15;        // longer than a whole exchange may take

// What the workers share about one issuer's fetched keys.
struct FetchRecord {
    uint64_t version = 0;  // of the last good set, moved when it changes; 0: none yet
    uint32_t fetched_at = 0;
    uint32_t next_fetch_at = 0;  // 0: at once
    uint32_t lease_holder = 0;   // the pid that fetches now; 0: nobody
    uint32_t lease_until = 0;
    uint32_t failures = 0;     // in a row since the last success
    uint32_t demanded_at = 0;  // last refetch an unknown kid caused; 0: never
};

// Whether `self` should fetch now, taking the fetch lease when so: the time
// has come, and nobody else holds a lease that is still running.
// `holder_alive` says whether another holder's pid still runs.
bool take_fetch(FetchRecord &record, uint32_t self, uint32_t now, bool holder_alive) noexcept;

// A good set was stored: when to fetch again, from refresh= and max-age. A
// set `changed` from the last gets a new version, which the workers parse.
void fetch_succeeded(FetchRecord &record, uint32_t now, uint32_t refresh,
                     std::optional<uint32_t> max_age, bool changed) noexcept;

// A fetch failed: retry with back-off. True when this failure starts a
// streak, which is the one to log.
bool fetch_failed(FetchRecord &record, uint32_t now, uint32_t refresh) noexcept;

// A token named a kid the set lacks: fetch at once, unless an unknown kid
// did so within kDemandInterval. True when a fetch is coming: brought
// forward, or due already (the first fetch, one under way), which does not
// count against the interval.
bool demand_fetch(FetchRecord &record, uint32_t now) noexcept;

// Seconds to wait after `failures` failures in a row, capped by refresh.
uint32_t retry_delay(uint32_t failures, uint32_t refresh) noexcept;

// The seconds the next fetch comes after a success: refresh=, or max-age when
// sooner, never below kShortestRefresh.
uint32_t refresh_delay(uint32_t refresh, std::optional<uint32_t> max_age) noexcept;

// Cache-Control's max-age (RFC 9111 §5.2.2.1); none without one, with a
// malformed one, or with no-store / no-cache (fetch on the usual schedule).
std::optional<uint32_t> max_age(std::string_view cache_control) noexcept;

// The well-known URLs of an issuer's metadata, in the order tried: OpenID
// discovery, then RFC 8414 §3 (inserted between host and path).
std::string openid_configuration_url(std::string_view issuer);
std::string oauth_metadata_url(std::string_view issuer);

// A discovery document of `issuer`: its "issuer" must be exactly `issuer`
// and its "jwks_uri" an absolute http(s) URL, https when the issuer is.
// False, with `error`, otherwise.
bool read_discovery(std::string_view json, std::string_view issuer, std::string &jwks_uri,
                    std::string &error);

}  // namespace oauth::jose
