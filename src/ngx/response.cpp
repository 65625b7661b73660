// Responses and request headers: what every handler of the glue shares.
#include "ngx/module.hpp"

#include <string>

namespace oauth_ngx {

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

void setVariableValue(ngx_http_variable_value_t *v, const ngx_str_t &value) {
    v->len = value.len;
    v->data = value.data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
}

void forgetForeignConnection(ngx_connection_t *c) {
    for (ngx_event_t *ev : {c->read, c->write}) {
        if (ev->active) {
            ngx_del_event(ev, ev->write ? NGX_WRITE_EVENT : NGX_READ_EVENT, 0);
        }
        if (ev->posted) {
            ngx_delete_posted_event(ev);
        }
    }
    ngx_free_connection(c);
    c->fd = ngx_socket_t(-1);
}

ConfPlace confPlace(ngx_conf_t *cf) {
    return {cf->conf_file->file.name, cf->conf_file->line};
}

// ---- responses -------------------------------------------------------------

ngx_int_t addHeader(ngx_http_request_t *r, ngx_str_t key, std::string_view value,
                    ngx_table_elt_t **slot) {
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

namespace {

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
    if (!response.dpop_nonce.empty()) {
        rc |= addHeader(r, ngx_string("DPoP-Nonce"), response.dpop_nonce);
    }
    if (response.retry_after != 0) {
        rc |= addHeader(r, ngx_string("Retry-After"), std::to_string(response.retry_after));
    }
    return rc == NGX_OK ? NGX_OK : NGX_ERROR;
}

// A full zone fails every request until a token expires, a client at its cap
// every request of its own: one line a second per worker says so, with how
// many were held back, instead of one a request.
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

}  // namespace

void logResponse(ngx_http_request_t *r, const oauth::HttpResponse &response,
                 const ngx_str_t &zone) {
    using Log = oauth::HttpResponse::Log;
    ngx_uint_t heldBack = 0;
    bool throttled = response.log == Log::error || response.log_throttled;
    if (response.log == Log::none || (throttled && !errorLineDue(heldBack))) {
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
    return sendHeaderAndBody(r, response.body);
}

ngx_int_t sendHeaderAndBody(ngx_http_request_t *r, std::string_view body) {
    ngx_buf_t *b = ngx_create_temp_buf(r->pool, body.size());
    if (b == nullptr) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    b->last = ngx_cpymem(b->pos, body.data(), body.size());
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    ngx_int_t rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }
    ngx_chain_t out{b, nullptr};
    return ngx_http_output_filter(r, &out);
}

// ---- request headers --------------------------------------------------------

std::string_view headerValue(const ngx_table_elt_t *h) {
    return h == nullptr ? std::string_view() : view(h->value);
}

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

}  // namespace oauth_ngx
