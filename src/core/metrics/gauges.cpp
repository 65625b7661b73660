#include "core/metrics/gauges.hpp"

#include <algorithm>
#include <new>
#include <utility>

namespace oauth::metrics {

namespace {

struct Collected {
    std::vector<ClientTokens> clients;
    bool out_of_memory = false;
};

// Called from a noexcept walk: an allocation failure is carried out of it.
void collect(void *context, std::string_view id, size_t tokens, size_t cap) {
    auto *collected = static_cast<Collected *>(context);
    try {
        collected->clients.push_back({std::string(id), tokens, cap});
    } catch (const std::bad_alloc &) {
        collected->out_of_memory = true;
    }
}

}  // namespace

std::vector<ClientTokens> client_tokens_of(const TokenStore &store) {
    Collected collected;
    store.visit_clients(collect, &collected);
    if (collected.out_of_memory) {
        throw std::bad_alloc();
    }
    std::vector<ClientTokens> &clients = collected.clients;
    std::sort(clients.begin(), clients.end(),
              [](const ClientTokens &a, const ClientTokens &b) { return a.id < b.id; });
    // A record a writer moves while the walk goes by (a shift that wraps past
    // the table's end) may be seen twice, and a series must appear once.
    auto same_id = [](const ClientTokens &a, const ClientTokens &b) { return a.id == b.id; };
    clients.erase(std::unique(clients.begin(), clients.end(), same_id), clients.end());
    return std::move(clients);
}

}  // namespace oauth::metrics
