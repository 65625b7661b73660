// Signing keys (oauth_signing_key), the JWK Set they publish (oauth_jwks),
// and the checks that a token endpoint issuing JWTs has what it needs.
#include "ngx/module.hpp"
#include "ngx/file_io.hpp"

#include <openssl/crypto.h>

#include <cstdint>
#include <new>

#include "core/endpoints/metadata.hpp"

namespace oauth_ngx {

namespace {

// The whole file, or false with the error logged against the directive.
// `secret`: warn when others may read it.
bool readConfFile(ngx_conf_t *cf, const char *directive, const ngx_str_t &path, bool secret,
                  std::string &text) {
    bool shared = false;
    FileRead read = readWholeFile(path, text, SIZE_MAX, &shared);
    if (read != FileRead::ok) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "%s: cannot %s \"%V\"", directive,
                           read == FileRead::cannot_open ? "open" : "read", &path);
        return false;
    }
    if (secret && shared) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "%s: \"%V\" is readable by other users; "
                           "a private key should be readable by its owner only (chmod 600)",
                           directive, &path);
    }
    return true;
}

SigningKeys *keysOf(ngx_conf_t *cf, ServerConf *scf) {
    if (scf->signing_keys != nullptr) {
        return scf->signing_keys;
    }
    scf->signing_keys = newInConfPool<SigningKeys>(cf);
    return scf->signing_keys;
}

bool addSigningKey(ngx_conf_t *cf, ServerConf *scf, const ngx_str_t &path, std::string_view kid) {
    std::string pem;
    if (!readConfFile(cf, "oauth_signing_key", path, true, pem)) {
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

// A key left out is named, so that a token it signs is understood; an
// encryption key is expected in a set and gets a notice, anything else a
// warning.
void logSkippedKeys(ngx_conf_t *cf, const ngx_str_t &path,
                    const std::vector<oauth::jose::SkippedKey> &skipped) {
    for (const oauth::jose::SkippedKey &key : skipped) {
        ngx_conf_log_error(key.alarming ? NGX_LOG_WARN : NGX_LOG_NOTICE, cf, 0,
                           "oauth_trust_issuer: \"%V\": key %uz (kid \"%s\") skipped: %s", &path,
                           key.position, key.kid.c_str(), key.why.c_str());
    }
}

// The parameters after jwks=FILE: the profile of the issuer's tokens.
bool readProfile(ngx_conf_t *cf, oauth::jose::TokenProfile &profile) {
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    oauth::jose::ProfileOptions options;
    for (ngx_uint_t i = 3; i < cf->args->nelts; ++i) {
        std::string error;
        switch (options.apply(view(value[i]), error)) {
            case oauth::jose::ProfileOption::applied:
                continue;
            case oauth::jose::ProfileOption::unknown:
                error = "typ=, client_claim= or scope_claims= is expected";
                break;
            case oauth::jose::ProfileOption::invalid:
                break;
        }
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_trust_issuer: invalid parameter \"%V\": %s",
                           &value[i], error.c_str());
        return false;
    }
    profile = options.profile();
    return true;
}

bool addTrustedIssuer(ngx_conf_t *cf, LocationConf *lcf, const ngx_str_t &issuer,
                      const ngx_str_t &path) {
    oauth::jose::TrustedIssuer trusted{std::string(view(issuer)), {}, {}};
    if (!readProfile(cf, trusted.profile)) {
        return false;
    }
    std::string json;
    if (!readConfFile(cf, "oauth_trust_issuer", path, false, json)) {
        return false;
    }
    std::vector<oauth::jose::SkippedKey> skipped;
    std::string error;
    bool parsed = oauth::jose::parse_jwk_set(json, trusted.keys, skipped, error);
    // A set may hold a private key by mistake: its text is not kept.
    OPENSSL_cleanse(json.data(), json.size());
    logSkippedKeys(cf, path, skipped);
    if (!parsed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_trust_issuer: \"%V\": %s", &path,
                           error.c_str());
        return false;
    }
    if (lcf->trusted == NGX_CONF_UNSET_PTR) {
        auto *list = new std::vector<oauth::jose::TrustedIssuer>();
        ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cf->pool, 0);
        if (cleanup == nullptr) {
            delete list;
            return false;
        }
        cleanup->handler = [](void *data) {
            delete static_cast<std::vector<oauth::jose::TrustedIssuer> *>(data);
        };
        cleanup->data = list;
        lcf->trusted = list;
    }
    for (const oauth::jose::TrustedIssuer &known : *lcf->trusted) {
        if (known.issuer == trusted.issuer) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_trust_issuer: duplicate issuer \"%V\"",
                               &issuer);
            return false;
        }
    }
    lcf->trusted->push_back(std::move(trusted));
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

// "oauth_trust_issuer ISSUER jwks=FILE [typ=...] [client_claim=...]
// [scope_claims=...]": the JWK Set is read now, and again on every reload, so
// that a bad one fails nginx -t with its name.
char *setTrustIssuer(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    std::optional<std::string> problem;
    try {
        problem = oauth::check_issuer(view(value[1]));
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (problem) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid issuer \"%V\": %s", &value[1],
                           problem->c_str());
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (value[2].len <= 5 || ngx_strncmp(value[2].data, "jwks=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\": jwks=FILE is expected",
                           &value[2]);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    ngx_str_t path{value[2].len - 5, value[2].data + 5};
    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    try {
        return addTrustedIssuer(cf, lcf, value[1], path) ? NGX_CONF_OK
                                                         : static_cast<char *>(NGX_CONF_ERROR);
    } catch (const std::bad_alloc &) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_trust_issuer: out of memory");
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
