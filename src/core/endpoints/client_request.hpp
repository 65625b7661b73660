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
#include "core/jose/client_assertion.hpp"
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
    // RFC 9449 §4.1: the DPoP headers, and the URL a proof's htu must name
    // (scheme://host[:port]/path, no query).
    size_t dpop_headers = 0;
    std::string_view dpop_proof;  // the first DPoP header
    std::string_view url;
};

struct ClientAuthConfig {
    std::string_view realm;                 // for WWW-Authenticate: Basic realm="…"
    AuthThrottle *throttle = nullptr;       // nullptr: no brute-force protection
    jose::AssertionPolicy assertions = {};  // what private_key_jwt assertions must name
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

    // The response's outcome: the client named, the method used and how
    // its authentication went, for the metrics.
    void note_outcome(HttpResponse::Outcome &outcome) const;

  private:
    enum class Method { none, basic, post, assertion, certificate };

    void read_credentials();
    void read_body_credentials();
    void read_assertion();
    bool uses_two_methods() const;

    bool verify(const Client *client);
    bool credentials_valid(const Client &client);
    bool assertion_valid(const Client &client);
    bool certificate_valid(const Client &client);
    HttpResponse no_room_refusal() const;
    HttpResponse uncountable_refusal() const;
    std::string_view refusal_description() const;

    const FormRequest &request_;
    const ClientAuthConfig &config_;
    const uint32_t now_;
    const std::string_view repeatable_;
    Form form_;
    Method method_ = Method::none;
    bool malformed_ = false;           // an authentication attempt that cannot be decoded
    std::string_view basic_problem_;   // why Basic credentials could not be decoded
    std::string_view method_problem_;  // why the method or the assertion failed
    ClientCredentials presented_;
    std::string_view assertion_;  // private_key_jwt: the client_assertion
    jose::AssertionCheck assertion_check_ = jose::AssertionCheck::ok;
    uint32_t no_room_for_ = 0;      // the replay cache had no room for the client's assertion
    std::string_view auth_result_;  // empty until authenticate() runs
    const Client *named_ = nullptr;
    std::string failed_client_;  // how the log names who failed
    uint32_t blocked_for_ = 0;
    uint32_t uncountable_for_ = 0;  // the throttle could not count a failure of this pair
    bool block_started_ = false;
};

}  // namespace oauth
