// The client registry file (see README.md, "Client registry file").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/client_certificate.hpp"
#include "core/secret.hpp"

namespace oauth {

constexpr size_t kMaxClientIdLength = 128;
constexpr size_t kMaxScopeListLength = 1024;
// RFC 8707 resources of a client, and the bytes of them a token's audience may
// take (the token store keeps an audience as a 16-bit mask).
constexpr size_t kMaxResources = 16;
constexpr size_t kMaxResourceListLength = 1024;

// "token_endpoint_auth_method" (RFC 7591 §2, RFC 8705 §2.1.1, §2.2.1): how
// the client authenticates at the token, introspection and revocation
// endpoints. A client of one method cannot authenticate with another.
enum class ClientAuthMethod { client_secret, tls_client_auth, self_signed_tls_client_auth };

struct Client {
    std::string id;
    ClientAuthMethod auth_method = ClientAuthMethod::client_secret;
    SecretVerifier secret;                  // client_secret: never empty
    CertificateIdentity tls_identity;       // tls_client_auth
    std::vector<std::string> certificates;  // self_signed_tls_client_auth: the x5c of "jwks", DER
    bool certificate_bound_tokens = false;  // "tls_client_certificate_bound_access_tokens"
    std::string scope;               // scope list: unique tokens, single spaces, registry order
    uint64_t default_mask = 0;       // granted when a request names no scope
    std::string resources;           // "resource": absolute URIs, single spaces, registry order
    uint32_t token_ttl = 0;          // seconds; 0 leaves the endpoint's ttl
    uint32_t max_tokens = 0;         // live tokens at once; 0: the token store's default share
    bool client_credentials = true;  // "grant_types" holds "client_credentials"
    bool introspection = false;
};

struct RegistryError {
    unsigned line = 0;  // line in the registry file; 0 when it is about the whole file
    std::string message;
};

class Registry {
  public:
    // Parses and checks the whole file. On failure returns nullptr and fills
    // `error`. `warnings` receives one line per client whose secret is in clear.
    static std::unique_ptr<Registry> parse(std::string_view json, RegistryError &error,
                                           std::vector<std::string> &warnings);

    const Client *find(std::string_view client_id) const;

    const std::vector<Client> &clients() const { return clients_; }

  private:
    std::vector<Client> clients_;
    std::unordered_map<std::string_view, size_t> by_id_;
};

}  // namespace oauth
