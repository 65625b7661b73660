// Metrics: counting each endpoint's answers in its zone, and the oauth_metrics
// location that shows every zone in Prometheus' text format.
#include "ngx/module.hpp"
#include "ngx/jwks_source.hpp"

#include <new>
#include <string>
#include <vector>

#include "core/metrics/exposition.hpp"

namespace oauth_ngx {

// ---- counting --------------------------------------------------------------

void countFormResponse(const EndpointConf &endpoint, const oauth::HttpResponse &response) {
    oauth::metrics::Counters counters = countersOf(endpoint.zone);
    switch (endpoint.kind) {
        case Endpoint::token:
            counters.count_token_response(response.outcome);
            break;
        case Endpoint::introspection:
            counters.count_introspection_response(response.outcome);
            break;
        case Endpoint::revocation:
            counters.count_revocation_response(response.outcome);
            break;
    }
}

void passedMark(void *) {}

namespace {

// An internal redirect (index, try_files, error_page) runs the access phase
// again and wipes the module's context, so a token that passed leaves a mark
// in the request's pool instead: its request is counted once.
bool passedBefore(ngx_http_request_t *r) {
    for (ngx_pool_cleanup_t *c = r->pool->cleanup; c != nullptr; c = c->next) {
        if (c->handler == passedMark && c->data == r) {
            return true;
        }
    }
    return false;
}

}  // namespace

void countBearerCheck(ngx_http_request_t *r, ngx_shm_zone_t *zone,
                      const oauth::BearerVerdict &verdict) {
    if (passedBefore(r)) {
        return;
    }
    if (verdict.status == 0) {
        ngx_pool_cleanup_t *mark = ngx_pool_cleanup_add(r->pool, 0);
        if (mark != nullptr) {
            mark->handler = passedMark;
            mark->data = r;
        }
    }
    countersOf(zone).count_bearer_check(verdict.result, verdict.dpop_result);
}

// ---- the oauth_metrics location ------------------------------------------------

namespace {

// What the zone of keys from a URL says of each source, read under its lock.
std::vector<oauth::metrics::TrustedKeysGauges> trustedKeysGauges(const MainConf &mcf) {
    std::vector<oauth::metrics::TrustedKeysGauges> gauges;
    if (mcf.jwks_sources == nullptr) {
        return gauges;
    }
    const JwksSources &sources = *mcf.jwks_sources;
    for (size_t i = 0; i < sources.list.size(); ++i) {
        const JwksSource &source = sources.list[i];
        oauth::metrics::TrustedKeysGauges one{
            source.issuer, source.discovery ? std::string_view("discovery") : source.url};
        lockJwksZone(sources);
        if (const SharedSource *shared = sharedSource(sources, i)) {
            one.fetches_ok = shared->fetches_ok;
            one.fetches_failed = shared->fetches_failed;
            one.last_success_seconds = shared->record.fetched_at;
        }
        unlockJwksZone(sources);
        gauges.push_back(one);
    }
    return gauges;
}

std::string renderZones(ngx_http_request_t *r) {
    auto *mcf = static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
    std::vector<oauth::metrics::ZoneMetrics> zones;
    auto *zone = static_cast<Zone *>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; ++i) {
        oauth::TokenStore store = storeOf(zone[i].shm);
        zones.push_back({view(zone[i].name), countersOf(zone[i].shm).snapshot(),
                         store.live_tokens(), store.capacity(),
                         oauth::metrics::client_tokens_of(store), fleetGaugesOf(r, zone[i].shm)});
    }
    return oauth::metrics::render_exposition(zones) +
           oauth::metrics::render_trusted_keys(trustedKeysGauges(*mcf));
}

ngx_int_t sendExposition(ngx_http_request_t *r, const std::string &text) {
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = text.size();
    r->headers_out.content_type = ngxString(r->pool, oauth::metrics::kContentType);
    if (r->headers_out.content_type.data == nullptr ||
        addHeader(r, ngx_string("Cache-Control"), "no-store") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = nullptr;

    return sendHeaderAndBody(r, text);
}

ngx_int_t metricsHandler(ngx_http_request_t *r) {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    try {
        return sendExposition(r, renderZones(r));
    } catch (const std::bad_alloc &) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}

}  // namespace

char *setMetrics(ngx_conf_t *cf, ngx_command_t *, void *) {
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (clcf->handler != nullptr) {
        return const_cast<char *>("is duplicate, or the location has another content handler");
    }
    clcf->handler = metricsHandler;
    return NGX_CONF_OK;
}

}  // namespace oauth_ngx
