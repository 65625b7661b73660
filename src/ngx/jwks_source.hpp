// Keys from a URL (oauth_trust_issuer ... jwks_uri=URL | discovery): the
// sources the configuration names, the shared memory zone that holds what was
// fetched for every worker (jwks_zone.cpp), and the workers' fetching and use
// of it (jwks_fetch.cpp). The rules of when to fetch are core/jose/jwks_refresh.
#pragma once

#include "ngx/module.hpp"

#include <string>
#include <vector>

#include "core/jose/jwks_refresh.hpp"

namespace oauth_ngx {

// One issuer whose keys come from a URL. A location's TrustedIssuer names it
// by its `source` number (its place here, from 1).
struct JwksSource {
    std::string issuer;
    std::string url;  // jwks_uri=; for discovery, the issuer
    bool discovery = false;
    uint32_t refresh = oauth::jose::kDefaultRefresh;
};

struct JwksSources {
    std::vector<JwksSource> list;
    std::string ca_file;  // oauth_trusted_certificate
    ngx_shm_zone_t *zone = nullptr;
    struct JwksZoneHeader *shared = nullptr;  // in the zone, once it is set up
};

// The biggest JWK Set, or discovery document, taken from an IdP.
constexpr size_t kMaxFetchedBody = 256 * 1024 - 4096;

// What every worker shares about one source, under the zone's lock.
struct SharedSource {
    uint32_t key_length;
    char key[2048 + 256];  // issuer, newline, url: whose record this is
    oauth::jose::FetchRecord record;
    uint64_t fetches_ok;
    uint64_t fetches_failed;
    char last_error[256];  // NUL-terminated; empty after a success
    uint32_t text_length;  // of the last good JWK Set; 0: none yet
    char text[kMaxFetchedBody];
};

// ---- jwks_zone.cpp --------------------------------------------------------

// Adds the zone once the whole http{} is read, sized for the sources.
ngx_int_t addJwksZone(ngx_conf_t *cf, JwksSources &sources);
// The shared record of source `index` (from 0); nullptr when the zone holds
// none for it (it was made for another configuration).
SharedSource *sharedSource(const JwksSources &sources, size_t index);
// The zone's lock, around every read or write of a SharedSource.
void lockJwksZone(const JwksSources &sources);
void unlockJwksZone(const JwksSources &sources);
// The record's key for a source: issuer, newline, URL.
std::string sourceKey(const JwksSource &source);

// ---- jwks_fetch.cpp -------------------------------------------------------

ngx_int_t startJwksFetching(ngx_cycle_t *cycle);  // init_process
void stopJwksFetching(ngx_cycle_t *cycle);        // exit_process
// Brings the keys of a location's issuers from URLs up to the shared version.
void syncFetchedKeys(std::vector<oauth::jose::TrustedIssuer> &trusted) noexcept;
// An unknown kid of source `source` (from 1): true when a refetch is coming,
// worth waiting for (one per oauth::jose::kDemandInterval).
bool demandFetchedKeys(size_t source);
// The version of the set the zone holds for source `source` (from 1).
uint64_t fetchedKeysVersion(size_t source);

}  // namespace oauth_ngx
