// DPoP (RFC 9449): what a request brings of it (its DPoP headers, the URL
// its proof must name), the server's nonces, and oauth_dpop_origin. The
// proof's checks are core/jose/dpop.hpp's.
#include "ngx/module.hpp"

#include "core/jose/dpop.hpp"

namespace oauth_ngx {

namespace {

constexpr std::string_view kDpopHeader = "DPoP";

// The first DPoP header, and how many came: nginx keeps no field for it.
size_t findDpopHeaders(ngx_http_request_t *r, std::string_view &first) {
    size_t count = 0;
    for (ngx_list_part_t *part = &r->headers_in.headers.part; part != nullptr; part = part->next) {
        auto *h = static_cast<ngx_table_elt_t *>(part->elts);
        for (ngx_uint_t i = 0; i < part->nelts; ++i) {
            if (h[i].key.len == kDpopHeader.size() &&
                ngx_strncasecmp(h[i].key.data, (u_char *)kDpopHeader.data(), kDpopHeader.size()) ==
                    0 &&
                count++ == 0) {
                first = view(h[i].value);
            }
        }
    }
    return count;
}

// The path as the request line sent it, without its query: what a client
// signs in htu (RFC 9449 §4.3 item 9), before nginx decodes or merges it.
std::string_view requestPath(ngx_http_request_t *r) {
    std::string_view uri = view(r->unparsed_uri);
    return uri.substr(0, uri.find('?'));
}

}  // namespace

void DpopRequest::read(ngx_http_request_t *r, ngx_shm_zone_t *zone) {
    auto *lcf = static_cast<LocationConf *>(ngx_http_get_module_loc_conf(r, ngx_http_oauth_module));
    auto *scf = static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module));
    headers = findDpopHeaders(r, proof);
    if (headers == 0) {
        return;  // nothing to check: the proof's absence is refused where one is needed
    }
    if (lcf->dpop_origin.len != 0) {
        url = std::string(view(lcf->dpop_origin)).append(requestPath(r));
    } else if (std::optional<std::string> origin = requestOrigin(r)) {
        url = origin->append(requestPath(r));
    }
    replays.emplace(replaysOf(zone));
    if (scf->dpop_nonce == 1) {
        auto *mcf =
            static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
        nonces.emplace(mcf->dpop_secret);
    }
}

oauth::BearerRequest bearerRequestOf(ngx_http_request_t *r, ngx_shm_zone_t *zone,
                                     oauth::Digest &thumbprint, DpopRequest &dpop) {
    dpop.read(r, zone);
    oauth::BearerRequest request;
    request.authorization_headers = countAuthorizationHeaders(r);
    request.authorization = headerValue(r->headers_in.authorization);
    request.certificate_thumbprint = clientCertificateThumbprint(r, thumbprint);
    request.dpop_headers = dpop.headers;
    request.dpop_proof = dpop.proof;
    request.method = view(r->method_name);
    request.url = dpop.url;
    request.dpop = dpop.policy();
    return request;
}

ngx_int_t addDpopNonce(ngx_http_request_t *r) {
    auto *scf = static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module));
    if (scf->dpop_nonce != 1) {
        return NGX_OK;
    }
    auto *mcf = static_cast<MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_oauth_module));
    return addHeader(r, ngx_string("DPoP-Nonce"),
                     oauth::jose::DpopNonces(mcf->dpop_secret).current(uint32_t(ngx_time())));
}

// oauth_dpop_origin URL: an http or https origin, as RFC 6454 writes one:
// no path, query, fragment or user.
char *setDpopOrigin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
    char *rc = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rc != NGX_CONF_OK) {
        return rc;
    }
    std::string_view origin = view(static_cast<LocationConf *>(conf)->dpop_origin);
    size_t authority = origin.find("://");
    bool http = origin.rfind("http://", 0) == 0 || origin.rfind("https://", 0) == 0;
    if (!http || origin.size() == authority + 3 ||
        origin.find_first_of("/?#@ ", authority + 3) != std::string_view::npos) {
        return const_cast<char *>(
            "needs an origin: http:// or https://, a host and an optional port, nothing after");
    }
    return NGX_CONF_OK;
}

}  // namespace oauth_ngx
