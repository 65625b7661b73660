#include "core/endpoints/client_request.hpp"

#include <algorithm>

#include "core/http/json.hpp"
#include "core/http/text.hpp"

namespace oauth {

namespace {

constexpr std::string_view kFormMediaType = "application/x-www-form-urlencoded";

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

ClientKind kind_of(const Client *client) {
    return client != nullptr ? ClientKind::registered : ClientKind::unknown;
}

// A flood keeps the counters full for as long as it lasts: one line a minute
// per worker says so without adding to the flood.
constexpr uint32_t kFullTableWarningInterval = 60;

bool full_table_warning_due(uint32_t now) {
    static uint32_t last_warning = 0;
    if (last_warning != 0 && now - last_warning < kFullTableWarningInterval) {
        return false;
    }
    last_warning = now;
    return true;
}

}  // namespace

HttpResponse error_response(int status, std::string_view error, std::string_view description) {
    HttpResponse response;
    response.status = status;
    response.body = render_error(error, description);
    response.outcome.result = error;
    return response;
}

HttpResponse server_error_response() noexcept {
    HttpResponse response;
    response.status = 500;
    response.outcome.result = "server_error";
    return response;
}

std::optional<HttpResponse> ClientRequest::check_shape() {
    if (request_.method != "POST") {
        HttpResponse response =
            error_response(405, "invalid_request", "this endpoint accepts only POST");
        response.allow = "POST";
        return response;
    }
    // RFC 9110 §5.3: a singleton field; nginx keeps the first, an upstream
    // proxy may have read the last.
    if (request_.content_type_headers > 1) {
        return invalid_request("more than one Content-Type header");
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
    switch (form_.parse(request_.body, repeatable_)) {
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
    return std::nullopt;
}

void ClientRequest::read_credentials() {
    if (request_.authorization_headers == 0) {
        read_body_credentials();
        return;
    }
    // Any Authorization header is an attempt to authenticate through it
    // (RFC 6749 §5.2): answered with a Basic challenge when it fails.
    method_ = Method::basic;
    std::string_view scheme, token68;
    if (!split_authorization(request_.authorization, scheme, token68) ||
        !equals_ignore_case(scheme, "Basic")) {
        malformed_ = true;
        return;
    }
    basic_problem_ = describe(parse_basic_credentials(token68, presented_));
    malformed_ = !basic_problem_.empty();
}

void ClientRequest::read_body_credentials() {
    if (form_.has("client_assertion") || form_.has("client_assertion_type")) {
        read_assertion();
        return;
    }
    const std::string *id = form_.get("client_id");
    const std::string *secret = form_.get("client_secret");
    if (id == nullptr && secret == nullptr) {
        return;
    }
    // RFC 8705 §2: a client_id alone names a client whose certificate authenticates it.
    if (secret == nullptr) {
        method_ = Method::certificate;
        malformed_ = !is_vschar_string(*id);
        presented_.id = *id;
        return;
    }
    method_ = Method::post;
    malformed_ =
        id == nullptr || secret == nullptr || !is_vschar_string(*id) || !is_vschar_string(*secret);
    if (!malformed_) {
        presented_ = {*id, *secret};
    }
}

// RFC 7523 §2.2: the assertion names the client in its sub; a client_id
// beside it must name the same one. The sub is read unverified, only to
// choose whose keys check the assertion.
void ClientRequest::read_assertion() {
    method_ = Method::assertion;
    const std::string *type = form_.get("client_assertion_type");
    const std::string *assertion = form_.get("client_assertion");
    if (type == nullptr || assertion == nullptr) {
        malformed_ = true;
        method_problem_ = "client_assertion and client_assertion_type go together";
        return;
    }
    if (*type != jose::kJwtBearerAssertionType) {
        malformed_ = true;
        method_problem_ =
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
        return;
    }
    std::optional<std::string> subject = jose::assertion_subject(*assertion);
    const std::string *id = form_.get("client_id");
    if (!subject || !is_vschar_string(*subject) || (id != nullptr && *id != *subject)) {
        malformed_ = true;
        method_problem_ = "the client assertion's sub must be the client id";
        return;
    }
    presented_ = {*subject, std::string()};
    assertion_ = *assertion;
}

// RFC 6749 §2.3: "MUST NOT use more than one authentication method in each
// request". A client_id in the body beside Basic is tolerated only when it
// names the same client.
bool ClientRequest::uses_two_methods() const {
    if (method_ == Method::assertion) {
        return form_.has("client_secret");
    }
    if (method_ != Method::basic) {
        return false;
    }
    if (form_.has("client_secret") || form_.has("client_assertion") ||
        form_.has("client_assertion_type")) {
        return true;
    }
    const std::string *body_id = form_.get("client_id");
    return body_id != nullptr && (malformed_ || *body_id != presented_.id);
}

const Client *ClientRequest::authenticate(const Registry &registry) {
    auth_result_ = "failed";
    if (method_ == Method::none || malformed_) {
        return nullptr;
    }
    named_ = registry.find(presented_.id);
    AuthThrottle::Standing standing;
    if (config_.throttle != nullptr) {
        standing = config_.throttle->standing(presented_.id, request_.client_address,
                                              kind_of(named_), now_);
        if (standing.blocked_for != 0 || standing.uncountable_for != 0) {
            auth_result_ = "throttled";
            blocked_for_ = standing.blocked_for;
            uncountable_for_ = standing.uncountable_for;
            return nullptr;
        }
    }
    if (!verify(named_)) {
        return nullptr;
    }
    if (standing.has_failures) {
        config_.throttle->clear(presented_.id, request_.client_address);
    }
    auth_result_ = "ok";
    return named_;
}

// The one place where the method a request used meets the one its client
// registered (RFC 7591 token_endpoint_auth_method): a client never falls
// back to another.
bool ClientRequest::credentials_valid(const Client &client) {
    AuthMethod used = AuthMethod::client_secret_basic;
    switch (method_) {
        case Method::none:
            return false;
        case Method::basic:
            break;
        case Method::post:
            used = AuthMethod::client_secret_post;
            break;
        case Method::assertion:
            used = AuthMethod::private_key_jwt;
            break;
        case Method::certificate:  // which of the two, the registration says
            used = client.auth_method == AuthMethod::self_signed_tls_client_auth
                       ? AuthMethod::self_signed_tls_client_auth
                       : AuthMethod::tls_client_auth;
            break;
    }
    if (!client.accepts(used)) {
        method_problem_ = "the client is not registered for this authentication method";
        return false;
    }
    switch (used) {
        case AuthMethod::private_key_jwt:
            return assertion_valid(client);
        case AuthMethod::tls_client_auth:
        case AuthMethod::self_signed_tls_client_auth:
            return certificate_valid(client);
        case AuthMethod::client_secret_basic:
        case AuthMethod::client_secret_post:
            break;
    }
    return client.secret.verify(presented_.secret);
}

// RFC 8705 §2.1.2 (the registered subject, with the chain nginx verified) or
// §2.2 (one of the registered certificates).
bool ClientRequest::certificate_valid(const Client &client) {
    CertificateCheck check = client.auth_method == AuthMethod::self_signed_tls_client_auth
                                 ? check_self_signed(request_.certificate, client.certificates)
                                 : check_tls_client_auth(request_.certificate, client.tls_identity);
    method_problem_ = describe(check);
    return check == CertificateCheck::ok;
}

bool ClientRequest::assertion_valid(const Client &client) {
    static const std::vector<jose::Key> kNoKeys;
    assertion_check_ =
        jose::check_client_assertion(assertion_, client.id, client.keys ? *client.keys : kNoKeys,
                                     config_.assertions, now_, no_room_for_);
    method_problem_ = jose::describe(assertion_check_);
    if (assertion_check_ == jose::AssertionCheck::replayed) {
        auth_result_ = "replayed";
    } else if (assertion_check_ == jose::AssertionCheck::no_room) {
        auth_result_ = "no_room";
    }
    return assertion_check_ == jose::AssertionCheck::ok;
}

bool ClientRequest::verify(const Client *client) {
    if (client != nullptr && credentials_valid(*client)) {
        return true;
    }
    // Only a registered id is quoted in the log: an unknown one may be a
    // secret sent in the wrong field.
    failed_client_ = client != nullptr ? "client_id \"" + client->id + "\""
                                       : std::string("an unknown client_id");
    // The throttle bounds guesses of a secret; a signature is not guessed,
    // and a client retrying a refused assertion must not lock itself out.
    if (config_.throttle != nullptr && method_ != Method::assertion) {
        block_started_ = config_.throttle->record_failure(presented_.id, request_.client_address,
                                                          kind_of(client), now_);
    }
    return false;
}

void ClientRequest::note_outcome(HttpResponse::Outcome &outcome) const {
    outcome.client = named_client();
    outcome.auth_result = auth_result_;
    switch (method_) {
        case Method::none:
            outcome.auth_result = {};
            break;
        case Method::basic:
            outcome.auth_method = auth_method_name(AuthMethod::client_secret_basic);
            break;
        case Method::post:
            outcome.auth_method = auth_method_name(AuthMethod::client_secret_post);
            break;
        case Method::assertion:
            outcome.auth_method = auth_method_name(AuthMethod::private_key_jwt);
            break;
        case Method::certificate:
            // A certificate for a client of a secret, or for an unknown one:
            // neither certificate method.
            outcome.auth_method =
                named_ != nullptr && named_->auth_method &&
                        (*named_->auth_method == AuthMethod::tls_client_auth ||
                         *named_->auth_method == AuthMethod::self_signed_tls_client_auth)
                    ? auth_method_name(*named_->auth_method)
                    : "other";
            break;
    }
}

HttpResponse ClientRequest::refusal() const {
    if (assertion_check_ == jose::AssertionCheck::no_room) {
        return no_room_refusal();
    }
    if (blocked_for_ != 0) {
        HttpResponse response = error_response(429, "temporarily_unavailable",
                                               "too many failed authentications; retry later");
        response.retry_after = blocked_for_;
        response.outcome.cause = HttpResponse::Outcome::Cause::throttled;
        return response;
    }
    if (uncountable_for_ != 0) {
        return uncountable_refusal();
    }
    HttpResponse response = error_response(401, "invalid_client", refusal_description());
    // RFC 7235 §3.1: a 401 challenges the scheme tried, or Basic when none was.
    if (method_ == Method::basic || method_ == Method::none) {
        response.www_authenticate = "Basic realm=" + quoted_string(config_.realm);
    }
    if (block_started_) {
        response.log = HttpResponse::Log::warn;
        response.log_message = failed_client_ + " failed to authenticate " +
                               std::to_string(config_.throttle->policy().limit) +
                               " times; blocked at this address for " +
                               std::to_string(config_.throttle->policy().block) + "s";
    } else if (!failed_client_.empty()) {
        response.log = HttpResponse::Log::info;
        response.log_message = "client authentication failed for " + failed_client_;
        if (!method_problem_.empty()) {
            response.log_message += ": ";
            response.log_message.append(method_problem_);
        }
    } else if (!method_problem_.empty()) {
        response.log = HttpResponse::Log::info;
        response.log_message = "client authentication failed: ";
        response.log_message.append(method_problem_);
    } else if (!basic_problem_.empty()) {
        // Common with clients that skip the form-encoding: say why, since
        // nothing else would tell the operator.
        response.log = HttpResponse::Log::info;
        response.log_message = "client authentication failed: ";
        response.log_message.append(basic_problem_);
    }
    return response;
}

std::string_view ClientRequest::refusal_description() const {
    if (method_ == Method::none) {
        return "client authentication is required";
    }
    if (!method_problem_.empty()) {
        return method_problem_;
    }
    return basic_problem_.empty() ? "client authentication failed" : basic_problem_;
}

// The replay cache fails closed: an assertion whose jti cannot be
// remembered could be replayed, so it is refused until the client's own
// entries expire; other clients are unaffected.
HttpResponse ClientRequest::no_room_refusal() const {
    HttpResponse response =
        error_response(429, "temporarily_unavailable", jose::describe(assertion_check_));
    response.retry_after = std::max<uint32_t>(1, no_room_for_);
    if (full_table_warning_due(now_)) {
        response.log = HttpResponse::Log::warn;
        response.log_message = "no room in the replay cache for an assertion of client_id \"" +
                               presented_.id +
                               "\": it holds its share of live assertions (a flood?); its new "
                               "assertions are refused for up to " +
                               std::to_string(response.retry_after) + "s";
    }
    return response;
}

// The throttle fails closed: a registered id whose failures could not be
// counted would get unlimited guesses, so it waits, before its secret is
// checked, until a counter frees. Pairs already counted are unaffected.
HttpResponse ClientRequest::uncountable_refusal() const {
    HttpResponse response = error_response(
        429, "temporarily_unavailable",
        "too many failed authentications at this server to count yours; retry later");
    response.retry_after = uncountable_for_;
    response.outcome.cause = HttpResponse::Outcome::Cause::throttled;
    if (full_table_warning_due(now_)) {
        response.log = HttpResponse::Log::warn;
        response.log_message = "no room to count failures of client_id \"" + presented_.id +
                               "\" at this address: the brute-force counters near it all hold "
                               "recent failures (a flood?); pairs without a count are refused "
                               "for up to " +
                               std::to_string(uncountable_for_) +
                               "s before their secret is checked";
    }
    return response;
}

}  // namespace oauth
