#include "core/token_endpoint.hpp"

#include <string>
#include <vector>

#include "core/jose/access_token.hpp"
#include "core/json.hpp"
#include "core/scope.hpp"
#include "core/token.hpp"

namespace oauth {

namespace {

// RFC 6749 §3.3: an absent scope means the client's default.
std::optional<uint64_t> granted_scope(const Client &client, const Form &form) {
    const std::string *requested = form.get("scope");
    if (requested == nullptr) {
        return client.default_mask;
    }
    std::vector<std::string_view> tokens;
    if (!split_scope(*requested, tokens)) {
        return std::nullopt;
    }
    return scope_mask(client.scope, tokens);
}

HttpResponse no_token(const char *why) {
    HttpResponse response = error_response(500, "server_error", "no token could be made");
    response.log = HttpResponse::Log::error;
    response.log_message = why;
    return response;
}

// RFC 9068 §2.2. Until audiences are configurable the token is meant for the
// issuer's own resource servers, so aud is the issuer. The zone keeps nothing:
// the token carries its own proof.
HttpResponse issue_jwt(const Client &client, std::string_view scope, uint32_t ttl,
                       const TokenEndpointConfig &config, uint32_t now) {
    jose::AccessTokenClaims claims{config.issuer, client.id, {config.issuer},
                                   now,           now + ttl, scope};
    std::string token;
    if (!jose::issue_access_token(*config.jwt_key, claims, token)) {
        return no_token("the token could not be signed");
    }
    HttpResponse response;
    response.body = render_token_response(token, ttl, scope);
    return response;
}

HttpResponse issue_token(const Client &client, uint64_t scope, TokenStore &store,
                         const TokenEndpointConfig &config, uint32_t now) {
    uint32_t ttl = client.token_ttl != 0 ? client.token_ttl : config.ttl;
    if (config.jwt_key != nullptr) {
        return issue_jwt(client, render_scope(client.scope, scope), ttl, config, now);
    }
    std::string token;
    if (!generate_token(token)) {
        return no_token("the random number generator failed");
    }
    uint32_t retry_after = 0;
    InsertResult stored = store.insert(digest_token(token), client.id, client.scope, scope, now,
                                       now + ttl, now, retry_after);
    if (stored == InsertResult::full) {
        HttpResponse response =
            error_response(503, "temporarily_unavailable", "the token store is full; retry later");
        response.retry_after = retry_after;
        response.log = HttpResponse::Log::error;
        response.log_message = "token zone is full of live tokens";
        return response;
    }
    HttpResponse response;
    response.body = render_token_response(token, ttl, render_scope(client.scope, scope));
    return response;
}

HttpResponse answer(const FormRequest &request, const Registry &registry, TokenStore &store,
                    const TokenEndpointConfig &config, uint32_t now) {
    ClientRequest client_request(request, config.auth, now);
    if (std::optional<HttpResponse> refused = client_request.check_shape()) {
        return std::move(*refused);
    }
    const std::string *grant_type = client_request.form().get("grant_type");
    if (grant_type == nullptr) {
        return error_response(400, "invalid_request", "the grant_type parameter is missing");
    }
    const Client *client = client_request.authenticate(registry);
    if (client == nullptr) {
        return client_request.refusal();
    }
    if (*grant_type != "client_credentials") {
        return error_response(400, "unsupported_grant_type",
                              "only the client_credentials grant is supported");
    }
    if (!client->client_credentials) {
        return error_response(400, "unauthorized_client",
                              "this client may not use the client_credentials grant");
    }
    std::optional<uint64_t> scope = granted_scope(*client, client_request.form());
    if (!scope) {
        return error_response(400, "invalid_scope",
                              "the requested scope is malformed or exceeds the client's scope");
    }
    return issue_token(*client, *scope, store, config, now);
}

}  // namespace

HttpResponse handle_token_request(const FormRequest &request, const Registry &registry,
                                  TokenStore &store, const TokenEndpointConfig &config,
                                  uint32_t now) noexcept {
    try {
        return answer(request, registry, store, config, now);
    } catch (...) {
        return server_error_response();
    }
}

}  // namespace oauth
