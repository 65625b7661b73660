// Client secrets as the registry stores them, and their verification.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oauth {

// The most iterations a "$pbkdf2-sha256$" hash may ask for.
constexpr uint32_t kMaxPbkdf2Iterations = 10000000;

class SecretHash {
  public:
    enum class Kind { pbkdf2_sha256, sha256, clear };

    // One registry form:
    //   $pbkdf2-sha256$i=<iterations>$<salt>$<hash>   (PHC; base64 without padding;
    //                                                 hash is 32 bytes)
    //   $sha256$<hash>                                (SHA-256 of the secret)
    // On failure returns nullopt and says what is wrong in `error` (never
    // quoting the hash).
    static std::optional<SecretHash> parse(std::string_view phc, std::string &error);

    // A registry "client_secret" given in clear.
    static SecretHash clear(std::string_view secret);

    Kind kind() const { return kind_; }

    // Full-cost check; the final comparison takes constant time.
    bool matches(std::string_view presented) const;

  private:
    Kind kind_ = Kind::clear;
    uint32_t iterations_ = 0;
    std::string salt_;
    std::string expected_;  // the hash bytes, or the clear secret
};

// The secrets of one client (several are valid at once during rotation).
//
// PBKDF2 is slow on purpose, but a client that presents its right secret on
// every request must not pay it every time: after a successful slow check the
// verifier remembers a salted SHA-256 of the presented secret (the salt is
// random per process), and a later presentation with the same digest passes at
// the cost of one SHA-256. A wrong secret is never remembered, so it always
// pays the full KDF. Not thread-safe: nginx workers are single-threaded.
class SecretVerifier {
  public:
    SecretVerifier() = default;
    explicit SecretVerifier(std::vector<SecretHash> hashes) : hashes_(std::move(hashes)) {}

    bool verify(std::string_view presented) const;

    const std::vector<SecretHash> &hashes() const { return hashes_; }

    // How many verifications ran the KDF: what the cache and the brute-force
    // throttle exist to keep down, observable without timing anything.
    uint64_t kdf_runs() const { return kdf_runs_; }

  private:
    std::vector<SecretHash> hashes_;
    mutable std::vector<std::array<uint8_t, 32>> remembered_;
    mutable uint64_t kdf_runs_ = 0;
};

// Registry strings for a new secret (used by the client-entry command).
std::string make_pbkdf2_sha256_hash(std::string_view secret, uint32_t iterations);
std::string make_sha256_hash(std::string_view secret);

// A fresh random secret of 256 bits, base64url.
std::string generate_secret();

}  // namespace oauth
