// The request shape the token, introspection and revocation endpoints share:
// a POST with a form body from a client authenticating with its secret
// (RFC 6749 §2.3.1, §3.2; RFC 7662 §2.1; RFC 7009 §2.1) or with its TLS
// client certificate and its client_id in the body (RFC 8705 §2).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/http/auth_header.hpp"
#include "core/auth_throttle.hpp"
#include "core/http/form.hpp"
#include "core/http/http.hpp"
#include "core/registry.hpp"

namespace oauth {

constexpr size_t kMaxFormBody = 16 * 1024;

// What the nginx glue hands over of one HTTP request.
struct FormRequest {
    std::string_view method;
    std::optional<std::string_view> content_type;  // the first Content-Type header
    size_t content_type_headers = 0;               // more than one: refused, even when they agree
    std::string_view query;                        // the raw query string, without '?'
    size_t authorization_headers = 0;
    std::string_view authorization;  // the first Authorization header
    std::string_view body;
    bool body_too_large = false;       // over kMaxFormBody; `body` is then empty
    std::string_view client_address;   // whose failed authentications are counted
    PresentedCertificate certificate;  // the connection's TLS client certificate
};

struct ClientAuthConfig {
    std::string_view realm;            // for WWW-Authenticate: Basic realm="…"
    AuthThrottle *throttle = nullptr;  // nullptr: no brute-force protection
};

// `error` is a string literal: the response's outcome keeps a view of it.
HttpResponse error_response(int status, std::string_view error, std::string_view description);

// A 500 that allocates nothing, for when memory ran out.
HttpResponse server_error_response() noexcept;

class ClientRequest {
  public:
    // `repeatable`: the one parameter the endpoint lets repeat, if any.
    ClientRequest(const FormRequest &request, const ClientAuthConfig &config, uint32_t now,
                  std::string_view repeatable = {})
        : request_(request), config_(config), now_(now), repeatable_(repeatable) {}

    // Everything that makes the request malformed (RFC 6749 §5.2
    // invalid_request) and can be told before any secret is checked. nullopt
    // when the request is well formed.
    std::optional<HttpResponse> check_shape();

    // The registered client whose secret was presented, or nullptr. A client
    // id blocked at this address, or a registered one the throttle has no
    // room to count, is refused before its secret is checked.
    const Client *authenticate(const Registry &registry);

    // Why authenticate() answered nullptr: 401 invalid_client, with the
    // challenge RFC 7235 §3.1 asks of a 401, or 429 while blocked.
    HttpResponse refusal() const;

    const Form &form() const { return form_; }

    // The id of the registered client the credentials named, authenticated or
    // not; empty when they named none or an unknown one. It is what the
    // metrics count the request under: the registry bounds their labels.
    std::string_view named_client() const {
        return named_ != nullptr ? std::string_view(named_->id) : std::string_view();
    }

    // What the metrics count of the request: the client it named, and how it
    // authenticated or tried to.
    void note(HttpResponse::Outcome &outcome) const;

  private:
    enum class Method { none, basic, post, certificate };

    void read_credentials();
    void read_body_credentials();
    bool uses_two_methods() const;

    bool verify(const Client *client);
    bool verify_credentials(const Client &client);
    HttpResponse uncountable_refusal() const;
    std::string_view refusal_description() const;

    const FormRequest &request_;
    const ClientAuthConfig &config_;
    const uint32_t now_;
    const std::string_view repeatable_;
    Form form_;
    Method method_ = Method::none;
    bool malformed_ = false;          // an authentication attempt that cannot be decoded
    std::string_view basic_problem_;  // why Basic credentials could not be decoded
    ClientCredentials presented_;
    const Client *named_ = nullptr;
    bool authenticated_ = false;
    std::string failed_client_;             // how the log names who failed
    std::string_view certificate_problem_;  // why the certificate did not authenticate
    uint32_t blocked_for_ = 0;
    uint32_t uncountable_for_ = 0;  // the throttle could not count a failure of this pair
    bool block_started_ = false;
};

}  // namespace oauth
