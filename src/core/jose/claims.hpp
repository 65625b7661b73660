// The claims of a checked access token, for oauth_require_claim and
// oauth_claim_set: found by name or RFC 6901 JSON Pointer, rendered as text,
// matched against the values a location asks for. A JWT's claims are its
// signed claim set, kept with the gate's verdict; an opaque token's are its
// introspection fields (RFC 7662 §2.2).
#pragma once

#include <jansson.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/jose/access_token.hpp"
#include "core/tokens/token_store.hpp"

namespace oauth::jose {

// Where a claim is: a top-level name, or a JSON Pointer (a leading "/").
class ClaimPath {
  public:
    // False, with `error` saying why, for an empty name or a pointer with a
    // "~" not followed by 0 or 1 (RFC 6901 §3).
    static bool compile(std::string_view text, ClaimPath &out, std::string &error);

    // The value at this path, nullptr when there is none. An array is
    // indexed by a decimal without leading zero (RFC 6901 §4); "-" names
    // nothing.
    const json_t *find(const json_t *claims) const noexcept;
    const std::string &text() const noexcept { return text_; }

  private:
    std::vector<std::string> steps_;  // unescaped reference tokens
    std::string text_;                // as written
};

// A claim as a variable shows it: a string as it is, a number, boolean or
// null as its JSON text, an array its elements so rendered joined with ",",
// an object compact JSON. nullopt for a string with a control character,
// which would let a claim inject a header through add_header.
std::optional<std::string> render_claim(const json_t *value);

// oauth_require_claim: the claim equals one of the values (a number or a
// boolean by its JSON text), or, as an array, holds an element that does.
struct ClaimRequirement {
    ClaimPath claim;
    std::vector<std::string> values;

    // False, with `error`, for a bad path or no value.
    static bool compile(std::string_view claim, const std::vector<std::string_view> &values,
                        ClaimRequirement &out, std::string &error);
    bool holds(const json_t *claims) const noexcept;
};

// The first requirement `claims` fails; nullptr when every one holds.
const ClaimRequirement *first_unmet(const std::vector<ClaimRequirement> &requirements,
                                    const json_t *claims) noexcept;

// RFC 7662 §2.2: an active token's introspection answer; aud (RFC 8707 §2)
// of either format as an array; a JWT adds its sub and jti (RFC 9068 §2.2).
std::string render_introspection(const TokenGrant &grant, std::string_view issuer,
                                 const VerifiedToken *jwt);

// The claims of a token the gate let through: a JWT's claim set as it was
// verified (not parsed again), else the introspection fields of the opaque
// token of `grant`. Null only when out of memory.
ClaimSet claims_of(const TokenGrant &grant, std::string_view issuer, const VerifiedToken *jwt);

}  // namespace oauth::jose
