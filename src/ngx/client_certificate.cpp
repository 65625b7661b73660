// The TLS client certificate of a request's connection (RFC 8705), as
// nginx's handshake left it: read, never verified here.
#include "ngx/module.hpp"

#include "core/client_certificate.hpp"

namespace oauth_ngx {

// nginx verified the chain when ssl_verify_client asked it to; with
// optional_no_ca the handshake goes on whatever the result, which is kept.
bool readClientCertificate(ngx_http_request_t *r, std::string &der, bool &chain_verified) {
    der.clear();
    chain_verified = false;
#if (NGX_HTTP_SSL)
    ngx_ssl_connection_t *ssl = r->connection->ssl;
    X509 *certificate = ssl != nullptr ? SSL_get0_peer_certificate(ssl->connection) : nullptr;
    if (certificate == nullptr) {
        return true;
    }
    int length = i2d_X509(certificate, nullptr);
    if (length <= 0) {
        return false;
    }
    der.resize(size_t(length));
    auto *out = reinterpret_cast<unsigned char *>(&der[0]);
    if (i2d_X509(certificate, &out) != length) {
        der.clear();
        return false;
    }
    chain_verified = SSL_get_verify_result(ssl->connection) == X509_V_OK;
#endif
    return true;
}

const oauth::Digest *clientCertificateThumbprint(ngx_http_request_t *r, oauth::Digest &storage) {
    std::string der;
    bool chain_verified;
    if (!readClientCertificate(r, der, chain_verified) || der.empty() ||
        !oauth::certificate_thumbprint(der, storage)) {
        return nullptr;
    }
    return &storage;
}

}  // namespace oauth_ngx
