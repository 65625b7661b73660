#include "core/token_admin.hpp"

#include <string>

#include "core/json.hpp"
#include "core/token.hpp"

namespace oauth {

namespace {

// The caller, authenticated, or the response that refuses it.
struct Caller {
    const Client *client = nullptr;
    std::optional<HttpResponse> refusal;
    const std::string *token = nullptr;  // the "token" parameter
};

Caller authenticate_caller(ClientRequest &client_request, const Registry &registry) {
    Caller caller;
    if ((caller.refusal = client_request.check_shape())) {
        return caller;
    }
    caller.client = client_request.authenticate(registry);
    if (caller.client == nullptr) {
        caller.refusal = client_request.refusal();
        return caller;
    }
    // RFC 7662 §2.1, RFC 7009 §2.1: "token" is REQUIRED; a token_type_hint is
    // only a hint, and this server holds access tokens alone.
    caller.token = client_request.form().get("token");
    if (caller.token == nullptr) {
        caller.refusal = error_response(400, "invalid_request", "the token parameter is missing");
    }
    return caller;
}

// RFC 7662 §2.2
std::string render_active(const TokenGrant &grant, std::string_view issuer) {
    JsonObject out;
    out.member("active", true).member("client_id", grant.client());
    if (grant.scope_length != 0) {
        out.member("scope", grant.scopes());
    }
    out.member("token_type", "Bearer")
        .member("exp", grant.expires_at)
        .member("iat", grant.issued_at)
        .member("sub", grant.client());
    if (!issuer.empty()) {
        out.member("iss", issuer);
    }
    return std::move(out).finish();
}

HttpResponse introspect(const FormRequest &request, const Registry &registry,
                        const TokenStore &store, const TokenAdminConfig &config, uint32_t now) {
    ClientRequest client_request(request, config.auth, now);
    Caller caller = authenticate_caller(client_request, registry);
    if (caller.refusal) {
        return std::move(*caller.refusal);
    }
    if (!caller.client->introspection) {
        return error_response(403, "unauthorized_client", "this client may not introspect tokens");
    }
    HttpResponse response;
    TokenGrant grant;
    if (store.find(digest_token(*caller.token), now, grant)) {
        response.body = render_active(grant, config.issuer);
    } else {
        response.body = "{\"active\":false}";
    }
    return response;
}

HttpResponse revoke(const FormRequest &request, const Registry &registry, TokenStore &store,
                    const TokenAdminConfig &config, uint32_t now) {
    ClientRequest client_request(request, config.auth, now);
    Caller caller = authenticate_caller(client_request, registry);
    if (caller.refusal) {
        return std::move(*caller.refusal);
    }
    Digest digest = digest_token(*caller.token);
    TokenGrant grant;
    bool live = store.find(digest, now, grant);
    if (store.revoke(digest, caller.client->id) && live && config.revocations != nullptr) {
        config.revocations->add(digest, grant.expires_at, now);
    }
    return HttpResponse();  // 200, empty body
}

}  // namespace

HttpResponse handle_introspection_request(const FormRequest &request, const Registry &registry,
                                          const TokenStore &store, const TokenAdminConfig &config,
                                          uint32_t now) noexcept {
    try {
        return introspect(request, registry, store, config, now);
    } catch (...) {
        return server_error_response();
    }
}

HttpResponse handle_revocation_request(const FormRequest &request, const Registry &registry,
                                       TokenStore &store, const TokenAdminConfig &config,
                                       uint32_t now) noexcept {
    try {
        return revoke(request, registry, store, config, now);
    } catch (...) {
        return server_error_response();
    }
}

}  // namespace oauth
