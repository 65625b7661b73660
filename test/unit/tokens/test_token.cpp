#include "unit.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "core/http/base64.hpp"
#include "core/tokens/token.hpp"

using namespace oauth;

namespace {

bool is_base64url_alphabet(std::string_view s) {
    for (unsigned char c : s) {
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

std::string hex(const Digest &digest) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (uint8_t byte : digest) {
        out += kHex[byte >> 4];
        out += kHex[byte & 0x0f];
    }
    return out;
}

void token_has_43_base64url_characters(void **) {
    std::string token;
    assert_true(generate_token(token));
    assert_int_equal(token.size(), kTokenLength);
    assert_int_equal(kTokenLength, 43);
    assert_true(is_base64url_alphabet(token));
}

// Mapping '-' and '_' back to the standard alphabet must give 32 bytes.
void token_carries_256_bits(void **) {
    std::string token;
    assert_true(generate_token(token));
    for (char &c : token) {
        c = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    auto bytes = decode_base64(token);
    assert_true(bytes.has_value());
    assert_int_equal(bytes->size(), kTokenEntropyBytes);
    assert_int_equal(kTokenEntropyBytes, 32);
}

void generate_replaces_previous_content(void **) {
    std::string token = "previous content that is much longer than any token would be";
    assert_true(generate_token(token));
    assert_int_equal(token.size(), kTokenLength);
}

void ten_thousand_tokens_are_distinct(void **) {
    std::set<std::string> seen;
    std::set<char> first_characters;
    for (int i = 0; i < 10000; ++i) {
        std::string token;
        assert_true(generate_token(token));
        assert_int_equal(token.size(), kTokenLength);
        assert_true(is_base64url_alphabet(token));
        assert_true(seen.insert(token).second);
        first_characters.insert(token[0]);
    }
    // With 10 000 draws, all 64 leading characters appear unless the source is broken.
    assert_int_equal(first_characters.size(), 64);
}

// Tokens come from a pool filled ahead: a forked child must not hand out the
// tokens its parent has yet to hand out.
void forked_child_draws_other_tokens(void **) {
    std::string parent;
    assert_true(generate_token(parent));  // the pool now holds bytes for more
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        std::string token;
        bool ok = generate_token(token) &&
                  write(fds[1], token.data(), token.size()) == ssize_t(token.size());
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    char buffer[kTokenLength];
    assert_int_equal(read(fds[0], buffer, sizeof buffer), ssize_t(sizeof buffer));
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    std::string in_child(buffer, sizeof buffer);
    std::set<std::string> parents_next;
    for (int i = 0; i < 64; ++i) {
        assert_true(generate_token(parent));
        parents_next.insert(parent);
    }
    assert_true(parents_next.count(in_child) == 0);
}

// FIPS 180-2 Appendix B test vectors.
void digest_matches_sha256_vectors(void **) {
    assert_text(hex(digest_token("abc")),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_text(hex(digest_token("")),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_text(hex(digest_token("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

void sha256_digest_hashes_the_parts_as_one(void **) {
    Digest digest;
    assert_true(sha256_digest({"ab", "", "c"}, digest));
    assert_true(digest == digest_token("abc"));
    assert_true(sha256_digest({}, digest));
    assert_true(digest == digest_token(""));
    assert_true(
        sha256_digest({"abcdbcdecdefdefgefghfghighijhijk", "ijkljklmklmnlmnomnopnopq"}, digest));
    assert_text(hex(digest), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

void digest_depends_on_every_byte(void **) {
    assert_true(digest_token("abc") != digest_token("abd"));
    assert_true(digest_token("abc") != digest_token("ab"));
    assert_true(digest_token(std::string_view("a\0", 2)) != digest_token("a"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_has_43_base64url_characters),
        cmocka_unit_test(token_carries_256_bits),
        cmocka_unit_test(generate_replaces_previous_content),
        cmocka_unit_test(ten_thousand_tokens_are_distinct),
        cmocka_unit_test(forked_child_draws_other_tokens),
        cmocka_unit_test(digest_matches_sha256_vectors),
        cmocka_unit_test(sha256_digest_hashes_the_parts_as_one),
        cmocka_unit_test(digest_depends_on_every_byte),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
