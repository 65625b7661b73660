// Metrics: the Prometheus text exposition format 0.0.4 of every zone's
// counters and gauges, for the oauth_metrics location.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics/counters.hpp"
#include "core/metrics/gauges.hpp"

namespace oauth::metrics {

constexpr std::string_view kContentType = "text/plain; version=0.0.4";

// A fleet node's link for one zone (oauth_fleet_redis).
struct FleetGauges {
    bool connected = false;
    size_t pending = 0;              // revocations waiting to be published
    uint64_t last_sync_seconds = 0;  // Unix time the reader last heard from Redis; 0: never
};

// What one zone shows: its counters, its fill and each client's share of it,
// read at the same moment.
struct ZoneMetrics {
    std::string_view zone;
    Snapshot counters;
    size_t live_tokens = 0;
    size_t capacity = 0;
    std::vector<ClientTokens> clients;  // by id
    std::optional<FleetGauges> fleet;   // none: no fleet
};

// Each family once, with its HELP and TYPE lines, and every zone's samples
// under it (the format wants a family's samples together).
std::string render_exposition(const std::vector<ZoneMetrics> &zones);

// A trusted issuer whose keys come from a URL (oauth_trust_issuer jwks_uri=
// or discovery): its fetches, as every worker shares them.
struct TrustedKeysGauges {
    std::string_view issuer;
    std::string_view source;  // the jwks_uri, or "discovery"
    uint64_t fetches_ok = 0;
    uint64_t fetches_failed = 0;
    uint64_t last_success_seconds = 0;  // Unix time; 0: never
};

// The families of keys from a URL; nothing when there are none. Bounded by
// the configuration: one set of samples per oauth_trust_issuer source.
std::string render_trusted_keys(const std::vector<TrustedKeysGauges> &issuers);

// `value` as a label value: backslash, double quote and line feed escaped.
void append_label_value(std::string &out, std::string_view value);

}  // namespace oauth::metrics
