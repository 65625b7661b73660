// core/jose against tokens and keys made by PyJWT and the cryptography package
// (test/unit/jose_fixtures.py), run into build/unit/jose-fixtures at setup.
// <fstream> before cmocka: cmocka's fail() macro breaks basic_ios::fail.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "unit.hpp"

#include "core/http/base64.hpp"
#include "core/jose/access_token.hpp"
#include "core/jose/jws.hpp"
#include "core/jose/key.hpp"

using namespace oauth::jose;

namespace {

const char *const kDir = "build/unit/jose-fixtures";
constexpr uint32_t kNow = 1700000100;  // the fixtures' clock
const char *const kIssuer = "https://issuer.test";

std::string fixture(const std::string &name) {
    std::ifstream in(std::string(kDir) + "/" + name, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<Key> published;  // the fixtures' JWK Set
std::vector<Key> trusted;    // a key of each type and curve, one without alg

bool parse_set(const std::string &json, std::vector<Key> &keys,
               std::vector<SkippedKey> *skipped = nullptr) {
    std::vector<SkippedKey> ignored;
    std::string error;
    return parse_jwk_set(json, keys, skipped != nullptr ? *skipped : ignored, error);
}

int make_fixtures(void **) {
    std::string command = std::string("/usr/bin/python3 test/unit/jose_fixtures.py ") + kDir;
    if (std::system(command.c_str()) != 0) {
        return -1;
    }
    return parse_set(fixture("jwks.json"), published) &&
                   parse_set(fixture("trusted-jwks.json"), trusted)
               ? 0
               : -1;
}

Key private_key(const std::string &name, std::string_view kid = "") {
    Key key;
    std::string error;
    assert_true(load_private_key(fixture(name), kid, key, error));
    return key;
}

std::string refusal(const std::string &name) {
    Key key;
    std::string error;
    assert_false(load_private_key(fixture(name), "", key, error));
    return error;
}

JwtCheck verify_fixture(const std::string &name, VerifiedToken &out, uint32_t leeway = 0) {
    VerifierPolicy policy{kIssuer, &published, leeway, {}};
    return verify_access_token(fixture(name + ".jwt"), policy, kNow, std::nullopt, out);
}

JwtCheck verify_fixture(const std::string &name) {
    VerifiedToken out;
    return verify_fixture(name, out);
}

// ---- keys ---------------------------------------------------------------------

void each_key_type_signs_its_one_algorithm(void **) {
    assert_text(alg_name(private_key("es.pem").alg), "ES256");
    assert_text(alg_name(private_key("rs.pem").alg), "RS256");
    assert_text(alg_name(private_key("ed.pem").alg), "EdDSA");
}

void kid_defaults_to_the_rfc7638_thumbprint(void **) {
    for (const char *name : {"es", "rs", "ed"}) {
        Key key = private_key(std::string(name) + ".pem");
        assert_text(key.kid, fixture(std::string(name) + ".thumbprint"));
    }
    assert_text(private_key("es.pem", "mine").kid, "mine");
}

void other_curves_types_weak_rsa_and_public_keys_are_refused(void **) {
    assert_non_null(strstr(refusal("p384.pem").c_str(), "P-256"));
    assert_non_null(strstr(refusal("ed448.pem").c_str(), "unsupported key type"));
    assert_non_null(strstr(refusal("rsa1024.pem").c_str(), "weak RSA key of 1024 bits"));
    assert_non_null(strstr(refusal("es.pub.pem").c_str(), "a public key"));
    Key key;
    std::string error;
    assert_false(load_private_key("not a key", "", key, error));
}

void the_public_jwk_has_no_private_parameter(void **) {
    for (const char *name : {"es.pem", "rs.pem", "ed.pem"}) {
        std::string jwk = public_jwk(private_key(name));
        for (const char *secret : {"\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\""}) {
            assert_null(strstr(jwk.c_str(), secret));
        }
        assert_non_null(strstr(jwk.c_str(), "\"use\":\"sig\""));
    }
    std::string jwk = public_jwk(private_key("es.pem", "k1"));
    assert_non_null(strstr(jwk.c_str(), "\"kty\":\"EC\""));
    assert_non_null(strstr(jwk.c_str(), "\"kid\":\"k1\",\"alg\":\"ES256\""));
}

// Our JWK Set, read back by our parser, has the very keys: same thumbprints.
void a_rendered_jwk_set_parses_back_to_the_same_keys(void **) {
    std::vector<Key> keys = {private_key("es.pem"), private_key("rs.pem"), private_key("ed.pem")};
    std::vector<Key> back;
    assert_true(parse_set(render_jwk_set(keys), back));
    assert_int_equal(back.size(), 3);
    for (size_t i = 0; i < 3; ++i) {
        assert_text(back[i].kid, keys[i].kid);
        assert_text(thumbprint(back[i]), thumbprint(keys[i]));
        assert_true(back[i].alg == keys[i].alg);
    }
}

void a_jwk_set_made_by_pyjwt_parses_with_its_kids(void **) {
    assert_int_equal(published.size(), 3);
    assert_text(published[0].kid, "es");
    assert_text(thumbprint(published[0]), fixture("es.thumbprint"));
    assert_text(thumbprint(published[1]), fixture("rs.thumbprint"));
    assert_text(thumbprint(published[2]), fixture("ed.thumbprint"));
}

void what_is_no_jwk_set_is_refused_with_the_reason(void **) {
    std::vector<Key> keys;
    std::vector<SkippedKey> skipped;
    std::string error;
    assert_false(parse_jwk_set("{", keys, skipped, error));
    assert_non_null(strstr(error.c_str(), "not JSON"));
    assert_false(parse_jwk_set(R"({"keys":[]})", keys, skipped, error));
    assert_non_null(strstr(error.c_str(), "keys"));
    assert_false(parse_jwk_set(R"({"keys":[{"kty":"oct","k":"c2VjcmV0"}]})", keys, skipped, error));
    assert_non_null(strstr(error.c_str(), "no key to verify signatures with"));
}

// Keycloak's realm set holds an RSA-OAEP key for encryption next to its
// signing key: skipped, without alarm, and the set serves.
void a_keycloak_realm_set_skips_its_encryption_key(void **) {
    std::vector<Key> keys;
    std::vector<SkippedKey> skipped;
    assert_true(parse_set(fixture("keycloak-jwks.json"), keys, &skipped));
    assert_int_equal(keys.size(), 1);
    assert_text(keys[0].kid, "kc-sig");
    assert_int_equal(skipped.size(), 1);
    assert_int_equal(skipped[0].position, 1);
    assert_text(skipped[0].kid, "kc-enc");
    assert_non_null(strstr(skipped[0].why.c_str(), "not a signing key"));
    assert_false(skipped[0].alarming);
}

// One JWK, inside a set whose other key is good; what was skipped and why.
SkippedKey skip_of(const std::string &jwk) {
    std::vector<Key> keys;
    std::vector<SkippedKey> skipped;
    std::string good = public_jwk(private_key("ed.pem", "good"));
    assert_true(parse_set("{\"keys\":[" + good + "," + jwk + "]}", keys, &skipped));
    assert_int_equal(keys.size(), 1);
    assert_int_equal(skipped.size(), 1);
    assert_int_equal(skipped[0].position, 2);
    return skipped[0];
}

std::string with_member(std::string jwk, const std::string &member) {
    return jwk.insert(1, member + ",");
}

std::string replaced(std::string text, const std::string &from, const std::string &to) {
    return text.replace(text.find(from), from.size(), to);
}

void what_cannot_verify_is_skipped_with_why(void **) {
    std::string es = public_jwk(private_key("es.pem", "k"));
    std::string rs = public_jwk(private_key("rs.pem", "r"));
    struct Case {
        std::string jwk;
        const char *why;
        bool alarming;
    } cases[] = {
        {replaced(es, "\"use\":\"sig\"", "\"use\":\"enc\""), "use \"enc\"", false},
        {with_member(replaced(es, ",\"use\":\"sig\"", ""), "\"key_ops\":[\"deriveKey\"]"),
         "key_ops without", false},
        {replaced(replaced(rs, "RS256", "RSA-OAEP-256"), ",\"use\":\"sig\"", ""), "encryption",
         false},
        {replaced(es, "ES256", "HS256"), "unsupported alg \"HS256\"", true},
        {replaced(es, "ES256", "ES384"), "does not fit", true},
        {replaced(rs, "RS256", "ES256"), "does not fit", true},
        {replaced(es, "\"kty\":\"EC\"", "\"kty\":\"XY\""), "unsupported kty \"XY\"", true},
        {replaced(es, "P-256", "P-192"), "unsupported crv \"P-192\"", true},
        {replaced(es, "\"x\":\"", "\"x\":\"*"), "base64url", true},
        {replaced(es, "\"x\":\"", "\"x\":\"AAAA"), "32 bytes", true},
        {with_member(es, "\"d\":\"AAAA\""), "private parameter \"d\"", true},
        {with_member(rs, "\"p\":\"AAAA\""), "private parameter \"p\"", true},
        {R"({"kty":"oct","kid":"o","k":"c2VjcmV0"})", "private parameter \"k\"", true},
        {fixture("rsa1024-jwk.json"), "weak RSA key of 1024 bits", true},
        {replaced(rs, "\"e\":\"AQAB\"", "\"e\":\"AQ\""), "RSA public key check", true},
        {R"({"kty":"OKP","crv":"X25519","x":"AAAA"})", "unsupported crv \"X25519\"", true},
        {R"("a string")", "not a JSON object", true},
    };
    for (const Case &c : cases) {
        SkippedKey skipped = skip_of(c.jwk);
        if (strstr(skipped.why.c_str(), c.why) == nullptr || skipped.alarming != c.alarming) {
            fail_msg("%s: skipped for \"%s\", not \"%s\"", c.jwk.c_str(), skipped.why.c_str(),
                     c.why);
        }
    }
    // A point off the curve.
    size_t y = es.find("\"y\":\"") + 5;
    std::string off_curve = es;
    off_curve[y] = off_curve[y] == 'A' ? 'B' : 'A';
    assert_non_null(strstr(skip_of(off_curve).why.c_str(), "not on P-256"));
}

// RFC 7517 §4.5: a kid names one key; the first one listed keeps it.
void a_duplicate_kid_keeps_the_first_key(void **) {
    std::string first = public_jwk(private_key("es.pem", "same"));
    std::string second = public_jwk(private_key("rs.pem", "same"));
    std::vector<Key> keys;
    std::vector<SkippedKey> skipped;
    assert_true(parse_set("{\"keys\":[" + first + "," + second + "]}", keys, &skipped));
    assert_int_equal(keys.size(), 1);
    assert_true(keys[0].alg == Alg::es256);
    assert_int_equal(skipped.size(), 1);
    assert_text(skipped[0].kid, "same");
    assert_non_null(strstr(skipped[0].why.c_str(), "kid"));
    assert_true(skipped[0].alarming);
}

// A JWK's alg binds its key to that one; without, to those of its type and
// curve (RFC 8725 §3.1).
void a_jwk_binds_its_key_to_the_algorithms_of_its_type_and_curve(void **) {
    const AlgSet rsa = alg_bit(Alg::rs256) | alg_bit(Alg::rs384) | alg_bit(Alg::rs512) |
                       alg_bit(Alg::ps256) | alg_bit(Alg::ps384) | alg_bit(Alg::ps512);
    assert_int_equal(find_key(trusted, "rsa-any")->accepts, rsa);
    assert_int_equal(find_key(trusted, "rsa-rs256")->accepts, alg_bit(Alg::rs256));
    assert_int_equal(find_key(trusted, "p384")->accepts, alg_bit(Alg::es384));
    std::vector<Key> keys;
    std::string p384 = fixture("p384-jwk.json");  // no alg
    assert_true(parse_set("{\"keys\":[" + p384 + "]}", keys));
    assert_int_equal(keys[0].accepts, alg_bit(Alg::es384));
    assert_text(thumbprint(keys[0]), thumbprint(*find_key(trusted, "p384")));
}

// ---- signatures -------------------------------------------------------------------

void es256_signatures_are_raw_64_bytes(void **) {
    Key key = private_key("es.pem");
    std::string signature;
    assert_true(sign_bytes(key, "a.b", signature));
    assert_int_equal(signature.size(), 64);
    assert_true(verify_bytes(key, "a.b", signature));
    assert_false(verify_bytes(key, "a.c", signature));
}

void what_we_sign_verifies_and_a_changed_byte_does_not(void **) {
    for (const char *name : {"es.pem", "rs.pem", "ed.pem"}) {
        Key key = private_key(name);
        std::string jws;
        assert_true(sign_compact(key, R"({"alg":"x"})", R"({"a":1})", jws));
        size_t dot = jws.rfind('.');
        std::string signature = *oauth::decode_base64url(jws.substr(dot + 1));
        assert_true(verify_bytes(key, jws.substr(0, dot), signature));
        signature[signature.size() / 2] ^= 1;
        assert_false(verify_bytes(key, jws.substr(0, dot), signature));
    }
}

// ---- the verifier, check by check ----------------------------------------------------

void tokens_of_each_algorithm_made_by_pyjwt_verify(void **) {
    for (const char *name : {"valid-es256", "valid-rs256", "valid-eddsa"}) {
        VerifiedToken out;
        assert_int_equal(verify_fixture(name, out), JwtCheck::ok);
        assert_text(out.client_id, "app");
        assert_text(out.subject, "app");
        assert_text(out.scope, "a b");
        assert_text(out.issuer, kIssuer);
        assert_text(out.jti, "j1");
        assert_int_equal(out.expires_at, 1700003600);
        assert_int_equal(out.issued_at, 1700000000);
        assert_int_equal(out.audience.size(), 1);
        assert_text(out.audience[0], "https://api.test");
    }
}

JwtCheck verify_trusted(const std::string &name) {
    VerifierPolicy policy{kIssuer, &trusted, 0, {}};
    VerifiedToken out;
    return verify_access_token(fixture(name + ".jwt"), policy, kNow, std::nullopt, out);
}

void a_trusted_issuers_tokens_of_all_ten_algorithms_verify(void **) {
    for (const char *alg : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                            "ES512", "EdDSA"}) {
        if (verify_trusted(std::string("trusted-") + alg) != JwtCheck::ok) {
            fail_msg("a %s token made by PyJWT is refused", alg);
        }
    }
}

void an_alg_off_its_keys_type_or_curve_is_refused(void **) {
    for (const char *name :
         {"trusted-es384-on-p256", "trusted-es256-on-p384", "trusted-ps256-on-ec",
          "trusted-ps256-on-rs256-key", "trusted-es256-on-rsa", "trusted-hs256-on-rsa"}) {
        if (verify_trusted(name) != JwtCheck::alg) {
            fail_msg("%s is not refused for its alg", name);
        }
    }
}

// ES384 and ES512 signatures are the raw R‖S of 96 and 132 bytes (RFC 7518
// §3.4); their DER, or a P-256-sized one, does not verify.
void ecdsa_signatures_are_sized_for_their_curve(void **) {
    std::string token = fixture("trusted-ES512.jwt");
    size_t dot = token.rfind('.');
    std::string signature = *oauth::decode_base64url(token.substr(dot + 1));
    assert_int_equal(signature.size(), 132);
    assert_non_null(find_key(trusted, "p521"));
    const Key &p521 = *find_key(trusted, "p521");
    assert_true(verify_bytes(p521, Alg::es512, token.substr(0, dot), signature));
    assert_false(verify_bytes(p521, Alg::es512, token.substr(0, dot), signature.substr(0, 128)));
    assert_false(verify_bytes(p521, Alg::es256, token.substr(0, dot), signature));
    token = fixture("trusted-ES384.jwt");
    dot = token.rfind('.');
    assert_int_equal(oauth::decode_base64url(token.substr(dot + 1))->size(), 96);
}

void three_base64url_parts(void **) {
    assert_int_equal(verify_fixture("two-parts"), JwtCheck::shape);
    assert_int_equal(verify_fixture("four-parts"), JwtCheck::shape);
    assert_int_equal(verify_fixture("padded"), JwtCheck::shape);
    assert_int_equal(verify_fixture("alg-none"), JwtCheck::shape);  // its empty signature
}

void typ_must_be_at_jwt(void **) {
    assert_int_equal(verify_fixture("typ-application"), JwtCheck::ok);
    assert_int_equal(verify_fixture("wrong-typ"), JwtCheck::typ);
    assert_int_equal(verify_fixture("no-typ"), JwtCheck::typ);
}

// The worker keeps the headers it parsed, by their text: each token is
// checked with its own header however many others came between, and one
// that differs by a member (crit) is never taken for the one it resembles.
void each_token_is_checked_with_its_own_header(void **) {
    Key key = private_key("es.pem", "hk");
    std::vector<Key> keys{key};
    VerifierPolicy policy{kIssuer, &keys, 0, {}};
    std::string claims = R"({"iss":"https://issuer.test","sub":"app","client_id":"app",)"
                         R"("exp":1700000200})";
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < 12; ++i) {
            std::string n = std::to_string(i);
            std::string good, bad;
            assert_true(sign_compact(
                key, R"({"alg":"ES256","typ":"at+jwt","kid":"hk","n":)" + n + "}", claims, good));
            assert_true(sign_compact(
                key, R"({"alg":"ES256","typ":"at+jwt","kid":"hk","crit":["n"],"n":)" + n + "}",
                claims, bad));
            VerifiedToken passed, refused;
            assert_int_equal(verify_access_token(good, policy, kNow, std::nullopt, passed),
                             JwtCheck::ok);
            assert_int_equal(verify_access_token(bad, policy, kNow, std::nullopt, refused),
                             JwtCheck::crit);
        }
    }
}

void an_unknown_crit_extension_is_refused(void **) {
    assert_int_equal(verify_fixture("crit"), JwtCheck::crit);
}

void alg_must_be_exactly_the_keys(void **) {
    assert_int_equal(verify_fixture("alg-none-with-signature"), JwtCheck::alg);
    assert_int_equal(verify_fixture("hs256-public-key"), JwtCheck::alg);
    assert_int_equal(verify_fixture("rs256-names-ec-key"), JwtCheck::alg);
    assert_int_equal(verify_fixture("es256-names-rsa-key"), JwtCheck::alg);
    assert_int_equal(verify_fixture("wrong-kid"), JwtCheck::kid);
}

void the_signature(void **) {
    assert_int_equal(verify_fixture("tampered"), JwtCheck::signature);
    assert_int_equal(verify_fixture("other-key"), JwtCheck::signature);
    assert_int_equal(verify_fixture("der-signature"), JwtCheck::signature);
}

void a_known_good_signature_skips_only_the_signature(void **) {
    VerifierPolicy policy{kIssuer, &published, 0, {}};
    VerifiedToken out;
    KeyFingerprint es = key_fingerprint(*find_key(published, "es"));
    assert_int_equal(verify_access_token(fixture("tampered.jwt"), policy, kNow, es, out),
                     JwtCheck::ok);
    assert_int_equal(verify_access_token(fixture("expired.jwt"), policy, kNow, es, out),
                     JwtCheck::exp);
    assert_int_equal(
        verify_access_token(fixture("alg-none-with-signature.jwt"), policy, kNow, es, out),
        JwtCheck::alg);
}

// A verdict counts for the key that gave it only: the same kid naming
// another key (replaced across a reload) checks the signature again.
void a_signature_known_good_for_another_key_is_checked(void **) {
    KeyFingerprint es = key_fingerprint(*find_key(published, "es"));
    KeyFingerprint other = key_fingerprint(private_key("rs.pem"));
    assert_memory_not_equal(es.data(), other.data(), es.size());
    // of the public parameters only: the signer's key and the JWK name one key
    assert_memory_equal(key_fingerprint(private_key("es.pem")).data(), es.data(), es.size());
    VerifierPolicy policy{kIssuer, &published, 0, {}};
    VerifiedToken out;
    assert_int_equal(verify_access_token(fixture("tampered.jwt"), policy, kNow, other, out),
                     JwtCheck::signature);
    assert_int_equal(verify_access_token(fixture("valid-es256.jwt"), policy, kNow, other, out),
                     JwtCheck::ok);
    assert_memory_equal(out.key.data(), es.data(), es.size());  // the key that verified it
}

// Each form of a signature that verifies: an ES256 signature's S and n - S
// both do (OpenSSL, like most verifiers, takes either), so they share the
// digest revocation goes by. No other form passes: base64url with bits the
// encoding leaves zero, padding, DER for R‖S, an Ed25519 S of L or more
// (RFC 8032 §5.1.7).
void every_signature_that_verifies_shares_the_revocation_digest(void **) {
    std::string valid = fixture("valid-es256.jwt"), twin = fixture("es256-high-s-twin.jwt");
    assert_true(twin != valid);
    VerifiedToken out;
    assert_int_equal(verify_fixture("es256-high-s-twin", out), JwtCheck::ok);
    JwsDigests of_valid = digest_jws(valid), of_twin = digest_jws(twin);
    assert_memory_equal(of_valid.signed_part.data(), of_twin.signed_part.data(), 32);
    assert_memory_not_equal(of_valid.text.data(), of_twin.text.data(), 32);
    assert_memory_equal(of_valid.text.data(), oauth::digest_token(valid).data(), 32);
    std::string signing_input = valid.substr(0, valid.rfind('.'));
    assert_memory_equal(of_valid.signed_part.data(), oauth::digest_token(signing_input).data(), 32);

    assert_int_equal(verify_fixture("es256-non-canonical-signature"), JwtCheck::shape);
    assert_int_equal(verify_fixture("padded"), JwtCheck::shape);
    assert_int_equal(verify_fixture("der-signature"), JwtCheck::signature);
    assert_int_equal(verify_fixture("valid-eddsa"), JwtCheck::ok);
    assert_int_equal(verify_fixture("eddsa-s-plus-l"), JwtCheck::signature);
}

void iss_must_be_the_issuer(void **) {
    assert_int_equal(verify_fixture("wrong-iss"), JwtCheck::iss);
}

void exp_nbf_and_iat_with_the_leeway(void **) {
    VerifiedToken out;
    assert_int_equal(verify_fixture("expired"), JwtCheck::exp);
    assert_int_equal(verify_fixture("expired", out, 49), JwtCheck::exp);
    assert_int_equal(verify_fixture("expired", out, 51), JwtCheck::ok);
    assert_int_equal(verify_fixture("no-exp"), JwtCheck::exp);
    assert_int_equal(verify_fixture("nbf-future"), JwtCheck::nbf);
    assert_int_equal(verify_fixture("nbf-future", out, 100), JwtCheck::ok);
    assert_int_equal(verify_fixture("iat-future"), JwtCheck::iat);
    assert_int_equal(verify_fixture("iat-future", out, 100), JwtCheck::ok);
}

void scope_from_scope_or_scp(void **) {
    VerifiedToken out;
    assert_int_equal(verify_fixture("scp-array", out), JwtCheck::ok);
    assert_text(out.scope, "a b");
    out = VerifiedToken();
    assert_int_equal(verify_fixture("scp-string", out), JwtCheck::ok);
    assert_text(out.scope, "a b");
    assert_int_equal(verify_fixture("scope-number"), JwtCheck::scope);
}

// Each scp element is one scope: joined on spaces, ["b admin"] would grant admin.
void an_scp_element_that_is_not_one_scope_is_refused(void **) {
    assert_int_equal(verify_fixture("scp-element-with-space"), JwtCheck::scope);
    assert_int_equal(verify_fixture("scp-element-with-tab"), JwtCheck::scope);
    assert_int_equal(verify_fixture("scp-empty-element"), JwtCheck::scope);
}

void the_client_and_the_audience(void **) {
    VerifiedToken out;
    assert_int_equal(verify_fixture("azp-client", out), JwtCheck::ok);
    assert_text(out.client_id, "other");
    out = VerifiedToken();
    assert_int_equal(verify_fixture("aud-array", out), JwtCheck::ok);
    assert_int_equal(out.audience.size(), 2);
    assert_text(out.audience[1], "https://b.test");
    assert_int_equal(verify_fixture("no-sub"), JwtCheck::sub);
    assert_int_equal(verify_fixture("crlf-client"), JwtCheck::client_claim);  // header injection
    assert_int_equal(verify_fixture("crlf-audience"), JwtCheck::aud);
}

// ---- issuance -------------------------------------------------------------------

void issued_tokens_carry_the_rfc9068_claims_and_verify(void **) {
    std::vector<Key> keys = {private_key("es.pem"), private_key("rs.pem"), private_key("ed.pem")};
    for (const Key &key : keys) {
        AccessTokenClaims claims{kIssuer, "app", {kIssuer}, kNow, kNow + 60, "a b"};
        std::string token, again;
        assert_true(issue_access_token(key, claims, token));
        assert_true(issue_access_token(key, claims, again));
        VerifierPolicy policy{kIssuer, &keys, 0, {}};
        VerifiedToken out, out_again;
        assert_int_equal(verify_access_token(token, policy, kNow, std::nullopt, out), JwtCheck::ok);
        assert_int_equal(verify_access_token(again, policy, kNow, std::nullopt, out_again),
                         JwtCheck::ok);
        assert_text(out.client_id, "app");
        assert_text(out.subject, "app");
        assert_text(out.scope, "a b");
        assert_text(out.audience[0], kIssuer);
        assert_int_equal(out.expires_at, kNow + 60);
        assert_true(out.jti.size() * 6 >= 128);
        assert_true(out.jti != out_again.jti);
        std::string header = *oauth::decode_base64url(token.substr(0, token.find('.')));
        assert_text(header, "{\"alg\":\"" + std::string(alg_name(key.alg)) +
                                "\",\"typ\":\"at+jwt\",\"kid\":\"" + key.kid + "\"}");
    }
}

void an_empty_scope_is_left_out(void **) {
    std::vector<Key> keys = {private_key("es.pem")};
    AccessTokenClaims claims{kIssuer, "app", {kIssuer}, kNow, kNow + 60, ""};
    std::string token;
    assert_true(issue_access_token(keys[0], claims, token));
    size_t first = token.find('.');
    std::string payload =
        *oauth::decode_base64url(token.substr(first + 1, token.rfind('.') - first - 1));
    assert_null(strstr(payload.c_str(), "scope"));
}

void only_two_dots_look_like_a_jwt(void **) {
    assert_true(looks_like_jwt("a.b.c"));
    assert_false(looks_like_jwt("abc"));
    assert_false(looks_like_jwt("a.bc"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_key_type_signs_its_one_algorithm),
        cmocka_unit_test(kid_defaults_to_the_rfc7638_thumbprint),
        cmocka_unit_test(other_curves_types_weak_rsa_and_public_keys_are_refused),
        cmocka_unit_test(the_public_jwk_has_no_private_parameter),
        cmocka_unit_test(a_rendered_jwk_set_parses_back_to_the_same_keys),
        cmocka_unit_test(a_jwk_set_made_by_pyjwt_parses_with_its_kids),
        cmocka_unit_test(what_is_no_jwk_set_is_refused_with_the_reason),
        cmocka_unit_test(a_keycloak_realm_set_skips_its_encryption_key),
        cmocka_unit_test(what_cannot_verify_is_skipped_with_why),
        cmocka_unit_test(a_duplicate_kid_keeps_the_first_key),
        cmocka_unit_test(a_jwk_binds_its_key_to_the_algorithms_of_its_type_and_curve),
        cmocka_unit_test(es256_signatures_are_raw_64_bytes),
        cmocka_unit_test(what_we_sign_verifies_and_a_changed_byte_does_not),
        cmocka_unit_test(tokens_of_each_algorithm_made_by_pyjwt_verify),
        cmocka_unit_test(a_trusted_issuers_tokens_of_all_ten_algorithms_verify),
        cmocka_unit_test(an_alg_off_its_keys_type_or_curve_is_refused),
        cmocka_unit_test(ecdsa_signatures_are_sized_for_their_curve),
        cmocka_unit_test(three_base64url_parts),
        cmocka_unit_test(typ_must_be_at_jwt),
        cmocka_unit_test(an_unknown_crit_extension_is_refused),
        cmocka_unit_test(each_token_is_checked_with_its_own_header),
        cmocka_unit_test(alg_must_be_exactly_the_keys),
        cmocka_unit_test(the_signature),
        cmocka_unit_test(a_known_good_signature_skips_only_the_signature),
        cmocka_unit_test(a_signature_known_good_for_another_key_is_checked),
        cmocka_unit_test(every_signature_that_verifies_shares_the_revocation_digest),
        cmocka_unit_test(iss_must_be_the_issuer),
        cmocka_unit_test(exp_nbf_and_iat_with_the_leeway),
        cmocka_unit_test(scope_from_scope_or_scp),
        cmocka_unit_test(an_scp_element_that_is_not_one_scope_is_refused),
        cmocka_unit_test(the_client_and_the_audience),
        cmocka_unit_test(issued_tokens_carry_the_rfc9068_claims_and_verify),
        cmocka_unit_test(an_empty_scope_is_left_out),
        cmocka_unit_test(only_two_dots_look_like_a_jwt),
    };
    return cmocka_run_group_tests(tests, make_fixtures, nullptr);
}
