// Byte-string helpers: the quoted-string of RFC 9110 §5.6.4 and the realm rule.
#include "unit.hpp"

#include <cstring>
#include <string>
#include <string_view>

#include "core/http/text.hpp"

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

}  // namespace

void control_characters_are_ctl_and_del(void **) {
    using std::string_view_literals::operator""sv;
    assert_false(oauth::has_control_character("a b\x7e\xc3\xa9"));
    assert_true(oauth::has_control_character("a\tb"));
    assert_true(oauth::has_control_character("a\x7f"));
    assert_true(oauth::has_control_character("a\0b"sv));
    assert_true(oauth::has_control_character("line\r\n"));
    assert_false(oauth::has_space_or_control("urn:x\xc3\xa9"));  // non-ASCII is neither
    assert_true(oauth::has_space_or_control("a b"));
    assert_true(oauth::has_space_or_control("a\nb"));
    assert_false(oauth::has_space_or_control(""));
}

void log_safe_text_is_vschar_without_quotes_and_bounded(void **) {
    assert_text(oauth::log_safe("kid-1"), "kid-1");
    assert_text(oauth::log_safe("a\"b\r\n\xc3"), "a?b???");
    assert_text(oauth::log_safe("a\\b"), "a?b");  // nor a backslash, for an error_description
    assert_text(oauth::log_safe(std::string(100, 'k')), std::string(64, 'k'));
    assert_text(oauth::log_safe("abcdef", 3), "abc");
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quotes_and_escapes_with_quoted_pairs),
        cmocka_unit_test(a_realm_is_any_byte_but_a_control_character),
        cmocka_unit_test(control_characters_are_ctl_and_del),
        cmocka_unit_test(log_safe_text_is_vschar_without_quotes_and_bounded),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
