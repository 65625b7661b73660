#include "unit.hpp"

#include "core/http/base64.hpp"

using namespace oauth;

namespace {

void assert_decodes(std::string_view text, std::string_view bytes) {
    auto decoded = decode_base64(text);
    assert_true(decoded.has_value());
    assert_int_equal(decoded->size(), bytes.size());
    assert_memory_equal(decoded->data(), bytes.data(), bytes.size());
}

void assert_refused(std::string_view text) {
    assert_false(decode_base64(text).has_value());
}

// RFC 4648 §10, with the padding left out.
void encode_base64_rfc4648_vectors(void **) {
    assert_text(encode_base64(""), "");
    assert_text(encode_base64("f"), "Zg");
    assert_text(encode_base64("fo"), "Zm8");
    assert_text(encode_base64("foo"), "Zm9v");
    assert_text(encode_base64("foob"), "Zm9vYg");
    assert_text(encode_base64("fooba"), "Zm9vYmE");
    assert_text(encode_base64("foobar"), "Zm9vYmFy");
}

void encode_base64_uses_plus_and_slash(void **) {
    assert_text(encode_base64("\xfb\xff\xbf"), "+/+/");
    assert_text(encode_base64(std::string("\0\0\0", 3)), "AAAA");
}

void encode_base64url_uses_minus_and_underscore(void **) {
    assert_text(encode_base64url("\xfb\xff\xbf"), "-_-_");
    assert_text(encode_base64url("foobar"), "Zm9vYmFy");
    assert_text(encode_base64url("fo"), "Zm8");
}

void decode_rfc4648_vectors_padded(void **) {
    assert_decodes("", "");
    assert_decodes("Zg==", "f");
    assert_decodes("Zm8=", "fo");
    assert_decodes("Zm9v", "foo");
    assert_decodes("Zm9vYg==", "foob");
    assert_decodes("Zm9vYmE=", "fooba");
    assert_decodes("Zm9vYmFy", "foobar");
}

void decode_rfc4648_vectors_unpadded(void **) {
    assert_decodes("Zg", "f");
    assert_decodes("Zm8", "fo");
    assert_decodes("Zm9vYg", "foob");
    assert_decodes("Zm9vYmE", "fooba");
}

void decode_binary_bytes(void **) {
    assert_decodes("+/+/", "\xfb\xff\xbf");
    assert_decodes("AAAA", std::string_view("\0\0\0", 3));
    assert_decodes("AA", std::string_view("\0", 1));
}

void decode_round_trips_every_byte_and_length(void **) {
    std::string bytes;
    for (int i = 0; i < 256; ++i) {
        bytes += char(i);
        auto decoded = decode_base64(encode_base64(bytes));
        assert_true(decoded.has_value());
        assert_true(*decoded == bytes);
    }
}

void decode_refuses_wrong_padding(void **) {
    assert_refused("Zg=");    // one '=' short
    assert_refused("Zg===");  // one too many
    assert_refused("Zm8==");  // one too many
    assert_refused("Zm9v=");  // padding after a whole quantum
    assert_refused("Zm9v====");
    assert_refused("Z===");
    assert_refused("====");
    assert_refused("==");
    assert_refused("=");
    assert_refused("Zm=v");      // '=' inside the last quantum
    assert_refused("Zg==Zm9v");  // padding in the middle
    assert_refused("Zm8=Zm8=");
}

void decode_refuses_length_4n_plus_1(void **) {
    assert_refused("Z");
    assert_refused("Zm9vY");
    assert_refused("Zm9vYmFyZ");
}

void decode_refuses_bytes_outside_alphabet(void **) {
    assert_refused("Zm9v-_");  // base64url is not accepted here
    assert_refused("Zm9 v");
    assert_refused(" Zm9v");
    assert_refused("Zm9v\n");
    assert_refused("Zm9v\r\nYmFy");
    assert_refused("Zm.v");
    assert_refused("Zm9\x80");
    assert_refused(std::string_view("Zm9\0", 4));
}

// RFC 4648 §3.5: "Zh" would also decode to "f" if the spare bits were ignored.
void decode_refuses_nonzero_spare_bits(void **) {
    assert_refused("Zh");
    assert_refused("Zh==");
    assert_refused("Zm9");
    assert_refused("Zm9=");
    assert_decodes("Zm8", "fo");
}

}  // namespace

void decode_base64url_round_trips_and_refuses_padding_and_plus(void **) {
    std::string bytes;
    for (int i = 0; i < 256; ++i) {
        bytes.push_back(char(i));
        std::optional<std::string> back = decode_base64url(encode_base64url(bytes));
        assert_true(back && *back == bytes);
    }
    assert_false(decode_base64url("Zg==").has_value());
    assert_false(decode_base64url("+/8").has_value());
    assert_false(decode_base64url("Zh").has_value());  // spare bits set
    assert_true(decode_base64url("-_8") == std::string("\xfb\xff", 2));
}

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_base64_rfc4648_vectors),
        cmocka_unit_test(encode_base64_uses_plus_and_slash),
        cmocka_unit_test(encode_base64url_uses_minus_and_underscore),
        cmocka_unit_test(decode_rfc4648_vectors_padded),
        cmocka_unit_test(decode_rfc4648_vectors_unpadded),
        cmocka_unit_test(decode_binary_bytes),
        cmocka_unit_test(decode_round_trips_every_byte_and_length),
        cmocka_unit_test(decode_refuses_wrong_padding),
        cmocka_unit_test(decode_refuses_length_4n_plus_1),
        cmocka_unit_test(decode_refuses_bytes_outside_alphabet),
        cmocka_unit_test(decode_refuses_nonzero_spare_bits),
        cmocka_unit_test(decode_base64url_round_trips_and_refuses_padding_and_plus),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
