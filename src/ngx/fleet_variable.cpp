// $oauth_fleet_synced and the fleet's gauges of a zone, for the metrics.
#include "ngx/fleet.hpp"

#include <optional>

namespace oauth_ngx {

namespace {

constexpr uint64_t kSyncedWithin = 3000;  // ms since the reader last heard Redis

}  // namespace

ngx_int_t fleetSyncedVariable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t) {
    static u_char one[] = "1";
    static u_char zero[] = "0";
    auto *mcf = static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
    bool synced = mcf->fleet != nullptr && mcf->zones.nelts > 0;
    uint64_t now = wallMs();
    Zone *zones = static_cast<Zone *>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts && synced; ++i) {
        uint64_t heard = fleetOf(zones[i].shm).heard_ms.load(std::memory_order_acquire);
        synced = heard != 0 && now < heard + kSyncedWithin;
    }
    v->data = synced ? one : zero;
    v->len = 1;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    return NGX_OK;
}

std::optional<oauth::metrics::FleetGauges> fleetGaugesOf(ngx_http_request_t *r,
                                                         ngx_shm_zone_t *zone) {
    auto *mcf = static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
    if (mcf->fleet == nullptr) {
        return std::nullopt;
    }
    FleetShared &fleet = fleetOf(zone);
    std::optional<oauth::fleet::Outbox> outbox = outboxOf(zone);
    return oauth::metrics::FleetGauges{fleet.connected.load(std::memory_order_acquire) == 1,
                                       outbox ? outbox->waiting() : 0,
                                       fleet.heard_ms.load(std::memory_order_acquire) / 1000};
}

}  // namespace oauth_ngx
