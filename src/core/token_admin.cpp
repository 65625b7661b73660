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

void append_member(std::string &out, std::string_view name, std::string_view value) {
    out.push_back(',');
    append_json_string(out, name);
    out.push_back(':');
    append_json_string(out, value);
}

void append_member(std::string &out, std::string_view name, uint32_t value) {
    out.push_back(',');
    append_json_string(out, name);
    out.push_back(':');
    out.append(std::to_string(value));
}

// RFC 7662 §2.2
std::string render_active(const TokenGrant &grant, std::string_view issuer) {
    std::string out = "{\"active\":true";
    append_member(out, "client_id", grant.client());
    if (grant.scope_length != 0) {
        append_member(out, "scope", grant.scopes());
    }
    append_member(out, "token_type", "Bearer");
    append_member(out, "exp", grant.expires_at);
    append_member(out, "iat", grant.issued_at);
    append_member(out, "sub", grant.client());
    if (!issuer.empty()) {
        append_member(out, "iss", issuer);
    }
    out.push_back('}');
    return out;
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
    store.revoke(digest_token(*caller.token), caller.client->id);
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
