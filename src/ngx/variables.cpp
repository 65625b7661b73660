// $oauth_client_id, $oauth_scope, $oauth_token_expires, $oauth_issuer,
// $oauth_audience; $oauth_fleet_synced (fleet_variable.cpp).
#include "ngx/module.hpp"

namespace oauth_ngx {

// ---- variables ------------------------------------------------------------------

// The grant of a request in a protected location, looked up on first use:
// `if` and `set` run in the rewrite phase, before the access check.
RequestContext *grantOf(ngx_http_request_t *r) {
    auto *ctx = static_cast<RequestContext *>(ngx_http_get_module_ctx(r, ngx_http_oauth_module));
    if (ctx != nullptr) {
        return ctx;
    }
    auto *lcf = static_cast<LocationConf *>(ngx_http_get_module_loc_conf(r, ngx_http_oauth_module));
    oauth::TokenGrant grant;
    Jwts jwts(r, lcf);
    if (lcf->require_scope != nullptr) {
        oauth::Digest thumbprint;
        DpopRequest dpop;
        oauth::BearerRequest request =
            bearerRequestOf(r, lcf->require_scope->zone, thumbprint, dpop);
        if (!oauth::find_bearer_grant(request, storeOf(lcf->require_scope->zone),
                                      uint32_t(ngx_time()), grant, jwts.verifier(),
                                      registryOf(lcf))) {
            grant = oauth::TokenGrant();
        }
    }
    if (rememberGrant(r, grant, jwts.verifier()) != NGX_OK) {
        return nullptr;
    }
    return static_cast<RequestContext *>(ngx_http_get_module_ctx(r, ngx_http_oauth_module));
}

namespace {

// $oauth_token_expires costs a number formatting only where it is used.
ngx_int_t formatExpires(ngx_http_request_t *r, RequestContext *ctx) {
    if (ctx->expires.data != nullptr) {
        return NGX_OK;
    }
    ctx->expires.data = static_cast<u_char *>(ngx_pnalloc(r->pool, NGX_TIME_T_LEN));
    if (ctx->expires.data == nullptr) {
        return NGX_ERROR;
    }
    ctx->expires.len =
        ctx->expires_at == 0
            ? 0
            : ngx_sprintf(ctx->expires.data, "%T", ctx->expires_at) - ctx->expires.data;
    return NGX_OK;
}

ngx_int_t grantVariable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t field) {
    RequestContext *ctx = grantOf(r);
    if (ctx == nullptr ||
        (field == offsetof(RequestContext, expires) && formatExpires(r, ctx) != NGX_OK)) {
        return NGX_ERROR;
    }
    const ngx_str_t &value = *reinterpret_cast<ngx_str_t *>(reinterpret_cast<char *>(ctx) + field);
    setVariableValue(v, value);
    return NGX_OK;
}

ngx_http_variable_t variables[] = {
    {ngx_string("oauth_client_id"), nullptr, grantVariable, offsetof(RequestContext, client_id),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("oauth_scope"), nullptr, grantVariable, offsetof(RequestContext, scope),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("oauth_token_expires"), nullptr, grantVariable, offsetof(RequestContext, expires),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("oauth_issuer"), nullptr, grantVariable, offsetof(RequestContext, issuer),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("oauth_audience"), nullptr, grantVariable, offsetof(RequestContext, audience),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("oauth_fleet_synced"), nullptr, fleetSyncedVariable, 0, NGX_HTTP_VAR_NOCACHEABLE,
     0},
    ngx_http_null_variable};

}  // namespace

ngx_int_t addVariables(ngx_conf_t *cf) {
    for (ngx_http_variable_t *v = variables; v->name.len != 0; ++v) {
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == nullptr) {
            return NGX_ERROR;
        }
        var->get_handler = v->get_handler;
        var->data = v->data;
    }
    return NGX_OK;
}

}  // namespace oauth_ngx
