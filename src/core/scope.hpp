// RFC 6749 §3.3 scopes.
//
// A client's allowed scopes are kept as a "scope list": unique scope tokens
// joined by single spaces, in registry order. A grant is a bit mask over that
// list, so at most kMaxScopes scopes per client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oauth {

constexpr size_t kMaxScopes = 64;

// scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
bool is_scope_token(std::string_view token) noexcept;

// scope = scope-token *( SP scope-token ). False on any other shape: empty,
// a leading, trailing or doubled space, or a byte outside scope-token.
bool split_scope(std::string_view scope, std::vector<std::string_view> &tokens);

// The bits of `tokens` within `list`; nullopt when one is not in the list.
std::optional<uint64_t> scope_mask(std::string_view list,
                                   const std::vector<std::string_view> &tokens);

// The scopes of `mask`, joined by single spaces in list order.
std::string render_scope(std::string_view list, uint64_t mask);

// The scopes of `token_scope` that the client's list `client_scope` still
// holds, each once, in the token's order: what a live token of a client
// keeps after a reload changed its registry entry.
std::string scopes_still_granted(std::string_view token_scope, std::string_view client_scope);

// True when scopes_still_granted would answer `token_scope` itself (each of
// its scopes once, all still in the list): the usual case, with no string built.
bool keeps_every_scope(std::string_view token_scope, std::string_view client_scope) noexcept;

// True when `scope` is one of the tokens of the space-joined `granted`.
bool has_scope(std::string_view granted, std::string_view scope) noexcept;

}  // namespace oauth
