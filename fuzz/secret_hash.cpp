// Registry secret strings in the PHC format: SecretHash::parse.
#include <set>
#include <string>

#include "core/secret.hpp"
#include "fuzz.hpp"

namespace {

// The messages for one broken string of each kind. The parser never quotes
// what it was given, so whatever the input, its message is one of these.
std::set<std::string> known_messages() {
    std::set<std::string> messages;
    for (std::string_view phc :
         {"", "$pbkdf2-sha256$", "$pbkdf2-sha256$x$y$z", "$pbkdf2-sha256$i=1$!$z",
          "$pbkdf2-sha256$i=1$AAAA$z", "$pbkdf2-sha256$i=1$AAAAAAAAAAA$!",
          "$pbkdf2-sha256$i=1$AAAAAAAAAAA$AAAA", "$sha256$!", "$sha256$AAAA"}) {
        std::string error;
        FUZZ_CHECK(!oauth::SecretHash::parse(phc, error) && !error.empty());
        messages.insert(error);
    }
    return messages;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const std::set<std::string> messages = known_messages();
    std::string_view phc = fuzz::text(data, size);
    std::string error;
    auto hash = oauth::SecretHash::parse(phc, error);
    if (!hash) {
        FUZZ_CHECK(messages.count(error) == 1);
        return 0;
    }
    FUZZ_CHECK(hash->kind() != oauth::SecretHash::Kind::clear);
    if (hash->kind() == oauth::SecretHash::Kind::sha256) {
        FUZZ_CHECK(phc.rfind("$sha256$", 0) == 0);
        hash->matches(phc);  // one SHA-256; PBKDF2 may cost up to 10^7 rounds
    } else {
        FUZZ_CHECK(phc.rfind("$pbkdf2-sha256$i=", 0) == 0);
    }
    // The generated forms parse back.
    auto sha = oauth::SecretHash::parse(oauth::make_sha256_hash(phc), error);
    FUZZ_CHECK(sha && sha->matches(phc));
    return 0;
}
