#include "core/jose/profile.hpp"

#include <algorithm>

#include "core/http/text.hpp"

namespace oauth::jose {

namespace {

// RFC 7515 §4.1.9: "application/" may be left out of typ, and is then implied.
std::string_view without_application(std::string_view typ) noexcept {
    constexpr std::string_view kApplication = "application/";
    if (typ.size() > kApplication.size() &&
        equals_ignore_case(typ.substr(0, kApplication.size()), kApplication)) {
        return typ.substr(kApplication.size());
    }
    return typ;
}

bool is_at_jwt(std::string_view typ) noexcept {
    return equals_ignore_case(without_application(typ), "at+jwt");
}

bool is_plain_jwt(std::string_view typ) noexcept {
    return equals_ignore_case(without_application(typ), "jwt");
}

std::optional<TypPolicy> typ_policy_named(std::string_view name) noexcept {
    if (name == "at+jwt") {
        return TypPolicy::at_jwt;
    }
    if (name == "jwt") {
        return TypPolicy::jwt;
    }
    if (name == "any") {
        return TypPolicy::any;
    }
    return std::nullopt;
}

// A claim name as a description may quote it: printable, no space, quote,
// backslash or comma (the list's separator).
bool is_claim_name(std::string_view name) noexcept {
    if (name.empty()) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return c > 0x20 && c < 0x7f && c != '"' && c != '\\' && c != ',';
    });
}

constexpr size_t kMaxClaimNames = 8;

bool parse_claim_names(std::string_view list, std::vector<std::string> &names) {
    names.clear();
    for (size_t start = 0;;) {
        size_t comma = std::min(list.find(',', start), list.size());
        std::string_view name = list.substr(start, comma - start);
        if (!is_claim_name(name) || names.size() == kMaxClaimNames ||
            std::find(names.begin(), names.end(), name) != names.end()) {
            return false;
        }
        names.emplace_back(name);
        if (comma == list.size()) {
            return true;
        }
        start = comma + 1;
    }
}

}  // namespace

bool accepts_typ(TypPolicy policy, std::optional<std::string_view> typ) noexcept {
    switch (policy) {
        case TypPolicy::at_jwt:
            return typ && is_at_jwt(*typ);
        case TypPolicy::jwt:
            return !typ || is_at_jwt(*typ) || is_plain_jwt(*typ);
        case TypPolicy::any:
            return true;
    }
    return false;
}

bool admits_untyped_tokens(const TokenProfile &profile) noexcept {
    return profile.typ != TypPolicy::at_jwt;
}

ProfileOption ProfileOptions::apply(std::string_view option, std::string &error) {
    size_t equals = option.find('=');
    std::string_view name = option.substr(0, equals), value;
    if (equals == std::string_view::npos ||
        (name != "typ" && name != "client_claim" && name != "scope_claims")) {
        return ProfileOption::unknown;
    }
    value = option.substr(equals + 1);
    if (std::find(given_.begin(), given_.end(), name) != given_.end()) {
        error = std::string(name) + "= is given twice";
        return ProfileOption::invalid;
    }
    given_.emplace_back(name);
    if (name == "typ") {
        std::optional<TypPolicy> typ = typ_policy_named(value);
        if (!typ) {
            error = "typ=at+jwt, typ=jwt or typ=any is expected";
            return ProfileOption::invalid;
        }
        profile_.typ = *typ;
        return ProfileOption::applied;
    }
    std::vector<std::string> &names =
        name == "client_claim" ? profile_.client_claims : profile_.scope_claims;
    if (!parse_claim_names(value, names)) {
        error = std::string(name) +
                "= takes up to 8 distinct claim names separated by commas, each printable "
                "without space, quote or backslash";
        return ProfileOption::invalid;
    }
    return ProfileOption::applied;
}

}  // namespace oauth::jose
