// The token, introspection and revocation endpoints (request bodies), and
// the metadata document.
#include "ngx/module.hpp"

#include <new>
#include <string>

#include "core/auth_throttle.hpp"
#include "core/endpoints/metadata.hpp"
#include "core/endpoints/token_admin.hpp"
#include "core/endpoints/token_endpoint.hpp"

namespace oauth_ngx {

// ---- the form endpoints: token, introspection, revocation ------------------

namespace {

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
                                   const oauth::FormRequest &request, DpopRequest &dpop) {
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
    // RFC 7523 §3: an assertion's aud names the issuer or the URL it is sent
    // to; without oauth_issuer, no assertion is accepted.
    oauth::ReplayCache replays = replaysOf(endpoint->zone);
    std::string url;
    if (scf->issuer.len != 0) {
        url = oauth::endpoint_url(view(scf->issuer), view(r->uri));
        auth.assertions.audiences = {view(scf->issuer), url};
    }
    auth.assertions.replays = &replays;
    oauth::RevocationList revocations = revocationsOf(endpoint->zone);
    // Introspection and revocation take the server's own JWTs only: the
    // server that issued a token answers for it (RFC 7662, RFC 7009), and a
    // trusted issuer's is that issuer's. No leeway: oauth_jwt_leeway is the
    // skew a protected location tolerates; here an own token is active
    // exactly until its exp, and one past it needs no revocation (its list
    // entry outlives any leeway, jose::kMaxLeeway).
    std::optional<Jwts> jwts;
    if (endpoint->kind != Endpoint::token) {
        jwts.emplace(scf, endpoint->zone, JwtSources{lcf->clients, nullptr, 0});
    }
    oauth::TokenAdminConfig admin{auth, view(scf->issuer), jwts ? jwts->verifier() : nullptr,
                                  &revocations};
    auto *mcf = static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
    std::optional<oauth::fleet::Outbox> outbox;
    if (mcf->fleet != nullptr && (outbox = outboxOf(endpoint->zone))) {
        admin.fleet = &*outbox;
        admin.fleet_ttl = mcf->fleet->longest_token_life;
    }
    switch (endpoint->kind) {
        case Endpoint::token:
            return oauth::handle_token_request(
                request, *lcf->clients, store,
                oauth::TokenEndpointConfig{
                    uint32_t(endpoint->ttl), auth,
                    endpoint->jwt ? &scf->signing_keys->keys.front() : nullptr, view(scf->issuer),
                    dpop.policy()},
                now);
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
        std::string certificate;
        if (!readClientCertificate(r, certificate, request.certificate.chain_verified)) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
        request.certificate.der = certificate;
        DpopRequest dpop;
        dpop.read(r, lcf->endpoint->zone);
        request.dpop_headers = dpop.headers;
        request.dpop_proof = dpop.proof;
        request.url = dpop.url;

        oauth::HttpResponse response = answerEndpoint(r, lcf, request, dpop);
        countFormResponse(*lcf->endpoint, response);
        logResponse(r, response, lcf->endpoint->zone->shm.name);
        return sendResponse(r, response);
    } catch (const std::bad_alloc &) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}

void formBodyRead(ngx_http_request_t *r) {
    ngx_http_finalize_request(r, answerFormRequest(r, Body::read));
}

}  // namespace

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

}  // namespace oauth_ngx
