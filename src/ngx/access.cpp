// Protected locations: the access-phase bearer check (RFC 6750), of opaque
// tokens in the zone, of the server's own JWTs and of trusted issuers'.
#include "ngx/module.hpp"
#include "ngx/jwks_source.hpp"

#include "core/http/text.hpp"

namespace oauth_ngx {

// ---- waiting for an issuer's keys ------------------------------------------------

namespace {

constexpr ngx_msec_t kKeyPoll = 50;
constexpr ngx_msec_t kLongestKeyWait = 2000;

// A request whose token names a kid its issuer's fetched set lacks waits, at
// most once, for the refetch that may bring it: the worker serves others
// meanwhile, and looks at the shared version every kKeyPoll.
struct KeyWait {
    size_t source;
    uint64_t version;  // the keys the token was refused with
    ngx_msec_t until;
    bool over;
};

void markKeyWait(void *) {}

// Found among the request pool's cleanups: no field of the request context,
// which the $oauth_* variables read, is spent on it.
KeyWait *keyWaitOf(ngx_http_request_t *r) {
    for (ngx_pool_cleanup_t *c = r->pool->cleanup; c != nullptr; c = c->next) {
        if (c->handler == markKeyWait) {
            return static_cast<KeyWait *>(c->data);
        }
    }
    return nullptr;
}

// As limit_req delays a request: the connection's write timer, cleared by
// nginx whatever ends the request.
void resumeAfterKeyWait(ngx_http_request_t *r) {
    ngx_event_t *wev = r->connection->write;
    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }
        return;
    }
    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }
    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}

ngx_int_t pollAgain(ngx_http_request_t *r) {
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = resumeAfterKeyWait;
    r->connection->write->delayed = 1;
    ngx_add_timer(r->connection->write, kKeyPoll);
    return NGX_AGAIN;
}

// NGX_AGAIN when the request is to wait for keys now; NGX_DECLINED to go on.
ngx_int_t waitForKeys(ngx_http_request_t *r, const oauth::jose::TrustedIssuer *awaited) {
    if (awaited == nullptr || keyWaitOf(r) != nullptr || !demandFetchedKeys(awaited->source)) {
        return NGX_DECLINED;
    }
    ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(r->pool, sizeof(KeyWait));
    if (cleanup == nullptr) {
        return NGX_DECLINED;
    }
    cleanup->handler = markKeyWait;
    *static_cast<KeyWait *>(cleanup->data) =
        KeyWait{awaited->source, awaited->version, ngx_current_msec + kLongestKeyWait, false};
    return pollAgain(r);
}

// Back from a poll: NGX_AGAIN while the keys have not moved and time is left.
ngx_int_t keepWaiting(ngx_http_request_t *r) {
    KeyWait *wait = keyWaitOf(r);
    if (wait == nullptr || wait->over) {
        return NGX_DECLINED;
    }
    if (fetchedKeysVersion(wait->source) == wait->version && ngx_current_msec < wait->until) {
        return pollAgain(r);
    }
    wait->over = true;
    return NGX_DECLINED;
}

}  // namespace

// ---- protected locations -------------------------------------------------------

Jwts::Jwts(const ServerConf *scf, ngx_shm_zone_t *zone, const JwtSources &sources) {
    wire(scf, zone, sources);
}

// The gate takes trusted issuers' tokens as well as the server's own, with
// oauth_jwt_leeway for the skew of their clocks.
Jwts::Jwts(ngx_http_request_t *r, const LocationConf *lcf) {
    if (lcf->require_scope != nullptr) {
        wire(static_cast<ServerConf *>(ngx_http_get_module_srv_conf(r, ngx_http_oauth_module)),
             lcf->require_scope->zone, {lcf->clients, lcf->trusted, uint32_t(lcf->jwt_leeway)});
    }
}

void Jwts::wire(const ServerConf *scf, ngx_shm_zone_t *zone, const JwtSources &sources) {
    bool own = scf->signing_keys != nullptr && scf->issuer.len != 0;
    if (!own && sources.trusted == nullptr) {
        return;
    }
    policy_.leeway = sources.leeway;
    policy_.trusted = sources.trusted;
    if (own) {
        policy_.own_issuer = view(scf->issuer);
        policy_.own_keys = &scf->signing_keys->keys;
        policy_.registry = sources.registry;
    }
    revocations_.emplace(revocationsOf(zone));
    policy_.revocations = &*revocations_;
    verifier_.emplace(policy_,
                      oauth::jose::VerdictCache(static_cast<ZoneRegions *>(zone->data)->verdicts,
                                                zoneLock(zone)));
}

// A protected location of a server that signs JWTs takes them too; they
// answer to the registry, so the location must see one.
char *checkOwnJwtGate(ngx_conf_t *cf, LocationConf *conf) {
    auto *scf =
        static_cast<ServerConf *>(ngx_http_conf_get_module_srv_conf(cf, ngx_http_oauth_module));
    ScopeCheckConf *check = conf->require_scope;
    if (check == nullptr || scf->signing_keys == nullptr || scf->issuer.len == 0 ||
        conf->clients != NGX_CONF_UNSET_PTR) {
        return NGX_CONF_OK;
    }
    ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                  "oauth_require_scope in a server with oauth_signing_key needs oauth_clients: "
                  "its JWTs answer to the registry, in %V:%ui",
                  &check->place.file, check->place.line);
    return static_cast<char *>(NGX_CONF_ERROR);
}

// RFC 8725 §3.11: an issuer trusted with typ=jwt or typ=any has tokens other
// than access tokens that could pass, an ID token first; only an audience
// required here tells them apart.
void warnUntypedWithoutAudience(ngx_conf_t *cf, const LocationConf *conf) {
    ScopeCheckConf *check = conf->require_scope;
    if (check == nullptr || check->untyped_warned || conf->require_audience != nullptr ||
        conf->trusted == nullptr) {
        return;
    }
    for (const oauth::jose::TrustedIssuer &trusted : *conf->trusted) {
        if (!oauth::jose::admits_untyped_tokens(trusted.profile)) {
            continue;
        }
        ngx_str_t issuer{trusted.issuer.size(),
                         reinterpret_cast<u_char *>(const_cast<char *>(trusted.issuer.data()))};
        ngx_log_error(NGX_LOG_WARN, cf->log, 0,
                      "oauth_trust_issuer \"%V\" takes tokens not typed at+jwt, and "
                      "oauth_require_scope in %V:%ui has no oauth_require_audience: an ID token "
                      "of that issuer could pass as an access token (RFC 8725 §3.11)",
                      &issuer, &check->place.file, check->place.line);
        check->untyped_warned = true;
    }
}

const oauth::Registry *registryOf(const LocationConf *lcf) {
    return lcf->clients == NGX_CONF_UNSET_PTR ? nullptr : lcf->clients;
}

ngx_int_t rememberGrant(ngx_http_request_t *r, const oauth::TokenGrant &grant,
                        oauth::jose::JwtVerifier *jwt) {
    auto *ctx = static_cast<RequestContext *>(ngx_pcalloc(r->pool, sizeof(RequestContext)));
    if (ctx == nullptr) {
        return NGX_ERROR;
    }
    ctx->client_id = ngxString(r->pool, grant.client());
    ctx->scope = ngxString(r->pool, grant.scopes());
    ctx->audience = ngxString(r->pool, grant.audiences());
    if (ctx->client_id.data == nullptr || ctx->scope.data == nullptr ||
        ctx->audience.data == nullptr) {
        return NGX_ERROR;
    }
    ctx->expires_at = grant.expires_at;
    if (jwt != nullptr && grant.expires_at != 0 && jwt->failure() == oauth::jose::JwtCheck::ok &&
        !jwt->claims().issuer.empty()) {
        ctx->issuer = ngxString(r->pool, jwt->claims().issuer);
        if (ctx->issuer.data == nullptr) {
            return NGX_ERROR;
        }
    }
    ngx_http_set_ctx(r, ctx, ngx_http_oauth_module);
    return keepClaims(r, ctx, grant, jwt);
}

namespace {

// A refused JWT: the description its 401 carries, with the issuer and kid it
// claims, as log_safe shows them; never the token.
void logJwtRefusal(ngx_http_request_t *r, const oauth::jose::JwtVerifier &jwt) {
    constexpr size_t kShown = 200;
    const oauth::jose::VerifiedToken &token = jwt.claims();
    std::string line = jwt.refusal() + " (iss " + oauth::log_safe(token.issuer, kShown) + ", kid " +
                       oauth::log_safe(token.kid, kShown) + ")";
    ngx_str_t text{line.size(), reinterpret_cast<u_char *>(line.data())};
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "oauth: JWT access token refused: %V",
                  &text);
}

// The failed check, never the token: a client's mistake, logged at info.
void logRefusal(ngx_http_request_t *r, oauth::jose::JwtVerifier *jwt,
                const oauth::BearerVerdict &verdict) {
    if (verdict.log_reason.empty() && jwt != nullptr &&
        jwt->failure() != oauth::jose::JwtCheck::ok) {
        try {
            logJwtRefusal(r, *jwt);
        } catch (const std::bad_alloc &) {
            // out of memory: the 401 goes out without its log line
        }
        return;
    }
    std::string_view why = verdict.log_reason;
    if (why.empty()) {
        return;
    }
    ngx_str_t text{why.size(), reinterpret_cast<u_char *>(const_cast<char *>(why.data()))};
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0, "oauth: access token refused: %V", &text);
}

ngx_int_t accessHandler(ngx_http_request_t *r) {
    auto *lcf = static_cast<LocationConf *>(ngx_http_get_module_loc_conf(r, ngx_http_oauth_module));
    ScopeCheckConf *check = lcf->require_scope;
    if (check == nullptr) {
        return NGX_DECLINED;
    }
    if (keepWaiting(r) == NGX_AGAIN) {
        return NGX_AGAIN;
    }
    if (lcf->trusted != nullptr) {
        syncFetchedKeys(*lcf->trusted);
    }
    oauth::Digest thumbprint;
    DpopRequest dpop;
    oauth::BearerRequest request = bearerRequestOf(r, check->zone, thumbprint, dpop);
    oauth::TokenStore store = storeOf(check->zone);
    oauth::TokenGrant grant;
    Jwts jwts(r, lcf);
    oauth::BearerVerdict verdict =
        oauth::check_bearer(request, store, check->required, view(lcf->realm), uint32_t(ngx_time()),
                            grant, jwts.verifier(), {registryOf(lcf), lcf->require_audience});
    if (verdict.status == 0 && lcf->require_claims != nullptr) {
        verdict = checkRequiredClaims(r, lcf, grant, jwts.verifier());
    }
    if (verdict.status == NGX_HTTP_UNAUTHORIZED && jwts.verifier() != nullptr &&
        waitForKeys(r, jwts.verifier()->awaiting_keys()) == NGX_AGAIN) {
        return NGX_AGAIN;
    }
    countBearerCheck(r, check->zone, verdict);
    if (verdict.status == 0) {
        return rememberGrant(r, grant, jwts.verifier()) == NGX_OK ? NGX_OK
                                                                  : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    if (verdict.status == NGX_HTTP_UNAUTHORIZED) {
        logRefusal(r, jwts.verifier(), verdict);
    }
    try {
        oauth::point_to_resource_metadata(verdict, resourceMetadataUrl(r));
    } catch (const std::bad_alloc &) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    // No challenge where the core refused no credentials: a 429, a 500.
    if ((!verdict.challenge.empty() &&
         addHeader(r, ngx_string("WWW-Authenticate"), verdict.challenge,
                   &r->headers_out.www_authenticate) != NGX_OK) ||
        (verdict.retry_after != 0 &&
         addHeader(r, ngx_string("Retry-After"), std::to_string(verdict.retry_after)) != NGX_OK) ||
        (verdict.status == NGX_HTTP_UNAUTHORIZED && addDpopNonce(r) != NGX_OK)) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
    return verdict.status;
}

}  // namespace

// One access-phase handler for every location; it declines at once where
// oauth_require_scope is not set.
ngx_int_t registerAccessHandler(ngx_conf_t *cf) {
    auto *cmcf = static_cast<ngx_http_core_main_conf_t *>(
        ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module));
    auto *h = static_cast<ngx_http_handler_pt *>(
        ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers));
    if (h == nullptr) {
        return NGX_ERROR;
    }
    *h = accessHandler;
    return NGX_OK;
}

}  // namespace oauth_ngx
