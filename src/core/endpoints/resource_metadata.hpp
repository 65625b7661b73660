// RFC 9728 OAuth 2.0 Protected Resource Metadata: the document that tells a
// client which authorization servers issue tokens for this resource.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oauth {

struct ResourceMetadataConfig {
    std::string_view resource;                            // the resource identifier (§2)
    std::vector<std::string_view> authorization_servers;  // their issuer identifiers
    std::vector<std::string_view> scopes;                 // empty: scopes_supported left out
};

// RFC 9728 §1.2: an https URL (http is allowed for local testing) with a
// host and no fragment. nullopt when valid, else what is wrong.
std::optional<std::string> check_resource_identifier(std::string_view resource);

// The resource a request names when oauth_resource_metadata has no
// resource=: its scheme and Host (RFC 9728 §3.3 has the document's resource
// match the URL the client started from). nullopt when they make no valid
// identifier (a Host of characters a URI cannot hold): the document is then
// refused, and a challenge names none.
std::optional<std::string> resource_of_request(bool https, std::string_view host);

// RFC 9728 §2: resource, authorization_servers, scopes_supported, and
// bearer_methods_supported ["header"], the one method the gate reads.
std::string render_resource_metadata(const ResourceMetadataConfig &config);

}  // namespace oauth
