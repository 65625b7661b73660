#include "core/jose/jwks_refresh.hpp"

#include <jansson.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace oauth::jose {

bool take_fetch(FetchRecord &record, uint32_t self, uint32_t now, bool holder_alive) noexcept {
    bool lease_running = record.lease_holder != 0 && now < record.lease_until &&
                         (record.lease_holder == self || holder_alive);
    if (lease_running || now < record.next_fetch_at) {
        return false;
    }
    record.lease_holder = self;
    record.lease_until = now + kFetchLease;
    return true;
}

void fetch_succeeded(FetchRecord &record, uint32_t now, uint32_t refresh,
                     std::optional<uint32_t> max_age, bool changed) noexcept {
    record.version += changed ? 1 : 0;
    record.fetched_at = now;
    record.next_fetch_at = now + refresh_delay(refresh, max_age);
    record.failures = 0;
    record.lease_holder = 0;
}

bool fetch_failed(FetchRecord &record, uint32_t now, uint32_t refresh) noexcept {
    ++record.failures;
    record.next_fetch_at = now + retry_delay(record.failures, refresh);
    record.lease_holder = 0;
    return record.failures == 1;
}

bool demand_fetch(FetchRecord &record, uint32_t now) noexcept {
    if (record.next_fetch_at <= now) {
        return true;  // due already (the first, or one under way): nothing to bring forward
    }
    if (record.demanded_at != 0 && now - record.demanded_at < kDemandInterval) {
        return false;
    }
    record.demanded_at = now;
    record.next_fetch_at = std::min(record.next_fetch_at, now);
    return true;
}

uint32_t retry_delay(uint32_t failures, uint32_t refresh) noexcept {
    uint32_t doublings = std::min(failures == 0 ? 0u : failures - 1, 16u);
    uint64_t delay = uint64_t(kFirstRetry) << doublings;
    return uint32_t(std::min<uint64_t>({delay, kLongestRetry, std::max(refresh, kFirstRetry)}));
}

uint32_t refresh_delay(uint32_t refresh, std::optional<uint32_t> max_age) noexcept {
    uint32_t delay = max_age ? std::min(refresh, *max_age) : refresh;
    return std::max(delay, kShortestRefresh);
}

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

bool equals_lowercase(std::string_view s, std::string_view lower) {
    return s.size() == lower.size() &&
           std::equal(s.begin(), s.end(), lower.begin(),
                      [](char a, char b) { return std::tolower((unsigned char)a) == b; });
}

// delta-seconds (RFC 9111 §1.2.2): digits, saturating.
std::optional<uint32_t> delta_seconds(std::string_view s) {
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
        s = s.substr(1, s.size() - 2);
    }
    if (s.empty()) {
        return std::nullopt;
    }
    uint64_t value = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = std::min<uint64_t>(value * 10 + uint64_t(c - '0'), UINT32_MAX);
    }
    return uint32_t(value);
}

// scheme "://" host [":" port]: where a path starts, or npos.
size_t path_start(std::string_view url) {
    size_t authority = url.find("://");
    return authority == std::string_view::npos ? authority : url.find('/', authority + 3);
}

bool is_web_url(std::string_view url) {
    return (url.substr(0, 8) == "https://" && url.size() > 8) ||
           (url.substr(0, 7) == "http://" && url.size() > 7);
}

}  // namespace

std::optional<uint32_t> max_age(std::string_view cache_control) noexcept {
    std::optional<uint32_t> found;
    while (!cache_control.empty()) {
        size_t comma = cache_control.find(',');
        std::string_view directive = trim(cache_control.substr(0, comma));
        cache_control = comma == std::string_view::npos ? "" : cache_control.substr(comma + 1);
        size_t equals = directive.find('=');
        std::string_view name = trim(directive.substr(0, equals));
        if (equals_lowercase(name, "no-store") || equals_lowercase(name, "no-cache")) {
            return std::nullopt;
        }
        if (equals_lowercase(name, "max-age") && equals != std::string_view::npos) {
            found = delta_seconds(trim(directive.substr(equals + 1)));
            if (!found) {
                return std::nullopt;
            }
        }
    }
    return found;
}

std::string openid_configuration_url(std::string_view issuer) {
    std::string url(issuer);
    if (!url.empty() && url.back() == '/') {
        url.pop_back();
    }
    return url + "/.well-known/openid-configuration";
}

std::string oauth_metadata_url(std::string_view issuer) {
    size_t path = path_start(issuer);
    std::string_view origin = issuer.substr(0, path);
    std::string_view rest = path == std::string_view::npos ? "" : issuer.substr(path);
    if (rest == "/") {
        rest = "";
    }
    return std::string(origin) + "/.well-known/oauth-authorization-server" + std::string(rest);
}

bool read_discovery(std::string_view json, std::string_view issuer, std::string &jwks_uri,
                    std::string &error) {
    std::unique_ptr<json_t, void (*)(json_t *)> doc(
        json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, nullptr), json_decref);
    if (!doc || !json_is_object(doc.get())) {
        error = "the discovery document is not a JSON object";
        return false;
    }
    json_t *named = json_object_get(doc.get(), "issuer");
    if (!json_is_string(named) ||
        std::string_view(json_string_value(named), json_string_length(named)) != issuer) {
        error = "the discovery document's issuer is not the trusted issuer";
        return false;
    }
    json_t *uri = json_object_get(doc.get(), "jwks_uri");
    if (!json_is_string(uri) ||
        !is_web_url(std::string_view(json_string_value(uri), json_string_length(uri)))) {
        error = "the discovery document has no http(s) jwks_uri";
        return false;
    }
    jwks_uri.assign(json_string_value(uri), json_string_length(uri));
    if (issuer.substr(0, 8) == "https://" && jwks_uri.substr(0, 8) != "https://") {
        error = "the discovery document's jwks_uri is not https";
        return false;
    }
    return true;
}

}  // namespace oauth::jose
