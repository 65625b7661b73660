#include "core/endpoints/resource_metadata.hpp"

#include "core/http/json.hpp"
#include "core/jose/dpop.hpp"
#include "core/resource.hpp"
#include "core/scope.hpp"

namespace oauth {

std::optional<std::string> check_resource_identifier(std::string_view resource) {
    size_t scheme = resource.rfind("https://", 0) == 0  ? 8
                    : resource.rfind("http://", 0) == 0 ? 7
                                                        : 0;
    if (scheme == 0) {
        return "the resource must be an https or http URL";
    }
    if (resource.find('#') != std::string_view::npos) {
        return "the resource must have no fragment (RFC 9728 §1.2)";
    }
    if (!is_resource_uri(resource)) {
        return "the resource must be a URI of RFC 3986's characters, without space";
    }
    if (resource.size() == scheme || resource[scheme] == '/') {
        return "the resource has no host";
    }
    return std::nullopt;
}

std::optional<std::string> resource_of_request(bool https, std::string_view host) {
    std::string resource = (https ? "https://" : "http://") + std::string(host);
    if (host.find_first_of("/?#@") != std::string_view::npos ||
        check_resource_identifier(resource)) {
        return std::nullopt;
    }
    return resource;
}

std::string render_resource_metadata(const ResourceMetadataConfig &config) {
    JsonObject doc;
    doc.member("resource", config.resource);
    doc.member("authorization_servers", config.authorization_servers);
    if (!config.scopes.empty()) {
        doc.member("scopes_supported", config.scopes);
    }
    doc.member("bearer_methods_supported", std::vector<std::string_view>{"header"});
    // RFC 9728 §2: the gate takes DPoP proofs of every asymmetric algorithm,
    // and Bearer tokens too.
    std::vector<std::string_view> dpop_algs;
    split_scope(jose::dpop_algs(), dpop_algs);
    doc.member("dpop_signing_alg_values_supported", dpop_algs);
    doc.member("dpop_bound_access_tokens_required", false);
    return std::move(doc).finish();
}

}  // namespace oauth
