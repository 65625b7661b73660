// RFC 8414 authorization server metadata.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/http/http.hpp"
#include "core/registry.hpp"

namespace oauth {

struct MetadataConfig {
    std::string_view issuer;
    // Paths of the locations that carry each endpoint; empty: not served.
    std::string_view token_path;
    std::string_view introspection_path;
    std::string_view revocation_path;
    std::string_view jwks_path = {};  // the JWK Set (RFC 8414 §2 jwks_uri)
    // The server has a token endpoint, which binds tokens to a certificate
    // (cnf x5t#S256, RFC 8705 §3.3) or to a DPoP proof's key (cnf jkt, RFC
    // 9449 §5.1), JWTs and opaque tokens alike.
    bool certificate_bound_tokens = false;
};

// RFC 8414 §2: an https URL (http is allowed for local testing) with no
// query or fragment. nullopt when valid, else what is wrong.
std::optional<std::string> check_issuer(std::string_view issuer);

// The URL of the endpoint at `path`: the issuer's scheme and authority, then
// the path (what the document names, and what a client assertion's aud may).
std::string endpoint_url(std::string_view issuer, std::string_view path);

// The document, rendered once at configuration time. Endpoint URLs are the
// issuer's scheme and authority followed by each endpoint's path;
// scopes_supported is every scope of `registry` (which may be null).
std::string render_metadata(const MetadataConfig &config, const Registry *registry);

// GET or HEAD answer the document (the metadata, or the JWK Set of
// oauth_jwks); other methods 405.
HttpResponse handle_metadata_request(std::string_view method, std::string_view document);

}  // namespace oauth
