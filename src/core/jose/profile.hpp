// Token profiles (SPEC "Token profiles"): how an issuer's access tokens are
// typed and where they name the client and the scopes. RFC 9068 issuers type
// them at+jwt and write client_id and scope; Keycloak, Auth0, Okta and Entra
// ID type them JWT, or not at all, and write azp, cid or appid, scp, roles
// or permissions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oauth::jose {

// Which header typ an issuer's access tokens may bear.
enum class TypPolicy {
    at_jwt,  // at+jwt, application/at+jwt (RFC 9068 §2.1)
    jwt,     // those, JWT, application/jwt, or no typ at all
    any,     // any typ, or none
};

struct TokenProfile {
    TypPolicy typ = TypPolicy::at_jwt;
    // The client is the first of these the token holds.
    std::vector<std::string> client_claims{"client_id", "azp", "cid", "appid", "sub"};
    // The scopes are the union of these.
    std::vector<std::string> scope_claims{"scope", "scp"};
};

// Whether `typ` (nullopt: the header has none) is one `policy` takes, compared
// case-insensitively as media types are (RFC 7515 §4.1.9, RFC 2045 §5.1).
bool accepts_typ(TypPolicy policy, std::optional<std::string_view> typ) noexcept;

// Whether an issuer of this profile could get an ID token, or any other JWT
// it signs, through as an access token: only the audience then tells them
// apart (RFC 8725 §3.11).
bool admits_untyped_tokens(const TokenProfile &profile) noexcept;

enum class ProfileOption { applied, unknown, invalid };

// The profile parameters of one oauth_trust_issuer, read one by one.
class ProfileOptions {
  public:
    // typ=at+jwt|jwt|any, client_claim=NAME,... or scope_claims=NAME,...:
    // `unknown` when `option` is none of them; `invalid`, with `error` saying
    // why, for a bad value or one given twice.
    ProfileOption apply(std::string_view option, std::string &error);

    const TokenProfile &profile() const noexcept { return profile_; }

  private:
    TokenProfile profile_;
    std::vector<std::string> given_;  // the names of the options applied
};

}  // namespace oauth::jose
