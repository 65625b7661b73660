// A live token's grant as the client registry still allows it.
#pragma once

#include <string_view>

#include "core/registry.hpp"
#include "core/tokens/token_store.hpp"

namespace oauth {

// SPEC "Own tokens answer to the registry": false for a token of a client the
// registry no longer lists; else the grant keeps only the scopes its client
// still has, so a scope removed on reload stops working on live tokens.
// The one rule, for opaque tokens (the grant the store holds) and the
// server's own JWTs (jose/gate.cpp) alike.
bool follow_registry(const Registry &registry, TokenGrant &grant);

// follow_registry() of a token whose client and scopes are not yet in
// `grant` (a JWT's claims): true when the registry lists `client_id`, and
// then `grant` holds that id and what `scope` keeps of its client's list.
// Either may be a view of `grant`'s own.
bool follow_registry(const Registry &registry, std::string_view client_id, std::string_view scope,
                     TokenGrant &grant);

}  // namespace oauth
