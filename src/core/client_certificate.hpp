// Mutual-TLS client authentication and certificate-bound tokens (RFC 8705).
// nginx does the handshake and the chain verification; the glue hands over
// the certificate the client presented (DER) and whether nginx verified its
// chain. What a client registered says which certificate is its own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokens/token.hpp"

namespace oauth {

// What the glue hands over of the connection's client certificate.
struct PresentedCertificate {
    std::string_view der;         // empty: the client presented none
    bool chain_verified = false;  // nginx verified the chain to a CA it trusts (X509_V_OK)
};

// RFC 8705 §2.1.2: the one subject value a tls_client_auth client registers.
struct CertificateIdentity {
    enum class Kind { subject_dn, san_dns, san_uri, san_ip, san_email };
    Kind kind = Kind::subject_dn;
    std::string value;  // as registered; a subject DN as RFC 4514 writes it
};

// The registry field of each kind ("tls_client_auth_subject_dn", ...).
std::string_view identity_field(CertificateIdentity::Kind kind);

// nullopt when `identity` could match a certificate, else what is wrong with
// it: a DN that RFC 4514's grammar does not parse, an IP address that is
// neither IPv4 nor IPv6, an empty value.
std::optional<std::string> check_identity(const CertificateIdentity &identity);

enum class CertificateCheck {
    ok,
    none,          // no certificate on the connection
    unverified,    // tls_client_auth: nginx did not verify its chain
    unreadable,    // not a DER X.509 certificate
    not_matching,  // the subject or SAN, or for a self-signed one the certificate, is not the
                   // client's
};

// tls_client_auth (RFC 8705 §2.1): the chain verified by nginx, and the
// registered subject DN (attribute by attribute, types case-insensitive) or
// SAN (DNS names case-insensitive, the others exact) in the certificate.
CertificateCheck check_tls_client_auth(const PresentedCertificate &certificate,
                                       const CertificateIdentity &identity);

// self_signed_tls_client_auth (RFC 8705 §2.2): the certificate is one of
// `registered` (DER, from the client's x5c), byte for byte; its chain is not
// looked at.
CertificateCheck check_self_signed(const PresentedCertificate &certificate,
                                   const std::vector<std::string> &registered);

// Whether `der` is one DER X.509 certificate, nothing after it.
bool is_certificate(std::string_view der);

// Words for the log line of a refused certificate.
std::string_view describe(CertificateCheck check);

// RFC 8705 §3.1: the SHA-256 of the DER, what cnf "x5t#S256" carries
// (base64url of it). False only when OpenSSL fails.
bool certificate_thumbprint(std::string_view der, Digest &out) noexcept;

// The cnf of a bound token: {"x5t#S256":"…"} for a certificate (RFC 8705
// §3.1, §3.2), {"jkt":"…"} for a DPoP key (RFC 9449 §6.1), both for both.
std::string render_confirmation(const CertificateBinding &certificate, const KeyBinding &key);

}  // namespace oauth
