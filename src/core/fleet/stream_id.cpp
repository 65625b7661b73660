#include "core/fleet/stream_id.hpp"

#include <charconv>

namespace oauth::fleet {

namespace {

// Decimal, no sign, no leading zero: what Redis writes.
bool parse_u64(std::string_view text, uint64_t &out) {
    if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) {
        return false;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string StreamId::text() const {
    return std::to_string(ms) + "-" + std::to_string(seq);
}

std::optional<StreamId> StreamId::parse(std::string_view text) noexcept {
    size_t dash = text.find('-');
    StreamId id;
    if (dash == std::string_view::npos || !parse_u64(text.substr(0, dash), id.ms) ||
        !parse_u64(text.substr(dash + 1), id.seq)) {
        return std::nullopt;
    }
    return id;
}

}  // namespace oauth::fleet
