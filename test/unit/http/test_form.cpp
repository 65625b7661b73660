#include "unit.hpp"

#include "core/http/form.hpp"

using namespace oauth;

namespace {

void assert_decodes(std::string_view encoded, std::string_view expected) {
    auto decoded = form_decode(encoded);
    assert_true(decoded.has_value());
    assert_int_equal(decoded->size(), expected.size());
    assert_memory_equal(decoded->data(), expected.data(), expected.size());
}

void assert_refused(std::string_view encoded) {
    assert_false(form_decode(encoded).has_value());
}

void decode_plain_text_unchanged(void **) {
    assert_decodes("", "");
    assert_decodes("client_credentials", "client_credentials");
    assert_decodes("reports:read", "reports:read");
    assert_decodes("a=b", "a=b");  // a raw '=' in a value is still visible ASCII
}

void decode_plus_is_space(void **) {
    assert_decodes("reports%3Aread+metrics%3Aread", "reports:read metrics:read");
    assert_decodes("+", " ");
    assert_decodes("++a+", "  a ");
}

void decode_percent_escapes(void **) {
    assert_decodes("%2B", "+");
    assert_decodes("%2b", "+");
    assert_decodes("%25", "%");
    assert_decodes("%20", " ");
    assert_decodes("%3a%3A", "::");
    assert_decodes("gr%61nt_type", "grant_type");
    assert_decodes("%C3%A9", "\xc3\xa9");
    assert_decodes("%ff", "\xff");
    assert_decodes("%2525", "%25");  // decoded once only
}

// The caller refuses it later through its VSCHAR check.
void decode_percent_00_is_nul_byte(void **) {
    assert_decodes("a%00b", std::string_view("a\0b", 3));
}

void decode_refuses_broken_escapes(void **) {
    assert_refused("%");
    assert_refused("abc%");
    assert_refused("%4");
    assert_refused("a%4");
    assert_refused("%zz");
    assert_refused("%4g");
    assert_refused("%g4");
    assert_refused("% 41");
    assert_refused("%+1");
    assert_refused("%-1");
}

void decode_refuses_raw_unencoded_bytes(void **) {
    assert_refused("a b");
    assert_refused("a\tb");
    assert_refused("a\nb");
    assert_refused("a\rb");
    assert_refused("\x7f");
    assert_refused("\x80");
    assert_refused("caf\xc3\xa9");
    assert_refused(std::string_view("a\0b", 3));
}

void parse_simple_body(void **) {
    Form form;
    assert_int_equal(form.parse("grant_type=client_credentials&scope=a+b"), FormStatus::ok);
    assert_int_equal(form.parameters().size(), 2);
    assert_text(form.parameters()[0].name, "grant_type");
    assert_text(form.parameters()[1].name, "scope");
    assert_non_null(form.get("grant_type"));
    assert_text(*form.get("grant_type"), "client_credentials");
    assert_text(*form.get("scope"), "a b");
    assert_null(form.get("client_id"));
    assert_false(form.has("client_id"));
}

void parse_empty_body(void **) {
    Form form;
    assert_int_equal(form.parse(""), FormStatus::ok);
    assert_true(form.parameters().empty());
    assert_int_equal(form.parse("&&&"), FormStatus::ok);
    assert_true(form.parameters().empty());
}

void parse_skips_empty_segments(void **) {
    Form form;
    assert_int_equal(form.parse("&a=1&&b=2&"), FormStatus::ok);
    assert_int_equal(form.parameters().size(), 2);
    assert_text(*form.get("a"), "1");
    assert_text(*form.get("b"), "2");
}

void parse_splits_at_first_equals(void **) {
    Form form;
    assert_int_equal(form.parse("a=b=c&d=%3D"), FormStatus::ok);
    assert_text(*form.get("a"), "b=c");
    assert_text(*form.get("d"), "=");
}

void parse_names_are_decoded(void **) {
    Form form;
    assert_int_equal(form.parse("gr%61nt_type=client_credentials&client+id=x"), FormStatus::ok);
    assert_text(*form.get("grant_type"), "client_credentials");
    assert_text(*form.get("client id"), "x");
    assert_false(form.has("gr%61nt_type"));
}

void empty_value_is_present_but_not_gettable(void **) {
    Form form;
    assert_int_equal(form.parse("scope=&client_secret&grant_type=x"), FormStatus::ok);
    assert_true(form.has("scope"));
    assert_null(form.get("scope"));
    assert_true(form.has("client_secret"));
    assert_null(form.get("client_secret"));
    assert_text(form.parameters()[1].value, "");
    assert_non_null(form.get("grant_type"));
}

void parse_refuses_bad_encoding_anywhere(void **) {
    Form form;
    assert_int_equal(form.parse("a=%zz"), FormStatus::bad_encoding);
    assert_int_equal(form.parse("a%zz=1"), FormStatus::bad_encoding);
    assert_int_equal(form.parse("a=1&b=%"), FormStatus::bad_encoding);
    assert_int_equal(form.parse("a=1&b=%4"), FormStatus::bad_encoding);
    assert_int_equal(form.parse("a=x y"), FormStatus::bad_encoding);
    assert_int_equal(form.parse("a b=1"), FormStatus::bad_encoding);
    assert_int_equal(form.parse("a=1\n"), FormStatus::bad_encoding);
    assert_int_equal(form.parse("a=\x80"), FormStatus::bad_encoding);
    assert_int_equal(form.parse("%"), FormStatus::bad_encoding);
}

void failed_parse_leaves_no_parameters(void **) {
    Form form;
    assert_int_equal(form.parse("a=1"), FormStatus::ok);
    assert_int_equal(form.parse("b=2&c=%zz"), FormStatus::bad_encoding);
    assert_true(form.parameters().empty());
    assert_false(form.has("a"));
    assert_false(form.has("b"));
    assert_int_equal(form.parse("b=2&b=3"), FormStatus::repeated_parameter);
    assert_true(form.parameters().empty());
}

void parse_replaces_previous_parameters(void **) {
    Form form;
    assert_int_equal(form.parse("a=1"), FormStatus::ok);
    assert_int_equal(form.parse("b=2"), FormStatus::ok);
    assert_false(form.has("a"));
    assert_text(*form.get("b"), "2");
}

void parse_refuses_repeated_parameter(void **) {
    Form form;
    assert_int_equal(form.parse("scope=a&scope=b"), FormStatus::repeated_parameter);
    assert_int_equal(form.parse("scope=a&grant_type=x&scope=a"), FormStatus::repeated_parameter);
    assert_int_equal(form.parse("scope=&scope=b"), FormStatus::repeated_parameter);
    assert_int_equal(form.parse("scope&scope"), FormStatus::repeated_parameter);
}

void parse_refuses_repeat_hidden_by_encoding(void **) {
    Form form;
    assert_int_equal(form.parse("grant_type=client_credentials&gr%61nt_type=password"),
                     FormStatus::repeated_parameter);
    assert_int_equal(form.parse("client+id=a&client%20id=b"), FormStatus::repeated_parameter);
}

void similar_names_are_not_repeats(void **) {
    Form form;
    assert_int_equal(form.parse("scope=a&Scope=b&scope_=c&scop=d"), FormStatus::ok);
    assert_int_equal(form.parameters().size(), 4);
    assert_text(*form.get("scope"), "a");
    assert_text(*form.get("Scope"), "b");
}

std::string many_parameters(size_t count) {
    std::string body;
    for (size_t i = 0; i < count; ++i) {
        body += "p" + std::to_string(i) + "=" + std::to_string(i) + "&";
    }
    return body;
}

void parse_thousands_of_parameters(void **) {
    std::string body = many_parameters(4000);
    Form form;
    assert_int_equal(form.parse(body), FormStatus::ok);
    assert_int_equal(form.parameters().size(), 4000);
    assert_text(*form.get("p0"), "0");
    assert_text(*form.get("p3999"), "3999");
    assert_text(form.parameters()[1234].name, "p1234");  // order as sent

    assert_int_equal(form.parse(body + "p2000=again"), FormStatus::repeated_parameter);
    assert_int_equal(form.parse("p1=first&" + body), FormStatus::repeated_parameter);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_plain_text_unchanged),
        cmocka_unit_test(decode_plus_is_space),
        cmocka_unit_test(decode_percent_escapes),
        cmocka_unit_test(decode_percent_00_is_nul_byte),
        cmocka_unit_test(decode_refuses_broken_escapes),
        cmocka_unit_test(decode_refuses_raw_unencoded_bytes),
        cmocka_unit_test(parse_simple_body),
        cmocka_unit_test(parse_empty_body),
        cmocka_unit_test(parse_skips_empty_segments),
        cmocka_unit_test(parse_splits_at_first_equals),
        cmocka_unit_test(parse_names_are_decoded),
        cmocka_unit_test(empty_value_is_present_but_not_gettable),
        cmocka_unit_test(parse_refuses_bad_encoding_anywhere),
        cmocka_unit_test(failed_parse_leaves_no_parameters),
        cmocka_unit_test(parse_replaces_previous_parameters),
        cmocka_unit_test(parse_refuses_repeated_parameter),
        cmocka_unit_test(parse_refuses_repeat_hidden_by_encoding),
        cmocka_unit_test(similar_names_are_not_repeats),
        cmocka_unit_test(parse_thousands_of_parameters),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
