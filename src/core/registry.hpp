// The client registry file (see README.md, "Client registry file").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/client_certificate.hpp"
#include "core/secret.hpp"

namespace oauth {

namespace jose {
struct Key;  // core/jose/key.hpp, which brings OpenSSL's headers: not into every file
}

constexpr size_t kMaxClientIdLength = 128;
constexpr size_t kMaxScopeListLength = 1024;
// RFC 8707 resources of a client, and the bytes of them a token's audience may
// take (the token store keeps an audience as a 16-bit mask).
constexpr size_t kMaxResources = 16;
constexpr size_t kMaxResourceListLength = 1024;

// How a client authenticates at the token, introspection and revocation
// endpoints (RFC 7591 token_endpoint_auth_method, RFC 8705 §2.1.1, §2.2.1).
// A client of one method cannot authenticate with another.
enum class AuthMethod {
    client_secret_basic,
    client_secret_post,
    private_key_jwt,
    tls_client_auth,
    self_signed_tls_client_auth,
};

std::string_view auth_method_name(AuthMethod method) noexcept;

struct Client {
    std::string id;
    // "token_endpoint_auth_method"; nullopt: a secret, by either method.
    std::optional<AuthMethod> auth_method;
    SecretVerifier secret;  // a secret client's: never empty
    // "jwks" or "jwks_file": the public keys a private_key_jwt client's
    // assertions are signed with; null for a client of another method.
    std::shared_ptr<const std::vector<jose::Key>> keys;
    CertificateIdentity tls_identity;       // tls_client_auth
    std::vector<std::string> certificates;  // self_signed_tls_client_auth: the x5c of "jwks", DER
    bool certificate_bound_tokens = false;  // "tls_client_certificate_bound_access_tokens"
    bool dpop_bound_tokens = false;         // "dpop_bound_access_tokens": a DPoP proof is required
    std::string scope;               // scope list: unique tokens, single spaces, registry order
    uint64_t default_mask = 0;       // granted when a request names no scope
    std::string resources;           // "resource": absolute URIs, single spaces, registry order
    uint32_t token_ttl = 0;          // seconds; 0 leaves the endpoint's ttl
    uint32_t max_tokens = 0;         // live tokens at once; 0: the token store's default share
    bool client_credentials = true;  // "grant_types" holds "client_credentials"
    bool introspection = false;

    // Whether the client authenticates with a secret (client_secret_basic or
    // client_secret_post, or no method named).
    bool uses_secret() const noexcept;
    // Whether the client may authenticate by `method`: the one place the
    // method a request uses meets the one registered.
    bool accepts(AuthMethod method) const noexcept;
};

// Reads the file a client's "jwks_file" names (a path relative to the nginx
// prefix is resolved by the reader): nullopt, with `error`, when it cannot.
using RegistryFileReader =
    std::function<std::optional<std::string>(std::string_view path, std::string &error)>;

struct RegistryError {
    unsigned line = 0;  // line in the registry file; 0 when it is about the whole file
    std::string message;
};

class Registry {
  public:
    // Parses and checks the whole file. On failure returns nullptr and fills
    // `error`. `warnings` receives one line per client whose secret is in
    // clear. Without `read_file` (oauth-client-entry, which does not know
    // the nginx prefix), a "jwks_file" is taken as named, its keys unread.
    static std::unique_ptr<Registry> parse(std::string_view json, RegistryError &error,
                                           std::vector<std::string> &warnings,
                                           const RegistryFileReader &read_file = {});

    const Client *find(std::string_view client_id) const;

    // The first client registered for `method`; nullptr: none is.
    const Client *first_with(AuthMethod method) const;

    const std::vector<Client> &clients() const { return clients_; }

  private:
    std::vector<Client> clients_;
    std::unordered_map<std::string_view, size_t> by_id_;
};

}  // namespace oauth
