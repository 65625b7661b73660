#include "core/endpoints/metadata.hpp"

#include <unordered_set>
#include <vector>

#include "core/http/json.hpp"
#include "core/jose/key.hpp"
#include "core/resource.hpp"
#include "core/scope.hpp"

namespace oauth {

namespace {

// scheme://authority of the issuer.
std::string_view origin_of(std::string_view issuer) {
    size_t authority = issuer.find("://");
    authority = authority == std::string_view::npos ? 0 : authority + 3;
    return issuer.substr(0, issuer.find('/', authority));
}

// Every scope of the registry once, in the order it first appears. A hash set,
// not a scan of the list so far: registries of 100 000 clients with scopes of
// their own are real, and the document is rendered on every start and reload.
std::vector<std::string_view> supported_scopes(const Registry *registry) {
    std::vector<std::string_view> scopes;
    if (registry == nullptr) {
        return scopes;
    }
    std::unordered_set<std::string_view> seen;
    for (const Client &client : registry->clients()) {
        std::vector<std::string_view> tokens;
        if (client.scope.empty() || !split_scope(client.scope, tokens)) {
            continue;
        }
        for (std::string_view token : tokens) {
            if (seen.insert(token).second) {
                scopes.push_back(token);
            }
        }
    }
    return scopes;
}

// The secret methods and private_key_jwt always; the certificate ones (RFC
// 8705 §2.1.1, §2.2.1) when a client of the registry uses them, since they
// also need nginx's TLS set up for them.
std::vector<std::string_view> supported_auth_methods(const Registry *registry) {
    std::vector<std::string_view> methods = {auth_method_name(AuthMethod::client_secret_basic),
                                             auth_method_name(AuthMethod::client_secret_post),
                                             auth_method_name(AuthMethod::private_key_jwt)};
    for (AuthMethod method :
         {AuthMethod::tls_client_auth, AuthMethod::self_signed_tls_client_auth}) {
        if (registry != nullptr && registry->first_with(method) != nullptr) {
            methods.push_back(auth_method_name(method));
        }
    }
    return methods;
}

}  // namespace

std::optional<std::string> check_issuer(std::string_view issuer) {
    bool https = issuer.rfind("https://", 0) == 0;
    bool http = issuer.rfind("http://", 0) == 0;
    if (!https && !http) {
        return "the issuer must be an https URL (http is accepted for testing)";
    }
    if (issuer.find_first_of("?#") != std::string_view::npos) {
        return "the issuer must have no query or fragment (RFC 8414 §2)";
    }
    // It may be a token's audience (RFC 8707), which is kept space-joined.
    if (!is_resource_uri(issuer)) {
        return "the issuer must be a URI of RFC 3986's characters, without space";
    }
    if (origin_of(issuer).size() <= (https ? 8u : 7u)) {
        return "the issuer has no host";
    }
    return std::nullopt;
}

std::string endpoint_url(std::string_view issuer, std::string_view path) {
    return std::string(origin_of(issuer)) + std::string(path);
}

std::string render_metadata(const MetadataConfig &config, const Registry *registry) {
    const std::vector<std::string_view> auth_methods = supported_auth_methods(registry);
    // What a private_key_jwt assertion may be signed with: every asymmetric
    // algorithm the module verifies (RFC 8414 §2: never "none").
    std::vector<std::string_view> signing_algs;
    for (size_t alg = 0; alg < jose::kAlgCount; ++alg) {
        signing_algs.push_back(jose::alg_name(jose::Alg(alg)));
    }
    std::string origin(origin_of(config.issuer));
    JsonObject doc;
    doc.member("issuer", config.issuer);
    if (!config.token_path.empty()) {
        doc.member("token_endpoint", origin + std::string(config.token_path));
    }
    if (!config.introspection_path.empty()) {
        doc.member("introspection_endpoint", origin + std::string(config.introspection_path));
    }
    if (!config.revocation_path.empty()) {
        doc.member("revocation_endpoint", origin + std::string(config.revocation_path));
    }
    if (!config.jwks_path.empty()) {
        doc.member("jwks_uri", origin + std::string(config.jwks_path));
    }
    doc.member("grant_types_supported", std::vector<std::string_view>{"client_credentials"});
    doc.member("response_types_supported", std::vector<std::string_view>{});
    doc.member("scopes_supported", supported_scopes(registry));
    doc.member("token_endpoint_auth_methods_supported", auth_methods);
    doc.member("token_endpoint_auth_signing_alg_values_supported", signing_algs);
    doc.member("introspection_endpoint_auth_methods_supported", auth_methods);
    doc.member("introspection_endpoint_auth_signing_alg_values_supported", signing_algs);
    doc.member("revocation_endpoint_auth_methods_supported", auth_methods);
    doc.member("revocation_endpoint_auth_signing_alg_values_supported", signing_algs);
    if (config.certificate_bound_tokens) {
        doc.member("tls_client_certificate_bound_access_tokens", true);
        doc.member("dpop_signing_alg_values_supported", signing_algs);  // RFC 9449 §5.1
    }
    return std::move(doc).finish();
}

HttpResponse handle_metadata_request(std::string_view method, std::string_view document) {
    HttpResponse response;
    response.no_store = false;
    if (method != "GET" && method != "HEAD") {
        response.status = 405;
        response.allow = "GET, HEAD";
        response.body = render_error("invalid_request", "this document is read with GET");
        return response;
    }
    response.body = std::string(document);
    return response;
}

}  // namespace oauth
