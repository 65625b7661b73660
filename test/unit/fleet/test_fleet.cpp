// core/fleet: stream entries signed and verified with real keys (made here
// with OpenSSL), forged and garbled ones refused, entries applied to a real
// token store and revocation list, batches of them applied and the position
// moved, what the link does after its continuity check and when the list is
// published again, the outbox over plain memory, how long the stream keeps
// entries, and the bounds of the read at start.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>
#include <vector>

#include "unit.hpp"

#include "core/http/base64.hpp"
#include "core/fleet/entry.hpp"
#include "core/fleet/horizon.hpp"
#include "core/fleet/outbox.hpp"
#include "core/fleet/start_read.hpp"
#include "core/fleet/stream.hpp"
#include "core/fleet/stream_id.hpp"
#include "core/jose/key.hpp"
#include "fixtures.hpp"

using namespace oauth::fleet;
using oauth::jose::Key;

namespace {

constexpr uint32_t kNow = 1700000000;
const char *const kStream = "oauth:tokens";

std::string pem_of(EVP_PKEY *pkey) {
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    char *data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    std::string pem(data, size_t(size));
    BIO_free(bio);
    EVP_PKEY_free(pkey);
    return pem;
}

Key make_key(const char *type, const std::string &kid) {
    EVP_PKEY *pkey =
        std::strcmp(type, "EC") == 0    ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
        : std::strcmp(type, "RSA") == 0 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t(2048))
                                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    assert_non_null(pkey);
    Key key;
    std::string error;
    assert_true(oauth::jose::load_private_key(pem_of(pkey), kid, key, error));
    return key;
}

std::vector<Key> &keys() {
    static std::vector<Key> all = {make_key("EC", "es"), make_key("ED25519", "ed"),
                                   make_key("RSA", "rs")};
    return all;
}

Revocation sample(Kind kind = Kind::jwt, const std::string &token = "a-revoked-token") {
    return Revocation{kind, oauth::digest_token(token), "app", kNow + 600, kNow};
}

std::vector<Field> signed_fields(const Revocation &r, const Key &key,
                                 const char *stream = kStream) {
    std::vector<Field> fields;
    assert_true(sign_entry(r, stream, key, fields));
    return fields;
}

std::vector<FieldView> views(const std::vector<Field> &fields) {
    return std::vector<FieldView>(fields.begin(), fields.end());
}

Rejection verify(const std::vector<Field> &fields, Revocation &out, const char *stream = kStream) {
    return verify_entry(views(fields), stream, keys(), out);
}

std::string &field(std::vector<Field> &fields, std::string_view name) {
    for (Field &f : fields) {
        if (f.first == name) {
            return f.second;
        }
    }
    fail_msg("no field %s", std::string(name).c_str());
    return fields[0].second;
}

void each_algorithm_signs_and_verifies(void **) {
    for (const Key &key : keys()) {
        Revocation r = sample(Kind::opaque);
        std::vector<Field> fields = signed_fields(r, key);
        Revocation out;
        assert_int_equal(verify(fields, out), int(Rejection::none));
        assert_true(out.kind == Kind::opaque);
        assert_memory_equal(out.digest.data(), r.digest.data(), r.digest.size());
        assert_text(out.client, "app");
        assert_int_equal(out.expires_at, kNow + 600);
        assert_int_equal(out.revoked_at, kNow);
        assert_text(field(fields, "kid"), key.kid);
    }
}

void an_entry_holds_a_digest_never_the_token(void **) {
    std::vector<Field> fields = signed_fields(sample(Kind::jwt, "secret-token-text"), keys()[0]);
    for (const Field &f : fields) {
        assert_null(std::strstr(f.second.c_str(), "secret-token-text"));
    }
    assert_text(
        field(fields, "digest"),
        oauth::encode_base64url(std::string_view(
            reinterpret_cast<const char *>(oauth::digest_token("secret-token-text").data()), 32)));
}

void a_changed_field_breaks_the_signature(void **) {
    const char *changes[][2] = {{"digest", nullptr},
                                {"client", "other"},
                                {"exp", "1800000000"},
                                {"at", "1700000001"},
                                {"kind", "opaque"}};
    for (auto &change : changes) {
        std::vector<Field> fields = signed_fields(sample(), keys()[0]);
        std::string &value = field(fields, change[0]);
        value = change[1] != nullptr
                    ? std::string(change[1])
                    : oauth::encode_base64url(std::string_view(
                          reinterpret_cast<const char *>(oauth::digest_token("live").data()), 32));
        Revocation out;
        assert_int_equal(verify(fields, out), int(Rejection::bad_signature));
    }
}

void an_entry_of_another_stream_is_refused(void **) {
    std::vector<Field> fields = signed_fields(sample(), keys()[1], "oauth:other");
    Revocation out;
    assert_int_equal(verify(fields, out), int(Rejection::bad_signature));
}

void a_key_the_node_does_not_hold_is_refused(void **) {
    Key stranger = make_key("EC", "es");  // the same kid, another key
    std::vector<Field> fields = signed_fields(sample(), stranger);
    Revocation out;
    assert_int_equal(verify(fields, out), int(Rejection::bad_signature));
    Key unknown = make_key("EC", "nobody");
    fields = signed_fields(sample(), unknown);
    assert_int_equal(verify(fields, out), int(Rejection::unknown_kid));
    // A signature of the right key under another key's kid: the algorithm is the kid's.
    fields = signed_fields(sample(), keys()[1]);
    field(fields, "kid") = "es";
    assert_int_equal(verify(fields, out), int(Rejection::bad_signature));
}

void garbled_entries_are_malformed(void **) {
    std::vector<Field> good = signed_fields(sample(), keys()[0]);
    const char *values[][2] = {
        {"v", "2"},    {"kind", "both"},   {"digest", "short"},      {"digest", "!!"},
        {"exp", "-1"}, {"exp", "01"},      {"exp", "99999999999"},   {"at", ""},
        {"kid", ""},   {"client", "a\nb"}, {"sig", "not base64url!"}};
    for (auto &change : values) {
        std::vector<Field> fields = good;
        field(fields, change[0]) = change[1];
        Revocation out;
        Rejection r = verify(fields, out);
        assert_true(r == Rejection::malformed || r == Rejection::bad_signature);
    }
    Revocation out;
    std::vector<Field> missing(good.begin(), good.end() - 1);
    assert_int_equal(verify(missing, out), int(Rejection::malformed));
    std::vector<Field> doubled = good;
    doubled[1] = doubled[0];
    assert_int_equal(verify(doubled, out), int(Rejection::malformed));
    std::vector<Field> extra = good;
    extra.back().first = "token";
    assert_int_equal(verify(extra, out), int(Rejection::malformed));
    assert_int_equal(verify({}, out), int(Rejection::malformed));
    std::vector<Field> opaque_nobody = signed_fields(sample(Kind::opaque), keys()[0]);
    field(opaque_nobody, "client") = "";
    assert_int_equal(verify(opaque_nobody, out), int(Rejection::malformed));
}

struct Zone {
    fixture::Store memory;
    oauth::TokenStore store = memory.open();
    std::vector<uint64_t> revoked_memory = std::vector<uint64_t>(2048);
    oauth::RevocationList revocations = open_revocations();

    oauth::RevocationList open_revocations() {
        size_t size = revoked_memory.size() * sizeof(uint64_t);
        assert_true(oauth::RevocationList::format(revoked_memory.data(), size));
        return oauth::RevocationList(revoked_memory.data(), {});
    }
    void issue(const std::string &token, const char *client) {
        uint32_t retry = 0;
        assert_int_equal(int(store.insert(oauth::digest_token(token), client, "a", 1, kNow - 10,
                                          kNow + 300, kNow, retry)),
                         int(oauth::InsertResult::ok));
    }
};

void a_jwt_entry_is_listed(void **) {
    Zone zone;
    Revocation r = sample(Kind::jwt, "jwt");
    assert_int_equal(int(apply_entry(r, zone.store, zone.revocations, kNow)), int(Applied::listed));
    assert_true(zone.revocations.contains(r.digest, kNow + 599));
    assert_false(zone.revocations.contains(r.digest, kNow + 601));
    // Read again: nothing changes.
    assert_int_equal(int(apply_entry(r, zone.store, zone.revocations, kNow)), int(Applied::listed));
    assert_int_equal(int(apply_entry(r, zone.store, zone.revocations, kNow + 600)),
                     int(Applied::expired));
}

void an_opaque_entry_revokes_only_its_clients_token(void **) {
    Zone zone;
    zone.issue("held-by-app", "app");
    zone.issue("held-by-other", "other");
    oauth::TokenGrant grant;
    Revocation foreign = sample(Kind::opaque, "held-by-other");  // "app" revokes "other"'s token
    assert_int_equal(int(apply_entry(foreign, zone.store, zone.revocations, kNow)),
                     int(Applied::not_held));
    assert_true(zone.store.find(oauth::digest_token("held-by-other"), kNow, grant));
    assert_false(zone.revocations.contains(foreign.digest, kNow));

    Revocation own = sample(Kind::opaque, "held-by-app");
    assert_int_equal(int(apply_entry(own, zone.store, zone.revocations, kNow)),
                     int(Applied::revoked));
    assert_false(zone.store.find(own.digest, kNow, grant));
    assert_true(zone.revocations.contains(own.digest, kNow));
    assert_int_equal(int(apply_entry(own, zone.store, zone.revocations, kNow)),
                     int(Applied::not_held));
    Revocation elsewhere = sample(Kind::opaque, "held-by-no-one");
    assert_int_equal(int(apply_entry(elsewhere, zone.store, zone.revocations, kNow)),
                     int(Applied::not_held));
    assert_false(zone.revocations.contains(elsewhere.digest, kNow));
}

// What a client revokes on other nodes is never refused here (those nodes
// answered 200), but counts against its share of this node's list.
void entries_count_against_their_clients_share(void **) {
    Zone zone;
    uint32_t share = zone.revocations.default_share();
    for (uint32_t i = 0; i <= share; ++i) {
        Revocation r = sample(Kind::jwt, "jwt-" + std::to_string(i));
        assert_int_equal(int(apply_entry(r, zone.store, zone.revocations, kNow)),
                         int(Applied::listed));
    }
    uint32_t retry_after = 0;
    oauth::RevocationCharge app{oauth::RevocationList::client_tag("app"), share};
    assert_int_equal(int(zone.revocations.add(oauth::digest_token("revoked-here"), kNow + 60, kNow,
                                              app, retry_after)),
                     int(oauth::RevocationAdded::client_at_share));
    oauth::RevocationCharge other{oauth::RevocationList::client_tag("other"), share};
    assert_int_equal(int(zone.revocations.add(oauth::digest_token("revoked-here"), kNow + 60, kNow,
                                              other, retry_after)),
                     int(oauth::RevocationAdded::added));
}

void stream_ids(void **) {
    std::optional<StreamId> id = StreamId::parse("1700000000123-7");
    assert_true(id.has_value());
    assert_true(id->ms == 1700000000123 && id->seq == 7);
    assert_text(id->text(), "1700000000123-7");
    for (const char *bad :
         {"", "-", "1-", "-1", "1", "a-1", "1-1-1", "01-1", "99999999999999999999999-0"}) {
        assert_false(StreamId::parse(bad).has_value());
    }
    assert_true((StreamId{1, 9} < StreamId{2, 0}));
    assert_true((StreamId{2, 0} < StreamId{2, 1}));
    assert_false((StreamId{2, 1} < StreamId{2, 1}));
    assert_true((StreamId{2, 1} == StreamId{2, 1}));
    assert_true((StreamId{2, 1} != StreamId{2, 0}));
}

// The zone's shared position: zero until moved, then what was stored, whole.
void a_shared_position_holds_one_id(void **) {
    SharedStreamId shared;
    assert_true(shared.load().none());
    shared.store({1700000000123, 7});
    assert_true((shared.load() == StreamId{1700000000123, 7}));
    shared.store({});
    assert_true(shared.load().none());
    static_assert(sizeof(SharedStreamId) == 2 * sizeof(uint64_t), "a zone's layout");
}

// What the link does once it knows the stream: read on, publish this node's
// revocations again, or also read the stream again from its start.
void continuity(void **) {
    StreamId none;
    StreamId at{100, 0};
    assert_int_equal(int(check_continuity(none, StreamInfo{})), int(Continuity::read_on));
    assert_int_equal(int(check_continuity(at, StreamInfo{})), int(Continuity::reset_and_republish));
    assert_int_equal(int(check_continuity(at, StreamInfo{true, {}, {99, 5}})),
                     int(Continuity::reset_and_republish));
    assert_int_equal(int(check_continuity(at, StreamInfo{true, {}, {100, 0}})),
                     int(Continuity::read_on));
    assert_int_equal(int(check_continuity(at, StreamInfo{true, {50, 0}, {200, 0}})),
                     int(Continuity::read_on));
    assert_int_equal(int(check_continuity(at, StreamInfo{true, {150, 0}, {200, 0}})),
                     int(Continuity::republish));
}

void a_zone_has_its_own_stream(void **) {
    assert_text(stream_name("oauth", "tokens"), "oauth:tokens");
    assert_text(stream_name("fleet:eu", "z"), "fleet:eu:z");
}

// The whole revocation list goes out again when a state file restored some,
// or when the outbox refused some since it last went out.
void when_the_list_is_published_again(void **) {
    assert_false(republish_restored(0));
    assert_true(republish_restored(1));
    assert_int_equal(refused_since_republish(0, 0), 0);
    assert_int_equal(refused_since_republish(7, 7), 0);
    assert_int_equal(refused_since_republish(9, 7), 2);
}

StreamEntry entry_of(StreamId id, const std::vector<Field> &fields) {
    return StreamEntry{id, views(fields), true};
}

void note_full(void *context, const Revocation &) {
    ++*static_cast<size_t *>(context);
}

// A batch applies what verifies, counts what does not, and moves the
// position past every entry, rejected ones too.
void a_batch_applies_and_moves_the_position(void **) {
    Zone zone;
    SharedStreamId position;
    size_t full = 0;
    BatchTarget target{zone.store, zone.revocations, position, note_full, &full};
    std::vector<Field> first = signed_fields(sample(Kind::jwt, "first"), keys()[0]);
    std::vector<Field> forged = signed_fields(sample(Kind::jwt, "forged"), keys()[1]);
    field(forged, "client") = "other";
    std::vector<Field> second = signed_fields(sample(Kind::jwt, "second"), keys()[2]);
    std::vector<Field> elsewhere =
        signed_fields(sample(Kind::jwt, "elsewhere"), keys()[0], "oauth:other");
    std::vector<StreamEntry> entries = {entry_of({10, 0}, first), entry_of({10, 1}, forged),
                                        StreamEntry{{11, 0}, {}, false}, entry_of({12, 0}, second),
                                        entry_of({13, 0}, elsewhere)};
    BatchCounts counts;
    apply_batch(entries, kStream, keys(), kNow, target, counts);
    assert_int_equal(counts.applied, 2);
    assert_int_equal(counts.rejected, 3);
    assert_int_equal(int(counts.last), int(Rejection::bad_signature));
    assert_true((counts.last_rejected == StreamId{13, 0}));
    assert_true((position.load() == StreamId{13, 0}));
    assert_true(zone.revocations.contains(oauth::digest_token("first"), kNow));
    assert_true(zone.revocations.contains(oauth::digest_token("second"), kNow));
    assert_false(zone.revocations.contains(oauth::digest_token("forged"), kNow));
    assert_false(zone.revocations.contains(oauth::digest_token("elsewhere"), kNow));
    assert_int_equal(full, 0);

    BatchCounts none;
    apply_batch({}, kStream, keys(), kNow, target, none);  // nothing new: the position stays
    assert_true((position.load() == StreamId{13, 0}));
    assert_int_equal(none.applied + none.rejected, 0);
}

// A revocation the full list cannot take is told to the caller, and still
// moves the position: reading it again would not make room.
void a_full_list_is_told(void **) {
    Zone zone;
    SharedStreamId position;
    size_t full = 0;
    BatchTarget target{zone.store, zone.revocations, position, note_full, &full};
    std::vector<std::vector<Field>> signed_entries;
    std::vector<StreamEntry> entries;
    for (uint32_t i = 0; i <= zone.revocations.slot_count(); ++i) {
        signed_entries.push_back(
            signed_fields(sample(Kind::jwt, "jwt-" + std::to_string(i)), keys()[0]));
    }
    for (uint32_t i = 0; i < signed_entries.size(); ++i) {
        entries.push_back(entry_of({20, i}, signed_entries[i]));
    }
    BatchCounts counts;
    apply_batch(entries, kStream, keys(), kNow, target, counts);
    assert_true(full > 0);
    assert_int_equal(counts.applied, entries.size());
    assert_true((position.load() == entries.back().id));
}

void the_outbox_keeps_order_and_bounds(void **) {
    std::vector<uint64_t> memory(Outbox::kMinRegionSize / sizeof(uint64_t));
    size_t size = memory.size() * sizeof(uint64_t);
    assert_false(Outbox::is_formatted(memory.data(), size));
    assert_true(Outbox::format(memory.data(), size));
    assert_true(Outbox::is_formatted(memory.data(), size));
    Outbox outbox(memory.data(), {});
    Revocation out;
    uint64_t sequence = 0;
    assert_false(outbox.front(out, sequence));
    size_t capacity = outbox.capacity();
    assert_true(capacity > 50);
    for (size_t i = 0; i < capacity; ++i) {
        assert_true(outbox.push(sample(Kind::opaque, "token-" + std::to_string(i))));
    }
    assert_false(outbox.push(sample()));
    assert_int_equal(outbox.dropped(), 1);
    assert_int_equal(outbox.waiting(), capacity);
    for (size_t i = 0; i < capacity + 3; ++i) {  // wraps around
        assert_true(outbox.front(out, sequence));
        assert_memory_equal(out.digest.data(),
                            oauth::digest_token("token-" + std::to_string(i)).data(), 32);
        assert_text(out.client, "app");
        outbox.pop(sequence);
        outbox.pop(sequence);  // a second pop of the same one changes nothing
        assert_true(outbox.push(sample(Kind::opaque, "token-" + std::to_string(i + capacity))));
    }
    assert_int_equal(outbox.waiting(), capacity);
    assert_false(outbox.push(Revocation{Kind::jwt, {}, std::string(200, 'x'), 0, 0}));
}

// The stream keeps entries as long as the longest-lived token may pass: a
// client's token_ttl beyond every endpoint's ttl counts (issue 18, item 5).
void the_horizon_covers_every_token_life(void **) {
    assert_int_equal(longest_token_life(60, 3600), 3600);
    assert_int_equal(longest_token_life(7200, 900), 7200);
    assert_int_equal(longest_token_life(60, 0), 60);
    assert_int_equal(longest_token_life(0, 0), 3600);  // no token endpoint: the default ttl
    assert_int_equal(longest_token_life(0, 86400), 86400);
    constexpr uint64_t kNowMs = uint64_t(kNow) * 1000;
    assert_int_equal(trim_before_ms(kNowMs, 3600), kNowMs - (3600 + 300) * 1000);
    assert_int_equal(trim_before_ms(kNowMs, longest_token_life(60, 3600)), kNowMs - 3900 * 1000);
    assert_int_equal(trim_before_ms(1000, 3600), 0);  // a clock near the epoch trims nothing
}

// One deadline for the whole start read, whatever each wait takes.
void the_start_read_has_one_deadline(void **) {
    StartDeadline deadline(10000);
    assert_int_equal(deadline.left(10000), StartDeadline::kBudgetMs);
    assert_int_equal(deadline.connect_wait(10000), StartDeadline::kConnectMs);
    assert_int_equal(deadline.left(13500), 500);
    assert_int_equal(deadline.connect_wait(13500), 500);
    assert_int_equal(deadline.left(10000 + StartDeadline::kBudgetMs), 0);
    assert_int_equal(deadline.left(99999), 0);
    assert_int_equal(deadline.connect_wait(99999), 0);
}

void a_reply_is_bounded(void **) {
    ReplyBound bound;
    assert_true(bound.admit_array(1));
    assert_true(bound.admit_array(1000));
    assert_true(bound.admit_bytes(ReplyBound::kMaxBytes - 1));
    assert_false(bound.exceeded());
    assert_false(bound.admit_bytes(2));
    assert_true(bound.exceeded());
    ReplyBound endless;
    assert_false(endless.admit_array(2000000000));  // refused before its table is made
    assert_true(endless.exceeded());
    ReplyBound nested;
    for (size_t i = 0; i < ReplyBound::kMaxElements / 16; ++i) {
        assert_true(nested.admit_array(16));
    }
    assert_false(nested.admit_array(1));  // the arrays of a reply count together
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_algorithm_signs_and_verifies),
        cmocka_unit_test(an_entry_holds_a_digest_never_the_token),
        cmocka_unit_test(a_changed_field_breaks_the_signature),
        cmocka_unit_test(an_entry_of_another_stream_is_refused),
        cmocka_unit_test(a_key_the_node_does_not_hold_is_refused),
        cmocka_unit_test(garbled_entries_are_malformed),
        cmocka_unit_test(a_jwt_entry_is_listed),
        cmocka_unit_test(an_opaque_entry_revokes_only_its_clients_token),
        cmocka_unit_test(entries_count_against_their_clients_share),
        cmocka_unit_test(stream_ids),
        cmocka_unit_test(a_shared_position_holds_one_id),
        cmocka_unit_test(continuity),
        cmocka_unit_test(a_zone_has_its_own_stream),
        cmocka_unit_test(when_the_list_is_published_again),
        cmocka_unit_test(a_batch_applies_and_moves_the_position),
        cmocka_unit_test(a_full_list_is_told),
        cmocka_unit_test(the_outbox_keeps_order_and_bounds),
        cmocka_unit_test(the_horizon_covers_every_token_life),
        cmocka_unit_test(the_start_read_has_one_deadline),
        cmocka_unit_test(a_reply_is_bounded),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
