// ngx_http_oauth_module: directives, configuration and the module itself.
// Every OAuth rule lives in src/core.
#include "ngx/module.hpp"
#include "ngx/jwks_source.hpp"
#include "ngx/file_io.hpp"

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "core/jose/verdict_cache.hpp"
#include "core/endpoints/metadata.hpp"
#include "core/endpoints/token_endpoint.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/http/text.hpp"

namespace oauth_ngx {

// ---- directives --------------------------------------------------------------

namespace {

// True, with the error said, when a zone of `size` bytes cannot hold its tables.
bool tooSmall(ngx_conf_t *cf, const ngx_str_t &arg, const ngx_str_t &name, size_t size,
              const oauth::ZoneOptions &options) {
    size_t minimum = zoneMinimumSize(name, options);
    if (size >= minimum) {
        return false;
    }
    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "oauth_token_zone \"%V\" is too small: at least %uzk is needed", &arg,
                       (minimum + 1023) / 1024);
    return true;
}

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
    Zone *zones = static_cast<Zone *>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; ++i) {
        if (zones[i].name.len == name.len &&
            ngx_strncmp(zones[i].name.data, name.data, name.len) == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate oauth_token_zone \"%V\"", &name);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }
    ngx_str_t state_file = ngx_null_string;
    if (cf->args->nelts == 3) {
        ngx_str_t param = value[2];
        if (param.len <= 6 || ngx_strncmp(param.data, "state=", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" in oauth_token_zone: state=FILE expected",
                               &param);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        state_file = {param.len - 6, param.data + 6};
        if (ngx_conf_full_name(cf->cycle, &state_file, 0) != NGX_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    }
    // The fleet's outbox is not known yet: checkZoneFitsFleet() checks it.
    const oauth::ZoneOptions options{state_file.len != 0, false};
    if (tooSmall(cf, arg, name, size, options)) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    const oauth::ZoneLayout layout = zoneLayout(size, name, options);
    // `nginx -t -q` asks for problems only, as nginx drops its own "test is
    // successful" then: the capacity is no problem.
    if (!(ngx_test_config && ngx_quiet_mode)) {
        ngx_conf_log_error(
            NGX_LOG_NOTICE, cf, 0,
            "oauth_token_zone \"%V\" (%V) holds about %uz tokens; each client "
            "holding tokens takes 1 more, plus 1 per %uz bytes of its id and scopes, and of "
            "its audiences; its revocation list holds %uz revocations, %uD per client",
            &name, &size_text, layout.token_capacity(), oauth::TokenStore::kTextBytesPerEntry,
            layout.revocation_capacity(),
            oauth::RevocationList::share_of(layout.revocation_capacity()));
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
    Zone *zone = static_cast<Zone *>(ngx_array_push(&mcf->zones));
    // The zone's init reads its configuration here; a copy, as the array may move.
    auto *initConf = static_cast<Zone *>(ngx_palloc(cf->pool, sizeof(Zone)));
    if (zone == nullptr || initConf == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    *zone = {name, shm, state_file, confPlace(cf), cf->cycle, false};
    *initConf = *zone;
    shm->init = initZone;
    shm->data = initConf;  // also marks it taken: a second directive naming it is refused above
    return NGX_CONF_OK;
}

void deleteRegistry(void *registry) {
    delete static_cast<oauth::Registry *>(registry);
}

// A client's "jwks_file", resolved as oauth_clients is: against the prefix.
oauth::RegistryFileReader keyFileReader(ngx_conf_t *cf) {
    return [cf](std::string_view name, std::string &error) -> std::optional<std::string> {
        ngx_str_t path = ngxString(cf->pool, name);
        if (path.data == nullptr || ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
            error = "cannot resolve the path";
            return std::nullopt;
        }
        std::string text;
        FileRead read = readWholeFile(path, text, 1024 * 1024);
        if (read == FileRead::too_long) {
            error = std::string(view(path)) + " is larger than 1 MiB";
        } else if (read != FileRead::ok) {
            error = std::string(read == FileRead::cannot_open ? "cannot open " : "cannot read ") +
                    std::string(view(path)) + ": " + std::strerror(ngx_errno);
        }
        return read == FileRead::ok ? std::optional<std::string>(std::move(text)) : std::nullopt;
    };
}

std::unique_ptr<oauth::Registry> loadRegistry(ngx_conf_t *cf, const ngx_str_t &path) {
    std::string json;
    FileRead read = readWholeFile(path, json);
    if (read != FileRead::ok) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno, "oauth_clients: cannot %s \"%V\"",
                           read == FileRead::cannot_open ? "open" : "read", &path);
        return nullptr;
    }
    oauth::RegistryError error;
    std::vector<std::string> warnings;
    std::unique_ptr<oauth::Registry> registry =
        oauth::Registry::parse(json, error, warnings, keyFileReader(cf));
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
    if (lcf->endpoint != nullptr || lcf->metadata == 1 || lcf->jwks == 1) {
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
        if (endpoint->kind == Endpoint::token && value[i].len > 7 &&
            ngx_strncmp(value[i].data, "format=", 7) == 0) {
            ngx_str_t format{value[i].len - 7, value[i].data + 7};
            endpoint->jwt = view(format) == "jwt";
            if (!endpoint->jwt && view(format) != "opaque") {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid format \"%V\": jwt or opaque is expected", &value[i]);
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
    if (lcf->endpoint != nullptr || lcf->metadata == 1 || lcf->jwks == 1) {
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

char *setRealm(ngx_conf_t *cf, ngx_command_t *cmd, void *conf) {
    char *rc = ngx_conf_set_str_slot(cf, cmd, conf);
    if (rc != NGX_CONF_OK) {
        return rc;
    }
    std::optional<std::string> problem;
    try {
        problem = oauth::check_realm(view(static_cast<LocationConf *>(conf)->realm));
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (problem) {
        // Not the value itself: it holds the character that would break the log line.
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid oauth_realm: %s", problem->c_str());
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
    auto *check = newInConfPool<ScopeCheckConf>(cf);
    if (check == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
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

// "oauth_require_audience URI ..." or "oauth_require_audience off".
char *setRequireAudience(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *lcf = static_cast<LocationConf *>(conf);
    if (lcf->require_audience != NGX_CONF_UNSET_PTR) {
        return const_cast<char *>("is duplicate");
    }
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        lcf->require_audience = nullptr;
        return NGX_CONF_OK;
    }
    auto *required = newInConfPool<oauth::AudienceRequirement>(cf);
    if (required == nullptr) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    try {
        std::vector<std::string_view> audiences;
        for (ngx_uint_t i = 1; i < cf->args->nelts; ++i) {
            audiences.push_back(view(value[i]));
        }
        std::string error;
        if (!oauth::AudienceRequirement::compile(audiences, *required, error)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_require_audience: %s", error.c_str());
            return static_cast<char *>(NGX_CONF_ERROR);
        }
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    lcf->require_audience = required;
    if (cf->cmd_type & (NGX_HTTP_LOC_CONF | NGX_HTTP_LIF_CONF)) {
        lcf->audience_place = confPlace(cf);
    }
    return NGX_CONF_OK;
}

// An audience is checked only on a token the location checks: written in a
// location that checks none, it would protect nothing while seeming to.
char *checkAudienceGate(ngx_conf_t *cf, const LocationConf *conf) {
    if (conf->audience_place.line == 0 || conf->require_audience == nullptr ||
        conf->require_scope != nullptr) {
        return NGX_CONF_OK;
    }
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "oauth_require_audience checks nothing in a location without "
                  "oauth_require_scope, in %V:%ui",
                  &conf->audience_place.file, conf->audience_place.line);
    return static_cast<char *>(NGX_CONF_ERROR);
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

char *checkLeeway(ngx_conf_t *, void *, void *data) {
    return *static_cast<time_t *>(data) > time_t(oauth::jose::kMaxLeeway)
               ? const_cast<char *>(
                     "is longer than 5m, the time a revoked JWT is remembered "
                     "past its exp")
               : NGX_CONF_OK;
}

ngx_conf_post_t kLeewayBound = {checkLeeway};

ngx_command_t commands[] = {
    {ngx_string("oauth_token_zone"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE12, setTokenZone,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_clients"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, setClients,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_token_endpoint"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS | NGX_CONF_TAKE123,
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
    {ngx_string("oauth_metrics"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS, setMetrics,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_issuer"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_CONF_TAKE1, setIssuer,
     NGX_HTTP_SRV_CONF_OFFSET, offsetof(ServerConf, issuer), nullptr},
    {ngx_string("oauth_require_scope"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_ANY, setRequireScope,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_require_audience"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_1MORE,
     setRequireAudience, NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_signing_key"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_CONF_TAKE12,
     setSigningKey, NGX_HTTP_SRV_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_jwks"), NGX_HTTP_LOC_CONF | NGX_CONF_NOARGS, setJwks,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_trust_issuer"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_2MORE, setTrustIssuer,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_trusted_certificate"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_str_slot, NGX_HTTP_MAIN_CONF_OFFSET, offsetof(MainConf, trusted_certificate),
     nullptr},
    {ngx_string("oauth_jwt_leeway"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
     ngx_conf_set_sec_slot, NGX_HTTP_LOC_CONF_OFFSET, offsetof(LocationConf, jwt_leeway),
     &kLeewayBound},
    {ngx_string("oauth_fleet_redis"), NGX_HTTP_MAIN_CONF | NGX_CONF_1MORE, setFleetRedis,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_require_claim"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_1MORE, setRequireClaim,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_claim_set"), NGX_HTTP_MAIN_CONF | NGX_CONF_TAKE2, setClaimVariable,
     NGX_HTTP_MAIN_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_resource_metadata"), NGX_HTTP_LOC_CONF | NGX_CONF_ANY, setResourceMetadata,
     NGX_HTTP_LOC_CONF_OFFSET, 0, nullptr},
    {ngx_string("oauth_dpop_nonce"), NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_CONF_FLAG,
     ngx_conf_set_flag_slot, NGX_HTTP_SRV_CONF_OFFSET, offsetof(ServerConf, dpop_nonce), nullptr},
    {ngx_string("oauth_dpop_origin"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, setDpopOrigin,
     NGX_HTTP_LOC_CONF_OFFSET, offsetof(LocationConf, dpop_origin), nullptr},
    {ngx_string("oauth_realm"),
     NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1, setRealm,
     NGX_HTTP_LOC_CONF_OFFSET, offsetof(LocationConf, realm), nullptr},
    ngx_null_command};

// ---- module context ------------------------------------------------------------

void *createMainConf(ngx_conf_t *cf) {
    auto *mcf = static_cast<MainConf *>(ngx_pcalloc(cf->pool, sizeof(MainConf)));
    if (mcf == nullptr || ngx_array_init(&mcf->zones, cf->pool, 2, sizeof(Zone)) != NGX_OK) {
        return nullptr;
    }
    if (!oauth::jose::DpopNonces::make_secret(mcf->dpop_secret)) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0, "the CSPRNG failed to make the DPoP nonce secret");
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
    lcf->require_audience = static_cast<oauth::AudienceRequirement *>(NGX_CONF_UNSET_PTR);
    lcf->metadata = NGX_CONF_UNSET;
    lcf->auth_failure_limit = NGX_CONF_UNSET;
    lcf->auth_failure_window = NGX_CONF_UNSET;
    lcf->auth_failure_block = NGX_CONF_UNSET;
    lcf->jwt_leeway = NGX_CONF_UNSET;
    lcf->trusted = static_cast<std::vector<oauth::jose::TrustedIssuer> *>(NGX_CONF_UNSET_PTR);
    lcf->require_claims =
        static_cast<std::vector<oauth::jose::ClaimRequirement> *>(NGX_CONF_UNSET_PTR);
    return lcf;
}

void *createServerConf(ngx_conf_t *cf) {
    auto *scf = static_cast<ServerConf *>(ngx_pcalloc(cf->pool, sizeof(ServerConf)));
    if (scf != nullptr) {
        scf->dpop_nonce = NGX_CONF_UNSET;
    }
    return scf;
}

char *mergeServerConf(ngx_conf_t *, void *parent, void *child) {
    auto *prev = static_cast<ServerConf *>(parent);
    auto *conf = static_cast<ServerConf *>(child);
    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_value(conf->dpop_nonce, prev->dpop_nonce, 0);
    if (conf->signing_keys == nullptr) {
        conf->signing_keys = prev->signing_keys;
    }
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
    if (endpoint->jwt && checkJwtIssuance(cf, endpoint) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    // A client assertion's aud names the issuer (or a URL built from it):
    // without one, a private_key_jwt client could never authenticate.
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    const oauth::Client *keyed = conf->clients->first_with(oauth::AuthMethod::private_key_jwt);
    if (keyed != nullptr && scf->issuer.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "%s needs oauth_issuer in %V:%ui: client \"%s\" uses private_key_jwt",
                      directive, &endpoint->place.file, endpoint->place.line, keyed->id.c_str());
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    endpoint->zone = resolveZone(cf, endpoint->zone_name, endpoint->place, directive);
    noteFleetEndpoint(cf, *endpoint, *conf->clients);
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
        oauth::MetadataConfig metadata{view(scf->issuer),    view(scf->paths[0]),
                                       view(scf->paths[1]),  view(scf->paths[2]),
                                       view(scf->jwks_path), scf->paths[0].len != 0};
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
    ngx_conf_merge_str_value(conf->dpop_origin, prev->dpop_origin, "");
    ngx_conf_merge_ptr_value(conf->require_scope, prev->require_scope, nullptr);
    ngx_conf_merge_ptr_value(conf->require_audience, prev->require_audience, nullptr);
    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway, 0);
    ngx_conf_merge_ptr_value(conf->trusted, prev->trusted, nullptr);
    ngx_conf_merge_ptr_value(conf->require_claims, prev->require_claims, nullptr);
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

    if (checkOwnJwtGate(cf, conf) != NGX_CONF_OK || checkAudienceGate(cf, conf) != NGX_CONF_OK ||
        checkClaimGate(cf, conf) != NGX_CONF_OK ||
        checkResourceMetadataOpen(cf, conf) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    warnUntypedWithoutAudience(cf, conf);
    if (conf->endpoint != nullptr && mergeEndpoint(cf, conf) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (conf->jwks == 1 && mergeJwks(cf, conf) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    if (conf->metadata == 1 && renderMetadata(cf, conf) != NGX_CONF_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    return NGX_CONF_OK;
}

ngx_int_t postConfiguration(ngx_conf_t *cf) {
    if (registerAccessHandler(cf) != NGX_OK || checkJwksSources(cf) != NGX_OK) {
        return NGX_ERROR;
    }
    return checkFleet(cf);
}

ngx_int_t startProcess(ngx_cycle_t *cycle) {
    if (startStateWriters(cycle) != NGX_OK || startFleet(cycle) != NGX_OK) {
        return NGX_ERROR;
    }
    return startJwksFetching(cycle);
}

// The fleet first: its link goes before the last snapshot is written.
void exitProcess(ngx_cycle_t *cycle) {
    stopJwksFetching(cycle);
    stopFleet(cycle);
    stopStateWriters(cycle);
}

ngx_http_module_t moduleContext = {
    addVariables,        // preconfiguration
    postConfiguration,   // postconfiguration
    createMainConf,      // create main configuration
    nullptr,             // init main configuration
    createServerConf,    // create server configuration
    mergeServerConf,     // merge server configuration
    createLocationConf,  // create location configuration
    mergeLocationConf    // merge location configuration
};

}  // namespace

}  // namespace oauth_ngx

using namespace oauth_ngx;

ngx_module_t ngx_http_oauth_module = {NGX_MODULE_V1,
                                      &moduleContext,
                                      commands,
                                      NGX_HTTP_MODULE,
                                      nullptr,       // init master
                                      nullptr,       // init module
                                      startProcess,  // init process
                                      nullptr,       // init thread
                                      nullptr,       // exit thread
                                      exitProcess,   // exit process
                                      nullptr,       // exit master
                                      NGX_MODULE_V1_PADDING};
