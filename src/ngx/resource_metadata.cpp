// oauth_resource_metadata: RFC 9728 Protected Resource Metadata, and the
// resource_metadata= its server's 401 challenges carry (§5.1). The document
// is core/endpoints/resource_metadata.hpp's.
#include "ngx/module.hpp"

#include "core/endpoints/resource_metadata.hpp"
#include "core/endpoints/metadata.hpp"

#include <algorithm>

namespace oauth_ngx {

std::optional<std::string> requestOrigin(ngx_http_request_t *r) {
    bool https = false;
#if (NGX_HTTP_SSL)
    https = r->connection->ssl != nullptr;
#endif
    std::string_view host = headerValue(r->headers_in.host);
    if (host.empty()) {
        auto *cscf = static_cast<ngx_http_core_srv_conf_t *>(
            ngx_http_get_module_srv_conf(r, ngx_http_core_module));
        host = view(cscf->server_name);
    }
    return oauth::resource_of_request(https, host);
}

namespace {

// oauth_issuer, then each trusted issuer, once.
std::vector<std::string_view> authorizationServersOf(ngx_http_request_t *r,
                                                     const LocationConf *lcf) {
    auto *scf = static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module));
    std::vector<std::string_view> servers;
    if (scf->issuer.len != 0) {
        servers.push_back(view(scf->issuer));
    }
    for (size_t i = 0; lcf->trusted != nullptr && i < lcf->trusted->size(); ++i) {
        std::string_view issuer = (*lcf->trusted)[i].issuer;
        if (std::find(servers.begin(), servers.end(), issuer) == servers.end()) {
            servers.push_back(issuer);
        }
    }
    return servers;
}

ngx_int_t resourceMetadataHandler(ngx_http_request_t *r) {
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    auto *lcf = static_cast<LocationConf *>(ngx_http_get_module_loc_conf(r, ngx_http_oauth_module));
    const ResourceMetadataConf &conf = *lcf->resource_metadata;
    try {
        std::optional<std::string> requested;
        if (conf.resource.len == 0 && !(requested = requestOrigin(r))) {
            return NGX_HTTP_BAD_REQUEST;
        }
        oauth::ResourceMetadataConfig document{
            conf.resource.len == 0 ? std::string_view(*requested) : view(conf.resource),
            authorizationServersOf(r, lcf),
            std::vector<std::string_view>(conf.scopes.begin(), conf.scopes.end())};
        return sendResponse(
            r, oauth::handle_metadata_request(view(r->method_name),
                                              oauth::render_resource_metadata(document)));
    } catch (const std::bad_alloc &) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}

// "resource=URI" or "scopes=SCOPE"; a bare argument after scopes= is one more scope.
bool parseResourceMetadataArgument(ngx_conf_t *cf, const ngx_str_t &arg, ResourceMetadataConf &conf,
                                   bool &in_scopes) {
    std::string_view text = view(arg);
    if (text.rfind("resource=", 0) == 0) {
        in_scopes = false;
        conf.resource = {arg.len - 9, arg.data + 9};
        std::optional<std::string> problem = oauth::check_resource_identifier(view(conf.resource));
        if (problem) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid resource \"%V\": %s", &conf.resource,
                               problem->c_str());
            return false;
        }
        return true;
    }
    if (text.rfind("scopes=", 0) == 0) {
        in_scopes = true;
        text.remove_prefix(7);
    } else if (!in_scopes) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": resource= or scopes= is expected", &arg);
        return false;
    }
    oauth::ScopeRequirement scope;
    std::string error;
    if (!oauth::ScopeRequirement::compile({text}, scope, error)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_resource_metadata: %s", error.c_str());
        return false;
    }
    conf.scopes.emplace_back(text);
    return true;
}

}  // namespace

char *setResourceMetadata(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    if (lcf->resource_metadata != nullptr || lcf->endpoint != nullptr || lcf->metadata == 1 ||
        lcf->jwks == 1) {
        return const_cast<char *>("is duplicate, or the location holds another oauth endpoint");
    }
    auto *metadata = newInConfPool<ResourceMetadataConf>(cf);
    if (metadata == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    bool in_scopes = false;
    try {
        for (ngx_uint_t i = 1; i < cf->args->nelts; ++i) {
            if (!parseResourceMetadataArgument(cf, value[i], *metadata, in_scopes)) {
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    metadata->place = confPlace(cf);
    lcf->resource_metadata = metadata;
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = resourceMetadataHandler;
    // The first such location of a server is the one its challenges name.
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    if (scf->resource_metadata_path.len == 0 && clcf->regex == nullptr && !clcf->named) {
        scf->resource_metadata_path = clcf->name;
    }
    return NGX_CONF_OK;
}

char *checkResourceMetadataOpen(ngx_conf_t *cf, const LocationConf *conf) {
    if (conf->resource_metadata == nullptr || conf->require_scope == nullptr) {
        return NGX_CONF_OK;
    }
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "oauth_resource_metadata in a location that oauth_require_scope protects: "
                  "no client could read it; add \"oauth_require_scope off;\" there, in %V:%ui",
                  &conf->resource_metadata->place.file, conf->resource_metadata->place.line);
    return static_cast<char *>(NGX_CONF_ERROR);
}

std::string resourceMetadataUrl(ngx_http_request_t *r) {
    auto *scf = static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module));
    if (scf->resource_metadata_path.len == 0) {
        return {};
    }
    std::optional<std::string> resource = requestOrigin(r);
    return resource ? *resource + std::string(view(scf->resource_metadata_path)) : std::string();
}

}  // namespace oauth_ngx
