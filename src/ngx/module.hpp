// The nginx glue's shared declarations: configuration structs and the
// helpers every part of the glue uses. Each .cpp in src/ngx is one of nginx's
// seams: module.cpp (directives and configuration), zone.cpp (shared memory),
// response.cpp, form_endpoints.cpp, access.cpp, variables.cpp, metrics.cpp,
// jwks.cpp (signing keys and the JWK Set), jwks_fetch.cpp and jwks_zone.cpp
// (keys from a URL, jwks_source.hpp), claims.cpp (oauth_require_claim,
// oauth_claim_set), resource_metadata.cpp (RFC 9728), state.cpp (state files),
// lease.cpp (a zone's leases), and the fleet's stream: fleet_directive.cpp,
// fleet_start.cpp (the master's read), fleet_link.cpp (the workers' link),
// fleet_variable.cpp, sharing fleet.cpp (fleet.hpp), over redis_link.cpp
// (the hiredis adapter).
#pragma once

#include "ngx/ngx.hpp"

#include <atomic>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bearer.hpp"
#include "core/fleet/outbox.hpp"
#include "core/fleet/stream_id.hpp"
#include "core/fleet/start_read.hpp"
#include "core/http/http.hpp"
#include "core/jose/claims.hpp"
#include "core/jose/gate.hpp"
#include "core/jose/key.hpp"
#include "core/metrics/counters.hpp"
#include "core/metrics/exposition.hpp"
#include "core/registry.hpp"
#include "core/tokens/lease.hpp"
#include "core/tokens/token_store.hpp"
#include "core/tokens/change_log.hpp"
#include "core/tokens/replay_cache.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/zone_layout.hpp"

extern "C" ngx_module_t ngx_http_oauth_module;

namespace oauth_ngx {

// ---- configuration -------------------------------------------------------

// Where a directive stood, for errors found after the whole http{} is read.
struct ConfPlace {
    ngx_str_t file;
    ngx_uint_t line;
};

struct Zone {
    ngx_str_t name;
    ngx_shm_zone_t *shm;
    ngx_str_t state_file;  // full path; empty: no state= (state.cpp)
    ConfPlace place;
    ngx_cycle_t *cycle;  // the cycle it was declared in, for its worker user
    bool fleet;          // oauth_fleet_redis is set: the zone gets the fleet's outbox
};

// oauth_fleet_redis: where the fleet's Redis is, and what signs and checks
// the entries of its streams.
struct FleetConf {
    ngx_str_t address;  // as written, for the log
    std::string host;   // a numeric address, resolved when the configuration is read
    int port = 0;
    std::string unix_path;  // unix:PATH
    std::string password;   // from password_file=; empty: no AUTH
    ngx_int_t db = -1;      // -1: no SELECT
    std::string prefix = "oauth";
    std::vector<oauth::jose::Key> accepted;  // every oauth_signing_key; the first signs
    uint32_t longest_endpoint_ttl = 0;       // of the token endpoints; 0: none
    uint32_t longest_client_ttl = 0;         // token_ttl in their registries; 0: none
    uint32_t longest_token_life = 0;         // what the stream keeps, set by checkFleet
    std::optional<oauth::fleet::StartDeadline> start_deadline;  // set by the first zone's read
    ConfPlace place;
};

struct JwksSources;

struct MainConf {
    ngx_array_t zones;              // of Zone
    FleetConf *fleet;               // nullptr: no oauth_fleet_redis
    JwksSources *jwks_sources;      // keys from a URL (jwks_source.hpp); nullptr: none
    ngx_str_t trusted_certificate;  // oauth_trusted_certificate; empty: the system's
    // How many oauth_claim_set: with one, a checked token's claims are kept.
    ngx_uint_t claim_variables;
    // Makes the DPoP nonces (RFC 9449 §8), drawn at each configuration load
    // and inherited by every worker, which so agree on them.
    oauth::jose::DpopNonces::Secret dpop_secret;
};

enum class Endpoint { token, introspection, revocation };

struct EndpointConf {
    Endpoint kind;
    ngx_str_t zone_name;  // empty: the only zone
    ngx_shm_zone_t *zone;
    time_t ttl;  // token endpoint only
    bool jwt;    // token endpoint only: format=jwt
    ConfPlace place;
};

// The oauth_signing_key of a server (or of http{}): the first signs.
struct SigningKeys {
    std::vector<oauth::jose::Key> keys;
    std::string jwks;  // the JWK Set document, rendered once
};

// What RFC 8414 metadata says of a server: the issuer and where each endpoint is.
struct ServerConf {
    ngx_str_t issuer;
    ngx_flag_t dpop_nonce;      // oauth_dpop_nonce: proofs must carry a server nonce (RFC 9449 §8)
    ngx_str_t paths[3];         // by Endpoint
    ngx_str_t jwks_path;        // the first location with oauth_jwks
    SigningKeys *signing_keys;  // nullptr: none
    // The first location with oauth_resource_metadata, named by 401 challenges.
    ngx_str_t resource_metadata_path;
};

struct ScopeCheckConf {
    oauth::ScopeRequirement required;
    ngx_str_t zone_name;  // empty: the only zone
    ngx_shm_zone_t *zone;
    ConfPlace place;
    // Its locations that inherit it warn once of a permissive profile (access.cpp).
    bool untyped_warned = false;
};

// oauth_resource_metadata: the document's own parts; the rest is the server's.
struct ResourceMetadataConf {
    ngx_str_t resource;  // empty: the scheme and host of the request
    std::vector<std::string> scopes;
    ConfPlace place;
};

struct LocationConf {
    oauth::Registry *clients;
    ngx_str_t realm;
    EndpointConf *endpoint;
    ScopeCheckConf *require_scope;                 // nullptr: off
    oauth::AudienceRequirement *require_audience;  // nullptr: off
    ConfPlace audience_place;                      // line 0: not written in this location block
    ngx_int_t auth_failure_limit;                  // 0: off
    time_t auth_failure_window;
    time_t auth_failure_block;
    ngx_flag_t metadata;
    ngx_flag_t jwks;
    ngx_str_t metadata_document;
    time_t jwt_leeway;
    std::vector<oauth::jose::TrustedIssuer> *trusted;  // oauth_trust_issuer; nullptr: none
    ConfPlace metadata_place;
    ConfPlace jwks_place;
    std::vector<oauth::jose::ClaimRequirement> *require_claims;  // nullptr: none
    ConfPlace claims_place;                   // line 0: not written in this location block
    ResourceMetadataConf *resource_metadata;  // nullptr: not served here
    ngx_str_t dpop_origin;  // oauth_dpop_origin: what DPoP proofs' htu name; empty: the request's
};

// What a successful bearer check leaves for the $oauth_* variables.
struct RequestContext {
    ngx_str_t client_id;
    ngx_str_t scope;
    ngx_str_t expires;   // formatted when first read
    time_t expires_at;   // 0: no valid token
    ngx_str_t issuer;    // of a JWT; empty for an opaque token
    ngx_str_t audience;  // space-separated
    // The token's claims, for oauth_claim_set; null without one. Released
    // with the request's pool.
    const json_t *claims;
};

// What the processes of a zone share about its fleet link (fleet_link.cpp).
struct FleetShared {
    oauth::LeaseWord reader;                  // the worker that reads and publishes
    std::atomic<uint64_t> heard_ms;           // wall clock of the last reply to the reader
    std::atomic<uint32_t> connected;          // 1: both connections ready
    std::atomic<uint32_t> loss_logged;        // a loss was logged and its recovery not yet
    std::atomic<uint32_t> republish;          // 1: the revocation list is to be published again
    std::atomic<uint64_t> dropped_published;  // the outbox's dropped() when last republished
};

// A file as a writer last left it: a change by anyone else shows.
struct FileMark {
    uint64_t inode;
    uint64_t size;
    int64_t modified_ns;
};

// What the processes of a zone share about its state file (state.cpp). Past
// the atomics, written by the holder of the writer lease only.
struct ZoneState {
    oauth::LeaseWord writer;
    std::atomic<uint64_t> writes;
    // The change log's position up to which FILE and FILE.journal hold the zone.
    std::atomic<uint64_t> journaled;
    // The last stream entry of the fleet applied to the zone; 0-0: none.
    // Kept in the state file (state.cpp).
    oauth::fleet::SharedStreamId fleet_position;
    uint64_t instance;  // drawn when the zone was created
    bool snapshot_is_ours;
    FileMark snapshot;
    FileMark journal;
    FleetShared fleet;
};

// A zone holds the tokens and, beside them, the failed-authentication
// counters, the metrics, the JWT verdicts, the revocation list and what its
// state file's writer shares.
struct ZoneRegions {
    void *tokens;
    size_t tokens_size;
    void *throttle;
    size_t throttle_size;
    void *metrics;
    size_t metrics_size;
    void *verdicts;  // the JWT signatures verified (core/jose/verdict_cache.hpp)
    size_t verdicts_size;
    void *revocations;
    size_t revocations_size;
    void *outbox;  // revocations waiting for the fleet (core/fleet/outbox.hpp); nullptr: none
    size_t outbox_size;
    ZoneState *state;
    // Last, so that a build before it, reloaded into this one, still finds
    // the fields above where it left them.
    void *changes;  // what changed, for the state file; nullptr without one
    size_t changes_size;
    void *replays;  // client assertions' jtis (core/tokens/replay_cache.hpp)
    size_t replays_size;
};

// ---- helpers (response.cpp) ----------------------------------------------

// A C++ object that lives as long as the configuration: deleted with its pool.
template <typename T>
T *newInConfPool(ngx_conf_t *cf) {
    auto *object = new (std::nothrow) T();
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cf->pool, 0);
    if (object == nullptr || cleanup == nullptr) {
        delete object;
        return nullptr;
    }
    cleanup->handler = [](void *data) { delete static_cast<T *>(data); };
    cleanup->data = object;
    return object;
}

std::string_view view(const ngx_str_t &s);
ngx_str_t ngxString(ngx_pool_t *pool, std::string_view s);
// Sets the variable to `value`, which lives as long as the request.
void setVariableValue(ngx_http_variable_value_t *v, const ngx_str_t &value);
// A socket another library (hiredis, libcurl) opened and is about to close
// itself: nginx stops watching it and takes its connection back, fd aside.
void forgetForeignConnection(ngx_connection_t *c);
ConfPlace confPlace(ngx_conf_t *cf);

ngx_int_t addHeader(ngx_http_request_t *r, ngx_str_t key, std::string_view value,
                    ngx_table_elt_t **slot = nullptr);
void logResponse(ngx_http_request_t *r, const oauth::HttpResponse &response, const ngx_str_t &zone);
ngx_int_t sendResponse(ngx_http_request_t *r, const oauth::HttpResponse &response);
// Sends the headers set so far, then `body` (a copy in the request pool).
ngx_int_t sendHeaderAndBody(ngx_http_request_t *r, std::string_view body);

std::string_view headerValue(const ngx_table_elt_t *h);
// How often a header came: nginx keeps only the first in headers_in.
size_t countHeaders(ngx_http_request_t *r, const ngx_table_elt_t *first, std::string_view name);
size_t countAuthorizationHeaders(ngx_http_request_t *r);

// The connection's TLS client certificate (client_certificate.cpp): `der`
// empty when none; false when it could not be read.
bool readClientCertificate(ngx_http_request_t *r, std::string &der, bool &chain_verified);
// Its SHA-256, in `storage`; nullptr when the connection has none.
const oauth::Digest *clientCertificateThumbprint(ngx_http_request_t *r, oauth::Digest &storage);

// ---- zones (zone.cpp) ----------------------------------------------------

oauth::StoreLock zoneLock(ngx_shm_zone_t *zone);
oauth::TokenStore storeOf(ngx_shm_zone_t *zone);
oauth::metrics::Counters countersOf(ngx_shm_zone_t *zone);
oauth::RevocationList revocationsOf(ngx_shm_zone_t *zone);
oauth::ReplayCache replaysOf(ngx_shm_zone_t *zone);
oauth::ChangeLog changesOf(ngx_shm_zone_t *zone);
// The fleet's outbox; none in a zone made without a fleet.
std::optional<oauth::fleet::Outbox> outboxOf(ngx_shm_zone_t *zone);
ngx_int_t initZone(ngx_shm_zone_t *zone, void *reused);
// Where the tables of a zone of `size` bytes named `name` lie
// (core/zone_layout.hpp): what its init allocates, what `nginx -t` tells.
oauth::ZoneLayout zoneLayout(size_t size, const ngx_str_t &name, const oauth::ZoneOptions &options);
size_t zoneMinimumSize(const ngx_str_t &name, const oauth::ZoneOptions &options);

// ---- state files (state.cpp) -----------------------------------------------

ngx_int_t checkStateDirectory(ngx_shm_zone_t *shm, const Zone &zone);
void loadStateFile(ngx_shm_zone_t *shm, const Zone &zone);
ngx_int_t startStateWriters(ngx_cycle_t *cycle);  // init_process
void stopStateWriters(ngx_cycle_t *cycle);        // exit_process

// ---- a zone's leases (lease.cpp) ----------------------------------------------

// Whether a lease holder's pid still names a live process, not a zombie.
bool isAlive(uint32_t pid);
// Takes or renews the lease for this worker: true when it holds it on return.
bool holdZoneLease(oauth::LeaseWord &lease);
// Gives the lease up if this worker holds it, so that a successor need not wait.
void releaseZoneLease(oauth::LeaseWord &lease);

// ---- the fleet (fleet_*.cpp) -------------------------------------------------

// fleet_directive.cpp
char *setFleetRedis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
// After the whole http{} is read: the keys that sign and check entries.
ngx_int_t checkFleet(ngx_conf_t *cf);
// An endpoint's tokens' lifetimes, which the stream keeps, and nginx -t's
// word on a token endpoint of a fleet node.
void noteFleetEndpoint(ngx_conf_t *cf, const EndpointConf &endpoint,
                       const oauth::Registry &clients);
// A zone new to the master: what the stream holds past its position (fleet_start.cpp).
void readFleetAtStart(ngx_shm_zone_t *shm, const Zone &zone);
ngx_int_t startFleet(ngx_cycle_t *cycle);  // init_process (fleet_link.cpp)
void stopFleet(ngx_cycle_t *cycle);        // exit_process (fleet_link.cpp)
// fleet_variable.cpp
ngx_int_t fleetSyncedVariable(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t);
// The fleet's gauges of a zone, for the metrics; nullopt without a fleet.
std::optional<oauth::metrics::FleetGauges> fleetGaugesOf(ngx_http_request_t *r,
                                                         ngx_shm_zone_t *zone);

// ---- handlers --------------------------------------------------------------

ngx_int_t formEndpointHandler(ngx_http_request_t *r);  // form_endpoints.cpp
ngx_int_t metadataHandler(ngx_http_request_t *r);      // form_endpoints.cpp
ngx_int_t registerAccessHandler(ngx_conf_t *cf);       // access.cpp
// What the JWT checks of the module differ in: the gate's at a protected
// location, and the introspection and revocation endpoints'.
struct JwtSources {
    const oauth::Registry *registry;                         // own tokens answer to it
    const std::vector<oauth::jose::TrustedIssuer> *trusted;  // nullptr: own tokens only
    uint32_t leeway;                                         // clock skew tolerated, seconds
};

// The check of JWTs over a zone (access.cpp), the one place a verifier is
// wired: the server's own (when it signs them) and those of trusted
// issuers, refused once in the zone's revocation list; none when there are
// neither. Not copied: the verifier points at the policy it holds.
class Jwts {
  public:
    Jwts(const ServerConf *scf, ngx_shm_zone_t *zone, const JwtSources &sources);
    // A protected location's: none where oauth_require_scope is not set.
    Jwts(ngx_http_request_t *r, const LocationConf *lcf);
    Jwts(const Jwts &) = delete;
    Jwts &operator=(const Jwts &) = delete;

    oauth::jose::JwtVerifier *verifier() { return verifier_ ? &*verifier_ : nullptr; }

  private:
    void wire(const ServerConf *scf, ngx_shm_zone_t *zone, const JwtSources &sources);

    std::optional<oauth::RevocationList> revocations_;
    oauth::jose::GatePolicy policy_;
    std::optional<oauth::jose::JwtVerifier> verifier_;
};

ngx_int_t rememberGrant(ngx_http_request_t *r, const oauth::TokenGrant &grant,
                        oauth::jose::JwtVerifier *jwt);  // access.cpp
// The registry a location's opaque tokens answer to; nullptr: none in scope.
const oauth::Registry *registryOf(const LocationConf *lcf);            // access.cpp
char *checkOwnJwtGate(ngx_conf_t *cf, LocationConf *conf);             // access.cpp
char *setTrustIssuer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);  // jwks.cpp
// After the whole http{} is read: the zone of keys from a URL (jwks.cpp).
ngx_int_t checkJwksSources(ngx_conf_t *cf);
ngx_int_t addVariables(ngx_conf_t *cf);  // variables.cpp
// access.cpp
void warnUntypedWithoutAudience(ngx_conf_t *cf, const LocationConf *conf);
// The request's RequestContext, its grant looked up on first use (variables.cpp).
RequestContext *grantOf(ngx_http_request_t *r);

// ---- claims (claims.cpp) ---------------------------------------------------------

char *setRequireClaim(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *setClaimVariable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *checkClaimGate(ngx_conf_t *cf, const LocationConf *conf);
// oauth_require_claim over the token check_bearer let through.
oauth::BearerVerdict checkRequiredClaims(ngx_http_request_t *r, const LocationConf *lcf,
                                         const oauth::TokenGrant &grant,
                                         oauth::jose::JwtVerifier *jwt);
// Keeps the token's claims in `ctx` where oauth_claim_set reads them.
ngx_int_t keepClaims(ngx_http_request_t *r, RequestContext *ctx, const oauth::TokenGrant &grant,
                     oauth::jose::JwtVerifier *jwt);

// ---- RFC 9728 (resource_metadata.cpp) ----------------------------------------------

char *setResourceMetadata(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
// The document is for clients without a token yet: a location that would
// also demand one fails nginx -t.
char *checkResourceMetadataOpen(ngx_conf_t *cf, const LocationConf *conf);
// The absolute URL of the server's oauth_resource_metadata; empty: none.
std::string resourceMetadataUrl(ngx_http_request_t *r);
// The scheme and Host of the request, else of the server's name: what the
// client named; nullopt for a Host no URI can hold.
std::optional<std::string> requestOrigin(ngx_http_request_t *r);

// ---- DPoP, RFC 9449 (dpop.cpp) --------------------------------------------------

char *setDpopOrigin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
// What a request brings of DPoP, and what its proof must match.
struct DpopRequest {
    size_t headers = 0;
    std::string_view proof;  // the first DPoP header
    std::string url;         // the origin (oauth_dpop_origin or the request's) and the path
    std::optional<oauth::ReplayCache> replays;
    std::optional<oauth::jose::DpopNonces> nonces;  // oauth_dpop_nonce on

    // From the request, its location and `zone` (whose replay cache takes
    // the jtis). A Host that names no URI leaves `url` empty, which no htu matches.
    void read(ngx_http_request_t *r, ngx_shm_zone_t *zone);
    oauth::jose::DpopPolicy policy() {
        return {replays ? &*replays : nullptr, nonces ? &*nonces : nullptr};
    }
};
// Sends the server's current nonce in DPoP-Nonce, when oauth_dpop_nonce is on.
ngx_int_t addDpopNonce(ngx_http_request_t *r);
// The credentials of a request to a location checked against `zone`, as the
// bearer check reads them: `thumbprint` and `dpop` hold what it points into.
oauth::BearerRequest bearerRequestOf(ngx_http_request_t *r, ngx_shm_zone_t *zone,
                                     oauth::Digest &thumbprint, DpopRequest &dpop);

// ---- signing keys and the JWK Set (jwks.cpp) ---------------------------------

char *setSigningKey(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *setJwks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *mergeJwks(ngx_conf_t *cf, LocationConf *conf);
char *checkJwtIssuance(ngx_conf_t *cf, const EndpointConf *endpoint);

// ---- metrics (metrics.cpp) --------------------------------------------------

char *setMetrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
void countFormResponse(const EndpointConf &endpoint, const oauth::HttpResponse &response);
void countBearerCheck(ngx_http_request_t *r, ngx_shm_zone_t *zone,
                      const oauth::BearerVerdict &verdict);

}  // namespace oauth_ngx
