// oauth_require_claim and oauth_claim_set: the directives, the check after
// the bearer check, and the variables (core/jose/claims.hpp holds the rules).
#include "ngx/module.hpp"

namespace oauth_ngx {

namespace {

// The checked JWT's claims, or nullptr when the token was opaque (the
// verifier, made for this request, then checked nothing).
const oauth::jose::VerifiedToken *checkedJwt(oauth::jose::JwtVerifier *jwt) {
    return jwt != nullptr && jwt->claims().claim_set != nullptr ? &jwt->claims() : nullptr;
}

oauth::jose::ClaimSet claimsOf(ngx_http_request_t *r, const oauth::TokenGrant &grant,
                               oauth::jose::JwtVerifier *jwt) {
    auto *scf = static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module));
    return oauth::jose::claims_of(grant, view(scf->issuer), checkedJwt(jwt));
}

ngx_int_t claimVariable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data) {
    RequestContext *ctx = grantOf(r);
    if (ctx == nullptr) {
        return NGX_ERROR;
    }
    v->not_found = 1;
    std::optional<std::string> text;
    try {
        const json_t *claim =
            reinterpret_cast<const oauth::jose::ClaimPath *>(data)->find(ctx->claims);
        if (claim == nullptr || !(text = oauth::jose::render_claim(claim))) {
            return NGX_OK;
        }
    } catch (const std::bad_alloc &) {
        return NGX_ERROR;
    }
    ngx_str_t value = ngxString(r->pool, *text);
    if (value.data == nullptr) {
        return NGX_ERROR;
    }
    setVariableValue(v, value);
    return NGX_OK;
}

}  // namespace

// "oauth_require_claim NAME|/pointer VALUE ...": each one at a level adds to
// that level's list, which a lower level's replaces as a whole.
char *setRequireClaim(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    if (lcf->require_claims == NGX_CONF_UNSET_PTR) {
        lcf->require_claims = newInConfPool<std::vector<oauth::jose::ClaimRequirement>>(cf);
        if (lcf->require_claims == nullptr) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    try {
        std::vector<std::string_view> values;
        for (ngx_uint_t i = 2; i < cf->args->nelts; ++i) {
            values.push_back(view(value[i]));
        }
        oauth::jose::ClaimRequirement required;
        std::string error;
        if (!oauth::jose::ClaimRequirement::compile(view(value[1]), values, required, error)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_require_claim: %s", error.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        lcf->require_claims->push_back(std::move(required));
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (cf->cmd_type & (NGX_HTTP_LOC_CONF | NGX_HTTP_LIF_CONF)) {
        lcf->claims_place = confPlace(cf);
    }
    return NGX_CONF_OK;
}

// "oauth_claim_set $VARIABLE NAME|/pointer".
char *setClaimVariable(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid variable name \"%V\": a $ is expected",
                           &value[1]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    auto *path = newInConfPool<oauth::jose::ClaimPath>(cf);
    if (path == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    try {
        std::string error;
        if (!oauth::jose::ClaimPath::compile(view(value[2]), *path, error)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_claim_set: %s", error.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    ngx_str_t name{value[1].len - 1, value[1].data + 1};
    ngx_http_variable_t *var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    var->get_handler = claimVariable;
    var->data = reinterpret_cast<uintptr_t>(path);
    static_cast<MainConf *>(conf)->claim_variables++;
    return NGX_CONF_OK;
}

// A claim is checked only on a token the location checks: written in a
// location that checks none, it would protect nothing while seeming to.
char *checkClaimGate(ngx_conf_t *cf, const LocationConf *conf) {
    if (conf->claims_place.line == 0 || conf->require_claims == nullptr ||
        conf->require_scope != nullptr) {
        return NGX_CONF_OK;
    }
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "oauth_require_claim checks nothing in a location without "
                  "oauth_require_scope, in %V:%ui",
                  &conf->claims_place.file, conf->claims_place.line);
    return static_cast<char *>(NGX_CONF_ERROR);
}

oauth::BearerVerdict checkRequiredClaims(ngx_http_request_t *r, const LocationConf *lcf,
                                         const oauth::TokenGrant &grant,
                                         oauth::jose::JwtVerifier *jwt) {
    oauth::jose::ClaimSet claims;
    try {
        claims = claimsOf(r, grant, jwt);
    } catch (const std::bad_alloc &) {
        // check_claims of no claims refuses, as out of memory must.
    }
    return oauth::check_claims(*lcf->require_claims, claims.get(), view(lcf->realm));
}

ngx_int_t keepClaims(ngx_http_request_t *r, RequestContext *ctx, const oauth::TokenGrant &grant,
                     oauth::jose::JwtVerifier *jwt) {
    auto *mcf = static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
    if (mcf->claim_variables == 0 || grant.expires_at == 0) {
        return NGX_OK;
    }
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(r->pool, 0);
    if (cleanup == nullptr) {
        return NGX_ERROR;
    }
    auto *kept = new (std::nothrow) oauth::jose::ClaimSet();
    if (kept == nullptr) {
        return NGX_ERROR;
    }
    cleanup->handler = [](void *data) { delete static_cast<oauth::jose::ClaimSet *>(data); };
    cleanup->data = kept;
    try {
        *kept = claimsOf(r, grant, jwt);
    } catch (const std::bad_alloc &) {
        return NGX_ERROR;
    }
    ctx->claims = kept->get();
    return NGX_OK;
}

}  // namespace oauth_ngx
