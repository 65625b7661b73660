// Signing keys (oauth_signing_key), the JWK Set they publish (oauth_jwks),
// and the checks that a token endpoint issuing JWTs has what it needs.
#include "ngx/module.hpp"
#include "ngx/file_io.hpp"
#include "ngx/jwks_source.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdint>
#include <new>

#include "core/endpoints/metadata.hpp"

namespace oauth_ngx {

namespace {

// The whole file, or false with the error logged against the directive.
// `shared`, when given: whether users other than its owner may read it.
bool readConfFile(ngx_conf_t *cf, const char *directive, const ngx_str_t &path, std::string &text,
                  bool *shared = nullptr) {
    FileRead read = readWholeFile(path, text, SIZE_MAX, shared);
    if (read != FileRead::ok) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "%s: cannot %s \"%V\"", directive,
                           read == FileRead::cannot_open ? "open" : "read", &path);
        return false;
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
    bool shared = false;
    if (!readConfFile(cf, "oauth_signing_key", path, pem, &shared)) {
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
    // Only once the file is known to hold a private key: a public key's
    // permissions are no concern, and its error is the one to act on.
    if (shared) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "oauth_signing_key: \"%V\" is readable by other users; "
                           "a private key should be readable by its owner only (chmod 600)",
                           &path);
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

bool readTrustedKeys(ngx_conf_t *cf, const ngx_str_t &path, oauth::jose::TrustedIssuer &trusted) {
    std::string json;
    if (!readConfFile(cf, "oauth_trust_issuer", path, json)) {
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
    return true;
}

// Keys from a URL: the source every location naming the same issuer and URL
// shares, and so the shared record and the fetch.
bool addJwksSource(ngx_conf_t *cf, JwksSource &&source, oauth::jose::TrustedIssuer &trusted) {
    if (sourceKey(source).size() > sizeof(SharedSource::key)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_trust_issuer: the URL is too long");
        return false;
    }
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_oauth_module));
    if (mcf->jwks_sources == nullptr) {
        mcf->jwks_sources = newInConfPool<JwksSources>(cf);
        if (mcf->jwks_sources == nullptr) {
            return false;
        }
    }
    std::vector<JwksSource> &list = mcf->jwks_sources->list;
    std::string key = sourceKey(source);
    auto known = std::find_if(list.begin(), list.end(),
                              [&key](const JwksSource &one) { return sourceKey(one) == key; });
    if (known == list.end()) {
        list.push_back(std::move(source));
        known = list.end() - 1;
    }
    trusted.source = size_t(known - list.begin()) + 1;
    return true;
}

bool addTrustedIssuer(ngx_conf_t *cf, LocationConf *lcf, oauth::jose::TrustedIssuer &&trusted) {
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
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_trust_issuer: duplicate issuer \"%s\"",
                               trusted.issuer.c_str());
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

namespace {

// What oauth_trust_issuer says of where the keys are, and how often to
// fetch them again when they come from a URL.
struct KeysPlace {
    ngx_str_t file{};  // jwks=FILE
    ngx_str_t url{};   // jwks_uri=URL
    bool discovery = false;
    ngx_str_t refresh{};  // refresh=TIME; empty: not written
};

bool hasPrefix(const ngx_str_t &value, std::string_view prefix) {
    return view(value).substr(0, prefix.size()) == prefix && value.len > prefix.size();
}

ngx_str_t after(const ngx_str_t &value, size_t prefix) {
    return ngx_str_t{value.len - prefix, value.data + prefix};
}

bool isWebUrl(std::string_view text) {
    return (text.substr(0, 8) == "https://" && text.size() > 8) ||
           (text.substr(0, 7) == "http://" && text.size() > 7);
}

// The profile parameter `value` of an issuer's tokens (typ=, client_claim=,
// scope_claims=); false, with the error logged, for any other or a bad one.
bool readProfileOption(ngx_conf_t *cf, const ngx_str_t &value,
                       oauth::jose::ProfileOptions &options) {
    std::string error;
    switch (options.apply(view(value), error)) {
        case oauth::jose::ProfileOption::applied:
            return true;
        case oauth::jose::ProfileOption::unknown:
            error = "jwks=, jwks_uri=, discovery, refresh=, typ=, client_claim= or scope_claims= "
                    "is expected";
            break;
        case oauth::jose::ProfileOption::invalid:
            break;
    }
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_trust_issuer: invalid parameter \"%V\": %s",
                       &value, error.c_str());
    return false;
}

// The parameters after ISSUER: one of jwks=, jwks_uri= and discovery,
// refresh= with the last two, and the profile of the issuer's tokens.
bool readKeysPlace(ngx_conf_t *cf, KeysPlace &place, oauth::jose::ProfileOptions &profile) {
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    size_t places = 0;
    for (ngx_uint_t i = 2; i < cf->args->nelts; ++i) {
        if (hasPrefix(value[i], "jwks=")) {
            place.file = after(value[i], 5);
            ++places;
        } else if (hasPrefix(value[i], "jwks_uri=")) {
            place.url = after(value[i], 9);
            ++places;
        } else if (view(value[i]) == "discovery") {
            place.discovery = true;
            ++places;
        } else if (hasPrefix(value[i], "refresh=")) {
            place.refresh = after(value[i], 8);
        } else if (!readProfileOption(cf, value[i], profile)) {
            return false;
        }
    }
    if (places != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_trust_issuer: one of jwks=FILE, jwks_uri=URL or discovery is "
                           "expected");
        return false;
    }
    if (place.file.len != 0 && isWebUrl(view(place.file))) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_trust_issuer: jwks= takes a file; for keys from a URL, "
                           "write jwks_uri=%V",
                           &place.file);
        return false;
    }
    if (place.file.len != 0 && place.refresh.len != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_trust_issuer: refresh= is for jwks_uri= and discovery; a "
                           "jwks= file is read again on reload");
        return false;
    }
    return true;
}

// https, or http with a warning: keys taken over plain http can be anyone's.
bool checkKeysUrl(ngx_conf_t *cf, std::string_view url, const char *what) {
    ngx_str_t text{url.size(), reinterpret_cast<u_char *>(const_cast<char *>(url.data()))};
    if (!isWebUrl(url)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "oauth_trust_issuer: %s \"%V\" is not an https URL", what, &text);
        return false;
    }
    if (url.substr(0, 5) == "http:") {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "oauth_trust_issuer: %s \"%V\" is plain http: whoever is on the way "
                           "can make the keys; use https outside tests",
                           what, &text);
    }
    return true;
}

bool readUrlSource(ngx_conf_t *cf, const KeysPlace &place, oauth::jose::TrustedIssuer &trusted) {
    JwksSource source;
    source.issuer = trusted.issuer;
    source.discovery = place.discovery;
    source.url = place.discovery ? trusted.issuer : std::string(view(place.url));
    if (!checkKeysUrl(cf, source.url, place.discovery ? "the issuer" : "jwks_uri")) {
        return false;
    }
    if (place.refresh.len != 0) {
        ngx_str_t text = place.refresh;
        time_t refresh = ngx_parse_time(&text, 1);
        if (refresh == NGX_ERROR || refresh < time_t(oauth::jose::kShortestRefresh) ||
            refresh > 7 * 24 * 3600) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "oauth_trust_issuer: refresh=%V: a time from 1m to 7d is expected",
                               &place.refresh);
            return false;
        }
        source.refresh = uint32_t(refresh);
    }
    return addJwksSource(cf, std::move(source), trusted);
}

char *trustIssuer(ngx_conf_t *cf, LocationConf *lcf) {
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    KeysPlace place;
    oauth::jose::ProfileOptions profile;
    if (!readKeysPlace(cf, place, profile)) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    oauth::jose::TrustedIssuer trusted;
    trusted.issuer = std::string(view(value[1]));
    trusted.profile = profile.profile();
    if (place.file.len != 0) {
        if (ngx_conf_full_name(cf->cycle, &place.file, 0) != NGX_OK ||
            !readTrustedKeys(cf, place.file, trusted)) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    } else if (!readUrlSource(cf, place, trusted)) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    return addTrustedIssuer(cf, lcf, std::move(trusted)) ? NGX_CONF_OK
                                                         : static_cast<char *>(NGX_CONF_ERROR);
}

}  // namespace

// "oauth_trust_issuer ISSUER jwks=FILE | jwks_uri=URL | discovery
// [refresh=TIME] [typ=...] [client_claim=...] [scope_claims=...]": a file is read now, and again on every reload, so that a
// bad one fails nginx -t with its name; a URL is only checked for its form:
// nothing at nginx -t or start waits on an IdP (jwks_fetch.cpp fetches).
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
    try {
        return trustIssuer(cf, lcf);
    } catch (const std::bad_alloc &) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_trust_issuer: out of memory");
        return static_cast<char *>(NGX_CONF_ERROR);
    }
}

// The IdPs' certificates must chain to oauth_trusted_certificate, which must
// be readable now; the zone that shares the fetched keys is sized for the
// sources.
ngx_int_t checkJwksSources(ngx_conf_t *cf) {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_oauth_module));
    if (mcf->jwks_sources == nullptr || mcf->jwks_sources->list.empty()) {
        return NGX_OK;
    }
    ngx_str_t path = mcf->trusted_certificate;
    if (path.len == 0) {
        path = ngx_string("/etc/ssl/certs/ca-certificates.crt");
    } else if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_ERROR;
    }
    std::string pem;
    if (!readConfFile(cf, "oauth_trusted_certificate", path, pem)) {
        return NGX_ERROR;
    }
    try {
        mcf->jwks_sources->ca_file = std::string(view(path));
    } catch (const std::bad_alloc &) {
        return NGX_ERROR;
    }
    return addJwksZone(cf, *mcf->jwks_sources);
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
