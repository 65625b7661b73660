// The token store under random operation sequences on the smallest region,
// checked against a model (std::map): every live token inserted is found with
// what it was issued for and bound to, revoked and expired ones are not, a
// refusal (store full, client at its cap) is justified, and nothing crashes.
//
// Input: one byte of setup (digest spread, key space), then operations.
#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/scope.hpp"
#include "core/tokens/token_store.hpp"
#include "fuzz.hpp"

namespace {

using oauth::TokenStore;

constexpr size_t kRegionSize = TokenStore::kMinRegionSize;
// Entries a client record takes here: a head and one text entry (the id and
// its dictionary, "a b c d:e" at most, fit in one).
constexpr size_t kClientEntries = 2;

// Client i / 2 with one of two scope lists, as after a registry reload.
constexpr size_t kGrantKeys = 12;
const char *const kClientIds[] = {"c0", "c1", "c2", "c3", "c4", "c5"};
const char *const kScopeLists[] = {"a b c", "a b c d:e"};

std::string_view client_of(size_t grant_key) {
    return kClientIds[grant_key / 2];
}
std::string_view list_of(size_t grant_key) {
    return kScopeLists[grant_key % 2];
}

struct Token {
    size_t grant_key;
    uint64_t mask;
    uint32_t issued_at;
    uint32_t expires_at;
    unsigned bindings;  // bit 0: a certificate, bit 1: a DPoP key
};

constexpr unsigned kCertificate = 1;
constexpr unsigned kDpopKey = 2;

size_t binding_entries(unsigned bindings) {
    return (bindings & kCertificate ? 1 : 0) + (bindings & kDpopKey ? 1 : 0);
}

oauth::Digest thumbprint(uint32_t key, unsigned kind) {
    return oauth::digest_token("thumbprint " + std::to_string(key) + " " + std::to_string(kind));
}

oauth::TokenBindings bindings_of(uint32_t key, unsigned bindings) {
    oauth::TokenBindings out;
    out.certificate = {(bindings & kCertificate) != 0, thumbprint(key, kCertificate)};
    out.dpop = {(bindings & kDpopKey) != 0, thumbprint(key, kDpopKey)};
    return out;
}

void no_lock(void *) {}

struct Run {
    std::vector<uint64_t> memory = std::vector<uint64_t>(kRegionSize / sizeof(uint64_t));
    std::map<uint32_t, Token> model;
    uint32_t now = 1000000;
    bool clustered = false;

    TokenStore store() {
        return TokenStore(memory.data(), oauth::StoreLock{nullptr, no_lock, no_lock});
    }

    // Clustered digests come 8 to a home slot, homes 11 slots apart, so probe
    // chains run long and overlap, and deletions shift entries back across them.
    oauth::Digest digest(uint32_t key) const {
        uint64_t words[4] = {clustered ? key / 8 * 11 : key * 0x9e3779b97f4a7c15, key,
                             ~uint64_t(key), 0x5a5a5a5a5a5a5a5a};
        oauth::Digest out;
        std::memcpy(out.data(), words, sizeof words);
        return out;
    }

    bool live(const Token &token) const { return token.expires_at > now; }

    // The live tokens of the model, counted again only when it or the time changed:
    // a full store refuses insert after insert.
    static constexpr size_t kClients = kGrantKeys / 2;
    struct Census {
        size_t tokens = 0;
        size_t bindings = 0;  // their binding entries
        size_t of_client[kClients] = {};
        uint32_t soonest = UINT32_MAX;
        uint32_t soonest_of_client[kClients] = {UINT32_MAX, UINT32_MAX, UINT32_MAX,
                                                UINT32_MAX, UINT32_MAX, UINT32_MAX};
        size_t clients() const {
            return std::count_if(of_client, of_client + kClients, [](size_t n) { return n > 0; });
        }
    };
    uint64_t version = 0;
    uint64_t census_version = UINT64_MAX;
    uint32_t census_time = 0;
    Census census_cache;

    const Census &census() {
        if (census_version != version || census_time != now) {
            census_cache = Census();
            for (const auto &entry : model) {
                if (live(entry.second)) {
                    size_t client = entry.second.grant_key / 2;
                    ++census_cache.tokens;
                    census_cache.bindings += binding_entries(entry.second.bindings);
                    ++census_cache.of_client[client];
                    census_cache.soonest = std::min(census_cache.soonest, entry.second.expires_at);
                    census_cache.soonest_of_client[client] =
                        std::min(census_cache.soonest_of_client[client], entry.second.expires_at);
                }
            }
            census_version = version;
            census_time = now;
        }
        return census_cache;
    }

    void check_find(uint32_t key) {
        oauth::TokenGrant grant;
        bool found = store().find(digest(key), now, grant);
        auto it = model.find(key);
        bool expected = it != model.end() && live(it->second);
        FUZZ_CHECK(found == expected);
        if (found) {
            const Token &token = it->second;
            FUZZ_CHECK(grant.client() == client_of(token.grant_key));
            FUZZ_CHECK(grant.scopes() == oauth::render_scope(list_of(token.grant_key), token.mask));
            FUZZ_CHECK(grant.issued_at == token.issued_at && grant.expires_at == token.expires_at);
            oauth::TokenBindings expected = bindings_of(key, token.bindings);
            FUZZ_CHECK(grant.certificate.bound == expected.certificate.bound);
            FUZZ_CHECK(grant.dpop.bound == expected.dpop.bound);
            FUZZ_CHECK(!grant.certificate.bound ||
                       grant.certificate.thumbprint == expected.certificate.thumbprint);
            FUZZ_CHECK(!grant.dpop.bound || grant.dpop.thumbprint == expected.dpop.thumbprint);
        }
    }

    void insert(uint32_t key, size_t grant_key, uint64_t mask, uint32_t ttl, unsigned bindings) {
        uint32_t retry_after = 0;
        oauth::InsertResult result = store().insert(
            digest(key), client_of(grant_key), list_of(grant_key), mask, now, now + ttl, now,
            retry_after, TokenStore::kDefaultClientCap, {}, bindings_of(key, bindings));
        if (ttl == 0) {
            FUZZ_CHECK(result == oauth::InsertResult::ok);  // dead on arrival: not stored
            return;
        }
        if (result == oauth::InsertResult::ok) {
            model[key] = Token{grant_key, mask, now, now + ttl, bindings};
            ++version;
            return;
        }
        // A digest issued again loses its old entry even when the new one is refused.
        if (model.erase(key) != 0) {
            ++version;
        }
        const Census &live_now = census();
        size_t client = grant_key / 2;
        if (result == oauth::InsertResult::client_at_cap) {
            FUZZ_CHECK(live_now.of_client[client] >= store().capacity() / 4);  // the default cap
            FUZZ_CHECK(retry_after == live_now.soonest_of_client[client] - now);
            return;
        }
        FUZZ_CHECK(result == oauth::InsertResult::full);
        bool has_record = live_now.of_client[client] > 0;
        size_t entries = live_now.tokens + live_now.bindings + kClientEntries * live_now.clients();
        size_t needed = 1 + binding_entries(bindings) + (has_record ? 0 : kClientEntries);
        FUZZ_CHECK(entries + needed > store().capacity());
        uint32_t soonest = live_now.soonest;
        FUZZ_CHECK(soonest != UINT32_MAX && retry_after == soonest - now);
    }

    void revoke(uint32_t key, size_t grant_key) {
        bool revoked = store().revoke(digest(key), client_of(grant_key));
        auto it = model.find(key);
        if (it == model.end() || client_of(it->second.grant_key) != client_of(grant_key)) {
            FUZZ_CHECK(!revoked);
            return;
        }
        if (live(it->second)) {
            FUZZ_CHECK(revoked);  // an expired one may have been reclaimed already
        }
        model.erase(it);
        ++version;
    }

    // What a writer killed mid-change leaves for the next one: the sequence
    // counter odd. The offset is the store's private layout, checked first.
    void interrupt_writer() {
        auto *bytes = reinterpret_cast<unsigned char *>(memory.data());
        uint64_t magic, size;
        std::memcpy(&magic, bytes, sizeof magic);
        std::memcpy(&size, bytes + 16, sizeof size);
        if (magic != 0x4b4f544854554f41 || size != kRegionSize) {
            return;
        }
        uint32_t seq;
        std::memcpy(&seq, bytes + 48, sizeof seq);
        seq |= 1;
        std::memcpy(bytes + 48, &seq, sizeof seq);
    }

    void check_counts() {
        size_t stored = store().live_tokens();
        FUZZ_CHECK(stored <= model.size() && stored <= store().capacity());
    }

    void check_all() {
        for (const auto &entry : model) {
            check_find(entry.first);
        }
        FUZZ_CHECK(store().live_tokens() >= census().tokens);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz::Bytes bytes(data, size);
    Run run;
    FUZZ_CHECK(TokenStore::format(run.memory.data(), kRegionSize));
    FUZZ_CHECK(TokenStore::is_formatted(run.memory.data(), kRegionSize));
    uint8_t setup = bytes.byte();
    run.clustered = setup & 1;
    uint32_t key_space = (setup & 2) ? 2048 : 64;

    while (!bytes.empty()) {
        uint8_t op = bytes.byte();
        switch (op % 10) {
            case 0:
            case 1:
            case 2:
            case 3: {
                uint32_t key = bytes.u16() % key_space;
                size_t grant_key = bytes.byte() % kGrantKeys;
                uint64_t mask = bytes.byte() & (grant_key % 2 ? 0x0f : 0x07);
                unsigned bindings = op / 10 % 4;
                run.insert(key, grant_key, mask, bytes.byte() % 64,
                           bindings);  // ttl 0: dead on arrival
                break;
            }
            case 4:
            case 5:
                run.check_find(bytes.u16() % key_space);
                break;
            case 6:
                run.revoke(bytes.u16() % key_space, bytes.byte() % kGrantKeys);
                break;
            case 7:
                run.now += op < 200 ? bytes.byte() % 8 : bytes.byte();
                break;
            case 8:
                run.check_all();
                break;
            case 9:
                if (op >= 249) {
                    run.interrupt_writer();
                    break;
                }
                // Many tokens at once, so that a short input can fill the store.
                {
                    uint32_t first = bytes.u16() % key_space;
                    size_t grant_key = bytes.byte() % kGrantKeys;
                    uint32_t ttl = bytes.byte() % 64 + 1;
                    for (uint32_t n = 0, count = 4u * bytes.byte(); n < count; ++n) {
                        run.insert((first + n) % key_space, grant_key, n & 7, ttl, n >> 3 & 3);
                    }
                }
                break;
        }
        run.check_counts();
    }
    run.check_all();
    return 0;
}
