#include "core/client_certificate.hpp"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "core/http/base64.hpp"
#include "core/http/json.hpp"
#include "core/http/text.hpp"

namespace oauth {

namespace {

struct X509Free {
    void operator()(X509 *x) const { X509_free(x); }
};
struct NamesFree {
    void operator()(GENERAL_NAMES *names) const { GENERAL_NAMES_free(names); }
};
struct BioFree {
    void operator()(BIO *bio) const { BIO_free(bio); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// One attribute of a DN: its type upper-cased, its value unescaped.
struct Attribute {
    std::string type;
    std::string value;
    bool operator==(const Attribute &other) const {
        return type == other.type && value == other.value;
    }
};

bool is_space(char c) {
    return c == ' ';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// RFC 4514 §3: descr (a letter, then letters, digits, hyphens) or a numericoid.
bool is_attribute_type(std::string_view type) {
    if (type.empty()) {
        return false;
    }
    bool descr = (type[0] >= 'A' && type[0] <= 'Z') || (type[0] >= 'a' && type[0] <= 'z');
    for (char c : type) {
        bool digit = c >= '0' && c <= '9';
        bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (descr ? !(digit || letter || c == '-') : !(digit || c == '.')) {
            return false;
        }
    }
    return true;
}

// An attribute value up to the next unescaped ',' or '+' (RFC 4514 §2.4, §3):
// escapes undone, the spaces around it that are not escaped dropped.
std::optional<std::string> read_value(std::string_view dn, size_t &at) {
    std::string value;
    size_t kept = 0;  // the length up to the last escaped or non-space byte
    while (at < dn.size() && is_space(dn[at])) {
        ++at;
    }
    while (at < dn.size() && dn[at] != ',' && dn[at] != '+') {
        char c = dn[at++];
        if (c == '\\') {
            if (at >= dn.size()) {
                return std::nullopt;
            }
            int high = hex_value(dn[at]);
            int low = at + 1 < dn.size() ? hex_value(dn[at + 1]) : -1;
            if (high >= 0 && low >= 0) {
                c = char(high << 4 | low);
                at += 2;
            } else {
                c = dn[at++];
            }
            value += c;
            kept = value.size();
            continue;
        }
        value += c;
        kept = is_space(c) ? kept : value.size();
    }
    value.resize(kept);
    return value;
}

// The attributes of a DN in the order written; nullopt when it does not parse.
std::optional<std::vector<Attribute>> parse_dn(std::string_view dn) {
    std::vector<Attribute> attributes;
    size_t at = 0;
    while (at < dn.size()) {
        size_t equals = dn.find('=', at);
        if (equals == std::string_view::npos) {
            return std::nullopt;
        }
        std::string_view type = trim_ows(dn.substr(at, equals - at));
        if (!is_attribute_type(type)) {
            return std::nullopt;
        }
        at = equals + 1;
        std::optional<std::string> value = read_value(dn, at);
        if (!value || value->empty()) {
            return std::nullopt;
        }
        std::string upper(type);
        for (char &c : upper) {
            c = (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c;
        }
        attributes.push_back({std::move(upper), std::move(*value)});
        if (at < dn.size() && ++at == dn.size()) {
            return std::nullopt;  // a separator with nothing after it
        }
    }
    if (attributes.empty()) {
        return std::nullopt;
    }
    return attributes;
}

// The subject as RFC 4514 writes it (most specific first), in UTF-8.
std::optional<std::string> subject_string(X509 *certificate) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(certificate), 0,
                                   XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        return std::nullopt;
    }
    char *data = nullptr;
    long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, size_t(size));
}

bool subject_matches(X509 *certificate, std::string_view registered) {
    std::optional<std::string> subject = subject_string(certificate);
    if (!subject) {
        return false;
    }
    std::optional<std::vector<Attribute>> presented = parse_dn(*subject);
    std::optional<std::vector<Attribute>> expected = parse_dn(registered);
    return presented && expected && *presented == *expected;
}

std::optional<std::string> ip_address_bytes(std::string_view text) {
    std::string nul_terminated(text);
    unsigned char bytes[16];
    if (inet_pton(AF_INET, nul_terminated.c_str(), bytes) == 1) {
        return std::string(reinterpret_cast<char *>(bytes), 4);
    }
    if (inet_pton(AF_INET6, nul_terminated.c_str(), bytes) == 1) {
        return std::string(reinterpret_cast<char *>(bytes), 16);
    }
    return std::nullopt;
}

int general_name_type(CertificateIdentity::Kind kind) {
    switch (kind) {
        case CertificateIdentity::Kind::san_dns:
            return GEN_DNS;
        case CertificateIdentity::Kind::san_uri:
            return GEN_URI;
        case CertificateIdentity::Kind::san_ip:
            return GEN_IPADD;
        case CertificateIdentity::Kind::san_email:
            return GEN_EMAIL;
        case CertificateIdentity::Kind::subject_dn:
            break;
    }
    return -1;
}

// The SAN entries of one type match `expected`: IP addresses by their bytes,
// DNS names without regard to case (RFC 4343), the others byte for byte.
bool san_matches(X509 *certificate, const CertificateIdentity &identity) {
    std::unique_ptr<GENERAL_NAMES, NamesFree> names(static_cast<GENERAL_NAMES *>(
        X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr)));
    if (!names) {
        return false;
    }
    int type = general_name_type(identity.kind);
    std::optional<std::string> expected =
        type == GEN_IPADD ? ip_address_bytes(identity.value) : std::optional(identity.value);
    for (int i = 0; expected && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names.get(), i);
        int name_type = 0;
        auto *value = static_cast<const ASN1_STRING *>(GENERAL_NAME_get0_value(name, &name_type));
        if (name_type != type || value == nullptr) {
            continue;
        }
        std::string_view presented(reinterpret_cast<const char *>(ASN1_STRING_get0_data(value)),
                                   size_t(ASN1_STRING_length(value)));
        if (type == GEN_DNS ? equals_ignore_case(presented, *expected) : presented == *expected) {
            return true;
        }
    }
    return false;
}

X509Ptr parse_certificate(std::string_view der) {
    auto *bytes = reinterpret_cast<const unsigned char *>(der.data());
    const unsigned char *end = bytes;
    X509Ptr certificate(d2i_X509(nullptr, &end, long(der.size())));
    if (certificate && end != bytes + der.size()) {
        return nullptr;  // trailing bytes: not one certificate
    }
    return certificate;
}

}  // namespace

std::string_view identity_field(CertificateIdentity::Kind kind) {
    switch (kind) {
        case CertificateIdentity::Kind::subject_dn:
            return "tls_client_auth_subject_dn";
        case CertificateIdentity::Kind::san_dns:
            return "tls_client_auth_san_dns";
        case CertificateIdentity::Kind::san_uri:
            return "tls_client_auth_san_uri";
        case CertificateIdentity::Kind::san_ip:
            return "tls_client_auth_san_ip";
        case CertificateIdentity::Kind::san_email:
            return "tls_client_auth_san_email";
    }
    return {};
}

std::optional<std::string> check_identity(const CertificateIdentity &identity) {
    std::string field = "\"" + std::string(identity_field(identity.kind)) + "\"";
    if (identity.value.empty()) {
        return field + " must be a non-empty string";
    }
    if (identity.kind == CertificateIdentity::Kind::subject_dn && !parse_dn(identity.value)) {
        return field + " must be a distinguished name as RFC 4514 writes it (CN=name,O=org)";
    }
    if (identity.kind == CertificateIdentity::Kind::san_ip && !ip_address_bytes(identity.value)) {
        return field + " must be an IPv4 or IPv6 address";
    }
    return std::nullopt;
}

CertificateCheck check_tls_client_auth(const PresentedCertificate &certificate,
                                       const CertificateIdentity &identity) {
    if (certificate.der.empty()) {
        return CertificateCheck::none;
    }
    if (!certificate.chain_verified) {
        return CertificateCheck::unverified;
    }
    X509Ptr parsed = parse_certificate(certificate.der);
    if (!parsed) {
        return CertificateCheck::unreadable;
    }
    bool matches = identity.kind == CertificateIdentity::Kind::subject_dn
                       ? subject_matches(parsed.get(), identity.value)
                       : san_matches(parsed.get(), identity);
    return matches ? CertificateCheck::ok : CertificateCheck::not_matching;
}

CertificateCheck check_self_signed(const PresentedCertificate &certificate,
                                   const std::vector<std::string> &registered) {
    if (certificate.der.empty()) {
        return CertificateCheck::none;
    }
    for (const std::string &der : registered) {
        if (der == certificate.der) {
            return CertificateCheck::ok;
        }
    }
    return CertificateCheck::not_matching;
}

bool is_certificate(std::string_view der) {
    return parse_certificate(der) != nullptr;
}

std::string_view describe(CertificateCheck check) {
    switch (check) {
        case CertificateCheck::ok:
            return "the certificate is the client's";
        case CertificateCheck::none:
            return "no client certificate was presented";
        case CertificateCheck::unverified:
            return "nginx did not verify the client certificate's chain";
        case CertificateCheck::unreadable:
            return "the client certificate is not DER X.509";
        case CertificateCheck::not_matching:
            return "the client certificate is not the one registered for the client";
    }
    return {};
}

bool certificate_thumbprint(std::string_view der, Digest &out) noexcept {
    return sha256_digest({der}, out);
}

std::string render_confirmation(const CertificateBinding &certificate, const KeyBinding &key) {
    auto encoded = [](const Digest &digest) {
        return encode_base64url({reinterpret_cast<const char *>(digest.data()), digest.size()});
    };
    JsonObject cnf;
    if (certificate.bound) {
        cnf.member("x5t#S256", encoded(certificate.thumbprint));
    }
    if (key.bound) {
        cnf.member("jkt", encoded(key.thumbprint));
    }
    return std::move(cnf).finish();
}

}  // namespace oauth
