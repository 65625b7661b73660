// A real registry and a real token store over plain memory, for the tests of
// the endpoint flows.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/http/base64.hpp"
#include "core/registry.hpp"
#include "core/tokens/change_log.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/tokens/token_store.hpp"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "core/jose/key.hpp"

namespace fixture {

inline std::string sha256_hash(const std::string &secret) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char *>(secret.data()), secret.size(), digest);
    return "$sha256$" +
           oauth::encode_base64(std::string(reinterpret_cast<char *>(digest), sizeof(digest)));
}

// "Basic " and the padded base64 of "id:secret", as a client sends it.
inline std::string basic_header(const std::string &credentials) {
    std::string b64 = oauth::encode_base64(credentials);
    while (b64.size() % 4 != 0) {
        b64.push_back('=');
    }
    return "Basic " + b64;
}

inline std::unique_ptr<oauth::Registry> registry(const std::string &json) {
    oauth::RegistryError error;
    std::vector<std::string> warnings;
    return oauth::Registry::parse(json, error, warnings);
}

// Two clients: "app" (scopes a b c, default a, secret "app-secret") and
// "auditor" (introspection right, secret "auditor-secret").
inline std::unique_ptr<oauth::Registry> standard_registry() {
    return registry(R"({"clients":[
        {"client_id":"app","client_secret_hash":")" +
                    sha256_hash("app-secret") +
                    R"(","scope":"a b c","default_scope":"a"},
        {"client_id":"auditor","client_secret_hash":")" +
                    sha256_hash("auditor-secret") +
                    R"(","scope":"","introspection":true},
        {"client_id":"legacy","client_secret_hash":")" +
                    sha256_hash("legacy-secret") +
                    R"(","scope":"a","grant_types":["authorization_code"]}
    ]})");
}

struct Store {
    explicit Store(size_t size = 256 * 1024) : memory(size) {
        oauth::TokenStore::format(memory.data(), memory.size());
    }
    oauth::TokenStore open() {
        return oauth::TokenStore(memory.data(), oauth::StoreLock{nullptr, no_lock, no_lock});
    }
    static void no_lock(void *) {}
    std::vector<char> memory;
};

// A revocation list over plain memory.
struct Revocations {
    std::vector<uint64_t> memory = std::vector<uint64_t>(oauth::RevocationList::kMinRegionSize / 8);
    oauth::RevocationList list = open();
    oauth::RevocationList open() {
        if (!oauth::RevocationList::format(memory.data(), memory.size() * 8)) {
            std::abort();
        }
        return oauth::RevocationList(memory.data(), {});
    }
};

// A change log over plain memory, as a zone with state= has one.
struct Logged {
    std::vector<uint64_t> memory = std::vector<uint64_t>(oauth::ChangeLog::kMinRegionSize / 8);
    oauth::ChangeLog log = open();
    oauth::ChangeLog open() {
        if (!oauth::ChangeLog::format(memory.data(), memory.size() * 8)) {
            std::abort();
        }
        return oauth::ChangeLog(memory.data());
    }
};

// An ES256 token's twin: its signature with S replaced by n - S, which
// verifies as well (ECDSA signatures are malleable).
inline std::string high_s_twin(const std::string &token) {
    size_t dot = token.rfind('.');
    std::string raw = *oauth::decode_base64url(token.substr(dot + 1));
    auto *s_bytes = reinterpret_cast<unsigned char *>(raw.data()) + 32;
    BIGNUM *order = nullptr, *s = BN_bin2bn(s_bytes, 32, nullptr);
    BN_hex2bn(&order, "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551");
    BN_sub(s, order, s);
    BN_bn2binpad(s, s_bytes, 32);
    BN_free(order);
    BN_free(s);
    return token.substr(0, dot + 1) + oauth::encode_base64url(raw);
}

// A new EC key of `curve` and `kid` (empty: its thumbprint): it signs, and
// its public half verifies.
inline oauth::jose::Key generated_key(const std::string &kid, const char *curve = "P-256") {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(EVP_EC_gen(curve), EVP_PKEY_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char *pem = nullptr;
    long length = BIO_get_mem_data(bio.get(), &pem);
    oauth::jose::Key key;
    std::string error;
    if (!oauth::jose::load_private_key(std::string(pem, length), kid, key, error)) {
        abort();
    }
    return key;
}

}  // namespace fixture
