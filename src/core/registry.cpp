#include "core/registry.hpp"

#include <jansson.h>

#include <algorithm>
#include <optional>

#include "core/jose/key.hpp"
#include "core/resource.hpp"
#include "core/scope.hpp"
#include "core/http/base64.hpp"
#include "core/http/text.hpp"

namespace oauth {

namespace {

struct JsonDeleter {
    void operator()(json_t *json) const { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

constexpr uint32_t kMaxTokenTtl = 31536000;      // one year
constexpr json_int_t kMaxMaxTokens = 100000000;  // more than any zone holds

constexpr std::string_view kEntryKeys[] = {
    "client_id",
    "client_secret_hash",
    "client_secret",
    "scope",
    "default_scope",
    "token_ttl",
    "grant_types",
    "introspection",
    "max_tokens",
    "resource",
    "token_endpoint_auth_method",
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_uri",
    "tls_client_auth_san_ip",
    "tls_client_auth_san_email",
    "jwks",
    "jwks_file",
    "tls_client_certificate_bound_access_tokens",
    "dpop_bound_access_tokens",
};

constexpr CertificateIdentity::Kind kIdentityKinds[] = {
    CertificateIdentity::Kind::subject_dn, CertificateIdentity::Kind::san_dns,
    CertificateIdentity::Kind::san_uri,    CertificateIdentity::Kind::san_ip,
    CertificateIdentity::Kind::san_email,
};

constexpr std::pair<std::string_view, AuthMethod> kAuthMethods[] = {
    {"client_secret_basic", AuthMethod::client_secret_basic},
    {"client_secret_post", AuthMethod::client_secret_post},
    {"private_key_jwt", AuthMethod::private_key_jwt},
    {"tls_client_auth", AuthMethod::tls_client_auth},
    {"self_signed_tls_client_auth", AuthMethod::self_signed_tls_client_auth},
};

constexpr const char *kScopeGrammar =
    "must be scope tokens (printable ASCII but '\"' and '\\') separated by single spaces "
    "(RFC 6749 section 3.3)";

// What is wrong with an entry, to follow the client's name in the message.
using Problem = std::optional<std::string>;

// Finds the line where each element of the top-level "clients" array starts, so
// that an error in an entry points at it. Runs only on text jansson accepted.
class ClientLines {
  public:
    explicit ClientLines(std::string_view json) : json_(json) {}

    std::vector<unsigned> scan() {
        if (!skip_if('{')) {
            return {};
        }
        while (next_is('"')) {
            bool is_clients = skip_string() == "clients";
            skip_if(':');
            if (is_clients && skip_if('[')) {
                return element_lines();
            }
            skip_value();
            skip_if(',');
        }
        return {};
    }

  private:
    std::vector<unsigned> element_lines() {
        std::vector<unsigned> lines;
        while (!next_is(']') && pos_ < json_.size()) {
            lines.push_back(line_);
            skip_value();
            skip_if(',');
        }
        return lines;
    }

    // Skips white space, then tells whether `c` comes next.
    bool next_is(char c) {
        skip_space();
        return pos_ < json_.size() && json_[pos_] == c;
    }

    bool skip_if(char c) {
        if (!next_is(c)) {
            return false;
        }
        ++pos_;
        return true;
    }

    void skip_space() {
        while (pos_ < json_.size() && (json_[pos_] == ' ' || json_[pos_] == '\t' ||
                                       json_[pos_] == '\r' || json_[pos_] == '\n')) {
            line_ += json_[pos_++] == '\n';
        }
    }

    // From the opening quote to past the closing one; returns the raw contents.
    std::string_view skip_string() {
        size_t start = ++pos_;
        while (pos_ < json_.size() && json_[pos_] != '"') {
            pos_ += json_[pos_] == '\\' ? 2 : 1;
        }
        std::string_view contents = json_.substr(start, std::min(pos_, json_.size()) - start);
        ++pos_;
        return contents;
    }

    // Always moves on, so that no input can stall the scan.
    void skip_scalar() {
        do {
            ++pos_;
        } while (pos_ < json_.size() &&
                 std::string_view(",]} \t\r\n").find(json_[pos_]) == std::string_view::npos);
    }

    void skip_value() {
        skip_space();
        if (pos_ >= json_.size()) {
            return;
        }
        if (json_[pos_] == '"') {
            skip_string();
            return;
        }
        if (json_[pos_] != '{' && json_[pos_] != '[') {
            skip_scalar();
            return;
        }
        size_t depth = 0;
        do {
            char c = json_[pos_];
            if (c == '"') {
                skip_string();
                continue;
            }
            depth += c == '{' || c == '[';
            depth -= c == '}' || c == ']';
            line_ += c == '\n';
            ++pos_;
        } while (pos_ < json_.size() && depth > 0);
    }

    std::string_view json_;
    size_t pos_ = 0;
    unsigned line_ = 1;
};

// jansson quotes the token it stopped at, which may be part of a secret (a
// value whose opening quote is missing, a bad escape in a string; SPEC: secrets
// never reach the log); only a duplicate key keeps its quote.
std::string syntax_error_message(const json_error_t &error) {
    std::string_view text = error.text;
    size_t near = text.find(" near ");
    if (near == std::string_view::npos || text.rfind("duplicate object key", 0) == 0) {
        return std::string(text);
    }
    return std::string(text.substr(0, near)) + " at column " + std::to_string(error.column);
}

std::optional<std::string_view> string_value(const json_t *value) {
    if (!json_is_string(value)) {
        return std::nullopt;
    }
    return std::string_view(json_string_value(value), json_string_length(value));
}

// Bytes outside VSCHAR as \xNN, so that an unknown key cannot garble the log.
std::string printable(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        if (is_vschar_string({&c, 1})) {
            out += c;
        } else {
            out += "\\x";
            out += kHex[static_cast<unsigned char>(c) >> 4];
            out += kHex[c & 0x0f];
        }
    }
    return out;
}

Problem check_client_id(const json_t *value) {
    if (!value) {
        return "\"client_id\" is missing";
    }
    auto id = string_value(value);
    if (!id || id->empty()) {
        return "\"client_id\" must be a non-empty string";
    }
    if (!is_vschar_string(*id)) {
        return "\"client_id\" must be printable ASCII (RFC 6749 Appendix A, VSCHAR)";
    }
    if (id->size() > kMaxClientIdLength) {
        return "\"client_id\" is longer than " + std::to_string(kMaxClientIdLength) + " bytes";
    }
    return std::nullopt;
}

// `client "reporting"`, or `client #3` (1-based) while it has no valid id.
std::string client_name(const json_t *entry, size_t index) {
    const json_t *id = json_object_get(entry, "client_id");
    if (check_client_id(id)) {
        return "client #" + std::to_string(index + 1);
    }
    return "client \"" + std::string(*string_value(id)) + "\"";
}

Problem check_keys(const json_t *entry) {
    const char *key;
    const json_t *value;
    json_object_foreach(const_cast<json_t *>(entry), key, value) {
        std::string_view name(key);
        if (std::find(std::begin(kEntryKeys), std::end(kEntryKeys), name) == std::end(kEntryKeys)) {
            return "unknown key \"" + printable(name) + "\"";
        }
    }
    return std::nullopt;
}

Problem read_client_id(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "client_id");
    if (Problem problem = check_client_id(value)) {
        return problem;
    }
    client.id = std::string(*string_value(value));
    return std::nullopt;
}

Problem read_hash(const json_t *value, const std::string &field, std::vector<SecretHash> &hashes) {
    auto phc = string_value(value);
    if (!phc) {
        return field + " must be a string";
    }
    std::string error;
    auto hash = SecretHash::parse(*phc, error);
    if (!hash) {
        return field + ": " + error;
    }
    hashes.push_back(std::move(*hash));
    return std::nullopt;
}

Problem read_secret_hashes(const json_t *value, std::vector<SecretHash> &hashes) {
    if (!json_is_array(value)) {
        return read_hash(value, "\"client_secret_hash\"", hashes);
    }
    if (json_array_size(value) == 0) {
        return "\"client_secret_hash\" must be a string or a non-empty array of strings";
    }
    for (size_t i = 0; i < json_array_size(value); ++i) {
        std::string field = "\"client_secret_hash\" #" + std::to_string(i + 1);
        if (Problem problem = read_hash(json_array_get(value, i), field, hashes)) {
            return problem;
        }
    }
    return std::nullopt;
}

Problem read_clear_secret(const json_t *value, std::vector<SecretHash> &hashes) {
    auto secret = string_value(value);
    if (!secret || secret->empty()) {
        return "\"client_secret\" must be a non-empty string";
    }
    if (!is_vschar_string(*secret)) {
        return "\"client_secret\" must be printable ASCII (RFC 6749 Appendix A, VSCHAR)";
    }
    hashes.push_back(SecretHash::clear(*secret));
    return std::nullopt;
}

Problem read_secret(const json_t *entry, Client &client) {
    const json_t *hash = json_object_get(entry, "client_secret_hash");
    const json_t *clear = json_object_get(entry, "client_secret");
    if (!client.uses_secret()) {
        // A client of keys or certificates cannot fall back to a secret: it
        // would be one more way in (SPEC).
        if (hash || clear) {
            return "a " + std::string(auth_method_name(*client.auth_method)) +
                   " client has no secret: remove \"" +
                   (hash ? "client_secret_hash" : "client_secret") + "\"";
        }
        return std::nullopt;
    }
    if (hash && clear) {
        return "give \"client_secret_hash\" or \"client_secret\", not both";
    }
    if (!hash && !clear) {
        return "\"client_secret_hash\" is missing";
    }
    std::vector<SecretHash> hashes;
    if (Problem problem =
            hash ? read_secret_hashes(hash, hashes) : read_clear_secret(clear, hashes)) {
        return problem;
    }
    client.secret = SecretVerifier(std::move(hashes));
    return std::nullopt;
}

Problem split_scope_field(const json_t *value, const char *field,
                          std::vector<std::string_view> &tokens) {
    auto scope = string_value(value);
    if (!scope) {
        return "\"" + std::string(field) + "\" must be a string";
    }
    if (!split_scope(*scope, tokens)) {
        return "\"" + std::string(field) + "\" " + kScopeGrammar;
    }
    return std::nullopt;
}

// The scope list: duplicates collapse, the first occurrence keeps its place.
Problem read_scope(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "scope");
    if (!value) {
        return "\"scope\" is missing";
    }
    if (json_is_string(value) && json_string_length(value) == 0) {
        return std::nullopt;
    }
    std::vector<std::string_view> tokens;
    if (Problem problem = split_scope_field(value, "scope", tokens)) {
        return problem;
    }
    std::vector<std::string_view> unique;
    for (std::string_view token : tokens) {
        if (std::find(unique.begin(), unique.end(), token) != unique.end()) {
            continue;
        }
        if (unique.size() == kMaxScopes) {
            return "\"scope\" has more than " + std::to_string(kMaxScopes) + " scopes";
        }
        unique.push_back(token);
        client.scope += client.scope.empty() ? "" : " ";
        client.scope += token;
    }
    if (client.scope.size() > kMaxScopeListLength) {
        return "\"scope\" is longer than " + std::to_string(kMaxScopeListLength) +
               " bytes without its duplicates";
    }
    return std::nullopt;
}

// Without "default_scope", a request naming no scope gets every scope of the client.
Problem read_default_scope(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "default_scope");
    std::vector<std::string_view> tokens;
    if (!value) {
        split_scope(client.scope, tokens);  // no token when the scope list is empty
    } else if (Problem problem = split_scope_field(value, "default_scope", tokens)) {
        return problem;
    }
    for (std::string_view token : tokens) {
        if (!has_scope(client.scope, token)) {
            return "\"default_scope\" has \"" + std::string(token) +
                   "\", which is not in \"scope\"";
        }
    }
    client.default_mask = *scope_mask(client.scope, tokens);
    return std::nullopt;
}

Problem read_resource(const json_t *value, const std::string &field, Client &client) {
    auto uri = string_value(value);
    if (!uri || !is_resource_uri(*uri)) {
        return field + (uri ? " \"" + printable(*uri) + "\"" : std::string()) +
               " must be an absolute URI without a fragment (RFC 8707 section 2)";
    }
    if (has_scope(client.resources, *uri)) {
        return std::nullopt;  // duplicates collapse, as in "scope"
    }
    if (client.resources.size() + !client.resources.empty() + uri->size() >
        kMaxResourceListLength) {
        return "\"resource\" is longer than " + std::to_string(kMaxResourceListLength) +
               " bytes without its duplicates";
    }
    client.resources += client.resources.empty() ? "" : " ";
    client.resources += *uri;
    return std::nullopt;
}

// "resource": a URI or an array of them; the first is the default audience.
Problem read_resources(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "resource");
    if (!value) {
        return std::nullopt;
    }
    if (!json_is_array(value)) {
        return read_resource(value, "\"resource\"", client);
    }
    if (json_array_size(value) == 0) {
        return "\"resource\" must be a URI or a non-empty array of URIs";
    }
    for (size_t i = 0; i < json_array_size(value); ++i) {
        if (Problem problem = read_resource(json_array_get(value, i),
                                            "\"resource\" #" + std::to_string(i + 1), client)) {
            return problem;
        }
    }
    size_t count = 1 + std::count(client.resources.begin(), client.resources.end(), ' ');
    if (count > kMaxResources) {
        return "\"resource\" has more than " + std::to_string(kMaxResources) + " URIs";
    }
    return std::nullopt;
}

Problem read_token_ttl(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "token_ttl");
    if (!value) {
        return std::nullopt;
    }
    json_int_t ttl = json_is_integer(value) ? json_integer_value(value) : 0;
    if (ttl < 1 || ttl > kMaxTokenTtl) {
        return "\"token_ttl\" must be an integer from 1 to " + std::to_string(kMaxTokenTtl) +
               " (seconds)";
    }
    client.token_ttl = uint32_t(ttl);
    return std::nullopt;
}

Problem read_max_tokens(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "max_tokens");
    if (!value) {
        return std::nullopt;
    }
    json_int_t max = json_is_integer(value) ? json_integer_value(value) : 0;
    if (max < 1 || max > kMaxMaxTokens) {
        return "\"max_tokens\" must be an integer from 1 to " + std::to_string(kMaxMaxTokens);
    }
    client.max_tokens = uint32_t(max);
    return std::nullopt;
}

Problem read_grant_types(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "grant_types");
    if (!value) {
        return std::nullopt;
    }
    constexpr const char *kShape = "\"grant_types\" must be a non-empty array of strings";
    if (!json_is_array(value) || json_array_size(value) == 0) {
        return kShape;
    }
    client.client_credentials = false;
    for (size_t i = 0; i < json_array_size(value); ++i) {
        auto grant_type = string_value(json_array_get(value, i));
        if (!grant_type) {
            return kShape;
        }
        client.client_credentials |= *grant_type == "client_credentials";
    }
    return std::nullopt;
}

Problem read_introspection(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "introspection");
    if (!value) {
        return std::nullopt;
    }
    if (!json_is_boolean(value)) {
        return "\"introspection\" must be true or false";
    }
    client.introspection = json_is_true(value);
    return std::nullopt;
}

// RFC 8705 §2.1.2: exactly one subject value for tls_client_auth, none else.
Problem read_tls_identity(const json_t *entry, Client &client) {
    bool tls = client.auth_method == AuthMethod::tls_client_auth;
    size_t given = 0;
    for (CertificateIdentity::Kind kind : kIdentityKinds) {
        std::string field(identity_field(kind));
        const json_t *value = json_object_get(entry, field.c_str());
        if (!value) {
            continue;
        }
        if (!tls) {
            return "\"" + field +
                   "\" is read only with \"token_endpoint_auth_method\" "
                   "tls_client_auth";
        }
        if (!json_is_string(value)) {
            return "\"" + field + "\" must be a string";
        }
        client.tls_identity = {kind, std::string(*string_value(value))};
        if (Problem problem = check_identity(client.tls_identity)) {
            return problem;
        }
        ++given;
    }
    if (tls && given != 1) {
        return "tls_client_auth takes exactly one of \"tls_client_auth_subject_dn\", "
               "\"tls_client_auth_san_dns\", \"tls_client_auth_san_uri\", "
               "\"tls_client_auth_san_ip\", \"tls_client_auth_san_email\" (RFC 8705 section "
               "2.1.2)";
    }
    return std::nullopt;
}

// The first certificate of a JWK's x5c (RFC 7517 §4.7: the key's own), or
// nullopt when the JWK has none; a problem when it has a bad one.
Problem read_x5c(const json_t *jwk, size_t index, Client &client) {
    const json_t *x5c = json_object_get(jwk, "x5c");
    if (!x5c) {
        return std::nullopt;
    }
    std::string field = "\"jwks\" key #" + std::to_string(index + 1) + " \"x5c\"";
    auto first = string_value(json_array_get(x5c, 0));
    if (!json_is_array(x5c) || !first) {
        return field + " must be a non-empty array of base64 certificates";
    }
    std::optional<std::string> der = decode_base64(*first);
    if (!der || !is_certificate(*der)) {
        return field +
               " does not begin with a base64 DER X.509 certificate (RFC 7517 section "
               "4.7)";
    }
    client.certificates.push_back(std::move(*der));
    return std::nullopt;
}

// A boolean member; absent: false.
Problem read_flag(const json_t *entry, const char *name, bool &flag) {
    const json_t *value = json_object_get(entry, name);
    if (!value) {
        return std::nullopt;
    }
    if (!json_is_boolean(value)) {
        return "\"" + std::string(name) + "\" must be true or false";
    }
    flag = json_is_true(value);
    return std::nullopt;
}

// RFC 8705 §3 and RFC 9449 §5.2: tokens bound to a certificate or a DPoP key.
Problem read_bound_tokens(const json_t *entry, Client &client) {
    Problem problem = read_flag(entry, "tls_client_certificate_bound_access_tokens",
                                client.certificate_bound_tokens);
    return problem ? problem
                   : read_flag(entry, "dpop_bound_access_tokens", client.dpop_bound_tokens);
}

// self_signed_tls_client_auth (RFC 8705 §2.2): the client's certificates, as
// the x5c of the keys of its JWK Set.
Problem read_certificates(const json_t *jwks, Client &client) {
    const json_t *keys = json_object_get(jwks, "keys");
    if (!json_is_object(jwks) || !json_is_array(keys)) {
        return "\"jwks\" must be a JWK Set: an object with a \"keys\" array";
    }
    for (size_t i = 0; i < json_array_size(keys); ++i) {
        if (Problem problem = read_x5c(json_array_get(keys, i), i, client)) {
            return problem;
        }
    }
    if (client.certificates.empty()) {
        return "\"jwks\" has no key with an \"x5c\" certificate";
    }
    return std::nullopt;
}

Problem read_auth_method(const json_t *entry, Client &client) {
    const json_t *value = json_object_get(entry, "token_endpoint_auth_method");
    if (!value) {
        return std::nullopt;
    }
    auto name = string_value(value);
    for (const auto &[known, method] : kAuthMethods) {
        if (name && *name == known) {
            client.auth_method = method;
            return std::nullopt;
        }
    }
    return "\"token_endpoint_auth_method\" must be client_secret_basic, client_secret_post, "
           "private_key_jwt, tls_client_auth or self_signed_tls_client_auth";
}

// The client's JWK Set: each key must verify signatures; a malformed key, a
// private one or one of an unknown type is an error, not a key skipped.
Problem read_key_set(std::string_view json, const std::string &field, Client &client) {
    auto keys = std::make_shared<std::vector<jose::Key>>();
    std::vector<jose::SkippedKey> skipped;
    std::string error;
    bool parsed = jose::parse_jwk_set(json, *keys, skipped, error);
    for (const jose::SkippedKey &key : skipped) {
        if (key.alarming) {
            return field + ": key #" + std::to_string(key.position) +
                   (key.kid.empty() ? "" : " (kid \"" + key.kid + "\")") + ": " + key.why;
        }
    }
    if (!parsed) {
        return field + ": " + error;
    }
    client.keys = std::move(keys);
    return std::nullopt;
}

Problem read_keys(const json_t *entry, Client &client, const RegistryFileReader &read_file) {
    const json_t *inline_set = json_object_get(entry, "jwks");
    const json_t *file = json_object_get(entry, "jwks_file");
    bool wants_keys = client.auth_method == AuthMethod::private_key_jwt;
    bool self_signed = client.auth_method == AuthMethod::self_signed_tls_client_auth;
    if (inline_set && file) {
        return "give \"jwks\" or \"jwks_file\", not both";
    }
    if (self_signed) {
        return inline_set ? read_certificates(inline_set, client)
                          : Problem(
                                "\"jwks\" is missing: a self_signed_tls_client_auth "
                                "client registers its certificates as x5c");
    }
    if (!inline_set && !file) {
        return wants_keys ? std::optional<std::string>(
                                "a private_key_jwt client needs \"jwks\" or \"jwks_file\"")
                          : std::nullopt;
    }
    if (!wants_keys) {
        return "\"jwks\" and \"jwks_file\" are for a private_key_jwt or "
               "self_signed_tls_client_auth client";
    }
    if (inline_set) {
        if (!json_is_object(inline_set)) {
            return "\"jwks\" must be a JWK Set, {\"keys\": [...]}";
        }
        std::unique_ptr<char, decltype(&free)> text(json_dumps(inline_set, JSON_COMPACT), free);
        return text ? read_key_set(text.get(), "\"jwks\"", client)
                    : std::optional<std::string>("\"jwks\" cannot be read");
    }
    auto path = string_value(file);
    if (!path || path->empty()) {
        return "\"jwks_file\" must be a non-empty string";
    }
    if (!read_file) {
        return std::nullopt;
    }
    std::string error;
    std::optional<std::string> text = read_file(*path, error);
    std::string field = "\"jwks_file\" \"" + printable(*path) + "\"";
    if (!text) {
        return field + ": " + error;
    }
    return read_key_set(*text, field, client);
}

Problem read_entry(const json_t *entry, Client &client, const RegistryFileReader &read_file) {
    if (!json_is_object(entry)) {
        return "the entry must be an object";
    }
    if (Problem problem = check_keys(entry)) {
        return problem;
    }
    using Reader = Problem (*)(const json_t *, Client &);
    for (Reader read : {read_client_id, read_auth_method, read_secret, read_tls_identity,
                        read_bound_tokens, read_scope, read_default_scope, read_token_ttl,
                        read_max_tokens, read_grant_types, read_introspection, read_resources}) {
        if (Problem problem = read(entry, client)) {
            return problem;
        }
    }
    return read_keys(entry, client, read_file);
}

std::string clear_secret_warning(const std::string &name) {
    return name +
           ": secret given in clear in \"client_secret\"; store a hash in "
           "\"client_secret_hash\" (see oauth-client-entry)";
}

}  // namespace

std::unique_ptr<Registry> Registry::parse(std::string_view json, RegistryError &error,
                                          std::vector<std::string> &warnings,
                                          const RegistryFileReader &read_file) {
    json_error_t syntax;
    JsonPtr root(json_loadb(json.data(), json.size(), JSON_REJECT_DUPLICATES, &syntax));
    if (!root) {
        error = {syntax.line > 0 ? unsigned(syntax.line) : 0, syntax_error_message(syntax)};
        return nullptr;
    }
    if (!json_is_object(root.get())) {
        error = {0, "the top level must be an object with a \"clients\" array"};
        return nullptr;
    }
    const json_t *entries = json_object_get(root.get(), "clients");
    if (!json_is_array(entries)) {
        error = {0, entries ? "\"clients\" must be an array" : "\"clients\" is missing"};
        return nullptr;
    }

    std::vector<unsigned> lines = ClientLines(json).scan();
    auto registry = std::make_unique<Registry>();
    std::vector<std::string> clear_secrets;
    std::unordered_map<std::string_view, unsigned> first_line;  // views into `root`
    for (size_t i = 0; i < json_array_size(entries); ++i) {
        const json_t *entry = json_array_get(entries, i);
        unsigned line = i < lines.size() ? lines[i] : 0;
        std::string name = client_name(entry, i);
        Client client;
        if (Problem problem = read_entry(entry, client, read_file)) {
            error = {line, name + ": " + *problem};
            return nullptr;
        }
        auto id = *string_value(json_object_get(entry, "client_id"));
        auto [first, inserted] = first_line.emplace(id, line);
        if (!inserted) {
            error = {line, name + ": duplicate \"client_id\", first at line " +
                               std::to_string(first->second)};
            return nullptr;
        }
        if (json_object_get(entry, "client_secret")) {
            clear_secrets.push_back(clear_secret_warning(name));
        }
        registry->clients_.push_back(std::move(client));
    }

    // The views index strings that no longer move.
    for (size_t i = 0; i < registry->clients_.size(); ++i) {
        registry->by_id_.emplace(registry->clients_[i].id, i);
    }
    warnings.insert(warnings.end(), clear_secrets.begin(), clear_secrets.end());
    return registry;
}

std::string_view auth_method_name(AuthMethod method) noexcept {
    for (const auto &[name, known] : kAuthMethods) {
        if (known == method) {
            return name;
        }
    }
    return {};
}

bool Client::uses_secret() const noexcept {
    return !auth_method || *auth_method == AuthMethod::client_secret_basic ||
           *auth_method == AuthMethod::client_secret_post;
}

bool Client::accepts(AuthMethod method) const noexcept {
    if (auth_method) {
        return *auth_method == method;
    }
    return method == AuthMethod::client_secret_basic || method == AuthMethod::client_secret_post;
}

const Client *Registry::first_with(AuthMethod method) const {
    for (const Client &client : clients_) {
        if (client.auth_method == method) {
            return &client;
        }
    }
    return nullptr;
}

const Client *Registry::find(std::string_view client_id) const {
    auto found = by_id_.find(client_id);
    return found == by_id_.end() ? nullptr : &clients_[found->second];
}

}  // namespace oauth
