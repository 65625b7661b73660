#include "unit.hpp"

#include <jansson.h>

#include "core/http/json.hpp"

using namespace oauth;

namespace {

std::string json_string(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

// Reads a JSON string literal back with an independent parser.
std::string parse_back(const std::string &literal) {
    json_error_t error;
    json_t *value = json_loads(literal.c_str(), JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    assert_non_null(value);
    assert_true(json_is_string(value));
    std::string text(json_string_value(value), json_string_length(value));
    json_decref(value);
    return text;
}

void plain_text_is_quoted(void **) {
    assert_text(json_string(""), "\"\"");
    assert_text(json_string("invalid_request"), "\"invalid_request\"");
    assert_text(json_string("a/b 'c' <d>"), "\"a/b 'c' <d>\"");
}

void appends_to_existing_text(void **) {
    std::string out = "{\"a\":";
    append_json_string(out, "b");
    assert_text(out, "{\"a\":\"b\"");
}

void quote_and_backslash_are_escaped(void **) {
    assert_text(json_string("say \"hi\""), "\"say \\\"hi\\\"\"");
    assert_text(json_string("C:\\dir\\"), "\"C:\\\\dir\\\\\"");
    assert_text(json_string("\\\""), "\"\\\\\\\"\"");
}

void control_characters_are_unicode_escaped(void **) {
    assert_text(json_string("a\nb"), "\"a\\u000ab\"");
    assert_text(json_string("\t\r\x1f"), "\"\\u0009\\u000d\\u001f\"");
    assert_text(json_string("\x1b[31m"), "\"\\u001b[31m\"");
    std::string out = json_string(std::string_view("a\0b", 3));
    assert_text(out, "\"a\\u0000b\"");
}

void del_and_non_ascii_pass_through(void **) {
    assert_text(json_string("\x7f"), "\"\x7f\"");
    assert_text(json_string("caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
    assert_text(json_string("\xff\x80"), "\"\xff\x80\"");
}

void every_ascii_byte_round_trips(void **) {
    std::string all;
    for (int c = 0; c < 0x80; ++c) {
        all += char(c);
    }
    all += "\xc3\xa9";
    std::string literal = json_string(all);
    assert_int_equal(literal.find('\n'), std::string::npos);
    assert_true(parse_back(literal) == all);
}

void token_response_with_scope(void **) {
    assert_text(render_token_response("abc-_1", 3600, "reports:read metrics:read"),
                "{\"access_token\":\"abc-_1\",\"token_type\":\"Bearer\",\"expires_in\":3600,"
                "\"scope\":\"reports:read metrics:read\"}");
}

void token_response_without_scope(void **) {
    assert_text(render_token_response("abc", 900, ""),
                "{\"access_token\":\"abc\",\"token_type\":\"Bearer\",\"expires_in\":900}");
}

void token_response_expires_in_extremes(void **) {
    assert_text(render_token_response("t", 0, ""),
                "{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":0}");
    assert_text(render_token_response("t", 4294967295u, ""),
                "{\"access_token\":\"t\",\"token_type\":\"Bearer\",\"expires_in\":4294967295}");
}

void token_response_is_valid_json(void **) {
    std::string body = render_token_response("tok\"en", 60, "a\\b");
    json_error_t error;
    json_t *root = json_loads(body.c_str(), 0, &error);
    assert_non_null(root);
    assert_text(json_string_value(json_object_get(root, "access_token")), "tok\"en");
    assert_text(json_string_value(json_object_get(root, "token_type")), "Bearer");
    assert_int_equal(json_integer_value(json_object_get(root, "expires_in")), 60);
    assert_text(json_string_value(json_object_get(root, "scope")), "a\\b");
    json_decref(root);
}

void error_body(void **) {
    assert_text(render_error("invalid_client", "client authentication failed"),
                "{\"error\":\"invalid_client\","
                "\"error_description\":\"client authentication failed\"}");
    assert_text(render_error("invalid_scope", "unknown scope \"x\"\n"),
                "{\"error\":\"invalid_scope\","
                "\"error_description\":\"unknown scope \\\"x\\\"\\u000a\"}");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_text_is_quoted),
        cmocka_unit_test(appends_to_existing_text),
        cmocka_unit_test(quote_and_backslash_are_escaped),
        cmocka_unit_test(control_characters_are_unicode_escaped),
        cmocka_unit_test(del_and_non_ascii_pass_through),
        cmocka_unit_test(every_ascii_byte_round_trips),
        cmocka_unit_test(token_response_with_scope),
        cmocka_unit_test(token_response_without_scope),
        cmocka_unit_test(token_response_expires_in_extremes),
        cmocka_unit_test(token_response_is_valid_json),
        cmocka_unit_test(error_body),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
