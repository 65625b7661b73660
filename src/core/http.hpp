// What an endpoint of the core answers, for the nginx glue to send as it is.
#pragma once

#include <cstdint>
#include <string>

namespace oauth {

struct HttpResponse {
    int status = 200;
    std::string body;              // JSON
    std::string www_authenticate;  // empty: no challenge
    std::string allow;             // empty: no Allow header (only 405 sets it)
    uint32_t retry_after = 0;      // 0: no Retry-After header
    bool no_store = true;          // Cache-Control: no-store, Pragma: no-cache

    enum class Log { none, info, warn, error };
    Log log = Log::none;
    std::string log_message;     // never holds a secret or a token
    bool log_throttled = false;  // one line a second per worker (always so for Log::error)
};

}  // namespace oauth
