// The fleet's stream entries: what one node tells the others of a
// revocation, signed with its signing key, checked against the keys the
// node accepts, and applied to a zone. Nothing here knows Redis' protocol:
// an entry is a list of (field, value) pairs, as a stream holds it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/jose/key.hpp"
#include "core/tokens/token.hpp"
#include "core/tokens/revocation_list.hpp"

namespace oauth {
class TokenStore;
}

namespace oauth::fleet {

// jwt: every node refuses the digest until `expires_at` (a JWT is valid on
// every node). opaque: only the node that holds the token, and only when
// `client` owns it (an opaque token is valid only where it was issued).
enum class Kind { jwt, opaque };

// A revocation as it travels: the token's digest, never the token (a JWT's is
// of its signing input, jose::digest_jws, so that it covers the token's twins).
struct Revocation {
    Kind kind = Kind::jwt;
    Digest digest{};
    std::string client;       // the revoking client; may be empty for a jwt entry
    uint32_t expires_at = 0;  // until when the digest must be refused (Unix seconds)
    uint32_t revoked_at = 0;  // the entry's own time
};

using Field = std::pair<std::string, std::string>;
using FieldView = std::pair<std::string_view, std::string_view>;

// The entry's fields (v, kind, digest, client, exp, at, kid, sig). The
// signature covers the stream's name too, so an entry copied into another
// zone's stream does not verify there. False only when OpenSSL fails.
bool sign_entry(const Revocation &revocation, std::string_view stream, const jose::Key &key,
                std::vector<Field> &fields);

enum class Rejection { none, malformed, unknown_kid, bad_signature };

std::string_view rejection_reason(Rejection rejection) noexcept;

// The revocation an entry of `stream` carries, when it is well formed and
// signed by one of `accepted` (by its kid, with that key's own algorithm).
Rejection verify_entry(const std::vector<FieldView> &fields, std::string_view stream,
                       const std::vector<jose::Key> &accepted, Revocation &out) noexcept;

enum class Applied {
    listed,    // a JWT's digest now refused
    revoked,   // an opaque token of this node's store, its client's, revoked
    not_held,  // an opaque token this node does not hold for that client
    expired,   // nothing left to refuse
    full       // the revocation list has no room for it (an opaque token is revoked all the same)
};

// Applies a verified entry to a zone. Idempotent: an entry read twice (a
// node's own, or the stream re-read) changes nothing the second time.
Applied apply_entry(const Revocation &revocation, TokenStore &store, RevocationList &revocations,
                    uint32_t now) noexcept;

}  // namespace oauth::fleet
