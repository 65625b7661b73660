// Signing keys (oauth_signing_key), the JWK Set they publish (oauth_jwks),
// and the checks that a token endpoint issuing JWTs has what it needs.
#include "ngx/module.hpp"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <cstdio>
#include <new>

#include "core/metadata.hpp"

namespace oauth_ngx {

namespace {

// The whole file, or false with the error logged against the directive.
bool readKeyFile(ngx_conf_t *cf, const ngx_str_t &path, std::string &text) {
    std::string file(view(path));
    std::FILE *f = std::fopen(file.c_str(), "rb");
    if (f == nullptr) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "oauth_signing_key: cannot open \"%V\"",
                           &path);
        return false;
    }
    char chunk[4096];
    for (size_t n; (n = std::fread(chunk, 1, sizeof(chunk), f)) > 0;) {
        text.append(chunk, n);
    }
    bool failed = std::ferror(f) != 0;
    struct stat st;
    bool shared = fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
    std::fclose(f);
    if (failed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "oauth_signing_key: cannot read \"%V\"",
                           &path);
        return false;
    }
    if (shared) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "oauth_signing_key: \"%V\" is readable by other users; "
                           "a private key should be readable by its owner only (chmod 600)",
                           &path);
    }
    return true;
}

SigningKeys *keysOf(ngx_conf_t *cf, ServerConf *scf) {
    if (scf->signing_keys != nullptr) {
        return scf->signing_keys;
    }
    auto *keys = new (std::nothrow) SigningKeys();
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cf->pool, 0);
    if (keys == nullptr || cleanup == nullptr) {
        delete keys;
        return nullptr;
    }
    cleanup->handler = [](void *data) { delete static_cast<SigningKeys *>(data); };
    cleanup->data = keys;
    scf->signing_keys = keys;
    return keys;
}

bool addSigningKey(ngx_conf_t *cf, ServerConf *scf, const ngx_str_t &path, std::string_view kid) {
    std::string pem;
    if (!readKeyFile(cf, path, pem)) {
        return false;
    }
    oauth::jose::Key key;
    std::string error;
    bool loaded = oauth::jose::load_private_key(pem, kid, key, error);
    OPENSSL_cleanse(pem.data(), pem.size());
    if (!loaded) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_signing_key: \"%V\" holds %s", &path,
                           error.c_str());
        return false;
    }
    SigningKeys *keys = keysOf(cf, scf);
    if (keys == nullptr) {
        return false;
    }
    if (oauth::jose::find_key(keys->keys, key.kid) != nullptr) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_signing_key: duplicate kid \"%s\" for \"%V\"", key.kid.c_str(),
                           &path);
        return false;
    }
    keys->keys.push_back(std::move(key));
    keys->jwks = oauth::jose::render_jwk_set(keys->keys);
    return true;
}

ngx_int_t jwksHandler(ngx_http_request_t *r) {
    ngx_int_t rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }
    auto *scf = static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module));
    try {
        return sendResponse(
            r, oauth::handle_metadata_request(view(r->method_name), scf->signing_keys->jwks));
    } catch (const std::bad_alloc &) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}

}  // namespace

// "oauth_signing_key FILE [kid=ID]": the key is read and checked now, so that
// nginx -t names a bad one with the directive's file and line.
char *setSigningKey(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *scf = static_cast<ServerConf *>(conf);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    ngx_str_t path = value[1];
    std::string_view kid;
    if (cf->args->nelts == 3) {
        if (value[2].len <= 4 || ngx_strncmp(value[2].data, "kid=", 4) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\": kid=ID is expected",
                               &value[2]);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        kid = view(value[2]).substr(4);
    }
    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    try {
        return addSigningKey(cf, scf, path, kid) ? NGX_CONF_OK
                                                 : static_cast<char *>(NGX_CONF_ERROR);
    } catch (const std::bad_alloc &) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_signing_key: out of memory");
        return static_cast<char *>(NGX_CONF_ERROR);
    }
}

char *setJwks(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    if (lcf->endpoint != nullptr || lcf->metadata == 1 || lcf->jwks == 1) {
        return const_cast<char *>("is duplicate, or the location holds another oauth endpoint");
    }
    lcf->jwks = 1;
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = jwksHandler;
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    if (scf->jwks_path.len == 0 && clcf->regex == nullptr && !clcf->named) {
        scf->jwks_path = clcf->name;
    }
    lcf->jwks_place = confPlace(cf);
    return NGX_CONF_OK;
}

char *mergeJwks(ngx_conf_t *cf, LocationConf *conf) {
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    if (scf->signing_keys == nullptr) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "oauth_jwks needs oauth_signing_key in %V:%ui",
                      &conf->jwks_place.file, conf->jwks_place.line);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

// RFC 9068 §2.2: iss is required, and a token is nothing without a signature.
char *checkJwtIssuance(ngx_conf_t *cf, const EndpointConf *endpoint) {
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    const char *missing = scf->issuer.len == 0           ? "oauth_issuer"
                          : scf->signing_keys == nullptr ? "oauth_signing_key"
                                                         : nullptr;
    if (missing != nullptr) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oauth_token_endpoint format=jwt needs %s in %V:%ui", missing,
                      &endpoint->place.file, endpoint->place.line);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

}  // namespace oauth_ngx
