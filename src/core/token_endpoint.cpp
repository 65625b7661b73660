#include "core/token_endpoint.hpp"

#include <string>
#include <vector>

#include "core/auth_header.hpp"
#include "core/form.hpp"
#include "core/json.hpp"
#include "core/scope.hpp"
#include "core/text.hpp"
#include "core/token.hpp"

namespace oauth {

namespace {

constexpr std::string_view kFormMediaType = "application/x-www-form-urlencoded";

HttpResponse error_response(int status, std::string_view error, std::string_view description) {
    HttpResponse response;
    response.status = status;
    response.body = render_error(error, description);
    return response;
}

HttpResponse invalid_request(std::string_view description) {
    return error_response(400, "invalid_request", description);
}

// RFC 9110 §8.3.1: the media type is case-insensitive and may carry parameters.
bool is_form_content_type(std::string_view content_type) {
    std::string_view media_type = content_type.substr(0, content_type.find(';'));
    return equals_ignore_case(trim_ows(media_type), kFormMediaType);
}

// RFC 6749 §2.3.1: client credentials "MUST NOT be included in the request URI".
bool query_has_credentials(std::string_view query) {
    while (!query.empty()) {
        size_t end = query.find('&');
        std::string_view segment = query.substr(0, end);
        std::optional<std::string> name = form_decode(segment.substr(0, segment.find('=')));
        if (name && (*name == "client_id" || *name == "client_secret")) {
            return true;
        }
        query = end == std::string_view::npos ? std::string_view() : query.substr(end + 1);
    }
    return false;
}

// How the client tried to authenticate, before any secret is checked.
struct Credentials {
    enum class Method { none, basic, post };
    Method method = Method::none;
    bool malformed = false;  // an attempt that cannot be decoded
    ClientCredentials presented;
};

class TokenFlow {
public:
    TokenFlow(const TokenRequest &request, const Registry &registry, TokenStore &store,
              const TokenEndpointConfig &config, uint32_t now)
        : request_(request), registry_(registry), store_(store), config_(config), now_(now) {}

    HttpResponse run() {
        if (std::optional<HttpResponse> refused = check_request_shape()) {
            return std::move(*refused);
        }
        const Client *client = authenticate();
        if (client == nullptr) {
            return invalid_client();
        }
        if (*form_.get("grant_type") != "client_credentials") {
            return error_response(400, "unsupported_grant_type",
                                  "only the client_credentials grant is supported");
        }
        if (!client->client_credentials) {
            return error_response(400, "unauthorized_client",
                                  "this client may not use the client_credentials grant");
        }
        std::optional<uint64_t> scope = granted_scope(*client);
        if (!scope) {
            return error_response(400, "invalid_scope",
                                  "the requested scope is malformed or exceeds the client's scope");
        }
        return issue_token(*client, *scope);
    }

private:
    // Everything that makes the request malformed (RFC 6749 §5.2 invalid_request)
    // and that can be told before looking at any secret.
    std::optional<HttpResponse> check_request_shape() {
        if (request_.method != "POST") {
            HttpResponse response =
                error_response(405, "invalid_request", "the token endpoint accepts only POST");
            response.allow = "POST";
            return response;
        }
        if (!request_.content_type || !is_form_content_type(*request_.content_type)) {
            return invalid_request("the body must be application/x-www-form-urlencoded");
        }
        if (request_.body_too_large) {
            return invalid_request("the body is larger than 16 KiB");
        }
        if (query_has_credentials(request_.query)) {
            return invalid_request("client credentials must not be sent in the query string");
        }
        switch (form_.parse(request_.body)) {
            case FormStatus::bad_encoding:
                return invalid_request("the body is not valid form-urlencoded data");
            case FormStatus::repeated_parameter:
                return invalid_request("a parameter is given more than once");
            case FormStatus::ok:
                break;
        }
        if (request_.authorization_headers > 1) {
            return invalid_request("more than one Authorization header");
        }
        read_credentials();
        if (uses_two_methods()) {
            return invalid_request("the client used more than one authentication method");
        }
        if (form_.get("grant_type") == nullptr) {
            return invalid_request("the grant_type parameter is missing");
        }
        return std::nullopt;
    }

    void read_credentials() {
        if (request_.authorization_headers == 0) {
            read_body_credentials();
            return;
        }
        // Any Authorization header is an attempt to authenticate through it
        // (RFC 6749 §5.2): answered with a Basic challenge when it fails.
        credentials_.method = Credentials::Method::basic;
        std::string_view scheme, token68;
        credentials_.malformed = !split_authorization(request_.authorization, scheme, token68) ||
                                 !equals_ignore_case(scheme, "Basic") ||
                                 !parse_basic_credentials(token68, credentials_.presented);
    }

    void read_body_credentials() {
        const std::string *id = form_.get("client_id");
        const std::string *secret = form_.get("client_secret");
        if (id == nullptr && secret == nullptr) {
            return;
        }
        credentials_.method = Credentials::Method::post;
        credentials_.malformed = id == nullptr || secret == nullptr || !is_vschar_string(*id) ||
                                 !is_vschar_string(*secret);
        if (!credentials_.malformed) {
            credentials_.presented = {*id, *secret};
        }
    }

    // RFC 6749 §2.3: "MUST NOT use more than one authentication method in each
    // request". A client_id in the body beside Basic is tolerated only when it
    // names the same client.
    bool uses_two_methods() const {
        if (credentials_.method != Credentials::Method::basic) {
            return false;
        }
        if (form_.has("client_secret")) {
            return true;
        }
        const std::string *body_id = form_.get("client_id");
        return body_id != nullptr &&
               (credentials_.malformed || *body_id != credentials_.presented.id);
    }

    const Client *authenticate() {
        if (credentials_.method == Credentials::Method::none || credentials_.malformed) {
            return nullptr;
        }
        const Client *client = registry_.find(credentials_.presented.id);
        if (client == nullptr || !client->secret.verify(credentials_.presented.secret)) {
            failed_client_id_ = credentials_.presented.id;
            return nullptr;
        }
        return client;
    }

    // RFC 6749 §5.2 invalid_client; RFC 7235 §3.1: a 401 carries a challenge,
    // which names the scheme the client tried, or the one it should try.
    HttpResponse invalid_client() {
        HttpResponse response;
        if (credentials_.method == Credentials::Method::none) {
            response = error_response(401, "invalid_client", "client authentication is required");
        } else {
            response = error_response(401, "invalid_client", "client authentication failed");
        }
        if (credentials_.method != Credentials::Method::post) {
            response.www_authenticate = "Basic realm=\"";
            response.www_authenticate.append(config_.realm);
            response.www_authenticate.push_back('"');
        }
        if (!failed_client_id_.empty()) {
            response.log = HttpResponse::Log::info;
            response.log_message = "client authentication failed for client_id \"";
            response.log_message.append(failed_client_id_).push_back('"');
        }
        return response;
    }

    // RFC 6749 §3.3: absent scope means the client's default.
    std::optional<uint64_t> granted_scope(const Client &client) const {
        const std::string *requested = form_.get("scope");
        if (requested == nullptr) {
            return client.default_mask;
        }
        std::vector<std::string_view> tokens;
        if (!split_scope(*requested, tokens)) {
            return std::nullopt;
        }
        return scope_mask(client.scope, tokens);
    }

    HttpResponse issue_token(const Client &client, uint64_t scope) {
        std::string token;
        if (!generate_token(token)) {
            HttpResponse response = error_response(500, "server_error", "no token could be made");
            response.log = HttpResponse::Log::error;
            response.log_message = "the random number generator failed";
            return response;
        }
        uint32_t ttl = client.token_ttl != 0 ? client.token_ttl : config_.ttl;
        uint32_t retry_after = 0;
        InsertResult stored = store_.insert(digest_token(token), client.id, client.scope, scope,
                                            now_, now_ + ttl, now_, retry_after);
        if (stored == InsertResult::full) {
            HttpResponse response = error_response(503, "temporarily_unavailable",
                                                   "the token store is full; retry later");
            response.retry_after = retry_after;
            response.log = HttpResponse::Log::error;
            response.log_message = "token zone is full of live tokens";
            return response;
        }
        HttpResponse response;
        response.body = render_token_response(token, ttl, render_scope(client.scope, scope));
        return response;
    }

    const TokenRequest &request_;
    const Registry &registry_;
    TokenStore &store_;
    const TokenEndpointConfig &config_;
    const uint32_t now_;
    Form form_;
    Credentials credentials_;
    std::string failed_client_id_;
};

}  // namespace

HttpResponse handle_token_request(const TokenRequest &request, const Registry &registry,
                                  TokenStore &store, const TokenEndpointConfig &config,
                                  uint32_t now) noexcept {
    try {
        return TokenFlow(request, registry, store, config, now).run();
    } catch (...) {
        HttpResponse response;
        response.status = 500;
        response.body = "{\"error\":\"server_error\"}";
        response.log = HttpResponse::Log::error;
        response.log_message = "out of memory in the token endpoint";
        return response;
    }
}

}  // namespace oauth
