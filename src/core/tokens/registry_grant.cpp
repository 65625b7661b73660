#include "core/tokens/registry_grant.hpp"

#include <cstring>
#include <string>

#include "core/scope.hpp"

namespace oauth {

bool follow_registry(const Registry &registry, std::string_view client_id, std::string_view scope,
                     TokenGrant &grant) {
    const Client *client = registry.find(client_id);
    if (client == nullptr) {
        return false;
    }
    std::string kept;
    if (!keeps_every_scope(scope, client->scope)) {  // usually it does: no string to build
        kept = scopes_still_granted(scope, client->scope);
        scope = kept;
    }
    // Both fit: the id is a registered one, the scopes a subset of its list.
    // memmove: either may be the grant's own.
    std::memmove(grant.client_id, client->id.data(), client->id.size());
    grant.client_id_length = client->id.size();
    std::memmove(grant.scope, scope.data(), scope.size());
    grant.scope_length = scope.size();
    return true;
}

bool follow_registry(const Registry &registry, TokenGrant &grant) {
    return follow_registry(registry, grant.client(), grant.scopes(), grant);
}

}  // namespace oauth
