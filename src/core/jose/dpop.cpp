#include "core/jose/dpop.hpp"

#include <jansson.h>
#include <openssl/rand.h>

#include <cctype>
#include <cmath>
#include <memory>
#include <optional>

#include "core/http/base64.hpp"
#include "core/jose/json_parts.hpp"
#include "core/jose/jws.hpp"
#include "core/jose/key.hpp"

namespace oauth::jose {

namespace {

std::string_view bytes_of(const Digest &digest) {
    return {reinterpret_cast<const char *>(digest.data()), digest.size()};
}

// What a proof's header says, once checked: its key, ready to verify with.
struct ProofHeader {
    Key key;
    Alg alg = Alg::es256;
    Digest jkt{};
};

// RFC 9449 §4.3 items 4 to 7: typ dpop+jwt, no crit, an asymmetric alg the
// jwk takes, and the jwk a public signing key (no private member).
DpopCheck read_header(std::string_view encoded, ProofHeader &out) {
    Json header = parse_encoded_object(encoded);
    if (header == nullptr || json_object_get(header.get(), "crit") != nullptr) {
        return DpopCheck::shape;
    }
    if (string_member(header.get(), "typ") != std::string_view("dpop+jwt")) {
        return DpopCheck::typ;
    }
    std::optional<std::string_view> name = string_member(header.get(), "alg");
    std::optional<Alg> alg = name ? alg_from_name(*name) : std::nullopt;
    if (!alg) {
        return DpopCheck::alg;
    }
    json_t *jwk = json_object_get(header.get(), "jwk");
    if (!json_is_object(jwk) || read_public_jwk(jwk, out.key)) {
        return DpopCheck::jwk;
    }
    if ((out.key.accepts & alg_bit(*alg)) == 0) {
        return DpopCheck::alg;
    }
    out.alg = *alg;
    out.jkt = thumbprint_digest(out.key);
    return DpopCheck::ok;
}

// The proof headers this worker checked last, by their text: a client signs
// every proof with one key, so its proofs share one header, whose key is
// imported (and its verifying context set up) once. Bounded; a header that
// fails a check is not kept, and one an attacker varies costs what checking
// it costs anyway. Entries are shared, read-only, by the proofs that bear them.
class ProofHeaderCache {
  public:
    DpopCheck read(std::string_view encoded, std::shared_ptr<const ProofHeader> &header) {
        for (const Entry &entry : entries_) {
            if (entry.header != nullptr && entry.encoded == encoded) {
                header = entry.header;
                return DpopCheck::ok;
            }
        }
        auto fresh = std::make_shared<ProofHeader>();
        DpopCheck check = read_header(encoded, *fresh);
        if (check != DpopCheck::ok) {
            return check;
        }
        Entry &replaced = entries_[next_++ % entries_.size()];
        replaced.encoded.assign(encoded);
        replaced.header = fresh;
        header = std::move(fresh);
        return DpopCheck::ok;
    }

  private:
    struct Entry {
        std::string encoded;
        std::shared_ptr<const ProofHeader> header;
    };
    std::array<Entry, 8> entries_;
    size_t next_ = 0;
};
thread_local ProofHeaderCache header_cache;

struct Proof {
    std::shared_ptr<const ProofHeader> header;
    Json claims;
};

// RFC 9449 §4.3 items 2 to 8: a JWT whose signature its own jwk verifies.
DpopCheck read_signed_proof(std::string_view proof, Proof &out) {
    size_t first = proof.find('.');
    size_t second = first == std::string_view::npos ? first : proof.find('.', first + 1);
    if (second == std::string_view::npos || proof.find('.', second + 1) != std::string_view::npos) {
        return DpopCheck::shape;
    }
    DpopCheck check = header_cache.read(proof.substr(0, first), out.header);
    if (check != DpopCheck::ok) {
        return check;
    }
    out.claims = parse_encoded_object(proof.substr(first + 1, second - first - 1));
    std::optional<std::string> signature = decode_base64url(proof.substr(second + 1));
    if (out.claims == nullptr || !signature || signature->empty()) {
        return DpopCheck::shape;
    }
    return verify_bytes(out.header->key, out.header->alg, proof.substr(0, second), *signature)
               ? DpopCheck::ok
               : DpopCheck::signature;
}

// RFC 9449 §4.3 items 8 to 12, but the jti.
DpopCheck check_claims(const json_t *claims, const DpopExpectation &expected,
                       const DpopPolicy &policy, uint32_t now) {
    if (string_member(claims, "htm") != expected.method) {
        return DpopCheck::method;
    }
    std::optional<std::string_view> htu = string_member(claims, "htu");
    if (!htu || !same_target_uri(*htu, expected.url)) {
        return DpopCheck::url;
    }
    if (policy.nonces != nullptr) {
        std::optional<std::string_view> nonce = string_member(claims, "nonce");
        if (!nonce || !policy.nonces->accepts(*nonce, now)) {
            return DpopCheck::nonce;
        }
    }
    const json_t *iat = json_object_get(claims, "iat");
    if (!json_is_number(iat) || !std::isfinite(json_number_value(iat)) ||
        json_number_value(iat) > double(now) + kDpopProofSkew ||
        json_number_value(iat) + kDpopProofMaxAge < double(now)) {
        return DpopCheck::issued_at;
    }
    if (!expected.access_token.empty()) {
        Digest hash;
        if (!sha256_digest({expected.access_token}, hash) ||
            string_member(claims, "ath") != std::string_view(encode_base64url(bytes_of(hash)))) {
            return DpopCheck::token_hash;
        }
    }
    return DpopCheck::ok;
}

// RFC 9449 §11.1: a jti is taken once per key, until the proof is too old
// to be taken at all.
DpopCheck admit_once(const json_t *claims, const Digest &jkt, const DpopExpectation &expected,
                     const DpopPolicy &policy, uint32_t now, uint32_t &retry_after) {
    std::string_view jti = bounded_jti(claims);
    if (jti.empty()) {
        return DpopCheck::jti;
    }
    if (policy.replays == nullptr) {
        return DpopCheck::ok;
    }
    Digest key;
    if (!sha256_digest({"DPoP proof", bytes_of(jkt), jti}, key)) {
        return DpopCheck::no_room;
    }
    auto expires_at =
        uint32_t(json_number_value(json_object_get(claims, "iat"))) + kDpopProofMaxAge + 1;
    ReplayVerdict verdict =
        policy.replays->admit_jti(expected.charged_to, key, expires_at, now, retry_after);
    return verdict == ReplayVerdict::fresh      ? DpopCheck::ok
           : verdict == ReplayVerdict::replayed ? DpopCheck::replayed
                                                : DpopCheck::no_room;  // at its share, full
}

// A URI's parts as RFC 3986 §6.2.2-3 compares them.
struct NormalizedUri {
    std::string scheme;
    std::string authority;  // host in lower case, a default port left out
    std::string_view path;  // "/" when empty

    bool operator==(const NormalizedUri &other) const {
        return scheme == other.scheme && authority == other.authority && path == other.path;
    }
};

std::string lower(std::string_view text) {
    std::string out(text);
    for (char &c : out) {
        c = char(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::optional<NormalizedUri> normalize(std::string_view uri) {
    uri = uri.substr(0, uri.find_first_of("?#"));
    size_t colon = uri.find("://");
    if (colon == std::string_view::npos || colon == 0) {
        return std::nullopt;
    }
    NormalizedUri out;
    out.scheme = lower(uri.substr(0, colon));
    std::string_view rest = uri.substr(colon + 3);
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    out.path = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
    if (authority.empty() || authority.find('@') != std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view default_port = out.scheme == "https"  ? ":443"
                                    : out.scheme == "http" ? ":80"
                                                           : "";
    if (!default_port.empty() && authority.size() > default_port.size() &&
        authority.substr(authority.size() - default_port.size()) == default_port) {
        authority.remove_suffix(default_port.size());
    }
    out.authority = lower(authority);
    return out;
}

}  // namespace

std::string_view dpop_algs() noexcept {
    static const std::string names = [] {
        std::string out;
        for (std::string_view name : alg_names()) {
            out.append(out.empty() ? "" : " ").append(name);
        }
        return out;
    }();
    return names;
}

bool DpopNonces::make_secret(Secret &secret) noexcept {
    return RAND_bytes(secret.data(), int(secret.size())) == 1;
}

// 128 bits of SHA-256(secret ‖ period): the secret is of fixed length, so
// this is a keyed hash no length extension reaches.
std::string DpopNonces::of_period(uint32_t period) const {
    const uint8_t counter[4] = {uint8_t(period >> 24), uint8_t(period >> 16), uint8_t(period >> 8),
                                uint8_t(period)};
    Digest digest;
    sha256_digest({std::string_view(reinterpret_cast<const char *>(secret_.data()), secret_.size()),
                   std::string_view(reinterpret_cast<const char *>(counter), sizeof counter)},
                  digest);
    return encode_base64url(bytes_of(digest).substr(0, 16));
}

std::string DpopNonces::current(uint32_t now) const {
    return of_period(now / kPeriod);
}

bool DpopNonces::accepts(std::string_view nonce, uint32_t now) const {
    uint32_t period = now / kPeriod;
    return nonce == of_period(period) || (period > 0 && nonce == of_period(period - 1));
}

DpopCheck check_dpop_proof(size_t proof_headers, std::string_view proof,
                           const DpopExpectation &expected, const DpopPolicy &policy, uint32_t now,
                           Digest &jkt, uint32_t &retry_after) noexcept {
    retry_after = 0;
    if (proof_headers == 0) {
        return DpopCheck::missing;
    }
    if (proof_headers > 1) {
        return DpopCheck::several;
    }
    try {
        Proof signed_proof;
        DpopCheck check = read_signed_proof(proof, signed_proof);
        if (check != DpopCheck::ok || (check = check_claims(signed_proof.claims.get(), expected,
                                                            policy, now)) != DpopCheck::ok) {
            return check;
        }
        jkt = signed_proof.header->jkt;
        if (expected.bound_key != nullptr && *expected.bound_key != jkt) {
            return DpopCheck::key;
        }
        return admit_once(signed_proof.claims.get(), jkt, expected, policy, now, retry_after);
    } catch (...) {
        return DpopCheck::shape;  // out of memory: refuse, never let through
    }
}

std::string_view dpop_error(DpopCheck check) noexcept {
    return check == DpopCheck::nonce ? "use_dpop_nonce" : "invalid_dpop_proof";
}

std::string_view dpop_result(DpopCheck check) noexcept {
    switch (check) {
        case DpopCheck::ok:
            return "ok";
        case DpopCheck::replayed:
            return "replayed";
        case DpopCheck::nonce:
            return "nonce";
        case DpopCheck::no_room:
            return "no_room";
        default:
            return "invalid";
    }
}

std::string_view describe(DpopCheck check) noexcept {
    switch (check) {
        case DpopCheck::ok:
            return "";
        case DpopCheck::missing:
            return "a DPoP proof is required (RFC 9449): send one in the DPoP header";
        case DpopCheck::several:
            return "the request has more than one DPoP header";
        case DpopCheck::shape:
            return "the DPoP proof is not a signed JWT without crit (RFC 9449 section 4.2)";
        case DpopCheck::typ:
            return "the DPoP proof's typ must be dpop+jwt";
        case DpopCheck::alg:
            return "the DPoP proof's alg is not an asymmetric algorithm its jwk takes";
        case DpopCheck::jwk:
            return "the DPoP proof's jwk is not a public signing key";
        case DpopCheck::signature:
            return "the DPoP proof's signature does not verify with its jwk";
        case DpopCheck::method:
            return "the DPoP proof's htm is not this request's method";
        case DpopCheck::url:
            return "the DPoP proof's htu is not this request's URL";
        case DpopCheck::nonce:
            return "the DPoP proof must carry the nonce of the DPoP-Nonce header";
        case DpopCheck::issued_at:
            return "the DPoP proof's iat is missing, more than 60 seconds old or in the future";
        case DpopCheck::token_hash:
            return "the DPoP proof's ath is not the hash of this access token";
        case DpopCheck::key:
            return "the DPoP proof is not signed by the key the access token is bound to";
        case DpopCheck::jti:
            return "the DPoP proof needs a jti of 1 to 256 characters";
        case DpopCheck::replayed:
            return "the DPoP proof was used before";
        case DpopCheck::no_room:
            return "too many of this client's DPoP proofs are live to remember another; retry "
                   "later";
    }
    return "";
}

bool same_target_uri(std::string_view htu, std::string_view url) {
    std::optional<NormalizedUri> proof = normalize(htu);
    std::optional<NormalizedUri> request = normalize(url);
    return proof && request && *proof == *request;
}

}  // namespace oauth::jose
