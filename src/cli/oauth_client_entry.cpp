// oauth-client-entry: a new client for the registry file. Prints the JSON entry
// (with the hash of a fresh secret) on standard output, or adds it to a
// registry file with --add, and the secret, once, on standard error.
#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/http/base64.hpp"
#include "core/registry.hpp"
#include "core/secret.hpp"

namespace {

constexpr uint32_t kDefaultPbkdf2Iterations = 100000;
constexpr int kUsageError = 2;

constexpr const char *kUsage =
    "usage: oauth-client-entry [--scope \"A B\"] [--default-scope \"A\"] [--ttl SECONDS]\n"
    "                          [--resource URI]... [--pbkdf2[=ITERATIONS]] [--introspection]\n"
    "                          [--auth-method METHOD | --jwks FILE | --jwks-file PATH |\n"
    "                           --tls-client-auth KIND=VALUE | --self-signed-cert FILE...]\n"
    "                          [--bound-tokens] [--dpop-bound] [--add FILE] CLIENT_ID\n";

constexpr const char *kHelp =
    "\n"
    "Generates a secret of 256 random bits for a new client, prints it once on\n"
    "standard error, and prints the client's entry for the \"clients\" array of the\n"
    "oauth_clients file on standard output.\n"
    "\n"
    "  --scope \"A B\"            the scopes the client may be granted (default: none)\n"
    "  --default-scope \"A\"      granted when a request names no scope (default: all)\n"
    "  --ttl SECONDS            the lifetime of the client's tokens (\"token_ttl\")\n"
    "  --resource URI           a resource its tokens may be meant for (RFC 8707);\n"
    "                           may repeat, the first is the default audience\n"
    "  --pbkdf2[=ITERATIONS]    store a PBKDF2-HMAC-SHA256 hash (default 100000\n"
    "                           iterations) instead of SHA-256\n"
    "  --introspection          let the client call the introspection endpoint\n"
    "  --auth-method METHOD     client_secret_basic or client_secret_post: the only\n"
    "                           way the client may send its secret (default: both)\n"
    "  --jwks FILE              a private_key_jwt client: no secret; its public keys,\n"
    "                           the JWK Set in FILE, go into the entry (\"jwks\")\n"
    "  --jwks-file PATH         the same, the entry naming PATH (\"jwks_file\", relative\n"
    "                           to the nginx prefix), which nginx reads at each reload\n"
    "  --tls-client-auth KIND=VALUE\n"
    "                           the client authenticates with a certificate of the CA\n"
    "                           nginx trusts (RFC 8705 tls_client_auth) whose subject_dn,\n"
    "                           san_dns, san_uri, san_ip or san_email is VALUE; no secret\n"
    "  --self-signed-cert FILE  the client authenticates with the certificate in the PEM\n"
    "                           FILE (self_signed_tls_client_auth, kept as an x5c of\n"
    "                           \"jwks\"); may repeat, for a rotation; no secret\n"
    "  --bound-tokens           bind its tokens to its TLS client certificate (RFC 8705\n"
    "                           section 3, \"tls_client_certificate_bound_access_tokens\")\n"
    "  --dpop-bound             the client must prove possession of a key with DPoP at\n"
    "                           the token endpoint (RFC 9449, \"dpop_bound_access_tokens\")\n"
    "  --add FILE               add the entry to the registry FILE instead of printing\n"
    "                           it: refuses a CLIENT_ID FILE already has, creates FILE\n"
    "                           (mode 0600) if it does not exist\n"
    "  --help                   this text\n";

struct JsonDeleter {
    void operator()(json_t *json) const { json_decref(json); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

struct Options {
    std::optional<std::string> client_id;
    std::string scope;
    std::optional<std::string> default_scope;
    std::optional<json_int_t> ttl;
    std::vector<std::string> resources;
    std::optional<uint32_t> pbkdf2_iterations;
    bool introspection = false;
    std::optional<std::string> tls_client_auth;  // --tls-client-auth KIND=VALUE
    std::vector<std::string> self_signed_certs;  // --self-signed-cert: PEM files
    bool bound_tokens = false;
    bool dpop_bound = false;
    std::optional<std::string> auth_method;
    std::optional<std::string> jwks;           // --jwks: the JWK Set's text
    std::optional<std::string> jwks_file;      // --jwks-file
    std::optional<std::string> registry_file;  // --add
    bool help = false;
};

// What went wrong with the command line or the entry: exit status 2.
struct UsageError {
    std::string message;
};

template <typename Integer>
std::optional<Integer> parse_decimal(std::string_view text) {
    Integer value{};
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty() ||
        text[0] == '-') {
        return std::nullopt;
    }
    return value;
}

uint32_t parse_iterations(std::string_view text) {
    auto iterations = parse_decimal<uint32_t>(text);
    if (!iterations || *iterations < 1 || *iterations > oauth::kMaxPbkdf2Iterations) {
        throw UsageError{"--pbkdf2 iterations must be from 1 to " +
                         std::to_string(oauth::kMaxPbkdf2Iterations)};
    }
    return *iterations;
}

json_int_t parse_ttl(std::string_view text) {
    auto ttl = parse_decimal<json_int_t>(text);
    if (!ttl) {
        throw UsageError{"--ttl must be a number of seconds"};
    }
    return *ttl;
}

std::optional<std::string> read_text(const std::string &path);

// --jwks FILE: the JWK Set's text, judged with the entry (check_entry).
std::string read_jwks(const std::string &path) {
    std::optional<std::string> text = read_text(path);
    if (!text) {
        throw UsageError{"--jwks: " + path + ": no such file"};
    }
    return *text;
}

// Options may come before or after CLIENT_ID; "--" ends them. Value options
// take "--name VALUE" or "--name=VALUE".
class CommandLine {
  public:
    CommandLine(int argc, char **argv) : args_(argv + 1, argv + argc) {}

    Options parse() {
        Options options;
        bool only_operands = false;
        for (next_ = 0; next_ < args_.size();) {
            std::string_view arg = args_[next_++];
            if (only_operands || arg.substr(0, 1) != "-" || arg == "-") {
                set_client_id(options, arg);
            } else if (arg == "--") {
                only_operands = true;
            } else {
                parse_option(options, arg);
            }
        }
        if (!options.client_id && !options.help) {
            throw UsageError{"CLIENT_ID is missing"};
        }
        if (int(options.auth_method.has_value()) + options.jwks.has_value() +
                options.jwks_file.has_value() + options.tls_client_auth.has_value() +
                !options.self_signed_certs.empty() >
            1) {
            throw UsageError{
                "give one of --auth-method, --jwks, --jwks-file, --tls-client-auth and "
                "--self-signed-cert"};
        }
        return options;
    }

  private:
    void parse_option(Options &options, std::string_view arg) {
        std::string_view name = arg.substr(0, arg.find('='));
        std::optional<std::string_view> attached;
        if (name.size() < arg.size()) {
            attached = arg.substr(name.size() + 1);
        }
        if (name == "--help" || name == "-h") {
            options.help = true;
        } else if (name == "--introspection") {
            no_value(name, attached);
            options.introspection = true;
        } else if (name == "--pbkdf2") {
            options.pbkdf2_iterations =
                attached ? parse_iterations(*attached) : kDefaultPbkdf2Iterations;
        } else if (name == "--scope") {
            options.scope = value(name, attached);
        } else if (name == "--default-scope") {
            options.default_scope = value(name, attached);
        } else if (name == "--ttl") {
            options.ttl = parse_ttl(value(name, attached));
        } else if (name == "--resource") {
            options.resources.push_back(value(name, attached));
        } else if (name == "--tls-client-auth") {
            options.tls_client_auth = value(name, attached);
        } else if (name == "--self-signed-cert") {
            options.self_signed_certs.push_back(value(name, attached));
        } else if (name == "--bound-tokens") {
            no_value(name, attached);
            options.bound_tokens = true;
        } else if (name == "--dpop-bound") {
            no_value(name, attached);
            options.dpop_bound = true;
        } else if (name == "--auth-method") {
            options.auth_method = value(name, attached);
        } else if (name == "--jwks") {
            options.jwks = read_jwks(value(name, attached));
        } else if (name == "--jwks-file") {
            options.jwks_file = value(name, attached);
        } else if (name == "--add") {
            options.registry_file = value(name, attached);
        } else {
            throw UsageError{"unknown option " + std::string(name)};
        }
    }

    std::string value(std::string_view name, std::optional<std::string_view> attached) {
        if (attached) {
            return std::string(*attached);
        }
        if (next_ == args_.size()) {
            throw UsageError{std::string(name) + " needs a value"};
        }
        return args_[next_++];
    }

    static void no_value(std::string_view name, std::optional<std::string_view> attached) {
        if (attached) {
            throw UsageError{std::string(name) + " takes no value"};
        }
    }

    static void set_client_id(Options &options, std::string_view arg) {
        if (options.client_id) {
            throw UsageError{"more than one CLIENT_ID"};
        }
        options.client_id = std::string(arg);
    }

    std::vector<std::string> args_;
    size_t next_ = 0;
};

void set_string(json_t *entry, const char *key, const std::string &value) {
    json_t *string = json_stringn(value.data(), value.size());
    if (!string) {
        throw UsageError{"\"" + std::string(key) + "\" is not valid UTF-8"};
    }
    json_object_set_new(entry, key, string);
}

bool authenticates_by_certificate(const Options &options) {
    return options.tls_client_auth || !options.self_signed_certs.empty();
}

// The base64 DER of the certificate in the PEM file `path` (an x5c element).
std::string x5c_of(const std::string &path) {
    std::unique_ptr<FILE, decltype(&fclose)> file(std::fopen(path.c_str(), "rb"), fclose);
    if (!file) {
        throw std::runtime_error(path + ": " + std::strerror(errno));
    }
    std::unique_ptr<X509, decltype(&X509_free)> certificate(
        PEM_read_X509(file.get(), nullptr, nullptr, nullptr), X509_free);
    unsigned char *der = nullptr;
    int length = certificate ? i2d_X509(certificate.get(), &der) : -1;
    if (length <= 0) {
        throw UsageError{path + ": not a PEM certificate"};
    }
    std::string encoded = oauth::encode_base64({reinterpret_cast<char *>(der), size_t(length)});
    OPENSSL_free(der);
    encoded.append((4 - encoded.size() % 4) % 4, '=');  // x5c is padded (RFC 7517 §4.7)
    return encoded;
}

// RFC 8705 §2.1.1, §2.2.1: the method and what identifies the certificate.
void set_certificate_method(json_t *entry, const Options &options) {
    if (options.pbkdf2_iterations) {
        throw UsageError{"--pbkdf2: a client authenticated by its certificate has no secret"};
    }
    if (options.tls_client_auth) {
        const std::string &given = *options.tls_client_auth;
        size_t equals = given.find('=');
        if (equals == std::string::npos) {
            throw UsageError{"--tls-client-auth takes KIND=VALUE, e.g. san_dns=client.example.com"};
        }
        set_string(entry, "token_endpoint_auth_method", "tls_client_auth");
        set_string(entry, ("tls_client_auth_" + given.substr(0, equals)).c_str(),
                   given.substr(equals + 1));
        return;
    }
    set_string(entry, "token_endpoint_auth_method", "self_signed_tls_client_auth");
    json_t *keys = json_array();
    for (const std::string &path : options.self_signed_certs) {
        json_t *x5c = json_array();
        json_array_append_new(x5c, json_string(x5c_of(path).c_str()));
        json_array_append_new(keys, json_pack("{s:o}", "x5c", x5c));
    }
    json_object_set_new(entry, "jwks", json_pack("{s:o}", "keys", keys));
}

bool uses_keys(const Options &options) {
    return options.jwks || options.jwks_file;
}

// A certificate client's method, a private_key_jwt client's method and
// keys, or a secret client's hash.
void set_credentials(json_t *entry, const Options &options, const std::string &secret) {
    if (authenticates_by_certificate(options)) {
        set_certificate_method(entry, options);
        return;
    }
    if (!uses_keys(options)) {
        if (options.auth_method) {
            set_string(entry, "token_endpoint_auth_method", *options.auth_method);
        }
        set_string(entry, "client_secret_hash",
                   options.pbkdf2_iterations
                       ? oauth::make_pbkdf2_sha256_hash(secret, *options.pbkdf2_iterations)
                       : oauth::make_sha256_hash(secret));
        return;
    }
    set_string(entry, "token_endpoint_auth_method", "private_key_jwt");
    if (options.jwks_file) {
        set_string(entry, "jwks_file", *options.jwks_file);
        return;
    }
    json_error_t error;
    json_t *set = json_loadb(options.jwks->data(), options.jwks->size(), 0, &error);
    if (!set) {
        throw UsageError{std::string("--jwks: not JSON: ") + error.text};
    }
    json_object_set_new(entry, "jwks", set);
}

// In the order of the registry's documentation.
JsonPtr make_entry(const Options &options, const std::string &secret) {
    JsonPtr entry(json_object());
    set_string(entry.get(), "client_id", *options.client_id);
    set_credentials(entry.get(), options, secret);
    if (options.bound_tokens) {
        json_object_set_new(entry.get(), "tls_client_certificate_bound_access_tokens", json_true());
    }
    if (options.dpop_bound) {
        json_object_set_new(entry.get(), "dpop_bound_access_tokens", json_true());
    }
    set_string(entry.get(), "scope", options.scope);
    if (options.default_scope) {
        set_string(entry.get(), "default_scope", *options.default_scope);
    }
    if (options.ttl) {
        json_object_set_new(entry.get(), "token_ttl", json_integer(*options.ttl));
    }
    if (options.introspection) {
        json_object_set_new(entry.get(), "introspection", json_true());
    }
    if (options.resources.size() == 1) {
        set_string(entry.get(), "resource", options.resources[0]);
    } else if (!options.resources.empty()) {
        json_t *resources = json_array();
        json_object_set_new(entry.get(), "resource", resources);
        for (const std::string &uri : options.resources) {
            json_t *string = json_stringn(uri.data(), uri.size());
            if (!string) {
                throw UsageError{"\"resource\" is not valid UTF-8"};
            }
            json_array_append_new(resources, string);
        }
    }
    return entry;
}

std::string dump(const json_t *json, size_t flags) {
    std::unique_ptr<char, decltype(&free)> text(json_dumps(json, flags), free);
    if (!text) {
        throw std::runtime_error("cannot render the entry");
    }
    return text.get();
}

// The registry's own rules judge the entry, so the command cannot print one
// that nginx would refuse.
void check_entry(const json_t *entry) {
    std::string file = "{\"clients\": [" + dump(entry, JSON_COMPACT) + "]}";
    oauth::RegistryError error;
    std::vector<std::string> warnings;
    if (!oauth::Registry::parse(file, error, warnings)) {
        throw UsageError{error.message};
    }
}

// ---- --add FILE ----------------------------------------------------------------

// What went wrong with the registry file: exit status 1.
std::runtime_error file_error(const std::string &path, const std::string &what) {
    return std::runtime_error(path + ": " + what);
}

// The file's text; nullopt when there is no such file.
std::optional<std::string> read_text(const std::string &path) {
    std::unique_ptr<FILE, decltype(&fclose)> file(std::fopen(path.c_str(), "rb"), fclose);
    if (!file) {
        if (errno == ENOENT) {
            return std::nullopt;
        }
        throw file_error(path, std::strerror(errno));
    }
    std::string text;
    char chunk[65536];
    size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, file.get())) > 0) {
        text.append(chunk, got);
    }
    if (std::ferror(file.get())) {
        throw file_error(path, std::string("cannot read it: ") + std::strerror(errno));
    }
    return text;
}

// The registry with the entry appended, rendered. The file must pass nginx's
// own rules first, so that a broken one is named rather than rewritten; an
// empty file (as `install -m 600 /dev/null FILE` makes) holds no client yet.
std::string registry_with(const std::string &path, const std::string &text, json_t *entry) {
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
        JsonPtr registry(json_pack("{s:[O]}", "clients", entry));
        return dump(registry.get(), JSON_INDENT(2));
    }
    oauth::RegistryError error;
    std::vector<std::string> warnings;
    std::unique_ptr<oauth::Registry> known = oauth::Registry::parse(text, error, warnings);
    if (!known) {
        throw file_error(path + (error.line != 0 ? ":" + std::to_string(error.line) : ""),
                         error.message + " (left unchanged)");
    }
    const char *client_id = json_string_value(json_object_get(entry, "client_id"));
    if (known->find(client_id) != nullptr) {
        throw UsageError{path + " already has client_id \"" + client_id + "\""};
    }
    json_error_t parse_error;
    JsonPtr registry(json_loadb(text.data(), text.size(), 0, &parse_error));
    if (!registry || json_array_append(json_object_get(registry.get(), "clients"), entry) != 0) {
        throw file_error(path, "cannot add the entry");
    }
    return dump(registry.get(), JSON_INDENT(2));
}

bool write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        ssize_t n = write(fd, text.data(), text.size());
        if (n < 0 && errno != EINTR) {
            return false;
        }
        text.remove_prefix(n < 0 ? 0 : size_t(n));
    }
    return true;
}

// The mode, and as root the owner, of the file replaced.
bool keep_mode_and_owner(int fd, const struct stat &old) {
    return fchmod(fd, old.st_mode & 07777) == 0 &&
           (geteuid() != 0 || fchown(fd, old.st_uid, old.st_gid) == 0);
}

// A file of `text` beside `path`, renamed over it: a reader (nginx reloading)
// sees the old registry or the new one, never half of it. A new file is 0600
// (mkstemp's mode), as it holds the secrets' hashes.
void replace_file(const std::string &path, const std::string &text) {
    struct stat old {};
    bool exists = stat(path.c_str(), &old) == 0;
    std::string temp = path + ".XXXXXX";
    int fd = mkstemp(temp.data());
    if (fd < 0) {
        throw file_error(path,
                         std::string("cannot create a file beside it: ") + std::strerror(errno));
    }
    const char *failed = nullptr;
    if (!write_all(fd, text + "\n")) {
        failed = "write";
    } else if (exists && !keep_mode_and_owner(fd, old)) {
        failed = "set the mode and owner of";
    } else if (fsync(fd) != 0) {
        failed = "sync";
    }
    int error = errno;
    if (close(fd) != 0 && failed == nullptr) {
        failed = "close";
        error = errno;
    }
    if (failed == nullptr && rename(temp.c_str(), path.c_str()) != 0) {
        failed = "rename";
        error = errno;
    }
    if (failed != nullptr) {
        unlink(temp.c_str());
        throw file_error(path, std::string("cannot ") + failed + " " + temp + ": " +
                                   std::strerror(error) + " (left unchanged)");
    }
}

// Where the registry really is: the target of a link, so that the link stays.
std::string resolved(const std::string &path) {
    char target[PATH_MAX];
    return realpath(path.c_str(), target) != nullptr ? std::string(target) : path;
}

void add_to_registry(const std::string &path, json_t *entry) {
    std::string file = resolved(path);
    std::optional<std::string> text = read_text(file);
    replace_file(file, registry_with(file, text.value_or(""), entry));
}

// ---- main ------------------------------------------------------------------------

int run(int argc, char **argv) {
    Options options = CommandLine(argc, argv).parse();
    if (options.help) {
        std::printf("%s%s", kUsage, kHelp);
        return 0;
    }
    std::string secret = oauth::generate_secret();
    JsonPtr entry = make_entry(options, secret);
    check_entry(entry.get());
    if (options.registry_file) {
        add_to_registry(*options.registry_file, entry.get());
        std::fprintf(stderr, "added client \"%s\" to %s: nginx -t && nginx -s reload\n",
                     options.client_id->c_str(), options.registry_file->c_str());
    } else {
        std::printf("%s\n", dump(entry.get(), JSON_INDENT(2)).c_str());
        if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
            throw std::runtime_error("cannot write the entry to standard output");
        }
    }
    if (!uses_keys(options) && !authenticates_by_certificate(options)) {
        std::fprintf(stderr,
                     "client_secret: %s\n"
                     "(shown once: give it to the client now; the entry keeps only its hash)\n",
                     secret.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    try {
        return run(argc, argv);
    } catch (const UsageError &error) {
        std::fprintf(stderr, "oauth-client-entry: %s\n%s", error.message.c_str(), kUsage);
        return kUsageError;
    } catch (const std::exception &error) {
        std::fprintf(stderr, "oauth-client-entry: %s\n", error.what());
        return 1;
    }
}
