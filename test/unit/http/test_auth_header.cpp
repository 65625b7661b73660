#include "unit.hpp"

#include <cctype>
#include <cstdio>
#include <cstring>

#include "core/http/auth_header.hpp"
#include "core/http/base64.hpp"

using namespace oauth;

namespace {

// What a conforming client does (RFC 6749 Appendix B).
std::string form_encode(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '*') {
            out += char(c);
        } else if (c == ' ') {
            out += '+';
        } else {
            char escape[4];
            std::snprintf(escape, sizeof escape, "%%%02X", c);
            out += escape;
        }
    }
    return out;
}

std::string basic_token(std::string_view id, std::string_view secret) {
    return encode_base64(form_encode(id) + ":" + form_encode(secret));
}

std::string raw_basic_token(std::string_view pair) {
    std::string token = encode_base64(pair);
    token.append((4 - token.size() % 4) % 4, '=');
    return token;
}

void assert_split(std::string_view value, std::string_view scheme, std::string_view credentials) {
    std::string_view got_scheme;
    std::string_view got_credentials;
    assert_true(split_authorization(value, got_scheme, got_credentials));
    assert_text(got_scheme, scheme);
    assert_text(got_credentials, credentials);
}

void assert_split_refused(std::string_view value) {
    std::string_view scheme;
    std::string_view credentials;
    assert_false(split_authorization(value, scheme, credentials));
}

void assert_basic(std::string_view token68, std::string_view id, std::string_view secret) {
    ClientCredentials credentials;
    assert_true(parse_basic_credentials(token68, credentials) == BasicStatus::ok);
    assert_text(credentials.id, id);
    assert_text(credentials.secret, secret);
}

void assert_basic_refused(std::string_view token68) {
    ClientCredentials credentials;
    assert_false(parse_basic_credentials(token68, credentials) == BasicStatus::ok);
}

void split_scheme_and_credentials(void **) {
    assert_split("Bearer abc.def", "Bearer", "abc.def");
    assert_split("Basic cmVwb3J0aW5nOnM=", "Basic", "cmVwb3J0aW5nOnM=");
    assert_split("bEaReR x", "bEaReR", "x");  // the scheme is returned as sent
}

void split_after_a_run_of_spaces(void **) {
    assert_split("Bearer    abc", "Bearer", "abc");
    assert_split("Bearer a b", "Bearer", "a b");
}

void split_trims_trailing_ows(void **) {
    assert_split("Bearer abc \t ", "Bearer", "abc");
    assert_split("Bearer abc\t", "Bearer", "abc");
    assert_split(" \tBearer abc", "Bearer", "abc");
}

void split_scheme_alone_has_empty_credentials(void **) {
    assert_split("Bearer", "Bearer", "");
    assert_split("Bearer   ", "Bearer", "");
    assert_split("Bearer\t", "Bearer", "");
}

// RFC 7235 §2.1: 1*SP, so a tab does not separate the scheme.
void split_refuses_tab_after_scheme(void **) {
    assert_split_refused("Bearer\tabc");
    assert_split("Bearer \tabc", "Bearer", "\tabc");
}

void split_refuses_empty_value(void **) {
    assert_split_refused("");
    assert_split_refused("   ");
    assert_split_refused("\t");
}

void split_refuses_scheme_outside_tchar(void **) {
    assert_split_refused("Bea(rer abc");
    assert_split_refused("Basic:abc");
    assert_split_refused("Bearer,abc");
    assert_split_refused("Bearer=abc");
    assert_split_refused("B\x80 abc");
    assert_split_refused("\"Bearer\" abc");
    assert_split_refused("=abc");
    assert_split_refused(std::string_view("B\0 abc", 6));
}

void split_accepts_every_tchar_symbol(void **) {
    assert_split("!#$%&'*+-.^_`|~09AZaz x", "!#$%&'*+-.^_`|~09AZaz", "x");
}

void split_leaves_outputs_alone_on_failure(void **) {
    std::string_view scheme = "kept";
    std::string_view credentials = "kept";
    assert_false(split_authorization("Bad(scheme x", scheme, credentials));
    assert_text(scheme, "kept");
    assert_text(credentials, "kept");
}

void basic_plain_credentials(void **) {
    assert_basic(raw_basic_token("reporting:s3cret"), "reporting", "s3cret");
    assert_basic(encode_base64("reporting:s3cret"), "reporting", "s3cret");  // unpadded
}

// RFC 6749 §2.3.1: each side is form-encoded before base64.
void basic_round_trips_special_characters(void **) {
    const char *id = "svc:a+b%c d";
    const char *secret = "p:a+s%s w:o~rd!\"#";
    assert_basic(basic_token(id, secret), id, secret);
    assert_basic(basic_token("x", ":"), "x", ":");
    assert_basic(basic_token(":", "x"), ":", "x");
}

void basic_splits_at_first_colon(void **) {
    assert_basic(raw_basic_token("id:a:b"), "id", "a:b");
    assert_basic(raw_basic_token("a%3Ab:c"), "a:b", "c");
}

void basic_decodes_plus_as_space(void **) {
    assert_basic(raw_basic_token("my+client:a+b"), "my client", "a b");
    assert_basic(raw_basic_token("id:%2B"), "id", "+");
}

void basic_empty_secret_is_syntactically_valid(void **) {
    assert_basic(raw_basic_token("id:"), "id", "");
}

void basic_refuses_raw_space(void **) {
    assert_basic_refused(raw_basic_token("my client:secret"));
    assert_basic_refused(raw_basic_token("id:my secret"));
}

void basic_refuses_missing_colon(void **) {
    assert_basic_refused(raw_basic_token("reporting"));
    assert_basic_refused(raw_basic_token("reporting%3As3cret"));
    assert_basic_refused("");
}

void basic_refuses_empty_id(void **) {
    assert_basic_refused(raw_basic_token(":secret"));
    assert_basic_refused(raw_basic_token(":"));
}

void basic_refuses_broken_base64(void **) {
    std::string good = raw_basic_token("reporting:s3cret");
    assert_basic_refused(good + "=");
    assert_basic_refused(good.substr(0, good.size() - 1));
    assert_basic_refused("cmVwb3J0aW5nOnN");  // nonzero spare bits
    assert_basic("cmVwb3J0aW5nOnM", "reporting", "s");
    assert_basic_refused("cmVw*3J0aW5nOnM=");
    assert_basic_refused("cmVwb3J0aW5n OnM=");
    assert_basic_refused("c");
}

void basic_refuses_broken_percent_escape(void **) {
    assert_basic_refused(raw_basic_token("id%zz:secret"));
    assert_basic_refused(raw_basic_token("id:secret%"));
    assert_basic_refused(raw_basic_token("id:secret%4"));
}

void basic_refuses_decoded_bytes_outside_vschar(void **) {
    assert_basic_refused(raw_basic_token("id%00:secret"));
    assert_basic_refused(raw_basic_token("id:sec%0Aret"));
    assert_basic_refused(raw_basic_token("id:%7F"));
    assert_basic_refused(raw_basic_token("caf%C3%A9:secret"));
    assert_basic_refused(raw_basic_token("id:sec\tret"));
    assert_basic_refused(raw_basic_token("id:caf\xc3\xa9"));
}

BasicStatus basic_status(std::string_view pair) {
    ClientCredentials credentials;
    return parse_basic_credentials(raw_basic_token(pair), credentials);
}

// Each refusal says why, for the operator's log and the client's
// error_description; neither quotes the id or the secret.
void basic_refusals_say_why(void **) {
    ClientCredentials credentials;
    assert_true(parse_basic_credentials("!!!", credentials) == BasicStatus::not_base64);
    assert_true(basic_status("no-colon") == BasicStatus::no_colon);
    assert_true(basic_status("id:ab cd") == BasicStatus::not_form_encoded);  // curl -u 'id:ab cd'
    assert_true(basic_status("my id:secret") == BasicStatus::not_form_encoded);
    assert_true(basic_status("id:50%off") == BasicStatus::not_form_encoded);
    assert_true(basic_status("id:bad%") == BasicStatus::not_form_encoded);
    assert_true(basic_status("id:caf\xc3\xa9") == BasicStatus::not_form_encoded);
    assert_true(basic_status(":secret") == BasicStatus::empty_id);
    assert_true(basic_status("id:sec%0Aret") == BasicStatus::outside_vschar);
    assert_true(basic_status("id:ab%20cd") == BasicStatus::ok);

    assert_text(describe(BasicStatus::ok), "");
    assert_non_null(strstr(std::string(describe(BasicStatus::not_form_encoded)).c_str(),
                           "not form-urlencoded (RFC 6749 section 2.3.1)"));
    for (BasicStatus status :
         {BasicStatus::not_base64, BasicStatus::no_colon, BasicStatus::not_form_encoded,
          BasicStatus::empty_id, BasicStatus::outside_vschar}) {
        std::string text(describe(status));
        assert_true(text.find("Basic credentials") != std::string::npos);
        // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
        for (unsigned char c : text) {
            assert_true(c >= 0x20 && c <= 0x7e && c != '"' && c != '\\');
        }
    }
}

void basic_leaves_output_alone_on_failure(void **) {
    ClientCredentials credentials{"kept", "kept"};
    assert_false(parse_basic_credentials(raw_basic_token("id:bad%"), credentials) ==
                 BasicStatus::ok);
    assert_text(credentials.id, "kept");
    assert_text(credentials.secret, "kept");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_scheme_and_credentials),
        cmocka_unit_test(split_after_a_run_of_spaces),
        cmocka_unit_test(split_trims_trailing_ows),
        cmocka_unit_test(split_scheme_alone_has_empty_credentials),
        cmocka_unit_test(split_refuses_tab_after_scheme),
        cmocka_unit_test(split_refuses_empty_value),
        cmocka_unit_test(split_refuses_scheme_outside_tchar),
        cmocka_unit_test(split_accepts_every_tchar_symbol),
        cmocka_unit_test(split_leaves_outputs_alone_on_failure),
        cmocka_unit_test(basic_plain_credentials),
        cmocka_unit_test(basic_round_trips_special_characters),
        cmocka_unit_test(basic_splits_at_first_colon),
        cmocka_unit_test(basic_decodes_plus_as_space),
        cmocka_unit_test(basic_empty_secret_is_syntactically_valid),
        cmocka_unit_test(basic_refuses_raw_space),
        cmocka_unit_test(basic_refuses_missing_colon),
        cmocka_unit_test(basic_refuses_empty_id),
        cmocka_unit_test(basic_refuses_broken_base64),
        cmocka_unit_test(basic_refuses_broken_percent_escape),
        cmocka_unit_test(basic_refuses_decoded_bytes_outside_vschar),
        cmocka_unit_test(basic_refusals_say_why),
        cmocka_unit_test(basic_leaves_output_alone_on_failure),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
