#include "core/scope.hpp"

namespace oauth {

namespace {

// NQCHAR = %x21 / %x23-5B / %x5D-7E: visible ASCII except '"' and '\'.
bool is_nqchar(unsigned char c) noexcept {
    return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
}

// Takes the next space-delimited token off the front of `rest`.
std::string_view take_token(std::string_view &rest) noexcept {
    size_t space = rest.find(' ');
    std::string_view token = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    return token;
}

// Calls `visit(token, index)` for each token of a scope list.
template <typename Visit>
void for_each_listed(std::string_view list, Visit visit) {
    size_t index = 0;
    while (!list.empty()) {
        visit(take_token(list), index++);
    }
}

}  // namespace

bool is_scope_token(std::string_view token) noexcept {
    if (token.empty()) {
        return false;
    }
    for (unsigned char c : token) {
        if (!is_nqchar(c)) {
            return false;
        }
    }
    return true;
}

bool split_scope(std::string_view scope, std::vector<std::string_view> &tokens) {
    tokens.clear();
    // An empty string has no token; " " ends in an empty one, which take_token
    // would not yield, so a trailing space is checked on its own.
    if (scope.empty() || scope.back() == ' ') {
        return false;
    }
    while (!scope.empty()) {
        std::string_view token = take_token(scope);
        if (!is_scope_token(token)) {
            tokens.clear();
            return false;
        }
        tokens.push_back(token);
    }
    return true;
}

std::optional<uint64_t> scope_mask(std::string_view list,
                                   const std::vector<std::string_view> &tokens) {
    uint64_t mask = 0;
    for (std::string_view token : tokens) {
        uint64_t bit = 0;
        for_each_listed(list, [&](std::string_view listed, size_t index) {
            if (listed == token && index < kMaxScopes) {
                bit = uint64_t(1) << index;
            }
        });
        if (bit == 0) {
            return std::nullopt;
        }
        mask |= bit;
    }
    return mask;
}

std::string render_scope(std::string_view list, uint64_t mask) {
    std::string out;
    for_each_listed(list, [&](std::string_view listed, size_t index) {
        if (index < kMaxScopes && (mask >> index & 1) != 0) {
            if (!out.empty()) {
                out += ' ';
            }
            out += listed;
        }
    });
    return out;
}

std::string scopes_still_granted(std::string_view token_scope, std::string_view client_scope) {
    std::string granted;
    std::vector<std::string_view> tokens;
    if (token_scope.empty() || !split_scope(token_scope, tokens)) {
        return granted;
    }
    for (std::string_view scope : tokens) {
        if (has_scope(client_scope, scope) && !has_scope(granted, scope)) {
            if (!granted.empty()) {
                granted.push_back(' ');
            }
            granted.append(scope);
        }
    }
    return granted;
}

bool keeps_every_scope(std::string_view token_scope, std::string_view client_scope) noexcept {
    if (!token_scope.empty() && token_scope.back() == ' ') {
        return false;  // a shape split_scope refuses
    }
    std::string_view rest = token_scope;
    while (!rest.empty()) {
        std::string_view before = token_scope.substr(0, token_scope.size() - rest.size());
        std::string_view scope = take_token(rest);
        if (scope.empty() || !has_scope(client_scope, scope) || has_scope(before, scope)) {
            return false;
        }
    }
    return true;
}

bool has_scope(std::string_view granted, std::string_view scope) noexcept {
    while (!granted.empty()) {
        if (take_token(granted) == scope) {
            return true;
        }
    }
    return false;
}

}  // namespace oauth
