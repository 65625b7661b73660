#include "core/metrics/counters.hpp"

#include <algorithm>
#include <cstring>
#include <new>

namespace oauth::metrics {

namespace {

constexpr uint64_t kMagic = 0x5352544d48545541;  // "AUTHMTRS"
// 2: invalid_target among the token results; 3: client auths; 4: DPoP proofs
constexpr uint32_t kVersion = 4;
constexpr auto kRelaxed = std::memory_order_relaxed;

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "counters shared between processes must be lock-free atomics");

using Counter = std::atomic<uint64_t>;

// The index of `result` in `names`; a result without a name is the last, "other".
template <size_t N>
size_t index_of(const std::string_view (&names)[N], std::string_view result) noexcept {
    for (size_t i = 0; i + 1 < N; ++i) {
        if (names[i] == result) {
            return i;
        }
    }
    return N - 1;
}

template <size_t N>
void read_all(const Counter (&from)[N], uint64_t (&to)[N]) noexcept {
    for (size_t i = 0; i < N; ++i) {
        to[i] = from[i].load(kRelaxed);
    }
}

// FNV-1a: the same in every process and every build, unlike std::hash, so a
// slot keeps its place across workers and reloads.
uint64_t hash_of(std::string_view id) noexcept {
    uint64_t h = 0xcbf29ce484222325;
    for (unsigned char c : id) {
        h = (h ^ c) * 0x100000001b3;
    }
    return h;
}

}  // namespace

// A claimed slot never changes id: the length is stored last (release), so a
// reader that sees it sees the id. A claim cut short by a dying worker leaves
// the length 0 and the slot free.
struct Counters::ClientSlot {
    std::atomic<uint32_t> id_length;  // 0: free
    char id[kMaxClientIdLength];
    Counter token_requests[kTokenResultCount];
};

struct Counters::Header {
    uint64_t magic;
    uint32_t version;
    uint32_t slot_count;
    uint64_t size;
    Counter introspection_requests[kIntrospectionResultCount];
    Counter revocation_requests[kRevocationResultCount];
    Counter bearer_checks[kBearerResultCount];
    Counter throttled;
    Counter zone_full;
    Counter authentications[kAuthMethodCount][kAuthResultCount];
    Counter dpop_proofs[kDpopPlaceCount][kDpopResultCount];
    ClientSlot unknown;  // the empty id; slot_count slots follow the header
};

Counters::ClientSlot *Counters::slots() const noexcept {
    return reinterpret_cast<ClientSlot *>(header_ + 1);
}

bool Counters::format(void *region, size_t size) noexcept {
    if (region == nullptr || size < kMinRegionSize) {
        return false;
    }
    std::memset(region, 0, size);
    auto *header = new (region) Header{};
    size_t slots = (size - sizeof(Header)) / sizeof(ClientSlot);
    auto *slot = reinterpret_cast<ClientSlot *>(header + 1);
    for (size_t i = 0; i < slots; ++i) {
        new (slot + i) ClientSlot{};
    }
    header->magic = kMagic;
    header->version = kVersion;
    header->size = size;
    header->slot_count = uint32_t(slots);
    return true;
}

bool Counters::is_formatted(const void *region, size_t size) noexcept {
    auto *header = static_cast<const Header *>(region);
    return region != nullptr && size >= kMinRegionSize && header->magic == kMagic &&
           header->version == kVersion && header->size == size;
}

Counters::Counters(void *region, StoreLock lock) noexcept
    : header_(static_cast<Header *>(region)), lock_(lock) {}

size_t Counters::client_slots() const noexcept {
    return header_->slot_count;
}

Counters::ClientSlot *Counters::find_slot(std::string_view client) const noexcept {
    size_t count = header_->slot_count;
    size_t at = hash_of(client) % count;
    for (size_t probe = 0; probe < count; ++probe, at = at + 1 == count ? 0 : at + 1) {
        ClientSlot &slot = slots()[at];
        uint32_t length = slot.id_length.load(std::memory_order_acquire);
        if (length == 0) {
            return nullptr;  // slots are never freed: the id is in none further on
        }
        if (length == client.size() && std::memcmp(slot.id, client.data(), length) == 0) {
            return &slot;
        }
    }
    return nullptr;
}

Counters::ClientSlot *Counters::claim_slot(std::string_view client) noexcept {
    Locked locked(lock_);
    size_t count = header_->slot_count;
    size_t at = hash_of(client) % count;
    for (size_t probe = 0; probe < count; ++probe, at = at + 1 == count ? 0 : at + 1) {
        ClientSlot &slot = slots()[at];
        uint32_t length = slot.id_length.load(kRelaxed);
        if (length == client.size() && std::memcmp(slot.id, client.data(), length) == 0) {
            return &slot;  // another worker claimed it first
        }
        if (length == 0) {
            std::memcpy(slot.id, client.data(), client.size());
            slot.id_length.store(uint32_t(client.size()), std::memory_order_release);
            return &slot;
        }
    }
    return nullptr;
}

Counters::ClientSlot &Counters::slot_of(std::string_view client) noexcept {
    if (client.empty() || client.size() > kMaxClientIdLength) {
        return header_->unknown;
    }
    ClientSlot *slot = find_slot(client);
    if (slot == nullptr) {
        slot = claim_slot(client);
    }
    return slot != nullptr ? *slot : header_->unknown;
}

void Counters::count_cause(HttpResponse::Outcome::Cause cause) noexcept {
    switch (cause) {
        case HttpResponse::Outcome::Cause::throttled:
            header_->throttled.fetch_add(1, kRelaxed);
            break;
        case HttpResponse::Outcome::Cause::zone_full:
            header_->zone_full.fetch_add(1, kRelaxed);
            break;
        case HttpResponse::Outcome::Cause::none:
            break;
    }
}

void Counters::count_authentication(const HttpResponse::Outcome &outcome) noexcept {
    if (outcome.auth_method.empty() || outcome.auth_result.empty()) {
        return;  // no attempt: nothing was sent to authenticate with
    }
    header_
        ->authentications[index_of(kAuthMethods, outcome.auth_method)]
                         [index_of(kAuthResults, outcome.auth_result)]
        .fetch_add(1, kRelaxed);
}

void Counters::count_dpop_proof(size_t place, std::string_view result) noexcept {
    if (!result.empty()) {
        header_->dpop_proofs[place][index_of(kDpopResults, result)].fetch_add(1, kRelaxed);
    }
}

void Counters::count_token_response(const HttpResponse::Outcome &outcome) noexcept {
    count_authentication(outcome);
    count_dpop_proof(0, outcome.dpop_result);
    slot_of(outcome.client)
        .token_requests[index_of(kTokenResults, outcome.result)]
        .fetch_add(1, kRelaxed);
    count_cause(outcome.cause);
}

void Counters::count_introspection_response(const HttpResponse::Outcome &outcome) noexcept {
    count_authentication(outcome);
    header_->introspection_requests[index_of(kIntrospectionResults, outcome.result)].fetch_add(
        1, kRelaxed);
    count_cause(outcome.cause);
}

void Counters::count_revocation_response(const HttpResponse::Outcome &outcome) noexcept {
    count_authentication(outcome);
    header_->revocation_requests[index_of(kRevocationResults, outcome.result)].fetch_add(1,
                                                                                         kRelaxed);
    count_cause(outcome.cause);
}

void Counters::count_bearer_check(std::string_view result, std::string_view dpop_result) noexcept {
    header_->bearer_checks[index_of(kBearerResults, result)].fetch_add(1, kRelaxed);
    count_dpop_proof(1, dpop_result);
}

Snapshot Counters::snapshot() const {
    Snapshot out;
    out.clients.emplace_back();
    read_all(header_->unknown.token_requests, out.clients.back().token_requests);
    for (size_t i = 0; i < header_->slot_count; ++i) {
        const ClientSlot &slot = slots()[i];
        uint32_t length = slot.id_length.load(std::memory_order_acquire);
        if (length != 0) {
            out.clients.emplace_back();
            out.clients.back().id.assign(slot.id, length);
            read_all(slot.token_requests, out.clients.back().token_requests);
        }
    }
    std::sort(out.clients.begin() + 1, out.clients.end(),
              [](const Snapshot::Client &a, const Snapshot::Client &b) { return a.id < b.id; });
    read_all(header_->introspection_requests, out.introspection_requests);
    read_all(header_->revocation_requests, out.revocation_requests);
    read_all(header_->bearer_checks, out.bearer_checks);
    out.throttled = header_->throttled.load(kRelaxed);
    out.zone_full = header_->zone_full.load(kRelaxed);
    for (size_t method = 0; method < kAuthMethodCount; ++method) {
        read_all(header_->authentications[method], out.authentications[method]);
    }
    for (size_t place = 0; place < kDpopPlaceCount; ++place) {
        read_all(header_->dpop_proofs[place], out.dpop_proofs[place]);
    }
    return out;
}

}  // namespace oauth::metrics
