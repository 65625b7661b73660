#include "core/secret.hpp"

#include <algorithm>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <initializer_list>
#include <memory>
#include <stdexcept>

#include "core/http/base64.hpp"
#include "core/tokens/token.hpp"

namespace oauth {

namespace {

constexpr size_t kDigestSize = 32;
constexpr size_t kMinSaltSize = 8;
constexpr size_t kNewSaltSize = 16;
constexpr size_t kSecretSize = 32;
constexpr size_t kRememberedPerClient = 8;

constexpr std::string_view kPbkdf2Prefix = "$pbkdf2-sha256$";
constexpr std::string_view kSha256Prefix = "$sha256$";

const unsigned char *bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char *>(s.data());
}

std::string_view as_text(const Digest &digest) {
    return {reinterpret_cast<const char *>(digest.data()), digest.size()};
}

bool equal_in_constant_time(const Digest &a, std::string_view b) {
    return b.size() == a.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<Digest> sha256(std::initializer_list<std::string_view> parts) {
    Digest digest;
    if (!sha256_digest(parts, digest)) {
        return std::nullopt;
    }
    return digest;
}

std::optional<Digest> pbkdf2_sha256(std::string_view secret, std::string_view salt,
                                    uint32_t iterations) {
    if (secret.size() > INT_MAX || salt.size() > INT_MAX || iterations > INT_MAX) {
        return std::nullopt;
    }
    Digest digest;
    if (PKCS5_PBKDF2_HMAC(secret.data(), int(secret.size()), bytes(salt), int(salt.size()),
                          int(iterations), EVP_sha256(), int(digest.size()), digest.data()) != 1) {
        return std::nullopt;
    }
    return digest;
}

std::optional<std::string> random_bytes(size_t size) {
    std::string out(size, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char *>(out.data()), int(size)) != 1) {
        return std::nullopt;
    }
    return out;
}

std::string random_bytes_or_throw(size_t size) {
    auto out = random_bytes(size);
    if (!out) {
        throw std::runtime_error("the random generator failed");
    }
    return *out;
}

Digest digest_or_throw(std::optional<Digest> digest) {
    if (!digest) {
        throw std::runtime_error("OpenSSL failed to compute a digest");
    }
    return *digest;
}

// Salted with a random per-process value, so a remembered digest is worthless
// outside this process; nullopt (remember nothing) if that value or the digest
// cannot be had.
std::optional<Digest> remembered_digest(std::string_view presented) {
    static const std::optional<std::string> salt = random_bytes(kDigestSize);
    return salt ? sha256({*salt, presented}) : std::nullopt;
}

bool is_remembered(const std::vector<Digest> &remembered, const Digest &digest) {
    bool found = false;
    for (const Digest &known : remembered) {
        found |= equal_in_constant_time(digest, as_text(known));
    }
    return found;
}

void remember(std::vector<Digest> &remembered, const Digest &digest) {
    if (remembered.size() == kRememberedPerClient) {
        remembered.erase(remembered.begin());
    }
    remembered.push_back(digest);
}

bool is_slow(const SecretHash &hash) {
    return hash.kind() == SecretHash::Kind::pbkdf2_sha256;
}

bool is_cheap(const SecretHash &hash) {
    return !is_slow(hash);
}

template <typename Filter>
bool any_matches(const std::vector<SecretHash> &hashes, std::string_view presented, Filter filter) {
    for (const SecretHash &hash : hashes) {
        if (filter(hash) && hash.matches(presented)) {
            return true;
        }
    }
    return false;
}

// Splits `text` at each '$'.
std::vector<std::string_view> split_fields(std::string_view text) {
    std::vector<std::string_view> fields;
    for (;;) {
        size_t dollar = text.find('$');
        fields.push_back(text.substr(0, dollar));
        if (dollar == std::string_view::npos) {
            return fields;
        }
        text.remove_prefix(dollar + 1);
    }
}

// PHC string format: B64 is standard base64 with the padding left out.
std::optional<std::string> decode_phc_base64(std::string_view text) {
    if (text.find('=') != std::string_view::npos) {
        return std::nullopt;
    }
    return decode_base64(text);
}

// A decimal integer from 1 to kMaxPbkdf2Iterations, with no sign and no leading zero.
std::optional<uint32_t> parse_iterations(std::string_view text) {
    if (text.empty() || text[0] == '0') {
        return std::nullopt;
    }
    uint32_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + uint32_t(c - '0');
        if (value > kMaxPbkdf2Iterations) {
            return std::nullopt;
        }
    }
    return value;
}

std::optional<std::string> decode_hash(std::string_view text, std::string_view scheme,
                                       std::string &error) {
    auto hash = decode_phc_base64(text);
    if (!hash) {
        error = std::string(scheme) + " hash is not base64 without padding";
    } else if (hash->size() != kDigestSize) {
        error = std::string(scheme) + " hash is not " + std::to_string(kDigestSize) + " bytes";
        hash.reset();
    }
    return hash;
}

struct Pbkdf2Fields {
    uint32_t iterations;
    std::string salt;
    std::string hash;
};

// What follows "$pbkdf2-sha256$": i=<iterations>$<salt>$<hash>.
std::optional<Pbkdf2Fields> parse_pbkdf2_fields(std::string_view text, std::string &error) {
    auto fields = split_fields(text);
    if (fields.size() != 3) {
        error = "pbkdf2-sha256 hash must be \"$pbkdf2-sha256$i=<iterations>$<salt>$<hash>\"";
        return std::nullopt;
    }
    std::string_view parameter = fields[0];
    auto iterations =
        parameter.substr(0, 2) == "i=" ? parse_iterations(parameter.substr(2)) : std::nullopt;
    if (!iterations) {
        error = "pbkdf2-sha256 parameter must be \"i=<iterations>\", from 1 to " +
                std::to_string(kMaxPbkdf2Iterations);
        return std::nullopt;
    }
    auto salt = decode_phc_base64(fields[1]);
    if (!salt) {
        error = "pbkdf2-sha256 salt is not base64 without padding";
        return std::nullopt;
    }
    if (salt->size() < kMinSaltSize) {
        error = "pbkdf2-sha256 salt is shorter than " + std::to_string(kMinSaltSize) + " bytes";
        return std::nullopt;
    }
    auto hash = decode_hash(fields[2], "pbkdf2-sha256", error);
    if (!hash) {
        return std::nullopt;
    }
    return Pbkdf2Fields{*iterations, std::move(*salt), std::move(*hash)};
}

}  // namespace

std::optional<SecretHash> SecretHash::parse(std::string_view phc, std::string &error) {
    SecretHash parsed;
    if (phc.substr(0, kPbkdf2Prefix.size()) == kPbkdf2Prefix) {
        auto fields = parse_pbkdf2_fields(phc.substr(kPbkdf2Prefix.size()), error);
        if (!fields) {
            return std::nullopt;
        }
        parsed.kind_ = Kind::pbkdf2_sha256;
        parsed.iterations_ = fields->iterations;
        parsed.salt_ = std::move(fields->salt);
        parsed.expected_ = std::move(fields->hash);
        return parsed;
    }
    if (phc.substr(0, kSha256Prefix.size()) == kSha256Prefix) {
        auto hash = decode_hash(phc.substr(kSha256Prefix.size()), "sha256", error);
        if (!hash) {
            return std::nullopt;
        }
        parsed.kind_ = Kind::sha256;
        parsed.expected_ = std::move(*hash);
        return parsed;
    }
    error = "hash must start with \"$pbkdf2-sha256$\" or \"$sha256$\"";
    return std::nullopt;
}

SecretHash SecretHash::clear(std::string_view secret) {
    SecretHash hash;
    hash.kind_ = Kind::clear;
    hash.expected_ = std::string(secret);
    return hash;
}

bool SecretHash::matches(std::string_view presented) const {
    switch (kind_) {
        case Kind::pbkdf2_sha256: {
            auto digest = pbkdf2_sha256(presented, salt_, iterations_);
            return digest && equal_in_constant_time(*digest, expected_);
        }
        case Kind::sha256: {
            auto digest = sha256({presented});
            return digest && equal_in_constant_time(*digest, expected_);
        }
        case Kind::clear: {
            // Digests of both, so that the comparison does not stop at a length mismatch.
            auto digest = sha256({presented});
            auto expected = sha256({expected_});
            return digest && expected && equal_in_constant_time(*digest, as_text(*expected));
        }
    }
    return false;
}

bool SecretVerifier::verify(std::string_view presented) const {
    if (any_matches(hashes_, presented, is_cheap)) {
        return true;
    }
    auto digest = remembered_digest(presented);
    if (digest && is_remembered(remembered_, *digest)) {
        return true;
    }
    kdf_runs_ += std::count_if(hashes_.begin(), hashes_.end(), is_slow) != 0;
    if (!any_matches(hashes_, presented, is_slow)) {
        return false;
    }
    if (digest) {
        remember(remembered_, *digest);
    }
    return true;
}

std::string make_pbkdf2_sha256_hash(std::string_view secret, uint32_t iterations) {
    std::string salt = random_bytes_or_throw(kNewSaltSize);
    Digest hash = digest_or_throw(pbkdf2_sha256(secret, salt, iterations));
    return std::string(kPbkdf2Prefix) + "i=" + std::to_string(iterations) + "$" +
           encode_base64(salt) + "$" + encode_base64(as_text(hash));
}

std::string make_sha256_hash(std::string_view secret) {
    Digest hash = digest_or_throw(sha256({secret}));
    return std::string(kSha256Prefix) + encode_base64(as_text(hash));
}

std::string generate_secret() {
    return encode_base64url(random_bytes_or_throw(kSecretSize));
}

}  // namespace oauth
