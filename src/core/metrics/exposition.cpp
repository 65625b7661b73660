#include "core/metrics/exposition.hpp"

#include <cstdint>
#include <optional>

namespace oauth::metrics {

namespace {

void append_family(std::string &out, std::string_view name, std::string_view type,
                   std::string_view help) {
    out.append("# HELP ").append(name).push_back(' ');
    out.append(help).push_back('\n');
    out.append("# TYPE ").append(name).push_back(' ');
    out.append(type).push_back('\n');
}

// One sample: name{zone="…"[,client="…"][,result="…"]} value
class Sample {
  public:
    Sample(std::string &out, std::string_view name, std::string_view zone) : out_(out) {
        out_.append(name).append("{zone=\"");
        append_label_value(out_, zone);
        out_.push_back('"');
    }

    Sample &label(std::string_view name, std::string_view value) {
        out_.push_back(',');
        out_.append(name).append("=\"");
        append_label_value(out_, value);
        out_.push_back('"');
        return *this;
    }

    void value(uint64_t v) { out_.append("} ").append(std::to_string(v)).push_back('\n'); }

  private:
    std::string &out_;
};

// A counter family labelled by zone and result.
template <size_t N>
void append_results(std::string &out, std::string_view name, std::string_view help,
                    const std::vector<ZoneMetrics> &zones, const std::string_view (&results)[N],
                    const uint64_t (Snapshot::*counts)[N]) {
    append_family(out, name, "counter", help);
    for (const ZoneMetrics &zone : zones) {
        for (size_t i = 0; i < N; ++i) {
            Sample(out, name, zone.zone)
                .label("result", results[i])
                .value((zone.counters.*counts)[i]);
        }
    }
}

void append_token_requests(std::string &out, const std::vector<ZoneMetrics> &zones) {
    constexpr std::string_view name = "oauth_token_requests_total";
    append_family(out, name, "counter",
                  "Token endpoint requests by client and result (issued or the error code); "
                  "client is empty for an unknown or missing client id.");
    for (const ZoneMetrics &zone : zones) {
        for (const Snapshot::Client &client : zone.counters.clients) {
            for (size_t i = 0; i < kTokenResultCount; ++i) {
                Sample(out, name, zone.zone)
                    .label("client", client.id)
                    .label("result", kTokenResults[i])
                    .value(client.token_requests[i]);
            }
        }
    }
}

void append_authentications(std::string &out, const std::vector<ZoneMetrics> &zones) {
    constexpr std::string_view name = "oauth_client_authentications_total";
    append_family(out, name, "counter",
                  "Client authentications at the token, introspection and revocation endpoints "
                  "by method and result (ok, failed, replayed: an assertion used before, "
                  "no_room: the replay cache full for that client, throttled).");
    for (const ZoneMetrics &zone : zones) {
        for (size_t method = 0; method < kAuthMethodCount; ++method) {
            for (size_t result = 0; result < kAuthResultCount; ++result) {
                Sample(out, name, zone.zone)
                    .label("method", kAuthMethods[method])
                    .label("result", kAuthResults[result])
                    .value(zone.counters.authentications[method][result]);
            }
        }
    }
}

void append_dpop_proofs(std::string &out, const std::vector<ZoneMetrics> &zones) {
    constexpr std::string_view name = "oauth_dpop_proofs_total";
    append_family(out, name, "counter",
                  "DPoP proofs (RFC 9449) checked at the token endpoint and the gate, by result "
                  "(ok, invalid, replayed: a proof used before, nonce: without the server's "
                  "current nonce, no_room: the replay cache full for that client).");
    for (const ZoneMetrics &zone : zones) {
        for (size_t place = 0; place < kDpopPlaceCount; ++place) {
            for (size_t result = 0; result < kDpopResultCount; ++result) {
                Sample(out, name, zone.zone)
                    .label("where", kDpopPlaces[place])
                    .label("result", kDpopResults[result])
                    .value(zone.counters.dpop_proofs[place][result]);
            }
        }
    }
}

void append_per_zone(std::string &out, std::string_view name, std::string_view type,
                     std::string_view help, const std::vector<ZoneMetrics> &zones,
                     uint64_t (*value)(const ZoneMetrics &)) {
    append_family(out, name, type, help);
    for (const ZoneMetrics &zone : zones) {
        Sample(out, name, zone.zone).value(value(zone));
    }
}

// A gauge family labelled by zone and client, one sample for each client
// holding tokens, but none where `value` has nothing to say.
void append_per_client(std::string &out, std::string_view name, std::string_view help,
                       const std::vector<ZoneMetrics> &zones,
                       std::optional<uint64_t> (*value)(const ClientTokens &)) {
    append_family(out, name, "gauge", help);
    for (const ZoneMetrics &zone : zones) {
        for (const ClientTokens &client : zone.clients) {
            if (std::optional<uint64_t> v = value(client)) {
                Sample(out, name, zone.zone).label("client", client.id).value(*v);
            }
        }
    }
}

// The fleet's gauges, for the zones of a fleet node only.
void append_fleet(std::string &out, const std::vector<ZoneMetrics> &zones) {
    bool any = false;
    for (const ZoneMetrics &zone : zones) {
        any = any || zone.fleet.has_value();
    }
    if (!any) {
        return;
    }
    struct Family {
        std::string_view name;
        std::string_view help;
        uint64_t (*value)(const FleetGauges &);
    };
    const Family families[] = {
        {"oauth_fleet_connected", "1 while this node's link to the fleet's Redis is up.",
         [](const FleetGauges &g) { return uint64_t(g.connected); }},
        {"oauth_fleet_pending_revocations",
         "Revocations made on this node that wait to be published to the fleet.",
         [](const FleetGauges &g) { return uint64_t(g.pending); }},
        {"oauth_fleet_last_sync_timestamp_seconds",
         "When this node's reader last heard from the fleet's Redis (Unix time; 0: never).",
         [](const FleetGauges &g) { return g.last_sync_seconds; }},
    };
    for (const Family &family : families) {
        append_family(out, family.name, "gauge", family.help);
        for (const ZoneMetrics &zone : zones) {
            if (zone.fleet) {
                Sample(out, family.name, zone.zone).value(family.value(*zone.fleet));
            }
        }
    }
}

}  // namespace

void append_label_value(std::string &out, std::string_view value) {
    for (char c : value) {
        switch (c) {
            case '\\':
                out.append("\\\\");
                break;
            case '"':
                out.append("\\\"");
                break;
            case '\n':
                out.append("\\n");
                break;
            default:
                out.push_back(c);
        }
    }
}

std::string render_trusted_keys(const std::vector<TrustedKeysGauges> &issuers) {
    std::string out;
    if (issuers.empty()) {
        return out;
    }
    auto sample = [&out](std::string_view name, const TrustedKeysGauges &issuer) -> std::string & {
        out.append(name).append("{issuer=\"");
        append_label_value(out, issuer.issuer);
        out.append("\",source=\"");
        append_label_value(out, issuer.source);
        out.push_back('"');
        return out;
    };
    constexpr std::string_view fetches = "oauth_trusted_key_fetches_total";
    append_family(out, fetches, "counter",
                  "Fetches of a trusted issuer's JWK Set by result: ok (a usable set), or failed "
                  "(the last good keys stay in service).");
    for (const TrustedKeysGauges &issuer : issuers) {
        sample(fetches, issuer).append(",result=\"ok\"} ");
        out.append(std::to_string(issuer.fetches_ok)).push_back('\n');
        sample(fetches, issuer).append(",result=\"failed\"} ");
        out.append(std::to_string(issuer.fetches_failed)).push_back('\n');
    }
    constexpr std::string_view success = "oauth_trusted_keys_last_success_timestamp_seconds";
    append_family(out, success, "gauge",
                  "When a trusted issuer's JWK Set was last fetched and found usable (Unix "
                  "time; 0: never).");
    for (const TrustedKeysGauges &issuer : issuers) {
        sample(success, issuer).append("} ");
        out.append(std::to_string(issuer.last_success_seconds)).push_back('\n');
    }
    return out;
}

std::string render_exposition(const std::vector<ZoneMetrics> &zones) {
    std::string out;
    append_token_requests(out, zones);
    append_per_zone(out, "oauth_token_zone_full_total", "counter",
                    "Token requests refused with 503 because the zone held only live tokens.",
                    zones, [](const ZoneMetrics &z) { return z.counters.zone_full; });
    append_results(out, "oauth_bearer_checks_total",
                   "Bearer token checks at protected locations by result.", zones, kBearerResults,
                   &Snapshot::bearer_checks);
    append_results(out, "oauth_introspection_requests_total",
                   "Introspection endpoint requests by result (active, inactive or the error "
                   "code).",
                   zones, kIntrospectionResults, &Snapshot::introspection_requests);
    append_results(out, "oauth_revocation_requests_total",
                   "Revocation endpoint requests by result (ok or the error code).", zones,
                   kRevocationResults, &Snapshot::revocation_requests);
    append_authentications(out, zones);
    append_dpop_proofs(out, zones);
    append_per_zone(out, "oauth_throttle_blocks_total", "counter",
                    "Client authentications refused with 429 by oauth_auth_failure_limit, "
                    "before any secret was checked.",
                    zones, [](const ZoneMetrics &z) { return z.counters.throttled; });
    append_per_zone(out, "oauth_zone_tokens", "gauge",
                    "Tokens held by the zone, including expired ones not yet reclaimed.", zones,
                    [](const ZoneMetrics &z) { return uint64_t(z.live_tokens); });
    append_per_zone(out, "oauth_zone_token_capacity", "gauge", "Tokens the zone can hold at once.",
                    zones, [](const ZoneMetrics &z) { return uint64_t(z.capacity); });
    append_per_client(out, "oauth_client_tokens",
                      "Tokens each client holds in the zone, including expired ones not yet "
                      "reclaimed; clients holding none are left out.",
                      zones,
                      [](const ClientTokens &c) { return std::optional<uint64_t>(c.tokens); });
    append_per_client(out, "oauth_client_token_cap",
                      "Live tokens each client may hold in the zone at once (its max_tokens, or "
                      "a quarter of the zone); left out for a client holding only restored, "
                      "uncapped tokens.",
                      zones, [](const ClientTokens &c) -> std::optional<uint64_t> {
                          if (c.cap == TokenStore::kNoClientCap) {
                              return std::nullopt;
                          }
                          return c.cap;
                      });
    append_fleet(out, zones);
    return out;
}

}  // namespace oauth::metrics
