// Protected locations: the access-phase bearer check (RFC 6750), of opaque
// tokens in the zone, of the server's own JWTs and of trusted issuers'.
#include "ngx/module.hpp"

namespace oauth_ngx {

// ---- protected locations -------------------------------------------------------

Jwts::Jwts(const ServerConf *scf, ngx_shm_zone_t *zone, const JwtSources &sources) {
    wire(scf, zone, sources);
}

// The gate takes trusted issuers' tokens as well as the server's own, with
// oauth_jwt_leeway for the skew of their clocks.
Jwts::Jwts(ngx_http_request_t *r, const LocationConf *lcf) {
    if (lcf->require_scope != nullptr) {
        wire(static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module)),
             lcf->require_scope->zone, {lcf->clients, lcf->trusted, uint32_t(lcf->jwt_leeway)});
    }
}

void Jwts::wire(const ServerConf *scf, ngx_shm_zone_t *zone, const JwtSources &sources) {
    bool own = scf->signing_keys != nullptr && scf->issuer.len != 0;
    if (!own && sources.trusted == nullptr) {
        return;
    }
    policy_.leeway = sources.leeway;
    policy_.trusted = sources.trusted;
    if (own) {
        policy_.own_issuer = view(scf->issuer);
        policy_.own_keys = &scf->signing_keys->keys;
        policy_.registry = sources.registry;
    }
    revocations_.emplace(revocationsOf(zone));
    policy_.revocations = &*revocations_;
    verifier_.emplace(policy_,
                      oauth::jose::VerdictCache(static_cast<ZoneRegions *>(zone->data)->verdicts,
                                                zoneLock(zone)));
}

// A protected location of a server that signs JWTs takes them too; they
// answer to the registry, so the location must see one.
char *checkOwnJwtGate(ngx_conf_t *cf, LocationConf *conf) {
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    ScopeCheckConf *check = conf->require_scope;
    if (check == nullptr || scf->signing_keys == nullptr || scf->issuer.len == 0 ||
        conf->clients != NGX_CONF_UNSET_PTR) {
        return NGX_CONF_OK;
    }
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "oauth_require_scope in a server with oauth_signing_key needs oauth_clients: "
                  "its JWTs answer to the registry, in %V:%ui",
                  &check->place.file, check->place.line);
    return static_cast<char *>(NGX_CONF_ERROR);
}

const oauth::Registry *registryOf(const LocationConf *lcf) {
    return lcf->clients == NGX_CONF_UNSET_PTR ? nullptr : lcf->clients;
}

ngx_int_t rememberGrant(ngx_http_request_t *r, const oauth::TokenGrant &grant,
                        oauth::jose::JwtVerifier *jwt) {
    auto *ctx = static_cast<RequestContext *>(ngx_pcalloc(r->pool, sizeof(RequestContext)));
    if (ctx == nullptr) {
        return NGX_ERROR;
    }
    ctx->client_id = ngxString(r->pool, grant.client());
    ctx->scope = ngxString(r->pool, grant.scopes());
    ctx->audience = ngxString(r->pool, grant.audiences());
    if (ctx->client_id.data == nullptr || ctx->scope.data == nullptr ||
        ctx->audience.data == nullptr) {
        return NGX_ERROR;
    }
    ctx->expires_at = grant.expires_at;
    if (jwt != nullptr && grant.expires_at != 0 && jwt->failure() == oauth::jose::JwtCheck::ok &&
        !jwt->claims().issuer.empty()) {
        ctx->issuer = ngxString(r->pool, jwt->claims().issuer);
        if (ctx->issuer.data == nullptr) {
            return NGX_ERROR;
        }
    }
    ngx_http_set_ctx(r, ctx, ngx_http_oauth_module);
    return keepClaims(r, ctx, grant, jwt);
}

namespace {

// The failed check, never the token: a client's mistake, logged at info.
void logRefusal(ngx_http_request_t *r, oauth::jose::JwtVerifier *jwt,
                const oauth::BearerVerdict &verdict) {
    std::string_view why = verdict.log_reason;
    const char *what = "access token";
    if (why.empty() && jwt != nullptr && jwt->failure() != oauth::jose::JwtCheck::ok) {
        why = oauth::jose::describe(jwt->failure());
        what = "JWT access token";
    }
    if (why.empty()) {
        return;
    }
    ngx_str_t text{why.size(), reinterpret_cast<u_char *>(const_cast<char *>(why.data()))};
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "oauth: %s refused: %V", what, &text);
}

ngx_int_t accessHandler(ngx_http_request_t *r) {
    auto *lcf = static_cast<LocationConf *>(ngx_http_get_module_loc_conf(r, ngx_http_oauth_module));
    ScopeCheckConf *check = lcf->require_scope;
    if (check == nullptr) {
        return NGX_DECLINED;
    }
    oauth::BearerRequest request{countAuthorizationHeaders(r),
                                 headerValue(r->headers_in.authorization)};
    oauth::TokenStore store = storeOf(check->zone);
    oauth::TokenGrant grant;
    Jwts jwts(r, lcf);
    oauth::BearerVerdict verdict =
        oauth::check_bearer(request, store, check->required, view(lcf->realm), uint32_t(ngx_time()),
                            grant, jwts.verifier(), {registryOf(lcf), lcf->require_audience});
    if (verdict.status == 0 && lcf->require_claims != nullptr) {
        verdict = checkRequiredClaims(r, lcf, grant, jwts.verifier());
    }
    countBearerCheck(r, check->zone, verdict);
    if (verdict.status == 0) {
        return rememberGrant(r, grant, jwts.verifier()) == NGX_OK ? NGX_OK
                                                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (verdict.status == NGX_HTTP_UNAUTHORIZED) {
        logRefusal(r, jwts.verifier(), verdict);
    }
    try {
        oauth::point_to_resource_metadata(verdict, resourceMetadataUrl(r));
    } catch (const std::bad_alloc &) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (verdict.challenge.empty()) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (addHeader(r, ngx_string("WWW-Authenticate"), verdict.challenge,
                  &r->headers_out.www_authenticate) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return verdict.status;
}

}  // namespace

// One access-phase handler for every location; it declines at once where
// oauth_require_scope is not set.
ngx_int_t registerAccessHandler(ngx_conf_t *cf) {
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto *h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == nullptr) {
        return NGX_ERROR;
    }
    *h = accessHandler;
    return NGX_OK;
}

}  // namespace oauth_ngx
