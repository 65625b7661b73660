// ngx_http_oauth_module: the nginx side. Directives, shared zones, request
// bodies and responses; every OAuth rule lives in src/core.
#include "ngx/ngx.hpp"

#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <string_view>

#include "core/auth_throttle.hpp"
#include "core/bearer.hpp"
#include "core/metadata.hpp"
#include "core/registry.hpp"
#include "core/token_admin.hpp"
#include "core/token_endpoint.hpp"
#include "core/token.hpp"
#include "core/token_store.hpp"

extern "C" ngx_module_t ngx_http_oauth_module;

namespace {

// ---- configuration -------------------------------------------------------

struct Zone {
    ngx_str_t name;
    ngx_shm_zone_t *shm;
};

// Where a directive stood, for errors found after the whole http{} is read.
struct ConfPlace {
    ngx_str_t file;
    ngx_uint_t line;
};

struct MainConf {
    ngx_array_t zones;  // of Zone
};

enum class Endpoint { token, introspection, revocation };

struct EndpointConf {
    Endpoint kind;
    ngx_str_t zone_name;  // empty: the only zone
    ngx_shm_zone_t *zone;
    time_t ttl;  // token endpoint only
    ConfPlace place;
};

// What RFC 8414 metadata says of a server: the issuer and where each endpoint is.
struct ServerConf {
    ngx_str_t issuer;
    ngx_str_t paths[3];  // by Endpoint
};

struct ScopeCheckConf {
    oauth::ScopeRequirement required;
    ngx_str_t zone_name;  // empty: the only zone
    ngx_shm_zone_t *zone;
    ConfPlace place;
};

struct LocationConf {
    oauth::Registry *clients;
    ngx_str_t realm;
    EndpointConf *endpoint;
    ScopeCheckConf *require_scope;  // nullptr: off
    ngx_int_t auth_failure_limit;   // 0: off
    time_t auth_failure_window;
    time_t auth_failure_block;
    ngx_flag_t metadata;
    ngx_str_t metadata_document;
    ConfPlace metadata_place;
};

// What a successful bearer check leaves for the $oauth_* variables.
struct RequestContext {
    ngx_str_t client_id;
    ngx_str_t scope;
    ngx_str_t expires;  // formatted when first read
    time_t expires_at;  // 0: no valid token
};

std::string_view view(const ngx_str_t &s) {
    return {reinterpret_cast<const char *>(s.data), s.len};
}

ngx_str_t ngxString(ngx_pool_t *pool, std::string_view s) {
    ngx_str_t out{0, nullptr};
    out.data = static_cast<u_char *>(ngx_pnalloc(pool, s.size()));
    if (out.data != nullptr) {
        ngx_memcpy(out.data, s.data(), s.size());
        out.len = s.size();
    }
    return out;
}

ConfPlace confPlace(ngx_conf_t *cf) {
    return {cf->conf_file->file.name, cf->conf_file->line};
}

// ---- the token store over a shared zone ----------------------------------

void lockZone(void *mutex) {
    ngx_shmtx_lock(static_cast<ngx_shmtx_t *>(mutex));
}

void unlockZone(void *mutex) {
    ngx_shmtx_unlock(static_cast<ngx_shmtx_t *>(mutex));
}

// A zone holds the tokens and, beside them, the failed-authentication counters.
struct ZoneRegions {
    void *tokens;
    size_t tokens_size;
    void *throttle;
    size_t throttle_size;
};

bool formatRegions(ZoneRegions *regions) {
    return oauth::AuthThrottle::format(regions->throttle, regions->throttle_size) &&
           oauth::TokenStore::format(regions->tokens, regions->tokens_size);
}

bool regionsFormatted(const ZoneRegions *regions) {
    return oauth::AuthThrottle::is_formatted(regions->throttle, regions->throttle_size) &&
           oauth::TokenStore::is_formatted(regions->tokens, regions->tokens_size);
}

// The slab pool's mutex is the writers' lock: nginx force-unlocks it when a
// worker dies holding it.
oauth::StoreLock zoneLock(ngx_shm_zone_t *zone) {
    auto *pool = reinterpret_cast<ngx_slab_pool_t *>(zone->shm.addr);
    return oauth::StoreLock{&pool->mutex, lockZone, unlockZone};
}

oauth::TokenStore storeOf(ngx_shm_zone_t *zone) {
    return oauth::TokenStore(static_cast<ZoneRegions *>(zone->data)->tokens, zoneLock(zone));
}

// About 3% of the zone, enough for thousands of (client, address) counters.
size_t throttleSize(size_t zone) {
    size_t size = zone / 32;
    return ngx_align(
        size < oauth::AuthThrottle::kMinRegionSize ? oauth::AuthThrottle::kMinRegionSize : size,
        ngx_pagesize);
}

ngx_int_t initZone(ngx_shm_zone_t *zone, void *reused) {
    auto *pool = reinterpret_cast<ngx_slab_pool_t *>(zone->shm.addr);
    if (reused != nullptr) {
        // nginx -s reload: keep every token, unless a rebuilt module lays
        // the zone out differently.
        zone->data = reused;
        auto *regions = static_cast<ZoneRegions *>(reused);
        if (regionsFormatted(regions)) {
            return NGX_OK;
        }
        ngx_log_error(NGX_LOG_WARN, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" was laid out by another version of the module; "
                      "its tokens are dropped",
                      &zone->shm.name);
        return formatRegions(regions) ? NGX_OK : NGX_ERROR;
    }
    if (zone->shm.exists) {
        zone->data = pool->data;
        return NGX_OK;
    }
    auto *regions = static_cast<ZoneRegions *>(ngx_slab_alloc(pool, sizeof(ZoneRegions)));
    pool->log_ctx = static_cast<u_char *>(ngx_slab_alloc(pool, zone->shm.name.len + 32));
    if (regions == nullptr || pool->log_ctx == nullptr) {
        return NGX_ERROR;
    }
    ngx_sprintf(pool->log_ctx, " in oauth_token_zone \"%V\"%Z", &zone->shm.name);

    regions->throttle_size = throttleSize(zone->shm.size);
    regions->throttle = ngx_slab_alloc(pool, regions->throttle_size);
    // The tokens take every page left; the token store does its own layout.
    regions->tokens_size = pool->pfree * ngx_pagesize;
    regions->tokens = ngx_slab_alloc(pool, regions->tokens_size);
    if (regions->throttle == nullptr || regions->tokens == nullptr || !formatRegions(regions)) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "oauth_token_zone \"%V\" is too small for a token store", &zone->shm.name);
        return NGX_ERROR;
    }
    pool->data = regions;
    zone->data = regions;
    return NGX_OK;
}

// ---- responses -------------------------------------------------------------

ngx_int_t addHeader(ngx_http_request_t *r, ngx_str_t key, std::string_view value,
                    ngx_table_elt_t **slot = nullptr) {
    ngx_table_elt_t *h = static_cast<ngx_table_elt_t *>(ngx_list_push(&r->headers_out.headers));
    if (h == nullptr) {
        return NGX_ERROR;
    }
    h->hash = 1;
    h->key = key;
    h->value = ngxString(r->pool, value);
    if (h->value.data == nullptr && !value.empty()) {
        return NGX_ERROR;
    }
    if (slot != nullptr) {
        *slot = h;
    }
    return NGX_OK;
}

ngx_int_t addResponseHeaders(ngx_http_request_t *r, const oauth::HttpResponse &response) {
    static ngx_str_t json = ngx_string("application/json");
    if (!response.body.empty()) {
        r->headers_out.content_type = json;
        r->headers_out.content_type_len = json.len;
        r->headers_out.content_type_lowcase = nullptr;
    }

    ngx_int_t rc = NGX_OK;
    if (response.no_store) {
        rc |= addHeader(r, ngx_string("Cache-Control"), "no-store");
        rc |= addHeader(r, ngx_string("Pragma"), "no-cache");
    }
    if (!response.www_authenticate.empty()) {
        rc |= addHeader(r, ngx_string("WWW-Authenticate"), response.www_authenticate,
                        &r->headers_out.www_authenticate);
    }
    if (!response.allow.empty()) {
        rc |= addHeader(r, ngx_string("Allow"), response.allow);
    }
    if (response.retry_after != 0) {
        rc |= addHeader(r, ngx_string("Retry-After"), std::to_string(response.retry_after));
    }
    return rc == NGX_OK ? NGX_OK : NGX_ERROR;
}

// A full zone fails every request until a token expires: one error line a
// second per worker says so, with how many were held back, instead of one a
// request.
bool errorLineDue(ngx_uint_t &heldBack) {
    static time_t lastLine = 0;
    static ngx_uint_t suppressed = 0;
    if (ngx_time() == lastLine) {
        ++suppressed;
        return false;
    }
    lastLine = ngx_time();
    heldBack = suppressed;
    suppressed = 0;
    return true;
}

void logResponse(ngx_http_request_t *r, const oauth::HttpResponse &response,
                 const ngx_str_t &zone) {
    using Log = oauth::HttpResponse::Log;
    ngx_uint_t heldBack = 0;
    if (response.log == Log::none || (response.log == Log::error && !errorLineDue(heldBack))) {
        return;
    }
    ngx_uint_t level = response.log == Log::error  ? NGX_LOG_ERR
                       : response.log == Log::warn ? NGX_LOG_WARN
                                                   : NGX_LOG_INFO;
    if (heldBack != 0) {
        ngx_log_error(level, r->connection->log, 0,
                      "oauth: %*s, zone \"%V\" (and %ui more in the last seconds)",
                      response.log_message.size(), response.log_message.data(), &zone, heldBack);
        return;
    }
    ngx_log_error(level, r->connection->log, 0, "oauth: %*s, zone \"%V\"",
                  response.log_message.size(), response.log_message.data(), &zone);
}

ngx_int_t sendResponse(ngx_http_request_t *r, const oauth::HttpResponse &response) {
    if (response.status == NGX_HTTP_INTERNAL_SERVER_ERROR && response.body.empty()) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    r->headers_out.status = response.status;
    r->headers_out.content_length_n = response.body.size();
    if (addResponseHeaders(r, response) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (response.body.empty()) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }
    ngx_buf_t *b = ngx_create_temp_buf(r->pool, response.body.size());
    if (b == nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->last = ngx_cpymem(b->pos, response.body.data(), response.body.size());
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }
    ngx_chain_t out{b, nullptr};
    return ngx_http_output_filter(r, &out);
}

// ---- the form endpoints: token, introspection, revocation ------------------

std::string_view headerValue(const ngx_table_elt_t *h) {
    return h == nullptr ? std::string_view() : view(h->value);
}

// How often a header came: nginx keeps only the first in headers_in.
size_t countHeaders(ngx_http_request_t *r, const ngx_table_elt_t *first, std::string_view name) {
    if (first == nullptr) {
        return 0;
    }
    size_t count = 0;
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part != nullptr; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; ++i) {
            if (h[i].key.len == name.size() &&
                ngx_strncasecmp(h[i].key.data, (u_char *)name.data(), name.size()) == 0) {
                ++count;
            }
        }
    }
    return count;
}

// nginx refuses a second Authorization header itself (400, before any module
// runs), so its presence is the whole count.
size_t countAuthorizationHeaders(ngx_http_request_t *r) {
    return r->headers_in.authorization != nullptr ? 1 : 0;
}

// The body as one piece of memory, or false when it is over the cap. nginx
// may have spilled part of it to a temporary file.
bool readBody(ngx_http_request_t *r, std::string &body) {
    if (r->request_body == nullptr) {
        return true;
    }
    for (ngx_chain_t *cl = r->request_body->bufs; cl != nullptr; cl = cl->next) {
        ngx_buf_t *b = cl->buf;
        size_t size = ngx_buf_size(b);
        if (size == 0) {
            continue;  // a bare last_buf marker: neither memory nor a file behind it
        }
        if (body.size() + size > oauth::kMaxFormBody) {
            return false;
        }
        size_t at = body.size();
        body.resize(at + size);
        if (ngx_buf_in_memory(b)) {
            ngx_memcpy(&body[at], b->pos, size);
        } else if (ngx_read_file(b->file, reinterpret_cast<u_char *>(&body[at]), size,
                                 b->file_pos) != ssize_t(size)) {
            return false;
        }
    }
    return true;
}

enum class Body { read, discarded, too_large };

oauth::HttpResponse answerEndpoint(ngx_http_request_t *r, const LocationConf *lcf,
                                   const oauth::FormRequest &request) {
    EndpointConf *endpoint = lcf->endpoint;
    oauth::TokenStore store = storeOf(endpoint->zone);
    uint32_t now = uint32_t(ngx_time());
    auto *scf = static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module));
    oauth::AuthThrottle throttle(
        static_cast<ZoneRegions *>(endpoint->zone->data)->throttle, zoneLock(endpoint->zone),
        oauth::ThrottlePolicy{uint32_t(lcf->auth_failure_limit), uint32_t(lcf->auth_failure_window),
                              uint32_t(lcf->auth_failure_block)});
    oauth::ClientAuthConfig auth{view(lcf->realm),
                                 lcf->auth_failure_limit != 0 ? &throttle : nullptr};
    oauth::TokenAdminConfig admin{auth, view(scf->issuer)};
    switch (endpoint->kind) {
        case Endpoint::token:
            return oauth::handle_token_request(
                request, *lcf->clients, store,
                oauth::TokenEndpointConfig{uint32_t(endpoint->ttl), auth}, now);
        case Endpoint::introspection:
            return oauth::handle_introspection_request(request, *lcf->clients, store, admin, now);
        case Endpoint::revocation:
            return oauth::handle_revocation_request(request, *lcf->clients, store, admin, now);
    }
    return oauth::server_error_response();
}

ngx_int_t answerFormRequest(ngx_http_request_t *r, Body state) {
    auto *lcf = static_cast<LocationConf *>(ngx_http_get_module_loc_conf(r, ngx_http_oauth_module));
    try {
        std::string body;
        if (state == Body::read && !readBody(r, body)) {
            state = Body::too_large;
            body.clear();
        }
        oauth::FormRequest request;
        request.method = view(r->method_name);
        if (r->headers_in.content_type != nullptr) {
            request.content_type = view(r->headers_in.content_type->value);
        }
        request.content_type_headers = countHeaders(r, r->headers_in.content_type, "Content-Type");
        request.query = view(r->args);
        request.authorization_headers = countAuthorizationHeaders(r);
        request.authorization = headerValue(r->headers_in.authorization);
        request.body = body;
        request.body_too_large = state == Body::too_large;
        request.client_address = view(r->connection->addr_text);

        oauth::HttpResponse response = answerEndpoint(r, lcf, request);
        logResponse(r, response, lcf->endpoint->zone->shm.name);
        return sendResponse(r, response);
    } catch (const std::bad_alloc &) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}

void formBodyRead(ngx_http_request_t *r) {
    ngx_http_finalize_request(r, answerFormRequest(r, Body::read));
}

// Content handler of the token, introspection and revocation endpoints.
ngx_int_t formEndpointHandler(ngx_http_request_t *r) {
    bool post = r->method == NGX_HTTP_POST;
    if (post && r->headers_in.content_length_n <= off_t(oauth::kMaxFormBody)) {
        ngx_int_t rc = ngx_http_read_client_request_body(r, formBodyRead);
        return rc >= NGX_HTTP_SPECIAL_RESPONSE ? rc : NGX_DONE;
    }
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    return answerFormRequest(r, post ? Body::too_large : Body::discarded);
}

ngx_int_t metadataHandler(ngx_http_request_t *r) {
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    auto *lcf = static_cast<LocationConf *>(ngx_http_get_module_loc_conf(r, ngx_http_oauth_module));
    try {
        return sendResponse(
            r, oauth::handle_metadata_request(view(r->method_name), view(lcf->metadata_document)));
    } catch (const std::bad_alloc &) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}

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
    oauth::BearerRequest request{countAuthorizationHeaders(r),
                                 headerValue(r->headers_in.authorization)};
    if (lcf->require_scope == nullptr ||
        !oauth::find_bearer_grant(request, storeOf(lcf->require_scope->zone), uint32_t(ngx_time()),
                                  grant)) {
        grant = oauth::TokenGrant();
    }
    if (rememberGrant(r, grant) != NGX_OK) {
        return nullptr;
    }
    return static_cast<RequestContext *>(ngx_http_get_module_ctx(r, ngx_http_oauth_module));
}

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
    v->len = value.len;
    v->data = value.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    return NGX_OK;
}

ngx_http_variable_t variables[] = {
    {ngx_string("oauth_client_id"), nullptr, grantVariable, offsetof(RequestContext, client_id),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("oauth_scope"), nullptr, grantVariable, offsetof(RequestContext, scope),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    {ngx_string("oauth_token_expires"), nullptr, grantVariable, offsetof(RequestContext, expires),
     NGX_HTTP_VAR_NOCACHEABLE, 0},
    ngx_http_null_variable};

// ---- directives --------------------------------------------------------------

char *setTokenZone(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *mcf = static_cast<MainConf *>(conf);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    ngx_str_t arg = value[1];

    u_char *colon = static_cast<u_char *>(ngx_strlchr(arg.data, arg.data + arg.len, ':'));
    if (colon == nullptr || colon == arg.data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid oauth_token_zone \"%V\": expected NAME:SIZE, as in tokens:16m",
                           &arg);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    ngx_str_t name{size_t(colon - arg.data), arg.data};
    ngx_str_t size_text{size_t(arg.data + arg.len - colon - 1), colon + 1};
    ssize_t size = ngx_parse_size(&size_text);
    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid size \"%V\" in oauth_token_zone \"%V\"",
                           &size_text, &arg);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    // The slab pool's own pages come on top of the store.
    size_t minimum = oauth::TokenStore::kMinRegionSize + 8 * ngx_pagesize;
    if (size_t(size) < minimum) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_token_zone \"%V\" is too small: at least %uzk is needed", &arg,
                           minimum / 1024);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    Zone *zones = static_cast<Zone *>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; ++i) {
        if (zones[i].name.len == name.len &&
            ngx_strncmp(zones[i].name.data, name.data, name.len) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate oauth_token_zone \"%V\"", &name);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }
    ngx_shm_zone_t *shm = ngx_shared_memory_add(cf, &name, size, &ngx_http_oauth_module);
    if (shm == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (shm->data != nullptr) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "shared memory zone \"%V\" is already used",
                           &name);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    shm->init = initZone;
    shm->data = shm;  // taken: a second directive naming it is refused above
    Zone *zone = static_cast<Zone *>(ngx_array_push(&mcf->zones));
    if (zone == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    *zone = {name, shm};
    return NGX_CONF_OK;
}

void deleteRegistry(void *registry) {
    delete static_cast<oauth::Registry *>(registry);
}

std::unique_ptr<oauth::Registry> loadRegistry(ngx_conf_t *cf, const ngx_str_t &path) {
    std::string file(view(path));
    std::FILE *f = std::fopen(file.c_str(), "rb");
    if (f == nullptr) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "oauth_clients: cannot open \"%V\"",
                           &path);
        return nullptr;
    }
    std::string json;
    char chunk[8192];
    for (size_t n; (n = std::fread(chunk, 1, sizeof(chunk), f)) > 0;) {
        json.append(chunk, n);
    }
    bool readFailed = std::ferror(f) != 0;
    std::fclose(f);
    if (readFailed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "oauth_clients: cannot read \"%V\"",
                           &path);
        return nullptr;
    }
    oauth::RegistryError error;
    std::vector<std::string> warnings;
    std::unique_ptr<oauth::Registry> registry = oauth::Registry::parse(json, error, warnings);
    if (registry == nullptr) {
        if (error.line != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_clients: %V:%ui: %s", &path,
                               ngx_uint_t(error.line), error.message.c_str());
        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_clients: %V: %s", &path,
                               error.message.c_str());
        }
        return nullptr;
    }
    for (const std::string &warning : warnings) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "oauth_clients: %V: %s", &path, warning.c_str());
    }
    return registry;
}

char *setClients(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    if (lcf->clients != NGX_CONF_UNSET_PTR) {
        return const_cast<char *>("is duplicate");
    }
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    ngx_str_t path = value[1];
    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    std::unique_ptr<oauth::Registry> registry;
    try {
        registry = loadRegistry(cf, path);
    } catch (const std::bad_alloc &) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_clients: out of memory");
    }
    if (registry == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cf->pool, 0);
    if (cleanup == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    cleanup->handler = deleteRegistry;
    cleanup->data = registry.get();
    lcf->clients = registry.release();
    return NGX_CONF_OK;
}

// "zone=NAME" selects a zone; the name is resolved once the whole http{} is read.
bool parseZoneArgument(const ngx_str_t &arg, ngx_str_t &zone) {
    if (arg.len <= 5 || ngx_strncmp(arg.data, "zone=", 5) != 0) {
        return false;
    }
    zone = {arg.len - 5, arg.data + 5};
    return true;
}

char *setEndpoint(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    if (lcf->endpoint != nullptr || lcf->metadata == 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a location serves one oauth endpoint; \"%V\" holds another",
                           &clcf->name);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    auto *endpoint = static_cast<EndpointConf *>(ngx_pcalloc(cf->pool, sizeof(EndpointConf)));
    if (endpoint == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    endpoint->kind = *static_cast<const Endpoint *>(cmd->post);
    endpoint->ttl = 3600;
    endpoint->place = confPlace(cf);

    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    for (ngx_uint_t i = 1; i < cf->args->nelts; ++i) {
        if (parseZoneArgument(value[i], endpoint->zone_name)) {
            continue;
        }
        if (endpoint->kind == Endpoint::token && value[i].len > 4 &&
            ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            ngx_str_t ttl{value[i].len - 4, value[i].data + 4};
            endpoint->ttl = ngx_parse_time(&ttl, 1);
            if (endpoint->ttl == NGX_ERROR || endpoint->ttl <= 0 || endpoint->ttl > 31536000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid ttl \"%V\": a time from 1s to 365d is expected",
                                   &value[i]);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
            continue;
        }
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"", &value[i]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    lcf->endpoint = endpoint;
    clcf->handler = formEndpointHandler;

    // The first location of a server that carries an endpoint is the one metadata names.
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    ngx_str_t &path = scf->paths[size_t(endpoint->kind)];
    if (path.len == 0 && clcf->regex == nullptr && !clcf->named) {
        path = clcf->name;
    }
    return NGX_CONF_OK;
}

// "oauth_auth_failure_limit NUMBER [window=TIME] [block=TIME]" or "off".
char *setAuthFailureLimit(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    if (lcf->auth_failure_limit != NGX_CONF_UNSET) {
        return const_cast<char *>("is duplicate");
    }
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        lcf->auth_failure_limit = 0;
        return NGX_CONF_OK;
    }
    lcf->auth_failure_limit = ngx_atoi(value[1].data, value[1].len);
    if (lcf->auth_failure_limit == NGX_ERROR || lcf->auth_failure_limit < 1 ||
        lcf->auth_failure_limit > 1000000) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of failures \"%V\": 1 to 1000000, or off", &value[1]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    for (ngx_uint_t i = 2; i < cf->args->nelts; ++i) {
        time_t *target = nullptr;
        size_t prefix = 0;
        if (ngx_strncmp(value[i].data, "window=", 7) == 0) {
            target = &lcf->auth_failure_window;
            prefix = 7;
        } else if (ngx_strncmp(value[i].data, "block=", 6) == 0) {
            target = &lcf->auth_failure_block;
            prefix = 6;
        }
        ngx_str_t time{value[i].len - prefix, value[i].data + prefix};
        if (target == nullptr || (*target = ngx_parse_time(&time, 1)) == NGX_ERROR ||
            *target <= 0 || *target > 86400) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": window= or block= with a time from 1s "
                               "to 1d is expected",
                               &value[i]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }
    return NGX_CONF_OK;
}

char *setMetadata(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    if (lcf->endpoint != nullptr || lcf->metadata == 1) {
        return const_cast<char *>("is duplicate, or the location holds another oauth endpoint");
    }
    lcf->metadata = 1;
    lcf->metadata_place = confPlace(cf);
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = metadataHandler;
    return NGX_CONF_OK;
}

char *setIssuer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
    char *rc = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rc != NGX_CONF_OK) {
        return rc;
    }
    auto *scf = static_cast<ServerConf *>(conf);
    std::optional<std::string> problem;
    try {
        problem = oauth::check_issuer(view(scf->issuer));
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (problem) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid oauth_issuer \"%V\": %s", &scf->issuer,
                           problem->c_str());
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

// "oauth_require_scope [zone=NAME] [SCOPE ...]" or "oauth_require_scope off".
char *setRequireScope(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    if (lcf->require_scope != NGX_CONF_UNSET_PTR) {
        return const_cast<char *>("is duplicate");
    }
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        lcf->require_scope = nullptr;
        return NGX_CONF_OK;
    }
    auto *check = new (std::nothrow) ScopeCheckConf();
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cf->pool, 0);
    if (check == nullptr || cleanup == nullptr) {
        delete check;
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    cleanup->handler = [](void *data) { delete static_cast<ScopeCheckConf *>(data); };
    cleanup->data = check;
    check->place = confPlace(cf);

    try {
        std::vector<std::string_view> scopes;
        for (ngx_uint_t i = 1; i < cf->args->nelts; ++i) {
            if (!parseZoneArgument(value[i], check->zone_name)) {
                scopes.push_back(view(value[i]));
            }
        }
        std::string error;
        if (!oauth::ScopeRequirement::compile(scopes, check->required, error)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_require_scope: %s", error.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    lcf->require_scope = check;
    return NGX_CONF_OK;
}

// The zone a directive names, or the only one declared.
ngx_shm_zone_t *resolveZone(ngx_conf_t *cf, const ngx_str_t &name, const ConfPlace &place,
                            const char *directive) {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_oauth_module));
    Zone *zones = static_cast<Zone *>(mcf->zones.elts);
    if (name.len == 0) {
        if (mcf->zones.nelts == 1) {
            return zones[0].shm;
        }
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      mcf->zones.nelts == 0
                          ? "%s needs an oauth_token_zone, and none is declared in %V:%ui"
                          : "%s needs zone=NAME when several oauth_token_zone are declared in "
                            "%V:%ui",
                      directive, &place.file, place.line);
        return nullptr;
    }
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; ++i) {
        if (zones[i].name.len == name.len &&
            ngx_strncmp(zones[i].name.data, name.data, name.len) == 0) {
            return zones[i].shm;
        }
    }
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%s: unknown oauth_token_zone \"%V\" in %V:%ui",
                  directive, &name, &place.file, place.line);
    return nullptr;
}

const Endpoint kTokenEndpoint = Endpoint::token;
const Endpoint kIntrospectionEndpoint = Endpoint::introspection;
const Endpoint kRevocationEndpoint = Endpoint::revocation;

ngx_command_t commands[] = {
    {ngx_string("oauth_token_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1, setTokenZone,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_clients"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, setClients,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_token_endpoint"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE12,
     setEndpoint, NGX_HTTP_LOC_CONF_OFFSET, 0, const_cast<Endpoint *>(&kTokenEndpoint)},
    {ngx_string("oauth_introspection_endpoint"),
     NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE1, setEndpoint, NGX_HTTP_LOC_CONF_OFFSET, 0,
     const_cast<Endpoint *>(&kIntrospectionEndpoint)},
    {ngx_string("oauth_revocation_endpoint"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE1,
     setEndpoint, NGX_HTTP_LOC_CONF_OFFSET, 0, const_cast<Endpoint *>(&kRevocationEndpoint)},
    {ngx_string("oauth_auth_failure_limit"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE123,
     setAuthFailureLimit, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_metadata"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS, setMetadata,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_issuer"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_CONF_TAKE1, setIssuer,
     NGX_HTTP_SRV_CONF_OFFSET, offsetof(ServerConf, issuer), nullptr},
    {ngx_string("oauth_require_scope"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_ANY, setRequireScope,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_realm"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(LocationConf, realm), nullptr},
    ngx_null_command};

// ---- module context ------------------------------------------------------------

void *createMainConf(ngx_conf_t *cf) {
    auto *mcf = static_cast<MainConf *>(ngx_pcalloc(cf->pool, sizeof(MainConf)));
    if (mcf == nullptr || ngx_array_init(&mcf->zones, cf->pool, 2, sizeof(Zone)) != NGX_OK) {
        return nullptr;
    }
    return mcf;
}

void *createLocationConf(ngx_conf_t *cf) {
    auto *lcf = static_cast<LocationConf *>(ngx_pcalloc(cf->pool, sizeof(LocationConf)));
    if (lcf == nullptr) {
        return nullptr;
    }
    lcf->clients = static_cast<oauth::Registry *>(NGX_CONF_UNSET_PTR);
    lcf->require_scope = static_cast<ScopeCheckConf *>(NGX_CONF_UNSET_PTR);
    lcf->metadata = NGX_CONF_UNSET;
    lcf->auth_failure_limit = NGX_CONF_UNSET;
    lcf->auth_failure_window = NGX_CONF_UNSET;
    lcf->auth_failure_block = NGX_CONF_UNSET;
    return lcf;
}

void *createServerConf(ngx_conf_t *cf) {
    return ngx_pcalloc(cf->pool, sizeof(ServerConf));
}

char *mergeServerConf(ngx_conf_t *, void *parent, void *child) {
    auto *prev = static_cast<ServerConf *>(parent);
    auto *conf = static_cast<ServerConf *>(child);
    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    return NGX_CONF_OK;
}

const char *const kEndpointDirectives[] = {"oauth_token_endpoint", "oauth_introspection_endpoint",
                                           "oauth_revocation_endpoint"};

char *mergeEndpoint(ngx_conf_t *cf, LocationConf *conf) {
    EndpointConf *endpoint = conf->endpoint;
    const char *directive = kEndpointDirectives[size_t(endpoint->kind)];
    if (conf->clients == NGX_CONF_UNSET_PTR) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "%s needs oauth_clients in %V:%ui", directive,
                      &endpoint->place.file, endpoint->place.line);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    endpoint->zone = resolveZone(cf, endpoint->zone_name, endpoint->place, directive);
    return endpoint->zone != nullptr ? NGX_CONF_OK : static_cast<char *>(NGX_CONF_ERROR);
}

// Rendered once: every location's merge runs after the whole http{} is read,
// so the server's endpoint paths are all known by now.
char *renderMetadata(ngx_conf_t *cf, LocationConf *conf) {
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    if (scf->issuer.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "oauth_metadata needs oauth_issuer in %V:%ui",
                      &conf->metadata_place.file, conf->metadata_place.line);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    try {
        oauth::MetadataConfig metadata{view(scf->issuer), view(scf->paths[0]), view(scf->paths[1]),
                                       view(scf->paths[2])};
        const oauth::Registry *registry =
            conf->clients == NGX_CONF_UNSET_PTR ? nullptr : conf->clients;
        conf->metadata_document = ngxString(cf->pool, oauth::render_metadata(metadata, registry));
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    return conf->metadata_document.data != nullptr ? NGX_CONF_OK
                                                   : static_cast<char *>(NGX_CONF_ERROR);
}

char *mergeLocationConf(ngx_conf_t *cf, void *parent, void *child) {
    auto *prev = static_cast<LocationConf *>(parent);
    auto *conf = static_cast<LocationConf *>(child);

    if (conf->clients == NGX_CONF_UNSET_PTR) {
        conf->clients = prev->clients;
    }
    ngx_conf_merge_str_value(conf->realm, prev->realm, "oauth");
    ngx_conf_merge_ptr_value(conf->require_scope, prev->require_scope, nullptr);
    if (conf->auth_failure_limit == NGX_CONF_UNSET) {
        conf->auth_failure_limit = prev->auth_failure_limit;
        conf->auth_failure_window = prev->auth_failure_window;
        conf->auth_failure_block = prev->auth_failure_block;
    }
    ngx_conf_merge_value(conf->auth_failure_limit, prev->auth_failure_limit, 10);
    ngx_conf_merge_sec_value(conf->auth_failure_window, prev->auth_failure_window, 60);
    ngx_conf_merge_sec_value(conf->auth_failure_block, prev->auth_failure_block, 60);

    ScopeCheckConf *check = conf->require_scope;
    if (check != nullptr && check->zone == nullptr) {
        check->zone = resolveZone(cf, check->zone_name, check->place, "oauth_require_scope");
        if (check->zone == nullptr) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }

    if (conf->endpoint != nullptr && mergeEndpoint(cf, conf) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (conf->metadata == 1 && renderMetadata(cf, conf) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

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

ngx_http_module_t moduleContext = {
    addVariables,           // preconfiguration
    registerAccessHandler,  // postconfiguration
    createMainConf,         // create main configuration
    nullptr,                // init main configuration
    createServerConf,       // create server configuration
    mergeServerConf,        // merge server configuration
    createLocationConf,     // create location configuration
    mergeLocationConf       // merge location configuration
};

}  // namespace

ngx_module_t ngx_http_oauth_module = {
    NGX_MODULE_V1, &moduleContext, commands, NGX_HTTP_MODULE, nullptr, nullptr,
    nullptr,       nullptr,        nullptr,  nullptr,         nullptr, NGX_MODULE_V1_PADDING};
