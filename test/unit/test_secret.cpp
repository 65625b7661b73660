#include "unit.hpp"

#include <cctype>

#include "core/http/base64.hpp"
#include "core/secret.hpp"

using namespace oauth;

namespace {

// "$pbkdf2-sha256$i=4096$<salt>$<hash>" for PBKDF2-HMAC-SHA256 with P =
// "passwordPASSWORDpassword", S = "saltSALTsaltSALTsaltSALTsaltSALTsalt", c = 4096:
// the published vector (first 32 bytes of its 40-byte output).
constexpr const char *kVector4096 =
    "$pbkdf2-sha256$i=4096$c2FsdFNBTFRzYWx0U0FMVHNhbHRTQUxUc2FsdFNBTFRzYWx0"
    "$NIyJ28vTKy8y2BS4EW6EzysXNH68GAAYHE4qH7jdU+E";
// P = "password", S = "saltSALT" (the shortest salt allowed), c = 1; from python3
// hashlib.pbkdf2_hmac.
constexpr const char *kVector1 =
    "$pbkdf2-sha256$i=1$c2FsdFNBTFQ$mofSXjdAj9cvQj0ihccIbTpkKibmX7egKAO1mbKTNyg";
// SHA-256("abc"), FIPS 180-2.
constexpr const char *kSha256Abc = "$sha256$ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0";

constexpr const char *kHash32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
constexpr const char *kSalt8 = "c2FsdFNBTFQ";

SecretHash parsed(std::string_view phc) {
    std::string error;
    auto hash = SecretHash::parse(phc, error);
    assert_true(hash.has_value());
    return *hash;
}

// Refused, with `expected` as the message, which never quotes the hash.
void refused(const std::string &phc, std::string_view expected) {
    std::string error;
    assert_false(SecretHash::parse(phc, error).has_value());
    assert_text(error, expected);
    size_t last = phc.rfind('$');
    if (last != std::string::npos && last + 1 < phc.size()) {
        assert_true(error.find(phc.substr(last + 1)) == std::string::npos);
    }
}

std::string pbkdf2(std::string_view parameter, std::string_view salt, std::string_view hash) {
    return "$pbkdf2-sha256$" + std::string(parameter) + "$" + std::string(salt) + "$" +
           std::string(hash);
}

void pbkdf2_matches_the_published_vector(void **) {
    SecretHash hash = parsed(kVector4096);
    assert_int_equal(int(hash.kind()), int(SecretHash::Kind::pbkdf2_sha256));
    assert_true(hash.matches("passwordPASSWORDpassword"));
    assert_false(hash.matches("passwordPASSWORDpasswor"));
    assert_false(hash.matches("passwordPASSWORDpassword "));
}

void pbkdf2_with_one_iteration_and_minimal_salt(void **) {
    SecretHash hash = parsed(kVector1);
    assert_true(hash.matches("password"));
    assert_false(hash.matches("Password"));
    assert_false(hash.matches(""));
}

void sha256_matches_its_secret_only(void **) {
    SecretHash hash = parsed(kSha256Abc);
    assert_int_equal(int(hash.kind()), int(SecretHash::Kind::sha256));
    assert_true(hash.matches("abc"));
    assert_false(hash.matches("abd"));
    assert_false(hash.matches("abc\n"));
    assert_false(hash.matches(""));
}

void clear_matches_its_secret_only(void **) {
    SecretHash hash = SecretHash::clear("s3cret");
    assert_int_equal(int(hash.kind()), int(SecretHash::Kind::clear));
    assert_true(hash.matches("s3cret"));
    assert_false(hash.matches("s3cre"));
    assert_false(hash.matches("s3cret!"));
    assert_false(hash.matches("S3cret"));
    assert_false(hash.matches(""));
}

void parse_refuses_unknown_schemes(void **) {
    constexpr const char *message = "hash must start with \"$pbkdf2-sha256$\" or \"$sha256$\"";
    refused("", message);
    refused("sha256$ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0", message);
    refused("$SHA256$ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0", message);
    refused("$pbkdf2-sha512$i=1$c2FsdFNBTFQ$AAAA", message);
    refused("$argon2id$v=19$m=65536,t=3,p=4$c2FsdFNBTFQ$AAAA", message);
}

void parse_refuses_pbkdf2_with_missing_or_extra_fields(void **) {
    constexpr const char *message =
        "pbkdf2-sha256 hash must be \"$pbkdf2-sha256$i=<iterations>$<salt>$<hash>\"";
    refused("$pbkdf2-sha256$", message);
    refused("$pbkdf2-sha256$i=1", message);
    refused("$pbkdf2-sha256$i=1$c2FsdFNBTFQ", message);
    refused("$pbkdf2-sha256$c2FsdFNBTFQ$" + std::string(kHash32), message);
    refused(pbkdf2("i=1", kSalt8, kHash32) + "$", message);
    refused(pbkdf2("i=1", kSalt8, kHash32) + "$AAAA", message);
}

void parse_refuses_bad_iterations(void **) {
    constexpr const char *message =
        "pbkdf2-sha256 parameter must be \"i=<iterations>\", from 1 to 10000000";
    for (const char *parameter :
         {"i=0", "i=01", "i=+1", "i=-1", "i=", "i=1x", "i= 1", "i=10000001", "i=99999999",
          "i=4294967297", "x=1", "I=1", "i=1,l=32", "l=32,i=1", ""}) {
        refused(pbkdf2(parameter, kSalt8, kHash32), message);
    }
    assert_true(parsed(pbkdf2("i=10000000", kSalt8, kHash32)).kind() ==
                SecretHash::Kind::pbkdf2_sha256);
}

void parse_refuses_bad_salts(void **) {
    refused(pbkdf2("i=1", "c2FsdFNBTFQ=", kHash32),
            "pbkdf2-sha256 salt is not base64 without padding");
    refused(pbkdf2("i=1", "c2Fsd-NBTFQ", kHash32),
            "pbkdf2-sha256 salt is not base64 without padding");
    refused(pbkdf2("i=1", "c2FsdFNBTFQx2", kHash32),
            "pbkdf2-sha256 salt is not base64 without padding");
    refused(pbkdf2("i=1", "c2FsdFNBTA", kHash32), "pbkdf2-sha256 salt is shorter than 8 bytes");
    refused(pbkdf2("i=1", "", kHash32), "pbkdf2-sha256 salt is shorter than 8 bytes");
    // The RFC 7914 / RFC 6070-style vectors use "salt": too short for the registry.
    refused("$pbkdf2-sha256$i=4096$c2FsdA$xeR41ZKIyEGqUw22hFxMjZYok6ABzk4RpJY4c6qYE0o",
            "pbkdf2-sha256 salt is shorter than 8 bytes");
}

void parse_refuses_bad_hashes(void **) {
    refused(pbkdf2("i=1", kSalt8, std::string(kHash32) + "="),
            "pbkdf2-sha256 hash is not base64 without padding");
    refused(pbkdf2("i=1", kSalt8, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_"),
            "pbkdf2-sha256 hash is not base64 without padding");
    refused(pbkdf2("i=1", kSalt8, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "pbkdf2-sha256 hash is not 32 bytes");
    refused(pbkdf2("i=1", kSalt8, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            "pbkdf2-sha256 hash is not 32 bytes");
    refused(pbkdf2("i=1", kSalt8, ""), "pbkdf2-sha256 hash is not 32 bytes");

    refused("$sha256$ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
            "sha256 hash is not base64 without padding");
    refused("$sha256$ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0$",
            "sha256 hash is not base64 without padding");
    refused("$sha256$ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIA", "sha256 hash is not 32 bytes");
    refused("$sha256$", "sha256 hash is not 32 bytes");
}

void verifier_tries_every_hash(void **) {
    SecretVerifier verifier({parsed(kVector1), parsed(kSha256Abc), SecretHash::clear("plain")});
    assert_true(verifier.verify("password"));
    assert_true(verifier.verify("abc"));
    assert_true(verifier.verify("plain"));
    assert_false(verifier.verify("other"));
    assert_false(verifier.verify(""));
    assert_false(SecretVerifier().verify(""));
}

void verifier_accepts_old_and_new_secret_during_rotation(void **) {
    SecretVerifier verifier({parsed(make_pbkdf2_sha256_hash("old secret", 1000)),
                             parsed(make_pbkdf2_sha256_hash("new secret", 1000))});
    for (int round = 0; round < 2; ++round) {
        assert_true(verifier.verify("old secret"));
        assert_true(verifier.verify("new secret"));
        assert_false(verifier.verify("older secret"));
    }
}

// The cache makes the right secret cheap once it has been seen: the KDF runs
// for its first presentation only. A wrong one pays the whole KDF every time.
void verifier_remembers_a_right_secret_only(void **) {
    SecretVerifier verifier({parsed(make_pbkdf2_sha256_hash("right", 1000))});
    assert_true(verifier.verify("right"));
    assert_int_equal(verifier.kdf_runs(), 1);
    assert_true(verifier.verify("right"));
    assert_true(verifier.verify("right"));
    assert_int_equal(verifier.kdf_runs(), 1);

    assert_false(verifier.verify("wrong"));
    assert_int_equal(verifier.kdf_runs(), 2);
    assert_false(verifier.verify("wrong"));
    assert_int_equal(verifier.kdf_runs(), 3);
    assert_true(verifier.verify("right"));
    assert_int_equal(verifier.kdf_runs(), 3);
}

void verifier_cache_belongs_to_its_verifier(void **) {
    std::string phc = make_pbkdf2_sha256_hash("right", 1000);
    SecretVerifier seen({parsed(phc)});
    SecretVerifier unseen({parsed(phc)});
    assert_true(seen.verify("right"));
    assert_true(unseen.verify("right"));
    assert_int_equal(seen.kdf_runs(), 1);
    assert_int_equal(unseen.kdf_runs(), 1);
}

void cheap_hashes_never_run_the_kdf(void **) {
    SecretVerifier verifier({parsed(make_sha256_hash("right"))});
    assert_true(verifier.verify("right"));
    assert_false(verifier.verify("wrong"));
    assert_int_equal(verifier.kdf_runs(), 0);
}

void make_pbkdf2_hash_round_trips(void **) {
    std::string phc = make_pbkdf2_sha256_hash("secret", 1000);
    assert_text(phc.substr(0, 22), "$pbkdf2-sha256$i=1000$");
    // 16-byte salt and 32-byte hash: 22 and 43 base64 characters.
    assert_int_equal(phc.size(), 22 + 22 + 1 + 43);
    assert_true(parsed(phc).matches("secret"));
    assert_false(parsed(phc).matches("secreT"));
    assert_true(make_pbkdf2_sha256_hash("secret", 1000) != phc);
}

void make_sha256_hash_is_the_registry_form(void **) {
    assert_text(make_sha256_hash("abc"), kSha256Abc);
    assert_true(parsed(make_sha256_hash("other")).matches("other"));
}

void generate_secret_is_256_random_bits_base64url(void **) {
    std::string secret = generate_secret();
    assert_int_equal(secret.size(), 43);
    for (char c : secret) {
        assert_true(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    }
    assert_true(generate_secret() != secret);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pbkdf2_matches_the_published_vector),
        cmocka_unit_test(pbkdf2_with_one_iteration_and_minimal_salt),
        cmocka_unit_test(sha256_matches_its_secret_only),
        cmocka_unit_test(clear_matches_its_secret_only),
        cmocka_unit_test(parse_refuses_unknown_schemes),
        cmocka_unit_test(parse_refuses_pbkdf2_with_missing_or_extra_fields),
        cmocka_unit_test(parse_refuses_bad_iterations),
        cmocka_unit_test(parse_refuses_bad_salts),
        cmocka_unit_test(parse_refuses_bad_hashes),
        cmocka_unit_test(verifier_tries_every_hash),
        cmocka_unit_test(verifier_accepts_old_and_new_secret_during_rotation),
        cmocka_unit_test(verifier_remembers_a_right_secret_only),
        cmocka_unit_test(verifier_cache_belongs_to_its_verifier),
        cmocka_unit_test(cheap_hashes_never_run_the_kdf),
        cmocka_unit_test(make_pbkdf2_hash_round_trips),
        cmocka_unit_test(make_sha256_hash_is_the_registry_form),
        cmocka_unit_test(generate_secret_is_256_random_bits_base64url),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
