#include "unit.hpp"

#include "core/registry.hpp"

using namespace oauth;

namespace {

// Secret "abc" (SHA-256, FIPS 180-2) and secret "password" (PBKDF2, i=1).
#define SHA256_ABC "$sha256$ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0"
#define PBKDF2_PASSWORD "$pbkdf2-sha256$i=1$c2FsdFNBTFQ$mofSXjdAj9cvQj0ihccIbTpkKibmX7egKAO1mbKTNyg"

std::unique_ptr<Registry> valid(const std::string &json, std::vector<std::string> &warnings) {
    RegistryError error;
    auto registry = Registry::parse(json, error, warnings);
    if (!registry) {
        fail_msg("line %u: %s", error.line, error.message.c_str());
    }
    return registry;
}

std::unique_ptr<Registry> valid(const std::string &json) {
    std::vector<std::string> warnings;
    auto registry = valid(json, warnings);
    assert_int_equal(warnings.size(), 0);
    return registry;
}

void refused(const std::string &json, unsigned line, std::string_view message) {
    RegistryError error;
    std::vector<std::string> warnings;
    assert_true(Registry::parse(json, error, warnings) == nullptr);
    assert_text(error.message, message);
    assert_int_equal(error.line, line);
    assert_int_equal(warnings.size(), 0);
}

// One client entry, given its members, as the second line of a file.
std::string file_with(const std::string &members) {
    return "{\"clients\": [\n{" + members + "}\n]}";
}

std::string entry(const std::string &extra) {
    return file_with("\"client_id\": \"a\", \"client_secret_hash\": \"" SHA256_ABC
                     "\", \"scope\": \"x y\"" +
                     extra);
}

void refused_entry(const std::string &members, std::string_view message) {
    refused(file_with(members), 2, message);
}

Client only_client(std::unique_ptr<Registry> registry) {
    assert_int_equal(registry->clients().size(), 1);
    return registry->clients()[0];
}

void a_file_with_every_field(void **) {
    auto registry = valid(R"({
  "clients": [
    {
      "client_id": "reporting",
      "client_secret_hash": [")" PBKDF2_PASSWORD R"(", ")" SHA256_ABC R"("],
      "scope": "reports:read metrics:read reports:read admin",
      "default_scope": "admin reports:read",
      "token_ttl": 900,
      "grant_types": ["client_credentials"],
      "introspection": true
    },
    {
      "client_id": "minimal",
      "client_secret_hash": ")" SHA256_ABC R"(",
      "scope": "a b"
    }
  ]
})");
    assert_int_equal(registry->clients().size(), 2);

    const Client *reporting = registry->find("reporting");
    assert_non_null(reporting);
    assert_text(reporting->id, "reporting");
    assert_true(reporting->secret.verify("password"));
    assert_true(reporting->secret.verify("abc"));
    assert_false(reporting->secret.verify("abd"));
    assert_text(reporting->scope, "reports:read metrics:read admin");
    assert_int_equal(reporting->default_mask, 0x5);
    assert_int_equal(reporting->token_ttl, 900);
    assert_true(reporting->client_credentials);
    assert_true(reporting->introspection);

    const Client *minimal = registry->find("minimal");
    assert_non_null(minimal);
    assert_true(minimal->secret.verify("abc"));
    assert_int_equal(minimal->secret.hashes().size(), 1);
    assert_text(minimal->scope, "a b");
    assert_int_equal(minimal->default_mask, 0x3);
    assert_int_equal(minimal->token_ttl, 0);
    assert_true(minimal->client_credentials);
    assert_false(minimal->introspection);
}

void find_compares_byte_for_byte(void **) {
    auto registry = valid(entry(""));
    assert_ptr_equal(registry->find("a"), &registry->clients()[0]);
    assert_null(registry->find("A"));
    assert_null(registry->find("a "));
    assert_null(registry->find(""));
}

void find_survives_many_clients(void **) {
    std::string json = "{\"clients\": [";
    for (int i = 0; i < 100; ++i) {
        json += std::string(i ? "," : "") + "{\"client_id\": \"client-" + std::to_string(i) +
                "\", \"client_secret_hash\": \"" SHA256_ABC "\", \"scope\": \"\"}";
    }
    auto registry = valid(json + "]}");
    for (int i = 0; i < 100; ++i) {
        const Client *client = registry->find("client-" + std::to_string(i));
        assert_non_null(client);
        assert_text(client->id, "client-" + std::to_string(i));
    }
}

void an_empty_registry_is_valid(void **) {
    auto registry = valid(R"({"clients": []})");
    assert_int_equal(registry->clients().size(), 0);
    assert_null(registry->find("a"));
}

void scope_list_collapses_duplicates_in_first_seen_order(void **) {
    const Client &client = only_client(valid(file_with(
        R"("client_id": "a", "client_secret_hash": ")" SHA256_ABC R"(", "scope": "b a b c a")")));
    assert_text(client.scope, "b a c");
    assert_int_equal(client.default_mask, 0x7);
}

void default_scope_sets_the_default_mask(void **) {
    const Client &client = only_client(valid(entry(R"(, "default_scope": "y")")));
    assert_int_equal(client.default_mask, 0x2);
    const Client &both = only_client(valid(entry(R"(, "default_scope": "y x y")")));
    assert_int_equal(both.default_mask, 0x3);
}

void an_empty_scope_grants_nothing(void **) {
    const Client &client = only_client(valid(
        file_with(R"("client_id": "a", "client_secret_hash": ")" SHA256_ABC R"(", "scope": "")")));
    assert_text(client.scope, "");
    assert_int_equal(client.default_mask, 0);
}

std::string scopes(int count, int distinct) {
    std::string list;
    for (int i = 0; i < count; ++i) {
        list += (i ? " s" : "s") + std::to_string(i % distinct);
    }
    return list;
}

std::string with_scope(const std::string &scope) {
    return file_with(R"("client_id": "a", "client_secret_hash": ")" SHA256_ABC R"(", "scope": ")" +
                     scope + "\"");
}

void scope_is_limited_to_64_distinct_tokens(void **) {
    const Client &client = only_client(valid(with_scope(scopes(64, 64))));
    assert_int_equal(client.default_mask, ~uint64_t(0));
    assert_text(client.scope, scopes(64, 64));
    assert_text(only_client(valid(with_scope(scopes(100, 64)))).scope, scopes(64, 64));
    refused(with_scope(scopes(65, 65)), 2, "client \"a\": \"scope\" has more than 64 scopes");
}

void scope_list_is_limited_to_1024_bytes(void **) {
    std::string longest = std::string(511, 'a') + " " + std::string(512, 'b');
    assert_text(only_client(valid(with_scope(longest))).scope, longest);
    std::string repeated = std::string(1000, 'c') + " " + std::string(1000, 'c');
    assert_int_equal(only_client(valid(with_scope(repeated))).scope.size(), 1000);
    refused(with_scope(longest + "b"), 2,
            "client \"a\": \"scope\" is longer than 1024 bytes without its duplicates");
}

void json_syntax_errors_take_janssons_line_and_text(void **) {
    refused("{\"clients\": [\n{\"client_id\": \"a\",\n\"client_id\": \"b\"}]}", 3,
            "duplicate object key near '\"client_id\"'");
    refused("{\"clients\": [\n{\"token_ttl\": 1\n2}\n]}", 3, "'}' expected at column 1");
    refused("", 1, "'[' or '{' expected at column 0");
    refused("{\"clients\": []} x", 1, "end of file expected at column 17");
    refused("{\"clients\": [\n\n{\"client_id\": tru}]}", 3, "invalid token at column 17");
}

// jansson quotes the token it stopped at, which may be (part of) a secret.
void json_syntax_errors_never_quote_a_token(void **) {
    refused("{\"clients\": [\n{\"client_secret\": \"s3cret\\q\"}]}", 2,
            "invalid escape at column 27");
    refused("{\"clients\": [\n{\"client_secret\": \"s3cret\x01\"}]}", 2,
            "control character 0x1 at column 25");
    refused("{\"clients\": [\n{\"client_secret\": \"s3cret\"\n\"oops\"}]}", 3,
            "'}' expected at column 6");
    refused("{\"clients\": [\n{\"client_secret\": s3cret\"}]}", 2, "invalid token at column 19");
}

void the_top_level_must_hold_a_clients_array(void **) {
    refused("[]", 0, "the top level must be an object with a \"clients\" array");
    refused("{}", 0, "\"clients\" is missing");
    refused("{\"client\": []}", 0, "\"clients\" is missing");
    refused("{\"clients\": {}}", 0, "\"clients\" must be an array");
    refused("{\"clients\": null}", 0, "\"clients\" must be an array");
}

void an_entry_must_be_an_object(void **) {
    refused("{\"clients\": [\n\n  [\"a\"]]}", 3, "client #1: the entry must be an object");
    refused("{\"clients\": [\n\"a\"]}", 2, "client #1: the entry must be an object");
}

void unknown_keys_are_refused(void **) {
    refused_entry(R"("client_id": "a", "client_secret_hash": ")" SHA256_ABC R"(", "scpoe": "")",
                  "client \"a\": unknown key \"scpoe\"");
    refused_entry(R"("clientid": "a", "scope": "")", "client #1: unknown key \"clientid\"");
    refused_entry(R"("client_id": "a", "x\u0001\u00e9": 1)",
                  "client \"a\": unknown key \"x\\x01\\xc3\\xa9\"");
}

void client_id_is_required_printable_and_bounded(void **) {
    refused_entry(R"("client_secret_hash": ")" SHA256_ABC R"(", "scope": "")",
                  "client #1: \"client_id\" is missing");
    refused_entry(R"("client_id": 7, "scope": "")",
                  "client #1: \"client_id\" must be a non-empty string");
    refused_entry(R"("client_id": "", "scope": "")",
                  "client #1: \"client_id\" must be a non-empty string");
    refused_entry(R"("client_id": "caf\u00e9", "scope": "")",
                  "client #1: \"client_id\" must be printable ASCII (RFC 6749 Appendix A, VSCHAR)");
    refused_entry(R"("client_id": "a\tb", "scope": "")",
                  "client #1: \"client_id\" must be printable ASCII (RFC 6749 Appendix A, VSCHAR)");
    refused_entry("\"client_id\": \"" + std::string(129, 'i') + "\", \"scope\": \"\"",
                  "client #1: \"client_id\" is longer than 128 bytes");
    std::string longest(128, 'i');
    auto registry =
        valid(file_with("\"client_id\": \"" + longest +
                        "\", \"client_secret_hash\": \"" SHA256_ABC "\", \"scope\": \"\""));
    assert_non_null(registry->find(longest));
    assert_non_null(valid(file_with(R"("client_id": " a\"b\\ ", "client_secret_hash": ")" SHA256_ABC
                                    R"(", "scope": "")"))
                        ->find(" a\"b\\ "));
}

void later_clients_are_counted_from_one(void **) {
    refused(R"({"clients": [
  {"client_id": "a", "client_secret_hash": ")" SHA256_ABC R"(", "scope": ""},
  {"client_id": "b", "client_secret_hash": ")" SHA256_ABC R"(", "scope": ""},
  {"client_secret_hash": ")" SHA256_ABC R"(", "scope": ""}
]})",
            4, "client #3: \"client_id\" is missing");
}

void a_duplicate_client_id_is_refused_on_the_later_entry(void **) {
    refused(R"({"clients": [
  {"client_id": "a", "client_secret_hash": ")" SHA256_ABC R"(", "scope": ""},
  {"client_id": "b", "client_secret_hash": ")" SHA256_ABC R"(", "scope": ""},
  {
    "client_id": "a", "client_secret_hash": ")" SHA256_ABC R"(", "scope": ""}
]})",
            4, "client \"a\": duplicate \"client_id\", first at line 2");
}

// Lines come from a scan that must skip strings holding braces, brackets,
// quotes and escapes, and keys named "clients" below the top level.
void entry_lines_skip_strings_and_nesting(void **) {
    refused(R"({
  "about": [{"clients": [{}, {}]}, "[{\"clients\": [{\\", 1, true],
  "clients": [{"client_id": "a", "client_secret": "{[\"", "scope": ""},

    {"client_id": "b", "client_secret": "]}}", "scope": "", "grant_types": ["x", "{"]}, {
      "client_id": "c", "client_secret": "}", "scope": "x  y"}
  ]
})",
            5,
            "client \"c\": \"scope\" must be scope tokens (printable ASCII but '\"' and '\\') "
            "separated by single spaces (RFC 6749 section 3.3)");
}

void exactly_one_secret_form_is_required(void **) {
    refused_entry(R"("client_id": "a", "scope": "")",
                  "client \"a\": \"client_secret_hash\" is missing");
    refused_entry(
        R"("client_id": "a", "client_secret": "s3cret", "client_secret_hash": ")" SHA256_ABC
        R"(", "scope": "")",
        "client \"a\": give \"client_secret_hash\" or \"client_secret\", not both");
}

void client_secret_hash_is_a_string_or_array_of_valid_hashes(void **) {
    refused_entry(R"("client_id": "a", "client_secret_hash": 1, "scope": "")",
                  "client \"a\": \"client_secret_hash\" must be a string");
    refused_entry(R"("client_id": "a", "client_secret_hash": [], "scope": "")",
                  "client \"a\": \"client_secret_hash\" must be a string or a non-empty array of "
                  "strings");
    refused_entry(R"("client_id": "a", "client_secret_hash": [")" SHA256_ABC
                  R"(", 1], "scope": "")",
                  "client \"a\": \"client_secret_hash\" #2 must be a string");
    refused_entry(R"("client_id": "a", "client_secret_hash": "$sha256$c2VjcmV0", "scope": "")",
                  "client \"a\": \"client_secret_hash\": sha256 hash is not 32 bytes");
    refused_entry(R"("client_id": "a", "client_secret_hash": [")" SHA256_ABC
                  R"(", "$pbkdf2-sha256$i=1$c2FsdA$ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0"],
                  "scope": "")",
                  "client \"a\": \"client_secret_hash\" #2: pbkdf2-sha256 salt is shorter than 8 "
                  "bytes");
    refused_entry(R"("client_id": "a", "client_secret_hash": "s3cret", "scope": "")",
                  "client \"a\": \"client_secret_hash\": hash must start with "
                  "\"$pbkdf2-sha256$\" or \"$sha256$\"");
}

void client_secret_in_clear_is_a_printable_string(void **) {
    refused_entry(R"("client_id": "a", "client_secret": "", "scope": "")",
                  "client \"a\": \"client_secret\" must be a non-empty string");
    refused_entry(R"("client_id": "a", "client_secret": ["s3cret"], "scope": "")",
                  "client \"a\": \"client_secret\" must be a non-empty string");
    refused_entry(R"("client_id": "a", "client_secret": "s3cr\u00e9t", "scope": "")",
                  "client \"a\": \"client_secret\" must be printable ASCII (RFC 6749 Appendix A, "
                  "VSCHAR)");
}

void a_clear_secret_is_accepted_with_a_warning(void **) {
    std::vector<std::string> warnings{"earlier"};
    auto registry = valid(R"({"clients": [
  {"client_id": "hashed", "client_secret_hash": ")" SHA256_ABC R"(", "scope": ""},
  {"client_id": "clear", "client_secret": "s3cret pass", "scope": ""}
]})",
                          warnings);
    assert_int_equal(warnings.size(), 2);
    assert_text(warnings[0], "earlier");
    assert_text(warnings[1],
                "client \"clear\": secret given in clear in \"client_secret\"; store a hash in "
                "\"client_secret_hash\" (see oauth-client-entry)");
    const Client *clear = registry->find("clear");
    assert_true(clear->secret.verify("s3cret pass"));
    assert_false(clear->secret.verify("s3cret"));
    assert_int_equal(int(clear->secret.hashes()[0].kind()), int(SecretHash::Kind::clear));
}

void a_refused_file_leaves_no_warning(void **) {
    refused(R"({"clients": [
  {"client_id": "clear", "client_secret": "s3cret", "scope": ""},
  {"client_id": "bad", "client_secret": "s3cret"}
]})",
            3, "client \"bad\": \"scope\" is missing");
}

void scope_is_required_and_checked(void **) {
    refused_entry(R"("client_id": "a", "client_secret": "s")",
                  "client \"a\": \"scope\" is missing");
    refused_entry(R"("client_id": "a", "client_secret": "s", "scope": ["x"])",
                  "client \"a\": \"scope\" must be a string");
    constexpr const char *grammar =
        "client \"a\": \"scope\" must be scope tokens (printable ASCII but '\"' and '\\') "
        "separated by single spaces (RFC 6749 section 3.3)";
    for (const char *scope : {R"(" x")", R"("x ")", R"("x  y")", R"("x\ty")", R"("x\"y")",
                              R"("x\\y")", R"("caf\u00e9")", R"(" ")"}) {
        refused_entry(R"("client_id": "a", "client_secret": "s", "scope": )" + std::string(scope),
                      grammar);
    }
}

void default_scope_is_a_subset_of_scope(void **) {
    refused(entry(R"(, "default_scope": "x admin")"), 2,
            "client \"a\": \"default_scope\" has \"admin\", which is not in \"scope\"");
    refused(entry(R"(, "default_scope": "")"), 2,
            "client \"a\": \"default_scope\" must be scope tokens (printable ASCII but '\"' and "
            "'\\') separated by single spaces (RFC 6749 section 3.3)");
    refused(entry(R"(, "default_scope": "x  y")"), 2,
            "client \"a\": \"default_scope\" must be scope tokens (printable ASCII but '\"' and "
            "'\\') separated by single spaces (RFC 6749 section 3.3)");
    refused(entry(R"(, "default_scope": ["x"])"), 2,
            "client \"a\": \"default_scope\" must be a string");
}

void max_tokens_is_a_positive_integer(void **) {
    assert_int_equal(only_client(valid(entry(""))).max_tokens, 0);
    assert_int_equal(only_client(valid(entry(R"(, "max_tokens": 1)"))).max_tokens, 1);
    assert_int_equal(only_client(valid(entry(R"(, "max_tokens": 100000000)"))).max_tokens,
                     100000000);
    for (const char *max : {"0", "-1", "100000001", "4294967297", "1.5", "\"9\"", "null"}) {
        refused(entry(", \"max_tokens\": " + std::string(max)), 2,
                "client \"a\": \"max_tokens\" must be an integer from 1 to 100000000");
    }
}

void token_ttl_is_a_positive_integer_up_to_a_year(void **) {
    assert_int_equal(only_client(valid(entry(R"(, "token_ttl": 1)"))).token_ttl, 1);
    assert_int_equal(only_client(valid(entry(R"(, "token_ttl": 31536000)"))).token_ttl, 31536000);
    for (const char *ttl :
         {"0", "-1", "31536001", "4294967297", "1.5", "900.0", "\"900\"", "true", "null"}) {
        refused(entry(", \"token_ttl\": " + std::string(ttl)), 2,
                "client \"a\": \"token_ttl\" must be an integer from 1 to 31536000 (seconds)");
    }
}

void grant_types_decides_client_credentials(void **) {
    assert_false(
        only_client(valid(entry(R"(, "grant_types": ["authorization_code"])"))).client_credentials);
    assert_true(only_client(valid(entry(R"(, "grant_types": ["x", "client_credentials"])")))
                    .client_credentials);
    for (const char *grant_types :
         {R"([])", R"("client_credentials")", R"([1])", R"(["client_credentials", null])"}) {
        refused(entry(", \"grant_types\": " + std::string(grant_types)), 2,
                "client \"a\": \"grant_types\" must be a non-empty array of strings");
    }
}

void introspection_is_a_boolean(void **) {
    assert_false(only_client(valid(entry(R"(, "introspection": false)"))).introspection);
    assert_true(only_client(valid(entry(R"(, "introspection": true)"))).introspection);
    for (const char *value : {"1", "\"true\"", "null"}) {
        refused(entry(", \"introspection\": " + std::string(value)), 2,
                "client \"a\": \"introspection\" must be true or false");
    }
}

void resource_is_a_uri_or_an_array_of_them(void **) {
    assert_text(only_client(valid(entry(""))).resources, "");
    assert_text(only_client(valid(entry(R"(, "resource": "https://api.test/v1")"))).resources,
                "https://api.test/v1");
    assert_text(only_client(valid(entry(R"(, "resource": ["https://b.test", "urn:x:y",)"
                                        R"( "https://b.test"])")))
                    .resources,
                "https://b.test urn:x:y");  // duplicates collapse, the first is the default
    for (const char *value : {R"([])", R"(1)", R"(null)", R"({})"}) {
        refused(entry(", \"resource\": " + std::string(value)), 2,
                std::string("client \"a\": \"resource\"") +
                    (std::string(value) == "[]"
                         ? " must be a URI or a non-empty array of URIs"
                         : " must be an absolute URI without a fragment (RFC 8707 section 2)"));
    }
    refused(entry(R"(, "resource": "https://api.test/#frag")"), 2,
            "client \"a\": \"resource\" \"https://api.test/#frag\" must be an absolute URI "
            "without a fragment (RFC 8707 section 2)");
    refused(entry(R"(, "resource": ["https://a.test", "/relative"])"), 2,
            "client \"a\": \"resource\" #2 \"/relative\" must be an absolute URI without a "
            "fragment (RFC 8707 section 2)");
    refused(entry(R"(, "resource": "https://a.test/x y")"), 2,
            "client \"a\": \"resource\" \"https://a.test/x y\" must be an absolute URI "
            "without a fragment (RFC 8707 section 2)");
    refused(entry(R"(, "resource": "https://a.test/\n")"), 2,
            "client \"a\": \"resource\" \"https://a.test/\\x0a\" must be an absolute URI "
            "without a fragment (RFC 8707 section 2)");
}

void resource_is_limited_to_16_uris_and_1024_bytes(void **) {
    std::string uris;
    for (int i = 0; i < 17; ++i) {
        uris += std::string(i ? ", " : "") + "\"urn:r:" + std::to_string(i) + "\"";
    }
    refused(entry(", \"resource\": [" + uris + "]"), 2,
            "client \"a\": \"resource\" has more than 16 URIs");
    std::string long_uri = "https://a.test/" + std::string(1010, 'x');
    assert_int_equal(
        only_client(valid(entry(", \"resource\": \"" + long_uri.substr(0, 1024) + "\"")))
            .resources.size(),
        1024);
    refused(entry(", \"resource\": [\"" + long_uri.substr(0, 1010) + "\", \"urn:abcdefghijklm\"]"),
            2, "client \"a\": \"resource\" is longer than 1024 bytes without its duplicates");
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_file_with_every_field),
        cmocka_unit_test(find_compares_byte_for_byte),
        cmocka_unit_test(find_survives_many_clients),
        cmocka_unit_test(an_empty_registry_is_valid),
        cmocka_unit_test(scope_list_collapses_duplicates_in_first_seen_order),
        cmocka_unit_test(default_scope_sets_the_default_mask),
        cmocka_unit_test(an_empty_scope_grants_nothing),
        cmocka_unit_test(scope_is_limited_to_64_distinct_tokens),
        cmocka_unit_test(scope_list_is_limited_to_1024_bytes),
        cmocka_unit_test(json_syntax_errors_take_janssons_line_and_text),
        cmocka_unit_test(json_syntax_errors_never_quote_a_token),
        cmocka_unit_test(the_top_level_must_hold_a_clients_array),
        cmocka_unit_test(an_entry_must_be_an_object),
        cmocka_unit_test(unknown_keys_are_refused),
        cmocka_unit_test(client_id_is_required_printable_and_bounded),
        cmocka_unit_test(later_clients_are_counted_from_one),
        cmocka_unit_test(a_duplicate_client_id_is_refused_on_the_later_entry),
        cmocka_unit_test(entry_lines_skip_strings_and_nesting),
        cmocka_unit_test(exactly_one_secret_form_is_required),
        cmocka_unit_test(client_secret_hash_is_a_string_or_array_of_valid_hashes),
        cmocka_unit_test(client_secret_in_clear_is_a_printable_string),
        cmocka_unit_test(a_clear_secret_is_accepted_with_a_warning),
        cmocka_unit_test(a_refused_file_leaves_no_warning),
        cmocka_unit_test(scope_is_required_and_checked),
        cmocka_unit_test(default_scope_is_a_subset_of_scope),
        cmocka_unit_test(token_ttl_is_a_positive_integer_up_to_a_year),
        cmocka_unit_test(max_tokens_is_a_positive_integer),
        cmocka_unit_test(grant_types_decides_client_credentials),
        cmocka_unit_test(introspection_is_a_boolean),
        cmocka_unit_test(resource_is_a_uri_or_an_array_of_them),
        cmocka_unit_test(resource_is_limited_to_16_uris_and_1024_bytes),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
