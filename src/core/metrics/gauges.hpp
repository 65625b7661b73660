// Metrics: the gauges read from a token zone's state when it is scraped.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/tokens/token_store.hpp"

namespace oauth::metrics {

// A client holding tokens in a zone, and the cap its last token carried.
struct ClientTokens {
    std::string id;
    size_t tokens = 0;  // expired tokens not yet reclaimed included
    size_t cap = 0;     // TokenStore::kNoClientCap: only uncapped, restored tokens
};

// Every client holding tokens in `store`, by id. Walks the store without its
// lock, as a reader does: for the scrape, never for a request.
std::vector<ClientTokens> client_tokens_of(const TokenStore &store);

}  // namespace oauth::metrics
