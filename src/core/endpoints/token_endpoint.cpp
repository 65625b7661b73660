#include "core/endpoints/token_endpoint.hpp"

#include <string>
#include <vector>

#include "core/client_certificate.hpp"
#include "core/jose/access_token.hpp"
#include "core/http/json.hpp"
#include "core/resource.hpp"
#include "core/scope.hpp"
#include "core/tokens/token.hpp"

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

// RFC 6749 §5.2 has no code for "not now": temporarily_unavailable is §4.1.2.1's,
// as the README documents. A full zone is the server's trouble (503); a client
// at its cap is its own (429, RFC 6585 §4).
HttpResponse refusal_to_store(const Client &client, InsertResult result, uint32_t retry_after) {
    HttpResponse response;
    if (result == InsertResult::client_at_cap) {
        response = error_response(429, "temporarily_unavailable",
                                  "this client holds as many live tokens as it may; retry later");
        response.log = HttpResponse::Log::warn;
        response.log_throttled = true;
        response.log_message = "client \"" + client.id + "\" holds its cap of live tokens";
    } else if (result == InsertResult::dictionary_overflow) {
        response = error_response(503, "temporarily_unavailable",
                                  "the token store cannot take this client's new scopes yet");
        response.log = HttpResponse::Log::error;
        response.log_message =
            "client \"" + client.id +
            "\" was granted more than 64 distinct scopes or 1024 bytes of them, or 16 "
            "audiences or 1024 bytes of them, since its oldest live token; its new ones wait "
            "until those expire";
    } else {
        response =
            error_response(503, "temporarily_unavailable", "the token store is full; retry later");
        response.log = HttpResponse::Log::error;
        response.log_message = "token zone is full of live tokens";
        response.outcome.cause = HttpResponse::Outcome::Cause::zone_full;
    }
    response.retry_after = retry_after;
    return response;
}

HttpResponse no_token(const char *why) {
    HttpResponse response = error_response(500, "server_error", "no token could be made");
    response.log = HttpResponse::Log::error;
    response.log_message = why;
    return response;
}

// RFC 9068 §2.2, aud as RFC 8707 §2 chose it. The zone keeps nothing: the
// token carries its own proof.
HttpResponse issue_jwt(const Client &client, std::string_view scope, const Audience &audience,
                       const TokenBindings &bindings, uint32_t ttl,
                       const TokenEndpointConfig &config, uint32_t now) {
    std::string uris = render_scope(audience.list, audience.mask);
    std::vector<std::string_view> aud;
    split_scope(uris, aud);
    jose::AccessTokenClaims claims{config.issuer,        client.id,    aud, now, now + ttl, scope,
                                   bindings.certificate, bindings.dpop};
    std::string token;
    if (!jose::issue_access_token(*config.jwt_key, claims, token)) {
        return no_token("the token could not be signed");
    }
    HttpResponse response;
    response.body =
        render_token_response(token, ttl, scope, bindings.dpop.bound ? "DPoP" : "Bearer");
    response.outcome.result = "issued";
    return response;
}

HttpResponse issue_token(const Client &client, uint64_t scope, const Audience &audience,
                         const TokenBindings &bindings, TokenStore &store,
                         const TokenEndpointConfig &config, uint32_t now) {
    uint32_t ttl = client.token_ttl != 0 ? client.token_ttl : config.ttl;
    if (config.jwt_key != nullptr) {
        return issue_jwt(client, render_scope(client.scope, scope), audience, bindings, ttl, config,
                         now);
    }
    std::string token;
    if (!generate_token(token)) {
        return no_token("the random number generator failed");
    }
    uint32_t cap = client.max_tokens != 0 ? client.max_tokens : TokenStore::kDefaultClientCap;
    uint32_t retry_after = 0;
    InsertResult stored = store.insert(digest_token(token), client.id, client.scope, scope, now,
                                       now + ttl, now, retry_after, cap, audience, bindings);
    if (stored != InsertResult::ok) {
        return refusal_to_store(client, stored, retry_after);
    }
    HttpResponse response;
    response.body = render_token_response(token, ttl, render_scope(client.scope, scope),
                                          bindings.dpop.bound ? "DPoP" : "Bearer");
    response.outcome.result = "issued";
    return response;
}

// RFC 8705 §3: a client registered for bound tokens gets them only over a
// connection with a certificate. A JWT carries the thumbprint in cnf; the
// store keeps an opaque token's beside it.
std::optional<HttpResponse> bind_to_certificate(const Client &client,
                                                const PresentedCertificate &certificate,
                                                CertificateBinding &binding) {
    if (!client.certificate_bound_tokens) {
        return std::nullopt;
    }
    if (certificate.der.empty()) {
        return error_response(400, "invalid_request",
                              "this client's tokens are bound to its TLS client certificate "
                              "(RFC 8705 section 3): connect with it");
    }
    if (!certificate_thumbprint(certificate.der, binding.thumbprint)) {
        return no_token("the certificate's thumbprint could not be computed");
    }
    binding.bound = true;
    return std::nullopt;
}

// RFC 9449 §5: a token is bound to the key of the DPoP proof that came with
// the request, which must then pass every check; a client registered for
// DPoP must send one. A JWT carries the key's thumbprint in cnf; the store
// keeps an opaque token's beside it.
std::optional<HttpResponse> bind_to_proof(const Client &client, const FormRequest &request,
                                          const TokenEndpointConfig &config, uint32_t now,
                                          KeyBinding &binding) {
    if (request.dpop_headers == 0 && !client.dpop_bound_tokens) {
        return std::nullopt;
    }
    uint32_t retry_after = 0;
    jose::DpopCheck check = jose::check_dpop_proof(
        request.dpop_headers, request.dpop_proof,
        jose::DpopExpectation{request.method, request.url, {}, nullptr, client.id}, config.dpop,
        now, binding.thumbprint, retry_after);
    if (check == jose::DpopCheck::ok) {
        binding.bound = true;
        return std::nullopt;
    }
    HttpResponse response =
        check == jose::DpopCheck::no_room
            ? error_response(429, "temporarily_unavailable", jose::describe(check))
            : error_response(400, jose::dpop_error(check), jose::describe(check));
    response.retry_after = retry_after;
    response.outcome.dpop_result = jose::dpop_result(check);
    return response;
}

HttpResponse answer(const FormRequest &request, ClientRequest &client_request,
                    const Registry &registry, TokenStore &store, const TokenEndpointConfig &config,
                    uint32_t now) {
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
    std::optional<Audience> audience =
        choose_audience(*client, config.issuer, client_request.form().all("resource"));
    if (!audience) {
        return error_response(400, "invalid_target",
                              "a requested resource is malformed or not one of this client's");
    }
    TokenBindings bindings;
    std::optional<HttpResponse> refused =
        bind_to_certificate(*client, request.certificate, bindings.certificate);
    if (refused || (refused = bind_to_proof(*client, request, config, now, bindings.dpop))) {
        return std::move(*refused);
    }
    HttpResponse response = issue_token(*client, *scope, *audience, bindings, store, config, now);
    if (bindings.dpop.bound) {
        response.outcome.dpop_result = "ok";
    }
    return response;
}

}  // namespace

HttpResponse handle_token_request(const FormRequest &request, const Registry &registry,
                                  TokenStore &store, const TokenEndpointConfig &config,
                                  uint32_t now) noexcept {
    try {
        ClientRequest client_request(request, config.auth, now, "resource");
        HttpResponse response = answer(request, client_request, registry, store, config, now);
        client_request.note_outcome(response.outcome);
        if (config.dpop.nonces != nullptr) {
            response.dpop_nonce = config.dpop.nonces->current(now);  // RFC 9449 §8.2
        }
        return response;
    } catch (...) {
        return server_error_response();
    }
}

}  // namespace oauth
