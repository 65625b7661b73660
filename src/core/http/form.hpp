// application/x-www-form-urlencoded, as RFC 6749 Appendix B uses it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oauth {

// Decodes one name or value: '+' is a space, %XX a byte. Refuses a '%' not
// followed by two hex digits, and any raw byte outside %x21-7E (a conforming
// encoder never leaves a space, control or non-ASCII byte unencoded).
std::optional<std::string> form_decode(std::string_view encoded);

struct FormParameter {
    std::string name;
    std::string value;
};

enum class FormStatus { ok, bad_encoding, repeated_parameter };

class Form {
  public:
    // Splits on '&' (empty segments are skipped), then on the first '='.
    // RFC 6749 §3.1: a parameter may not appear more than once, but
    // `repeatable` (RFC 8707 §2 lets "resource" repeat).
    FormStatus parse(std::string_view body, std::string_view repeatable = {});

    // RFC 6749 §3.1: a parameter sent without a value is treated as omitted,
    // so this answers nullptr both for an absent and an empty parameter.
    const std::string *get(std::string_view name) const;

    // Every non-empty value of a parameter that may repeat, in order.
    std::vector<std::string_view> all(std::string_view name) const;

    // True when the parameter appears at all, even with an empty value.
    bool has(std::string_view name) const;

    const std::vector<FormParameter> &parameters() const { return parameters_; }

  private:
    std::vector<FormParameter> parameters_;
};

}  // namespace oauth
