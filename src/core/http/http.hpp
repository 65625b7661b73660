// What an endpoint of the core answers, for the nginx glue to send as it is.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace oauth {

struct HttpResponse {
    int status = 200;
    std::string body;              // JSON
    std::string www_authenticate;  // empty: no challenge
    std::string allow;             // empty: no Allow header (only 405 sets it)
    uint32_t retry_after = 0;      // 0: no Retry-After header
    bool no_store = true;          // Cache-Control: no-store, Pragma: no-cache
    std::string dpop_nonce;        // empty: no DPoP-Nonce header (RFC 9449 §8)

    enum class Log { none, info, warn, error };
    Log log = Log::none;
    std::string log_message;     // never holds a secret or a token
    bool log_throttled = false;  // one line a second per worker (always so for Log::error)

    // What the endpoint answered, for the metrics (core/metrics), set where
    // the response is made, so that nobody parses the body to count it.
    struct Outcome {
        std::string_view result;  // "issued", "active", "inactive", "ok" or the error code
                                  // (string literals only)
        std::string_view client;  // the registered client the credentials named (points
                                  // into the Registry); empty when none or unknown
        enum class Cause { none, throttled, zone_full } cause = Cause::none;
        // How the client authenticated (a token_endpoint_auth_method) and
        // how that went (metrics::kAuthResults); empty: no attempt.
        std::string_view auth_method;
        std::string_view auth_result;
        // How a DPoP proof fared (jose::dpop_result); empty: none was checked.
        std::string_view dpop_result;
    } outcome;
};

}  // namespace oauth
