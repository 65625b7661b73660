// Introspection (RFC 7662) and revocation (RFC 7009) on a real registry and store.
#include "unit.hpp"

#include <cstring>

#include "core/http/base64.hpp"
#include "core/jose/gate.hpp"
#include "core/jose/jws.hpp"
#include "core/tokens/token.hpp"
#include "core/endpoints/token_admin.hpp"
#include "fixtures.hpp"

namespace {

constexpr uint32_t kNow = 1700000000;
const std::string kToken = "live-token-of-app-0123456789abcdefghijklmno";

struct Admin {
    std::unique_ptr<oauth::Registry> registry = fixture::standard_registry();
    fixture::Store memory;
    oauth::TokenStore store = memory.open();
    std::vector<uint64_t> revoked_memory = std::vector<uint64_t>(2048);
    oauth::RevocationList revoked = open_revocations();
    std::string authorization;
    std::string body;

    Admin() {
        uint32_t retry = 0;
        store.insert(oauth::digest_token(kToken), "app", "a b c", 0b011, kNow - 10, kNow + 60, kNow,
                     retry);
    }

    oauth::RevocationList open_revocations() {
        size_t size = revoked_memory.size() * sizeof(uint64_t);
        assert_true(oauth::RevocationList::format(revoked_memory.data(), size));
        return oauth::RevocationList(revoked_memory.data(), {});
    }

    oauth::FormRequest request(const std::string &caller, const std::string &form) {
        authorization = fixture::basic_header(caller);
        body = form;
        oauth::FormRequest r;
        r.method = "POST";
        r.content_type = "application/x-www-form-urlencoded";
        r.authorization_headers = 1;
        r.authorization = authorization;
        r.body = body;
        return r;
    }

    oauth::HttpResponse introspect(const std::string &caller, const std::string &form,
                                   std::string_view issuer = "https://as.example") {
        return oauth::handle_introspection_request(request(caller, form), *registry, store,
                                                   {{"test"}, issuer}, kNow);
    }

    oauth::HttpResponse revoke(const std::string &caller, const std::string &form) {
        return oauth::handle_revocation_request(request(caller, form), *registry, store,
                                                {{"test"}, "", nullptr, &revoked}, kNow);
    }
};

void introspection_answers_an_active_token(void **) {
    Admin admin;
    oauth::HttpResponse r = admin.introspect("auditor:auditor-secret", "token=" + kToken);
    assert_int_equal(r.status, 200);
    assert_text(r.body,
                "{\"active\":true,\"client_id\":\"app\",\"scope\":\"a b\",\"token_type\":"
                "\"Bearer\",\"exp\":1700000060,\"iat\":1699999990,\"sub\":\"app\",\"iss\":"
                "\"https://as.example\"}");
    assert_true(r.no_store);
}

void introspection_leaves_out_iss_without_issuer(void **) {
    Admin admin;
    oauth::HttpResponse r = admin.introspect("auditor:auditor-secret", "token=" + kToken, "");
    assert_null(strstr(r.body.c_str(), "iss"));
}

void introspection_answers_inactive_for_anything_else(void **) {
    Admin admin;
    assert_text(admin.introspect("auditor:auditor-secret", "token=unknown").body,
                "{\"active\":false}");
    assert_text(admin.introspect("auditor:auditor-secret", "token=%22%00").body,
                "{\"active\":false}");
}

void introspection_refuses_callers(void **) {
    Admin admin;
    oauth::HttpResponse wrong = admin.introspect("auditor:nope", "token=" + kToken);
    assert_int_equal(wrong.status, 401);
    assert_text(wrong.www_authenticate, "Basic realm=\"test\"");
    oauth::HttpResponse no_right = admin.introspect("app:app-secret", "token=" + kToken);
    assert_int_equal(no_right.status, 403);
    assert_non_null(strstr(no_right.body.c_str(), "unauthorized_client"));
    oauth::HttpResponse missing = admin.introspect("auditor:auditor-secret", "token_type_hint=x");
    assert_int_equal(missing.status, 400);
    assert_non_null(strstr(missing.body.c_str(), "invalid_request"));
}

void revocation_by_a_foreign_client_changes_nothing(void **) {
    Admin admin;
    oauth::HttpResponse r = admin.revoke("auditor:auditor-secret", "token=" + kToken);
    assert_int_equal(r.status, 200);
    assert_text(r.body, "");
    oauth::TokenGrant grant;
    assert_true(admin.store.find(oauth::digest_token(kToken), kNow, grant));
    assert_false(admin.revoked.contains(oauth::digest_token(kToken), kNow));
}

void revocation_by_the_owner_removes_the_token(void **) {
    Admin admin;
    assert_int_equal(admin.revoke("app:app-secret", "token=" + kToken).status, 200);
    oauth::TokenGrant grant;
    assert_false(admin.store.find(oauth::digest_token(kToken), kNow, grant));
    // recorded until the token would have expired, so no older state file brings it back
    assert_true(admin.revoked.contains(oauth::digest_token(kToken), kNow + 59));
    assert_false(admin.revoked.contains(oauth::digest_token(kToken), kNow + 60));
    assert_text(admin.introspect("auditor:auditor-secret", "token=" + kToken).body,
                "{\"active\":false}");
    assert_int_equal(admin.revoke("app:app-secret", "token=" + kToken).status, 200);
}

void revocation_refuses_unauthenticated_callers(void **) {
    Admin admin;
    assert_int_equal(admin.revoke("app:nope", "token=" + kToken).status, 401);
    oauth::TokenGrant grant;
    assert_true(admin.store.find(oauth::digest_token(kToken), kNow, grant));
}

// An ES256 key of the issuer, a JWT it signed for "app" (live until
// kNow + 60), and the verdict cache every verifier of a test shares.
struct OwnJwt {
    const char *issuer = "https://as.example";
    std::vector<oauth::jose::Key> keys = std::vector<oauth::jose::Key>(1);
    std::vector<char> verdicts = std::vector<char>(oauth::jose::VerdictCache::kMinRegionSize);
    oauth::jose::GatePolicy policy;
    std::string token;

    explicit OwnJwt(Admin &admin)
        : policy{issuer, &keys, admin.registry.get(), nullptr, 0, &admin.revoked} {
        keys[0].pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
        keys[0].kid = "k";
        oauth::jose::VerdictCache::format(verdicts.data(), verdicts.size());
        token = sign(kNow + 60);
    }
    OwnJwt(const OwnJwt &) = delete;

    std::string sign(uint32_t expires_at) {
        oauth::jose::AccessTokenClaims claims{issuer,    "app",      {issuer},
                                              kNow - 10, expires_at, "a b"};
        std::string jwt;
        assert_true(oauth::jose::issue_access_token(keys[0], claims, jwt));
        return jwt;
    }
    oauth::jose::JwtVerifier verifier() {
        return oauth::jose::JwtVerifier(policy, oauth::jose::VerdictCache(verdicts.data(), {}));
    }
};

// An own JWT: its claims when it passes every check; a forged or expired
// one exactly {"active":false}.
void introspection_answers_for_own_jwts(void **) {
    Admin admin;
    OwnJwt own(admin);
    const std::string &jwt = own.token;
    std::string expired = own.sign(kNow);
    oauth::jose::JwtVerifier verifier = own.verifier();
    auto introspect = [&](const std::string &token) {
        return oauth::handle_introspection_request(
                   admin.request("auditor:auditor-secret", "token=" + token), *admin.registry,
                   admin.store, {{"test"}, own.issuer, &verifier}, kNow)
            .body;
    };
    std::string active = introspect(jwt);
    std::string jti = verifier.claims().jti;
    assert_text(active,
                "{\"active\":true,\"client_id\":\"app\",\"scope\":\"a b\",\"token_type\":"
                "\"Bearer\",\"exp\":1700000060,\"iat\":1699999990,\"sub\":\"app\",\"iss\":"
                "\"https://as.example\",\"aud\":[\"https://as.example\"],\"jti\":\"" +
                    jti + "\"}");
    assert_text(introspect(expired), "{\"active\":false}");
    std::string forged = jwt;
    forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
    assert_text(introspect(forged), "{\"active\":false}");
    assert_text(introspect(kToken).substr(0, 14), "{\"active\":true");  // opaque ones still
}

// An own JWT lives in no store: its owner's revocation lists it until it
// expires, and the gate then refuses it though both of its caches vouch for
// it; another client's revocation changes nothing.
void revocation_of_an_own_jwt_reaches_the_gate(void **) {
    Admin admin;
    OwnJwt own(admin);
    const std::string &jwt = own.token;
    oauth::jose::JwtVerifier gate = own.verifier();
    oauth::jose::JwtVerifier endpoint = own.verifier();
    oauth::TokenAdminConfig config{{"test"}, own.issuer, &endpoint, &admin.revoked};
    auto revoke = [&](const std::string &caller) {
        return oauth::handle_revocation_request(admin.request(caller, "token=" + jwt),
                                                *admin.registry, admin.store, config, kNow)
            .status;
    };
    oauth::TokenGrant grant;
    assert_true(gate.verify(jwt, kNow, grant));  // now in the verdict and claims caches
    assert_true(gate.verify(jwt, kNow, grant));

    oauth::Digest listed = oauth::jose::digest_jws(jwt).signed_part;
    assert_int_equal(revoke("auditor:auditor-secret"), 200);
    assert_false(admin.revoked.contains(listed, kNow));
    assert_true(gate.verify(jwt, kNow, grant));

    assert_int_equal(revoke("app:app-secret"), 200);
    // remembered past exp (kNow + 60) by the most leeway a location may grant
    assert_true(admin.revoked.contains(listed, kNow + 60 + oauth::jose::kMaxLeeway - 1));
    assert_false(admin.revoked.contains(listed, kNow + 60 + oauth::jose::kMaxLeeway));
    assert_false(gate.verify(jwt, kNow, grant));
    assert_int_equal(int(gate.failure()), int(oauth::jose::JwtCheck::revoked));
    // a fresh verifier, as another worker's, with the verdict cache alone
    oauth::jose::JwtVerifier other = own.verifier();
    assert_false(other.verify(jwt, kNow + 1, grant));
    assert_text(
        oauth::handle_introspection_request(admin.request("auditor:auditor-secret", "token=" + jwt),
                                            *admin.registry, admin.store, config, kNow)
            .body,
        "{\"active\":false}");
    assert_int_equal(revoke("app:app-secret"), 200);  // again: still 200
}

// The twin of a revoked JWT (S replaced by n - S: it verifies too) is the
// same token: refused by the gate, inactive at introspection.
void a_revoked_jwts_twin_stays_revoked(void **) {
    Admin admin;
    OwnJwt own(admin);
    std::string twin = fixture::high_s_twin(own.token);
    oauth::jose::JwtVerifier gate = own.verifier();
    oauth::jose::JwtVerifier endpoint = own.verifier();
    oauth::TokenAdminConfig config{{"test"}, own.issuer, &endpoint, &admin.revoked};
    auto introspect = [&](const std::string &token) {
        return oauth::handle_introspection_request(
                   admin.request("auditor:auditor-secret", "token=" + token), *admin.registry,
                   admin.store, config, kNow)
            .body;
    };
    oauth::TokenGrant grant;
    assert_true(gate.verify(twin, kNow, grant));
    assert_text(introspect(twin).substr(0, 14), "{\"active\":true");
    assert_int_equal(
        oauth::handle_revocation_request(admin.request("app:app-secret", "token=" + own.token),
                                         *admin.registry, admin.store, config, kNow)
            .status,
        200);
    assert_false(gate.verify(twin, kNow, grant));
    assert_int_equal(int(gate.failure()), int(oauth::jose::JwtCheck::revoked));
    assert_text(introspect(twin), "{\"active\":false}");
}

// With a fleet: what the other nodes must hear of goes to the outbox, and
// nothing else does.
void revocations_for_the_fleet_go_to_the_outbox(void **) {
    Admin admin;
    std::vector<uint64_t> memory(oauth::fleet::Outbox::kMinRegionSize / sizeof(uint64_t));
    assert_true(oauth::fleet::Outbox::format(memory.data(), memory.size() * sizeof(uint64_t)));
    oauth::fleet::Outbox outbox(memory.data(), {});
    OwnJwt own(admin);
    const std::string &jwt = own.token;
    oauth::jose::JwtVerifier endpoint = own.verifier();
    oauth::TokenAdminConfig config{{"test"}, own.issuer, &endpoint, &admin.revoked, &outbox, 3600};
    auto revoke = [&](const std::string &caller, const std::string &token) {
        return oauth::handle_revocation_request(admin.request(caller, "token=" + token),
                                                *admin.registry, admin.store, config, kNow)
            .status;
    };
    oauth::fleet::Revocation out;
    uint64_t sequence = 0;

    assert_int_equal(revoke("app:app-secret", kToken), 200);  // held here: done here
    assert_int_equal(outbox.waiting(), 0);
    assert_int_equal(revoke("auditor:auditor-secret", jwt), 200);  // not the auditor's
    assert_int_equal(outbox.waiting(), 0);

    assert_int_equal(revoke("app:app-secret", jwt), 200);
    assert_true(outbox.front(out, sequence));
    assert_true(out.kind == oauth::fleet::Kind::jwt);
    assert_memory_equal(out.digest.data(), oauth::jose::digest_jws(jwt).signed_part.data(), 32);
    assert_text(out.client, "app");
    assert_int_equal(out.expires_at, kNow + 60 + oauth::jose::kMaxLeeway);
    assert_int_equal(out.revoked_at, kNow);
    outbox.pop(sequence);

    // Not held here: maybe another node's, which decides whether it is app's.
    assert_int_equal(revoke("app:app-secret", "a-token-of-another-node"), 200);
    assert_true(outbox.front(out, sequence));
    assert_true(out.kind == oauth::fleet::Kind::opaque);
    assert_memory_equal(out.digest.data(), oauth::digest_token("a-token-of-another-node").data(),
                        32);
    assert_text(out.client, "app");
    assert_int_equal(out.expires_at, kNow + 3600);
    assert_false(admin.revoked.contains(out.digest, kNow));
}

// Lists revocations of other tokens charged to `client` until it holds its
// share of the admin's list, all live until kNow + 30.
void fill_share(Admin &admin, std::string_view client) {
    oauth::RevocationCharge charge{oauth::RevocationList::client_tag(client),
                                   admin.revoked.default_share()};
    uint32_t retry_after = 0;
    for (uint32_t i = 0; i < charge.share; ++i) {
        assert_int_equal(int(admin.revoked.add(oauth::digest_token("listed-" + std::to_string(i)),
                                               kNow + 30, kNow, charge, retry_after)),
                         int(oauth::RevocationAdded::added));
    }
}

// RFC 7009 §2.2.1: a revocation the list cannot record is 503 with
// Retry-After, never 200; the token keeps passing, and the client knows it.
void a_revocation_past_the_client_share_is_503(void **) {
    Admin admin;
    OwnJwt own(admin);
    oauth::jose::JwtVerifier gate = own.verifier();
    oauth::jose::JwtVerifier endpoint = own.verifier();
    oauth::TokenAdminConfig config{{"test"}, own.issuer, &endpoint, &admin.revoked};
    fill_share(admin, "app");

    oauth::HttpResponse r =
        oauth::handle_revocation_request(admin.request("app:app-secret", "token=" + own.token),
                                         *admin.registry, admin.store, config, kNow);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after, 30);  // when its soonest entry expires
    assert_non_null(strstr(r.body.c_str(), "\"temporarily_unavailable\""));
    assert_text(r.outcome.result, "temporarily_unavailable");
    assert_text(r.outcome.client, "app");
    assert_int_equal(int(r.log), int(oauth::HttpResponse::Log::warn));
    assert_non_null(strstr(r.log_message.c_str(), "client \"app\""));
    assert_null(strstr(r.log_message.c_str(), own.token.c_str()));
    oauth::TokenGrant grant;
    assert_true(gate.verify(own.token, kNow, grant));

    // An opaque token is not revoked either: it stays live until the retry.
    r = admin.revoke("app:app-secret", "token=" + kToken);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.retry_after, 30);
    assert_true(admin.store.find(oauth::digest_token(kToken), kNow, grant));
    assert_false(admin.revoked.contains(oauth::digest_token(kToken), kNow));

    // Another client's revocation is recorded all the same.
    uint32_t retry = 0;
    admin.store.insert(oauth::digest_token("auditor-token"), "auditor", "", 0, kNow, kNow + 60,
                       kNow, retry);
    assert_int_equal(admin.revoke("auditor:auditor-secret", "token=auditor-token").status, 200);
    assert_false(admin.store.find(oauth::digest_token("auditor-token"), kNow, grant));
    assert_true(admin.revoked.contains(oauth::digest_token("auditor-token"), kNow));

    // Once its entries expire, the client's revocation is recorded.
    r = oauth::handle_revocation_request(admin.request("app:app-secret", "token=" + kToken),
                                         *admin.registry, admin.store, config, kNow + 30);
    assert_int_equal(r.status, 200);
    assert_false(admin.store.find(oauth::digest_token(kToken), kNow + 30, grant));
    assert_true(admin.revoked.contains(oauth::digest_token(kToken), kNow + 30));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(introspection_answers_an_active_token),
        cmocka_unit_test(introspection_leaves_out_iss_without_issuer),
        cmocka_unit_test(introspection_answers_inactive_for_anything_else),
        cmocka_unit_test(introspection_refuses_callers),
        cmocka_unit_test(revocation_by_a_foreign_client_changes_nothing),
        cmocka_unit_test(revocation_by_the_owner_removes_the_token),
        cmocka_unit_test(revocation_refuses_unauthenticated_callers),
        cmocka_unit_test(introspection_answers_for_own_jwts),
        cmocka_unit_test(revocation_of_an_own_jwt_reaches_the_gate),
        cmocka_unit_test(a_revoked_jwts_twin_stays_revoked),
        cmocka_unit_test(revocations_for_the_fleet_go_to_the_outbox),
        cmocka_unit_test(a_revocation_past_the_client_share_is_503),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
