// oauth_fleet_redis and its checks: the address, the password file, the
// database and the key prefix as written; the tokens' lifetimes that the
// stream keeps; the signing keys that sign and check its entries.
#include "ngx/fleet.hpp"
#include "ngx/file_io.hpp"

#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "core/fleet/horizon.hpp"
#include "core/http/text.hpp"

namespace oauth_ngx {

namespace {

bool startsWith(const ngx_str_t &s, std::string_view prefix) {
    return view(s).substr(0, prefix.size()) == prefix;
}

char *parseAddress(ngx_conf_t *cf, const ngx_str_t &address, FleetConf &fleet) {
    if (startsWith(address, "unix:")) {
        fleet.unix_path.assign(view(address).substr(5));
        if (fleet.unix_path.empty()) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in oauth_fleet_redis: unix:PATH is "
                               "expected",
                               &address);
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        return NGX_CONF_OK;
    }
    ngx_url_t url{};
    url.url = address;
    if (ngx_parse_url(cf->pool, &url) != NGX_OK || url.no_port || url.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid address \"%V\" in oauth_fleet_redis: %s",
                           &address,
                           url.err != nullptr ? url.err
                           : url.no_port      ? "host:port or unix:PATH is expected"
                                              : "host not found");
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    u_char text[NGX_SOCKADDR_STRLEN];
    size_t len =
        ngx_sock_ntop(url.addrs[0].sockaddr, url.addrs[0].socklen, text, NGX_SOCKADDR_STRLEN, 0);
    fleet.host.assign(reinterpret_cast<char *>(text), len);
    fleet.port = int(url.port);
    return NGX_CONF_OK;
}

// A password file holds less than 1k, its newline included.
constexpr size_t kPasswordFileMax = 1023;

char *readPassword(ngx_conf_t *cf, ngx_str_t path, FleetConf &fleet) {
    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    std::string bytes;
    FileRead read = readWholeFile(path, bytes, kPasswordFileMax);
    if (read == FileRead::cannot_open) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "oauth_fleet_redis: cannot read password_file \"%V\"", &path);
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    bool failed = read != FileRead::ok;
    std::string_view password(bytes);
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
        password.remove_suffix(1);
    }
    if (failed || password.empty()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "oauth_fleet_redis: password_file \"%V\" %s",
                           &path, failed ? "cannot be read whole (1k at most)" : "is empty");
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    fleet.password.assign(password);
    return NGX_CONF_OK;
}

void deleteFleetConf(void *fleet) {
    delete static_cast<FleetConf *>(fleet);
}

// The zone's tables with the fleet's outbox beside them: oauth_token_zone
// checked them without it.
bool fitsOutbox(ngx_conf_t *cf, const Zone &zone) {
    size_t minimum = zoneMinimumSize(zone.name, {zone.state_file.len != 0, true});
    if (zone.shm->shm.size >= minimum) {
        return true;
    }
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "oauth_token_zone \"%V\" is too small for oauth_fleet_redis: at least %uzk is "
                  "needed, in %V:%ui",
                  &zone.name, (minimum + 1023) / 1024, &zone.place.file, zone.place.line);
    return false;
}

}  // namespace

// "oauth_fleet_redis ADDRESS [password_file=FILE] [db=N] [key=PREFIX]"
char *setFleetRedis(ngx_conf_t *cf, ngx_command_t *, void *conf) {
    auto *mcf = static_cast<MainConf *>(conf);
    if (mcf->fleet != nullptr) {
        return const_cast<char *>("is duplicate");
    }
    auto *fleet = new (std::nothrow) FleetConf();
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cf->pool, 0);
    if (fleet == nullptr || cleanup == nullptr) {
        delete fleet;
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    cleanup->handler = deleteFleetConf;
    cleanup->data = fleet;
    ngx_str_t *value = static_cast<ngx_str_t *>(cf->args->elts);
    try {
        fleet->address = value[1];
        fleet->place = confPlace(cf);
        if (parseAddress(cf, value[1], *fleet) != NGX_CONF_OK) {
            return static_cast<char *>(NGX_CONF_ERROR);
        }
        for (ngx_uint_t i = 2; i < cf->args->nelts; ++i) {
            const ngx_str_t &arg = value[i];
            if (startsWith(arg, "password_file=") && arg.len > 14) {
                if (readPassword(cf, {arg.len - 14, arg.data + 14}, *fleet) != NGX_CONF_OK) {
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
            } else if (startsWith(arg, "db=")) {
                fleet->db = ngx_atoi(arg.data + 3, arg.len - 3);
                if (fleet->db == NGX_ERROR || fleet->db > 65535) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid db \"%V\" in oauth_fleet_redis: a database "
                                       "number from 0 is expected",
                                       &arg);
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
            } else if (startsWith(arg, "key=") && arg.len > 4) {
                fleet->prefix.assign(view(arg).substr(4));
                if (!oauth::is_vschar_string(fleet->prefix) ||
                    oauth::has_space_or_control(fleet->prefix)) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid key \"%V\" in oauth_fleet_redis: no space "
                                       "or control character",
                                       &arg);
                    return static_cast<char *>(NGX_CONF_ERROR);
                }
            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid parameter \"%V\" in oauth_fleet_redis: "
                                   "password_file=FILE, db=N or key=PREFIX is expected",
                                   &arg);
                return static_cast<char *>(NGX_CONF_ERROR);
            }
        }
    } catch (const std::bad_alloc &) {
        return static_cast<char *>(NGX_CONF_ERROR);
    }
    mcf->fleet = fleet;
    return NGX_CONF_OK;
}

// Every endpoint's clients count, not only a token endpoint's: a node that
// only revokes or introspects checks tokens other nodes issued them.
void noteFleetEndpoint(ngx_conf_t *cf, const EndpointConf &endpoint,
                       const oauth::Registry &clients) {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_oauth_module));
    if (mcf->fleet == nullptr) {
        return;
    }
    FleetConf &fleet = *mcf->fleet;
    for (const oauth::Client &client : clients.clients()) {
        fleet.longest_client_ttl = std::max(fleet.longest_client_ttl, client.token_ttl);
    }
    if (endpoint.kind != Endpoint::token) {
        return;
    }
    fleet.longest_endpoint_ttl = std::max(fleet.longest_endpoint_ttl, uint32_t(endpoint.ttl));
    if (!endpoint.jwt) {
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "oauth_token_endpoint issues opaque tokens on a fleet node "
                      "(oauth_fleet_redis): they are valid on this node only; format=jwt makes "
                      "tokens every node accepts, in %V:%ui",
                      &endpoint.place.file, endpoint.place.line);
    }
}

// Entries are signed with the first oauth_signing_key of http{} (else of the
// first server that has one) and checked against every oauth_signing_key of
// this nginx. A trusted issuer's keys never count: another issuer has no say
// over this fleet's revocations.
ngx_int_t checkFleet(ngx_conf_t *cf) {
    auto *mcf =
        static_cast<MainConf *>(ngx_http_conf_get_module_main_conf(cf, ngx_http_oauth_module));
    if (mcf->fleet == nullptr) {
        return NGX_OK;
    }
    FleetConf &fleet = *mcf->fleet;
    try {
        auto add = [&fleet](const SigningKeys *keys) {
            for (const oauth::jose::Key &key :
                 keys != nullptr ? keys->keys : std::vector<oauth::jose::Key>()) {
                if (oauth::jose::find_key(fleet.accepted, std::string_view(key.kid)) == nullptr) {
                    fleet.accepted.push_back(key);
                }
            }
        };
        add(static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module))
                ->signing_keys);
        auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
            ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
        auto **servers = static_cast<ngx_http_core_srv_conf_t **>(cmcf->servers.elts);
        for (ngx_uint_t i = 0; i < cmcf->servers.nelts; ++i) {
            add(static_cast<ServerConf *>(
                    servers[i]->ctx->srv_conf[ngx_http_oauth_module.ctx_index])
                    ->signing_keys);
        }
    } catch (const std::bad_alloc &) {
        return NGX_ERROR;
    }
    if (fleet.accepted.empty()) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "oauth_fleet_redis needs an oauth_signing_key: the fleet's entries are "
                      "signed with it, in %V:%ui",
                      &fleet.place.file, fleet.place.line);
        return NGX_ERROR;
    }
    fleet.longest_token_life =
        oauth::fleet::longest_token_life(fleet.longest_endpoint_ttl, fleet.longest_client_ttl);
    // What each zone's init reads: a zone made now gets an outbox.
    Zone *zones = static_cast<Zone *>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; ++i) {
        if (!fitsOutbox(cf, zones[i])) {
            return NGX_ERROR;
        }
        zones[i].fleet = true;
        static_cast<Zone *>(zones[i].shm->data)->fleet = true;
    }
    return NGX_OK;
}

}  // namespace oauth_ngx
