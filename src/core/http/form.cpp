#include "core/http/form.hpp"

#include <algorithm>
#include <numeric>

namespace oauth {

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool is_visible_ascii(unsigned char c) {
    return c >= 0x21 && c <= 0x7e;
}

std::optional<FormParameter> decode_parameter(std::string_view segment) {
    size_t equals = segment.find('=');
    std::string_view value =
        equals == std::string_view::npos ? std::string_view() : segment.substr(equals + 1);
    auto name = form_decode(segment.substr(0, equals));
    if (!name) {
        return std::nullopt;
    }
    auto decoded_value = form_decode(value);
    if (!decoded_value) {
        return std::nullopt;
    }
    return FormParameter{std::move(*name), std::move(*decoded_value)};
}

bool has_repeated_name(const std::vector<FormParameter> &parameters, std::string_view repeatable) {
    if (parameters.size() < 2) {
        return false;
    }
    // Sorting indices keeps the check O(n log n) without copying the strings.
    std::vector<size_t> order(parameters.size());
    std::iota(order.begin(), order.end(), size_t(0));
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return parameters[a].name < parameters[b].name; });
    return std::adjacent_find(order.begin(), order.end(), [&](size_t a, size_t b) {
               return parameters[a].name == parameters[b].name &&
                      (repeatable.empty() || parameters[a].name != repeatable);
           }) != order.end();
}

}  // namespace

// Decoded into a string as long as the input, then cut: never longer, and
// appending character by character cost as much again.
std::optional<std::string> form_decode(std::string_view encoded) {
    std::string out(encoded.size(), '\0');
    size_t length = 0;
    for (size_t i = 0; i < encoded.size(); ++i) {
        char c = encoded[i];
        if (c == '+') {
            out[length++] = ' ';
        } else if (c == '%') {
            if (encoded.size() - i < 3) {
                return std::nullopt;
            }
            int high = hex_value(encoded[i + 1]);
            int low = hex_value(encoded[i + 2]);
            if (high < 0 || low < 0) {
                return std::nullopt;
            }
            out[length++] = char(high << 4 | low);
            i += 2;
        } else if (is_visible_ascii(c)) {
            out[length++] = c;
        } else {
            return std::nullopt;
        }
    }
    out.resize(length);
    return out;
}

FormStatus Form::parse(std::string_view body, std::string_view repeatable) {
    parameters_.clear();
    parameters_.reserve(std::count(body.begin(), body.end(), '&') + 1);
    while (!body.empty()) {
        size_t amp = body.find('&');
        std::string_view segment = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
        if (segment.empty()) {
            continue;
        }
        auto parameter = decode_parameter(segment);
        if (!parameter) {
            parameters_.clear();
            return FormStatus::bad_encoding;
        }
        parameters_.push_back(std::move(*parameter));
    }
    if (has_repeated_name(parameters_, repeatable)) {
        parameters_.clear();
        return FormStatus::repeated_parameter;
    }
    return FormStatus::ok;
}

const std::string *Form::get(std::string_view name) const {
    for (const auto &parameter : parameters_) {
        if (parameter.name == name) {
            return parameter.value.empty() ? nullptr : &parameter.value;
        }
    }
    return nullptr;
}

std::vector<std::string_view> Form::all(std::string_view name) const {
    std::vector<std::string_view> values;
    for (const auto &parameter : parameters_) {
        if (parameter.name == name && !parameter.value.empty()) {
            values.push_back(parameter.value);
        }
    }
    return values;
}

bool Form::has(std::string_view name) const {
    return std::any_of(parameters_.begin(), parameters_.end(),
                       [&](const FormParameter &parameter) { return parameter.name == name; });
}

}  // namespace oauth
