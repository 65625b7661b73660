#include "core/fleet/entry.hpp"

#include <array>
#include <charconv>

#include "core/http/base64.hpp"
#include "core/jose/jws.hpp"
#include "core/tokens/zone_tables.hpp"
#include "core/http/text.hpp"

namespace oauth::fleet {

namespace {

constexpr std::string_view kVersion = "1";
constexpr std::string_view kDomain = "oauth-fleet-entry";
constexpr size_t kFieldCount = 8;
// The fields in the order an entry holds them, the signature last.
constexpr std::array<std::string_view, kFieldCount> kFields = {"v",   "kind", "digest", "client",
                                                               "exp", "at",   "kid",    "sig"};
enum FieldIndex { v, kind, digest, client, exp, at, kid, sig };

std::string_view kind_name(Kind k) {
    return k == Kind::jwt ? "jwt" : "opaque";
}

std::string_view bytes_of(const Digest &d) {
    return {reinterpret_cast<const char *>(d.data()), d.size()};
}

// What the signature covers: every field but the signature, and the stream.
// A client id is VSCHAR (RFC 6749 Appendix A.1): a line feed cannot occur in
// one, nor in the others, so the lines cannot be shifted into one another.
std::string signing_input(std::string_view stream,
                          const std::array<std::string_view, kFieldCount> &values) {
    std::string input(kDomain);
    input += '\n';
    input += stream;
    for (size_t i = 0; i < sig; ++i) {
        input += '\n';
        input += values[i];
    }
    return input;
}

bool parse_u32(std::string_view text, uint32_t &out) {
    if (text.empty() || text.size() > 10 || (text.size() > 1 && text[0] == '0')) {
        return false;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

// Each field exactly once, nothing else.
bool collect(const std::vector<FieldView> &fields,
             std::array<std::string_view, kFieldCount> &values) {
    if (fields.size() != kFieldCount) {
        return false;
    }
    std::array<bool, kFieldCount> seen{};
    for (const FieldView &field : fields) {
        size_t i = 0;
        while (i < kFieldCount && kFields[i] != field.first) {
            ++i;
        }
        if (i == kFieldCount || seen[i]) {
            return false;
        }
        seen[i] = true;
        values[i] = field.second;
    }
    return true;
}

bool parse_revocation(const std::array<std::string_view, kFieldCount> &values, Revocation &out) {
    if (values[v] != kVersion) {
        return false;
    }
    if (values[kind] == "jwt") {
        out.kind = Kind::jwt;
    } else if (values[kind] == "opaque") {
        out.kind = Kind::opaque;
    } else {
        return false;
    }
    std::optional<std::string> bytes = decode_base64url(values[digest]);
    if (!bytes || bytes->size() != out.digest.size()) {
        return false;
    }
    std::copy(bytes->begin(), bytes->end(), out.digest.begin());
    if (values[client].size() > kMaxClientIdLength || !is_vschar_string(values[client]) ||
        (out.kind == Kind::opaque && values[client].empty())) {
        return false;
    }
    out.client.assign(values[client]);
    return parse_u32(values[exp], out.expires_at) && parse_u32(values[at], out.revoked_at) &&
           !values[kid].empty() && is_vschar_string(values[kid]);
}

}  // namespace

bool sign_entry(const Revocation &revocation, std::string_view stream, const jose::Key &key,
                std::vector<Field> &fields) {
    std::string digest_text = encode_base64url(bytes_of(revocation.digest));
    std::string exp_text = std::to_string(revocation.expires_at);
    std::string at_text = std::to_string(revocation.revoked_at);
    std::array<std::string_view, kFieldCount> values = {kVersion,    kind_name(revocation.kind),
                                                        digest_text, revocation.client,
                                                        exp_text,    at_text,
                                                        key.kid,     {}};
    std::string signature;
    if (!jose::sign_bytes(key, signing_input(stream, values), signature)) {
        return false;
    }
    std::string signature_text = encode_base64url(signature);
    values[sig] = signature_text;
    fields.clear();
    for (size_t i = 0; i < kFieldCount; ++i) {
        fields.emplace_back(kFields[i], values[i]);
    }
    return true;
}

std::string_view rejection_reason(Rejection rejection) noexcept {
    switch (rejection) {
        case Rejection::none:
            return "none";
        case Rejection::malformed:
            return "malformed";
        case Rejection::unknown_kid:
            return "unknown kid";
        case Rejection::bad_signature:
            return "bad signature";
    }
    return "malformed";
}

Rejection verify_entry(const std::vector<FieldView> &fields, std::string_view stream,
                       const std::vector<jose::Key> &accepted, Revocation &out) noexcept {
    try {
        std::array<std::string_view, kFieldCount> values;
        Revocation revocation;
        if (!collect(fields, values) || !parse_revocation(values, revocation)) {
            return Rejection::malformed;
        }
        const jose::Key *key = jose::find_key(accepted, values[kid]);
        if (key == nullptr) {
            return Rejection::unknown_kid;
        }
        std::optional<std::string> signature = decode_base64url(values[sig]);
        if (!signature || !jose::verify_bytes(*key, signing_input(stream, values), *signature)) {
            return Rejection::bad_signature;
        }
        out = std::move(revocation);
        return Rejection::none;
    } catch (...) {
        return Rejection::malformed;
    }
}

Applied apply_entry(const Revocation &revocation, TokenStore &store, RevocationList &revocations,
                    uint32_t now) noexcept {
    if (revocation.expires_at <= now) {
        return Applied::expired;
    }
    // Charged to its client, so that what it revokes on other nodes counts
    // against its share here too; never refused for it, though: the node
    // that took it has answered 200, and checked the client's share there.
    RevocationCharge charge{
        revocation.client.empty() ? 0 : RevocationList::client_tag(revocation.client), 0};
    ZoneTables tables(store, revocations);
    uint32_t retry_after = 0;
    if (revocation.kind == Kind::jwt) {
        return tables.list({revocation.digest, revocation.expires_at}, charge, now, retry_after) ==
                       RevocationAdded::added
                   ? Applied::listed
                   : Applied::full;
    }
    // RFC 7009 §2.1: a client revokes only its own tokens, wherever it asked.
    // Revoked here whatever the list says; full, a state file could bring it back.
    switch (tables.revoke_opaque(revocation.digest, revocation.client, charge,
                                 WhenUnlisted::token_goes, now, retry_after)) {
        case OpaqueRevoked::revoked:
            return Applied::revoked;
        case OpaqueRevoked::not_held:
        case OpaqueRevoked::foreign:
            return Applied::not_held;
        case OpaqueRevoked::client_at_share:  // never: charged to no share
        case OpaqueRevoked::full:             // revoked, unlisted
            break;
    }
    return Applied::full;
}

}  // namespace oauth::fleet
