// Protected locations: the access-phase bearer check (RFC 6750).
#include "ngx/module.hpp"

namespace oauth_ngx {

// ---- protected locations -------------------------------------------------------

ngx_int_t rememberGrant(ngx_http_request_t *r, const oauth::TokenGrant &grant) {
    auto *ctx = static_cast<RequestContext *>(ngx_palloc(r->pool, sizeof(RequestContext)));
    if (ctx == nullptr) {
        return NGX_ERROR;
    }
    ctx->client_id = ngxString(r->pool, grant.client());
    ctx->scope = ngxString(r->pool, grant.scopes());
    if (ctx->client_id.data == nullptr || ctx->scope.data == nullptr) {
        return NGX_ERROR;
    }
    ctx->expires = ngx_str_t{0, nullptr};
    ctx->expires_at = grant.expires_at;
    ngx_http_set_ctx(r, ctx, ngx_http_oauth_module);
    return NGX_OK;
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
    oauth::BearerVerdict verdict = oauth::check_bearer(
        request, store, check->required, view(lcf->realm), uint32_t(ngx_time()), grant);
    countBearerCheck(r, check->zone, verdict);
    if (verdict.status == 0) {
        return rememberGrant(r, grant) == NGX_OK ? NGX_OK : NGX_HTTP_INTERNAL_SERVER_ERROR;
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
