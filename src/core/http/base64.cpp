#include "core/http/base64.hpp"

#include <array>
#include <cstdint>

namespace oauth {

namespace {

constexpr char kStandardAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr uint8_t kNotInAlphabet = 0xff;

constexpr std::array<uint8_t, 256> make_decode_table(const char *alphabet) {
    std::array<uint8_t, 256> table{};
    for (auto &entry : table) {
        entry = kNotInAlphabet;
    }
    for (uint8_t i = 0; i < 64; ++i) {
        table[static_cast<unsigned char>(alphabet[i])] = i;
    }
    return table;
}

constexpr std::array<uint8_t, 256> kStandardDecode = make_decode_table(kStandardAlphabet);
constexpr std::array<uint8_t, 256> kUrlDecode = make_decode_table(kUrlAlphabet);

// Written into a string of the final size: appending character by character
// cost as much again.
std::string encode(std::string_view bytes, const char *alphabet) {
    size_t rest = bytes.size() % 3;
    std::string out(bytes.size() / 3 * 4 + (rest == 0 ? 0 : rest + 1), '\0');
    const auto *in = reinterpret_cast<const unsigned char *>(bytes.data());
    char *at = out.data();
    size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        uint32_t group = uint32_t(in[i]) << 16 | uint32_t(in[i + 1]) << 8 | in[i + 2];
        *at++ = alphabet[group >> 18];
        *at++ = alphabet[(group >> 12) & 0x3f];
        *at++ = alphabet[(group >> 6) & 0x3f];
        *at++ = alphabet[group & 0x3f];
    }
    if (rest == 0) {
        return out;
    }
    uint32_t group = uint32_t(in[i]) << 16;
    if (rest == 2) {
        group |= uint32_t(in[i + 1]) << 8;
    }
    *at++ = alphabet[group >> 18];
    *at++ = alphabet[(group >> 12) & 0x3f];
    if (rest == 2) {
        *at++ = alphabet[(group >> 6) & 0x3f];
    }
    return out;
}

// A padded text must be a whole number of quanta with exactly the '=' its
// final quantum needs (RFC 4648 §4); '=' anywhere else is left in `text` and
// refused later as a byte outside the alphabet.
std::string_view strip_padding(std::string_view text) {
    if (text.empty() || text.size() % 4 != 0) {
        return text;
    }
    size_t pad = 0;
    while (pad < 2 && text[text.size() - 1 - pad] == '=') {
        ++pad;
    }
    return text.substr(0, text.size() - pad);
}

// Written into a string of the final size, a quantum at a time, as encode.
std::optional<std::string> decode(std::string_view data, const std::array<uint8_t, 256> &table) {
    size_t rest = data.size() % 4;
    if (rest == 1) {
        return std::nullopt;
    }
    std::string out(data.size() / 4 * 3 + (rest == 0 ? 0 : rest - 1), '\0');
    const auto *in = reinterpret_cast<const unsigned char *>(data.data());
    char *at = out.data();
    size_t i = 0;
    for (; i + 4 <= data.size(); i += 4) {
        uint32_t a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]], d = table[in[i + 3]];
        if ((a | b | c | d) > 63) {  // kNotInAlphabet among them
            return std::nullopt;
        }
        uint32_t group = a << 18 | b << 12 | c << 6 | d;
        *at++ = char(group >> 16);
        *at++ = char(group >> 8);
        *at++ = char(group);
    }
    uint32_t group = 0;
    for (; i < data.size(); ++i) {
        uint8_t sextet = table[in[i]];
        if (sextet == kNotInAlphabet) {
            return std::nullopt;
        }
        group = group << 6 | sextet;
    }
    // RFC 4648 §3.5: the bits left over in a partial quantum must be zero, so
    // that each byte string has exactly one accepted encoding.
    if (rest == 2) {
        if (group & 0x0f) {
            return std::nullopt;
        }
        *at++ = char(group >> 4);
    } else if (rest == 3) {
        if (group & 0x03) {
            return std::nullopt;
        }
        *at++ = char(group >> 10);
        *at++ = char(group >> 2);
    }
    return out;
}

}  // namespace

std::string encode_base64(std::string_view bytes) {
    return encode(bytes, kStandardAlphabet);
}

std::string encode_base64url(std::string_view bytes) {
    return encode(bytes, kUrlAlphabet);
}

std::optional<std::string> decode_base64(std::string_view text) {
    return decode(strip_padding(text), kStandardDecode);
}

std::optional<std::string> decode_base64url(std::string_view text) {
    return decode(text, kUrlDecode);
}

}  // namespace oauth
