// Byte-string helpers: the quoted-string of RFC 9110 §5.6.4 and the realm rule.
#include "unit.hpp"

#include <cstring>
#include <string>

#include "core/text.hpp"

namespace {

void quotes_and_escapes_with_quoted_pairs(void **) {
    assert_text(oauth::quoted_string("oauth"), "\"oauth\"");
    assert_text(oauth::quoted_string(""), "\"\"");
    assert_text(oauth::quoted_string("other realm"), "\"other realm\"");
    assert_text(oauth::quoted_string("a\"b"), "\"a\\\"b\"");
    assert_text(oauth::quoted_string("a\\b\\"), "\"a\\\\b\\\\\"");
    assert_text(oauth::quoted_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // obs-text passes
}

void a_realm_is_any_byte_but_a_control_character(void **) {
    for (const char *good : {"", "oauth", "other realm", "a\"b\\c", "!#~", "caf\xc3\xa9"}) {
        assert_false(oauth::check_realm(good).has_value());
    }
    std::optional<std::string> crlf = oauth::check_realm("api\r\nSet-Cookie: x=y");
    assert_true(crlf.has_value());
    assert_text(*crlf,
                "a control character (0x0D CR) at byte 4: a realm is sent as an HTTP "
                "quoted-string (RFC 9110 §5.6.4)");
    struct Bad {
        std::string realm;
        const char *named;
    };
    for (const Bad &bad :
         {Bad{"a\nb", "(0x0A LF) at byte 2"}, Bad{std::string("a\0b", 3), "(0x00 NUL)"},
          Bad{"a\x7f", "(0x7F DEL) at byte 2"}, Bad{"\tx", "(0x09 HTAB) at byte 1"},
          Bad{"x\x1b", "(0x1B) at byte 2"}}) {
        std::optional<std::string> problem = oauth::check_realm(bad.realm);
        assert_true(problem.has_value());
        assert_non_null(strstr(problem->c_str(), bad.named));
    }
}

// What a token's header may carry reaches a log line or an error_description
// printable, without quote or backslash, and cut.
void an_excerpt_is_printable_and_cut(void **) {
    assert_text(oauth::printable_excerpt("kid-1", 10), "kid-1");
    assert_text(oauth::printable_excerpt("a\"b\\c\nd\x7f\xc3\xa9", 20), "a?b?c?d???");
    assert_text(oauth::printable_excerpt("abcdef", 3), "abc...");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quotes_and_escapes_with_quoted_pairs),
        cmocka_unit_test(a_realm_is_any_byte_but_a_control_character),
        cmocka_unit_test(an_excerpt_is_printable_and_cut),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
