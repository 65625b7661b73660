#include "unit.hpp"

#include "core/scope.hpp"

using namespace oauth;

namespace {

std::vector<std::string_view> split(std::string_view scope) {
    std::vector<std::string_view> tokens;
    assert_true(split_scope(scope, tokens));
    return tokens;
}

void refused(std::string_view scope) {
    std::vector<std::string_view> tokens{"left", "over"};
    assert_false(split_scope(scope, tokens));
    assert_true(tokens.empty());
}

// RFC 6749 §3.3: NQCHAR = %x21 / %x23-5B / %x5D-7E.
void scope_token_accepts_every_nqchar(void **) {
    for (int c = 0x21; c <= 0x7e; ++c) {
        if (c == '"' || c == '\\') {
            continue;
        }
        assert_true(is_scope_token(std::string(1, char(c))));
    }
    assert_true(is_scope_token("reports:read"));
    assert_true(is_scope_token("https://api.example.com/x?y=[1]"));
}

void scope_token_refuses_the_rest(void **) {
    assert_false(is_scope_token(""));
    assert_false(is_scope_token("a\"b"));
    assert_false(is_scope_token("a\\b"));
    assert_false(is_scope_token("a b"));
    assert_false(is_scope_token("a\tb"));
    assert_false(is_scope_token(std::string("a\0b", 3)));
    assert_false(is_scope_token("a\x7f"));
    assert_false(is_scope_token("caf\xc3\xa9"));
    assert_false(is_scope_token("\x1f"));
}

void split_scope_yields_tokens_in_order(void **) {
    auto tokens = split("reports:read metrics:read reports:read");
    assert_int_equal(tokens.size(), 3);
    assert_text(tokens[0], "reports:read");
    assert_text(tokens[1], "metrics:read");
    assert_text(tokens[2], "reports:read");
    assert_int_equal(split("one").size(), 1);
}

void split_scope_refuses_other_shapes(void **) {
    refused("");
    refused(" ");
    refused(" a");
    refused("a ");
    refused("a  b");
    refused("a\tb");
    refused("a\"b c");
    refused("a b\\c");
    refused("a\nb");
}

void scope_mask_sets_the_bit_of_each_listed_token(void **) {
    std::string_view list = "a b c";
    assert_int_equal(*scope_mask(list, split("a")), 1);
    assert_int_equal(*scope_mask(list, split("c a")), 5);
    assert_int_equal(*scope_mask(list, split("b b")), 2);
    assert_int_equal(*scope_mask(list, {}), 0);
}

void scope_mask_refuses_unlisted_tokens(void **) {
    assert_false(scope_mask("a b c", split("a d")).has_value());
    assert_false(scope_mask("a b c", split("ab")).has_value());
    assert_false(scope_mask("", split("a")).has_value());
}

void scope_mask_reaches_the_last_of_64_scopes(void **) {
    std::string list;
    for (int i = 0; i < 64; ++i) {
        list += (i ? " s" : "s") + std::to_string(i);
    }
    assert_true(*scope_mask(list, split("s63")) == uint64_t(1) << 63);
    assert_text(render_scope(list, uint64_t(1) << 63 | 1), "s0 s63");
}

void render_scope_joins_in_list_order(void **) {
    std::string_view list = "a b c";
    assert_text(render_scope(list, 5), "a c");
    assert_text(render_scope(list, 7), "a b c");
    assert_text(render_scope(list, 2), "b");
    assert_text(render_scope(list, 0), "");
    assert_text(render_scope(list, *scope_mask(list, split("c b"))), "b c");
}

void has_scope_matches_whole_tokens(void **) {
    assert_true(has_scope("reports:read metrics:read", "metrics:read"));
    assert_true(has_scope("reports:read metrics:read", "reports:read"));
    assert_false(has_scope("reports:read metrics:read", "reports"));
    assert_false(has_scope("reports:read metrics:read", "read metrics"));
    assert_false(has_scope("reports:read", "Reports:read"));
    assert_false(has_scope("", "a"));
    assert_false(has_scope("a", ""));
}

// keeps_every_scope is the shortcut of scopes_still_granted: true exactly
// when that would answer the token's scope unchanged.
void keeps_every_scope_agrees_with_scopes_still_granted(void **) {
    const char *list = "a b c";
    for (const char *scope :
         {"", "a", "c a", "a b c", "a a", "a d", "d", "a  b", " a", "a ", "b c b"}) {
        assert_int_equal(keeps_every_scope(scope, list),
                         scopes_still_granted(scope, list) == scope);
    }
    assert_true(keeps_every_scope("c a", list));
    assert_false(keeps_every_scope("a a", list));
    assert_false(keeps_every_scope("a ", list));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scope_token_accepts_every_nqchar),
        cmocka_unit_test(scope_token_refuses_the_rest),
        cmocka_unit_test(split_scope_yields_tokens_in_order),
        cmocka_unit_test(split_scope_refuses_other_shapes),
        cmocka_unit_test(scope_mask_sets_the_bit_of_each_listed_token),
        cmocka_unit_test(scope_mask_refuses_unlisted_tokens),
        cmocka_unit_test(scope_mask_reaches_the_last_of_64_scopes),
        cmocka_unit_test(render_scope_joins_in_list_order),
        cmocka_unit_test(has_scope_matches_whole_tokens),
        cmocka_unit_test(keeps_every_scope_agrees_with_scopes_still_granted),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
