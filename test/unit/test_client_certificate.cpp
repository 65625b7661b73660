// Mutual-TLS client authentication and certificate-bound tokens (RFC 8705):
// the certificate checks, the registry fields, the token endpoint and the gate.
#include "unit.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <jansson.h>

#include <memory>
#include <vector>

#include "core/bearer.hpp"
#include "core/client_certificate.hpp"
#include "core/endpoints/metadata.hpp"
#include "core/endpoints/token_endpoint.hpp"
#include "core/http/base64.hpp"
#include "core/jose/access_token.hpp"
#include "core/jose/gate.hpp"
#include "core/metrics/exposition.hpp"
#include "fixtures.hpp"

namespace {

constexpr uint32_t kNow = 1700000000;

// A certificate signed by its own fresh P-256 key, with `subject` (RFC 4514,
// most specific first) and, unless empty, `san` in openssl's x509v3 syntax.
std::string make_certificate(const std::vector<std::pair<const char *, const char *>> &subject,
                             const char *san = "") {
    EVP_PKEY *key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    // X.509 lists the RDNs least specific first: the reverse of RFC 4514.
    for (auto it = subject.rbegin(); it != subject.rend(); ++it) {
        X509_NAME_add_entry_by_txt(name, it->first, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char *>(it->second), -1, -1, 0);
    }
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    if (*san != '\0') {
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san);
        X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    X509_sign(x, key, EVP_sha256());
    unsigned char *der = nullptr;
    int length = i2d_X509(x, &der);
    std::string out(reinterpret_cast<char *>(der), size_t(length));
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(key);
    return out;
}

const std::string &client_cert() {
    static const std::string der = make_certificate(
        {{"CN", "client one"}, {"OU", "payments, EU"}, {"O", "Example"}, {"C", "DE"}},
        "DNS:client.example.com,URI:spiffe://example/client,IP:10.1.2.3,"
        "IP:2001:db8::7,email:ops@example.com");
    return der;
}

oauth::CertificateIdentity identity(oauth::CertificateIdentity::Kind kind, const char *value) {
    return {kind, value};
}

oauth::CertificateCheck verified(const oauth::CertificateIdentity &id,
                                 const std::string &der = client_cert()) {
    return oauth::check_tls_client_auth({der, true}, id);
}

using Kind = oauth::CertificateIdentity::Kind;
using Check = oauth::CertificateCheck;

void subject_dn_matches_attribute_by_attribute(void **) {
    assert_int_equal(
        verified(identity(Kind::subject_dn, "CN=client one,OU=payments\\, EU,O=Example,C=DE")),
        Check::ok);
    // Spaces around separators and the case of attribute types do not matter.
    assert_int_equal(verified(identity(Kind::subject_dn,
                                       "cn = client one , ou=payments\\2C EU, o=Example,c=DE")),
                     Check::ok);
    // A value's case, a missing or extra RDN, or another order does.
    assert_int_equal(
        verified(identity(Kind::subject_dn, "CN=Client One,OU=payments\\, EU,O=Example,C=DE")),
        Check::not_matching);
    assert_int_equal(verified(identity(Kind::subject_dn, "CN=client one,O=Example,C=DE")),
                     Check::not_matching);
    assert_int_equal(
        verified(identity(Kind::subject_dn, "C=DE,O=Example,OU=payments\\, EU,CN=client one")),
        Check::not_matching);
}

void san_values_match_by_kind(void **) {
    assert_int_equal(verified(identity(Kind::san_dns, "Client.Example.COM")), Check::ok);
    assert_int_equal(verified(identity(Kind::san_dns, "other.example.com")), Check::not_matching);
    assert_int_equal(verified(identity(Kind::san_uri, "spiffe://example/client")), Check::ok);
    assert_int_equal(verified(identity(Kind::san_uri, "spiffe://example/Client")),
                     Check::not_matching);
    assert_int_equal(verified(identity(Kind::san_ip, "10.1.2.3")), Check::ok);
    assert_int_equal(verified(identity(Kind::san_ip, "2001:db8:0::7")), Check::ok);
    assert_int_equal(verified(identity(Kind::san_ip, "10.1.2.4")), Check::not_matching);
    assert_int_equal(verified(identity(Kind::san_email, "ops@example.com")), Check::ok);
    // A DNS name is no URI: the SAN's type counts.
    assert_int_equal(verified(identity(Kind::san_uri, "client.example.com")), Check::not_matching);
}

void tls_client_auth_needs_a_verified_chain(void **) {
    auto dns = identity(Kind::san_dns, "client.example.com");
    assert_int_equal(oauth::check_tls_client_auth({client_cert(), false}, dns), Check::unverified);
    assert_int_equal(oauth::check_tls_client_auth({}, dns), Check::none);
    assert_int_equal(oauth::check_tls_client_auth({"not a certificate", true}, dns),
                     Check::unreadable);
}

void self_signed_matches_a_registered_certificate_exactly(void **) {
    std::string other = make_certificate({{"CN", "client one"}});
    std::vector<std::string> registered = {other, client_cert()};
    assert_int_equal(oauth::check_self_signed({client_cert(), false}, registered), Check::ok);
    std::string stranger = make_certificate({{"CN", "client one"}});  // same name, other key
    assert_int_equal(oauth::check_self_signed({stranger, false}, registered), Check::not_matching);
    assert_int_equal(oauth::check_self_signed({}, registered), Check::none);
}

void identities_are_checked_when_registered(void **) {
    assert_false(oauth::check_identity(identity(Kind::subject_dn, "CN=a,O=b")).has_value());
    assert_true(oauth::check_identity(identity(Kind::subject_dn, "CN=a,")).has_value());
    assert_true(oauth::check_identity(identity(Kind::subject_dn, "just words")).has_value());
    assert_true(oauth::check_identity(identity(Kind::subject_dn, "CN=")).has_value());
    assert_true(oauth::check_identity(identity(Kind::san_ip, "10.1.2")).has_value());
    assert_true(oauth::check_identity(identity(Kind::san_dns, "")).has_value());
}

// ---- the registry --------------------------------------------------------

std::string registry_error(const std::string &entry) {
    oauth::RegistryError error;
    std::vector<std::string> warnings;
    auto registry = oauth::Registry::parse(R"({"clients":[)" + entry + "]}", error, warnings);
    return registry ? std::string() : error.message;
}

std::string x5c_jwks(const std::string &der) {
    return R"({"keys":[{"kty":"EC","x5c":[")" + oauth::encode_base64(der) + R"("]}]})";
}

void registry_takes_certificate_clients(void **) {
    std::string tls =
        R"({"client_id":"m","scope":"a","token_endpoint_auth_method":"tls_client_auth",)"
        R"("tls_client_auth_san_dns":"client.example.com",)"
        R"("tls_client_certificate_bound_access_tokens":true})";
    std::unique_ptr<oauth::Registry> registry = fixture::registry(R"({"clients":[)" + tls + "]}");
    assert_true(registry != nullptr);
    const oauth::Client *client = registry->find("m");
    assert_true(client->auth_method == oauth::AuthMethod::tls_client_auth);
    assert_int_equal(client->tls_identity.kind, Kind::san_dns);
    assert_true(client->certificate_bound_tokens);

    std::string self_signed =
        R"({"client_id":"s","scope":"a","token_endpoint_auth_method":"self_signed_tls_client_auth",)"
        R"("jwks":)" +
        x5c_jwks(client_cert()) + "}";
    registry = fixture::registry(R"({"clients":[)" + self_signed + "]}");
    assert_true(registry != nullptr);
    assert_true(registry->find("s")->certificates.at(0) == client_cert());
}

void registry_refuses_what_cannot_authenticate(void **) {
    const std::string head = R"({"client_id":"m","scope":"a",)";
    // A certificate client has no secret to fall back to.
    assert_true(registry_error(head +
                               R"("token_endpoint_auth_method":"tls_client_auth",)"
                               R"("tls_client_auth_san_dns":"a.example","client_secret":"x"})")
                    .find("has no secret") != std::string::npos);
    // Exactly one subject value.
    assert_true(registry_error(head + R"("token_endpoint_auth_method":"tls_client_auth"})")
                    .find("exactly one") != std::string::npos);
    assert_true(registry_error(head +
                               R"("token_endpoint_auth_method":"tls_client_auth",)"
                               R"("tls_client_auth_san_dns":"a","tls_client_auth_san_uri":"b"})")
                    .find("exactly one") != std::string::npos);
    assert_true(registry_error(head + R"("token_endpoint_auth_method":"tls_client_auth",)"
                                      R"("tls_client_auth_subject_dn":"nonsense"})")
                    .find("RFC 4514") != std::string::npos);
    // A subject value on a secret client would never be read.
    assert_true(registry_error(head + R"("client_secret":"x","tls_client_auth_san_dns":"a"})")
                    .find("read only with") != std::string::npos);
    assert_true(
        registry_error(head + R"("token_endpoint_auth_method":"self_signed_tls_client_auth"})")
            .find("\"jwks\" is missing") != std::string::npos);
    assert_true(registry_error(head +
                               R"("token_endpoint_auth_method":"self_signed_tls_client_auth",)"
                               R"("jwks":{"keys":[{"kty":"EC","x5c":["bm90IGEgY2VydA=="]}]}})")
                    .find("x5c") != std::string::npos);
    assert_true(registry_error(head + R"("token_endpoint_auth_method":"password"})")
                    .find("token_endpoint_auth_method") != std::string::npos);
    assert_true(registry_error(head + R"("client_secret":"x",)"
                                      R"("tls_client_certificate_bound_access_tokens":"yes"})")
                    .find("true or false") != std::string::npos);
}

// ---- the token endpoint ----------------------------------------------------

struct Endpoint {
    std::unique_ptr<oauth::Registry> registry;
    fixture::Store memory;
    oauth::jose::Key key;
    std::string body;

    Endpoint() {
        std::string self_signed = make_certificate({{"CN", "self"}});
        registry = fixture::registry(
            R"({"clients":[)"
            R"({"client_id":"m","scope":"a","token_endpoint_auth_method":"tls_client_auth",)"
            R"("tls_client_auth_san_dns":"client.example.com"},)"
            R"({"client_id":"bound","scope":"a","token_endpoint_auth_method":"tls_client_auth",)"
            R"("tls_client_auth_subject_dn":"CN=client one,OU=payments\\, EU,O=Example,C=DE",)"
            R"("tls_client_certificate_bound_access_tokens":true},)"
            R"({"client_id":"s","scope":"a","token_endpoint_auth_method":"self_signed_tls_client_auth",)"
            R"("jwks":)" +
            x5c_jwks(client_cert()) +
            R"(},{"client_id":"app","client_secret":"app-secret","scope":"a"}]})");
        key.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
        key.kid = "k1";
    }

    oauth::HttpResponse post(const std::string &form, oauth::PresentedCertificate certificate,
                             bool jwt = true) {
        body = form;
        oauth::FormRequest request;
        request.method = "POST";
        request.content_type = "application/x-www-form-urlencoded";
        request.body = body;
        request.certificate = certificate;
        oauth::TokenStore store = memory.open();
        oauth::TokenEndpointConfig config{3600, {"test"}, jwt ? &key : nullptr, "https://as.test"};
        return oauth::handle_token_request(request, *registry, store, config, kNow);
    }
};

std::string field(const oauth::HttpResponse &response, const char *name) {
    json_t *root = json_loads(response.body.c_str(), 0, nullptr);
    const char *value = json_string_value(json_object_get(root, name));
    std::string out = value != nullptr ? value : "";
    json_decref(root);
    return out;
}

void token_endpoint_authenticates_by_certificate(void **) {
    Endpoint endpoint;
    const std::string form = "grant_type=client_credentials&client_id=";
    assert_int_equal(endpoint.post(form + "m", {client_cert(), true}).status, 200);
    assert_int_equal(endpoint.post(form + "s", {client_cert(), false}).status, 200);

    oauth::HttpResponse refused = endpoint.post(form + "m", {client_cert(), false});
    assert_int_equal(refused.status, 401);
    assert_text(field(refused, "error"), "invalid_client");
    assert_true(refused.www_authenticate.empty());
    assert_true(refused.log_message.find("did not verify") != std::string::npos);
    refused = endpoint.post(form + "m", {});
    assert_int_equal(refused.status, 401);
    assert_true(refused.log_message.find("no client certificate") != std::string::npos);
    std::string stranger = make_certificate({{"CN", "x"}}, "DNS:client.example.com");
    assert_int_equal(endpoint.post(form + "s", {stranger, true}).status, 401);
    // A secret client cannot authenticate with a certificate, nor a
    // certificate client with a secret.
    refused = endpoint.post(form + "app", {client_cert(), true});
    assert_int_equal(refused.status, 401);
    assert_true(refused.log_message.find("not registered for this authentication method") !=
                std::string::npos);
    assert_int_equal(endpoint.post(form + "m&client_secret=anything", {client_cert(), true}).status,
                     401);
}

// RFC 8705 §3.1: the JWT names the certificate; the gate wants it back.
void bound_client_gets_a_jwt_with_cnf(void **) {
    Endpoint endpoint;
    oauth::HttpResponse issued =
        endpoint.post("grant_type=client_credentials&client_id=bound", {client_cert(), true});
    assert_int_equal(issued.status, 200);
    std::string token = field(issued, "access_token");

    std::vector<oauth::jose::Key> keys = {endpoint.key};
    oauth::jose::VerifierPolicy policy{"https://as.test", &keys, 0, {}};
    oauth::jose::VerifiedToken claims;
    assert_int_equal(oauth::jose::verify_access_token(token, policy, kNow, std::nullopt, claims),
                     oauth::jose::JwtCheck::ok);
    oauth::Digest thumbprint;
    assert_true(oauth::certificate_thumbprint(client_cert(), thumbprint));
    assert_true(claims.certificate.bound);
    assert_true(claims.certificate.thumbprint == thumbprint);
    json_t *cnf = json_object_get(claims.claim_set.get(), "cnf");
    std::string x5t = json_string_value(json_object_get(cnf, "x5t#S256"));
    assert_true(oauth::decode_base64url(x5t) ==
                std::string(reinterpret_cast<const char *>(thumbprint.data()), thumbprint.size()));

    // An unbound client's token has no cnf.
    oauth::HttpResponse plain =
        endpoint.post("grant_type=client_credentials&client_id=m", {client_cert(), true});
    oauth::jose::VerifiedToken plain_claims;
    assert_int_equal(oauth::jose::verify_access_token(field(plain, "access_token"), policy, kNow,
                                                      std::nullopt, plain_claims),
                     oauth::jose::JwtCheck::ok);
    assert_false(plain_claims.certificate.bound);
}

// RFC 8705 §3: an opaque token's thumbprint is kept beside it in the store,
// where the gate and introspection read it.
void bound_client_gets_an_opaque_token_bound_in_the_store(void **) {
    Endpoint endpoint;
    oauth::HttpResponse issued = endpoint.post("grant_type=client_credentials&client_id=bound",
                                               {client_cert(), true}, false);
    assert_int_equal(issued.status, 200);
    assert_text(field(issued, "token_type"), "Bearer");
    oauth::TokenGrant grant;
    oauth::TokenStore store = endpoint.memory.open();
    assert_true(store.find(oauth::digest_token(field(issued, "access_token")), kNow, grant));
    oauth::Digest thumbprint;
    assert_true(oauth::certificate_thumbprint(client_cert(), thumbprint));
    assert_true(grant.certificate.bound);
    assert_true(grant.certificate.thumbprint == thumbprint);
    assert_false(grant.dpop.bound);

    // Without a certificate, none is issued.
    assert_int_equal(
        endpoint.post("grant_type=client_credentials&client_id=bound", {}, false).status, 401);
    // An unbound client's opaque token is a bearer token.
    oauth::HttpResponse plain =
        endpoint.post("grant_type=client_credentials&client_id=m", {client_cert(), true}, false);
    assert_true(store.find(oauth::digest_token(field(plain, "access_token")), kNow, grant));
    assert_false(grant.certificate.bound);
}

// Each method is counted apart, authenticated or not, over every endpoint.
void authentications_are_counted_by_method(void **) {
    Endpoint endpoint;
    std::vector<char> memory(16 * 1024);
    oauth::metrics::Counters::format(memory.data(), memory.size());
    oauth::metrics::Counters counters(memory.data(), oauth::StoreLock{});
    const std::string form = "grant_type=client_credentials&client_id=";
    counters.count_token_response(endpoint.post(form + "m", {client_cert(), true}).outcome);
    counters.count_token_response(endpoint.post(form + "m", {client_cert(), false}).outcome);
    counters.count_token_response(endpoint.post(form + "s", {client_cert(), false}).outcome);
    counters.count_token_response(endpoint.post(form + "app", {client_cert(), true}).outcome);
    counters.count_token_response(endpoint.post(form + "app&client_secret=app-secret", {}).outcome);
    counters.count_token_response(endpoint.post("grant_type=client_credentials", {}).outcome);
    oauth::metrics::ZoneMetrics zone;
    zone.zone = "tokens";
    zone.counters = counters.snapshot();
    std::string text = oauth::metrics::render_exposition({zone});
    for (const char *line : {
             R"(method="tls_client_auth",result="ok"} 1)",
             R"(method="tls_client_auth",result="failed"} 1)",
             R"(method="self_signed_tls_client_auth",result="ok"} 1)",
             R"(method="other",result="failed"} 1)",
             R"(method="client_secret_post",result="ok"} 1)",
             R"(method="client_secret_basic",result="ok"} 0)",
         }) {
        if (text.find(line) == std::string::npos) {
            fail_msg("no %s in\n%s", line, text.c_str());
        }
    }
}

// ---- the gate --------------------------------------------------------------

struct Gate {
    Endpoint endpoint;
    std::vector<oauth::jose::Key> keys;
    oauth::jose::GatePolicy policy;
    std::string token;
    std::string header;
    std::vector<uint8_t> verdicts = std::vector<uint8_t>(oauth::jose::VerdictCache::kMinRegionSize);

    Gate() {
        oauth::jose::VerdictCache::format(verdicts.data(), verdicts.size());
        keys = {endpoint.key};
        policy.own_issuer = "https://as.test";
        policy.own_keys = &keys;
        policy.registry = endpoint.registry.get();
        token = field(
            endpoint.post("grant_type=client_credentials&client_id=bound", {client_cert(), true}),
            "access_token");
        header = "Bearer " + token;
    }

    oauth::BearerVerdict check(const oauth::Digest *thumbprint) {
        oauth::jose::forget_seen_tokens();
        oauth::jose::JwtVerifier verifier(
            policy, oauth::jose::VerdictCache(verdicts.data(), oauth::StoreLock{}));
        oauth::BearerRequest request{1, header, thumbprint};
        oauth::TokenGrant grant;
        oauth::TokenStore store = endpoint.memory.open();
        return oauth::check_bearer(request, store, oauth::ScopeRequirement(), "api", kNow, grant,
                                   &verifier);
    }
};

void gate_refuses_a_bound_token_without_its_certificate(void **) {
    Gate gate;
    oauth::Digest own, other;
    oauth::certificate_thumbprint(client_cert(), own);
    oauth::certificate_thumbprint(make_certificate({{"CN", "x"}}), other);
    assert_int_equal(gate.check(&own).status, 0);
    for (const oauth::Digest *presented : {static_cast<const oauth::Digest *>(nullptr),
                                           static_cast<const oauth::Digest *>(&other)}) {
        oauth::BearerVerdict verdict = gate.check(presented);
        assert_int_equal(verdict.status, 401);
        assert_text(verdict.result, "invalid_token");
        assert_true(verdict.challenge.find("RFC 8705") != std::string::npos);
    }
}

void introspection_answers_cnf(void **) {
    oauth::TokenGrant grant;
    grant.certificate.bound = true;
    grant.certificate.thumbprint.fill(0xfb);
    std::string fields = oauth::jose::render_introspection(grant, "https://as.test", nullptr);
    assert_true(
        fields.find(R"("cnf":{"x5t#S256":"-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s"})") !=
        std::string::npos);
}

void metadata_names_the_methods_in_use(void **) {
    Endpoint endpoint;
    oauth::MetadataConfig config{"https://as.test", "/token", "", "", "", true};
    std::string doc = oauth::render_metadata(config, endpoint.registry.get());
    assert_true(doc.find(R"("token_endpoint_auth_methods_supported":["client_secret_basic",)"
                         R"("client_secret_post","private_key_jwt","tls_client_auth",)"
                         R"("self_signed_tls_client_auth"])") != std::string::npos);
    assert_true(doc.find(R"("tls_client_certificate_bound_access_tokens":true)") !=
                std::string::npos);
    config.certificate_bound_tokens = false;
    doc = oauth::render_metadata(config, fixture::standard_registry().get());
    assert_true(doc.find("tls_client") == std::string::npos);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(subject_dn_matches_attribute_by_attribute),
        cmocka_unit_test(san_values_match_by_kind),
        cmocka_unit_test(tls_client_auth_needs_a_verified_chain),
        cmocka_unit_test(self_signed_matches_a_registered_certificate_exactly),
        cmocka_unit_test(identities_are_checked_when_registered),
        cmocka_unit_test(registry_takes_certificate_clients),
        cmocka_unit_test(registry_refuses_what_cannot_authenticate),
        cmocka_unit_test(token_endpoint_authenticates_by_certificate),
        cmocka_unit_test(bound_client_gets_a_jwt_with_cnf),
        cmocka_unit_test(bound_client_gets_an_opaque_token_bound_in_the_store),
        cmocka_unit_test(authentications_are_counted_by_method),
        cmocka_unit_test(gate_refuses_a_bound_token_without_its_certificate),
        cmocka_unit_test(introspection_answers_cnf),
        cmocka_unit_test(metadata_names_the_methods_in_use),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
