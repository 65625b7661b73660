// The state file's format, read back and refused when damaged; its journal;
// the store's walk over live tokens.
#include "unit.hpp"

#include <cstring>
#include <map>
#include <vector>

#include "core/tokens/token_store.hpp"
#include "core/tokens/journal.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/tokens/state_file.hpp"
#include "fixtures.hpp"

using namespace oauth;

namespace {

using fixture::Logged;
using fixture::Revocations;

constexpr uint32_t kNow = 1'700'000'000;

Digest digest_of(int n) {
    Digest digest = digest_token("token-" + std::to_string(n));
    return digest;
}

void issue(TokenStore &store, int n, std::string_view client, std::string_view list, uint64_t mask,
           uint32_t expires_at = kNow + 3600, const Audience &audience = {}) {
    uint32_t retry_after = 0;
    assert_int_equal(store.insert(digest_of(n), client, list, mask, kNow - 5, expires_at, kNow,
                                  retry_after, TokenStore::kDefaultClientCap, audience),
                     InsertResult::ok);
}

void collect(void *context, const Digest &digest, const TokenGrant &grant) {
    static_cast<std::map<Digest, TokenGrant> *>(context)->emplace(digest, grant);
}

std::map<Digest, TokenGrant> live_tokens(const TokenStore &store, uint32_t now = kNow) {
    std::map<Digest, TokenGrant> tokens;
    store.visit_live(now, collect, &tokens);
    return tokens;
}

void add_to_writer(void *context, const Digest &digest, const TokenGrant &grant) {
    static_cast<StateFileWriter *>(context)->add_token(digest, grant);
}

void add_revocation_to_writer(void *context, const Digest &digest, uint32_t expires_at) {
    static_cast<StateFileWriter *>(context)->add_revocation(digest, expires_at);
}

std::string snapshot(const TokenStore &store, const RevocationList &revoked,
                     std::string_view zone = "tokens", fleet::StreamId position = {}) {
    StateFileWriter writer(zone, StateStamp{7, 1234, 99, kNow}, position);
    store.visit_live(kNow, add_to_writer, &writer);
    revoked.visit_live(kNow, add_revocation_to_writer, &writer);
    writer.finish();
    while (!writer.seal_some(100)) {
    }
    return writer.image();
}

// A zone with tokens of two clients (one with a subset of its scopes, one
// with none), one expired and one revoked.
struct Sample {
    fixture::Store memory;
    TokenStore store = memory.open();
    Revocations revoked;
    std::string file;

    Sample() {
        issue(store, 1, "app", "a b c", 0b101, kNow + 3600,
              Audience{"https://api.test urn:x https://other.test", 0b101});
        issue(store, 2, "app", "a b c", 0b101);
        issue(store, 3, "reporting", "reports:read", 0);
        issue(store, 4, "app", "a b c", 0b111, kNow + 10);
        issue(store, 5, "app", "a b c", 0b010);
        assert_true(revoked.list.add(digest_of(5), kNow + 3600, kNow));
        assert_true(store.revoke(digest_of(5), "app"));
        file = snapshot(store, revoked.list);
    }
};

std::string reason_for(std::string_view bytes, std::string_view zone = "tokens") {
    std::string reason;
    std::optional<StateFile> file = StateFile::parse(bytes, zone, reason);
    return file ? "(accepted)" : reason;
}

void visit_live_copies_each_live_token(void **) {
    Sample sample;
    std::map<Digest, TokenGrant> tokens = live_tokens(sample.store);
    assert_int_equal(tokens.size(), 4);
    assert_text(tokens[digest_of(1)].client(), "app");
    assert_text(tokens[digest_of(1)].scopes(), "a c");
    assert_int_equal(tokens[digest_of(1)].issued_at, kNow - 5);
    assert_text(tokens[digest_of(3)].scopes(), "");
    assert_int_equal(live_tokens(sample.store, kNow + 10).size(), 3);  // token 4 expired
}

void a_file_restores_what_was_live(void **) {
    Sample sample;
    assert_int_equal(sample.file[8], 3);  // no binding: version 3's format, for earlier builds
    std::string reason;
    std::optional<StateFile> file = StateFile::parse(sample.file, "tokens", reason);
    assert_true(file.has_value());
    assert_int_equal(file->token_count(), 4);
    assert_int_equal(file->revocation_count(), 1);
    assert_int_equal(file->stamp().zone_instance, 7);
    assert_int_equal(file->stamp().writer_pid, 1234);
    assert_int_equal(file->stamp().write_id, 99);

    fixture::Store fresh;
    TokenStore store = fresh.open();
    Revocations revoked;
    RestoreCounts counts = apply_state_file(*file, store, revoked.list, kNow + 10);
    assert_int_equal(counts.tokens, 3);
    assert_int_equal(counts.expired, 1);
    assert_int_equal(counts.revocations, 1);
    TokenGrant grant;
    assert_true(store.find(digest_of(1), kNow + 10, grant));
    assert_text(grant.client(), "app");
    assert_text(grant.scopes(), "a c");
    assert_text(grant.audiences(), "https://api.test https://other.test");
    assert_int_equal(grant.issued_at, kNow - 5);
    assert_int_equal(grant.expires_at, kNow + 3600);
    assert_true(store.find(digest_of(2), kNow + 10, grant));
    assert_text(grant.audiences(), "");
    assert_true(store.find(digest_of(3), kNow + 10, grant));
    assert_text(grant.scopes(), "");
    assert_false(store.find(digest_of(4), kNow + 10, grant));
    assert_true(revoked.list.contains(digest_of(5), kNow + 10));

    // Applied again, as a merge: nothing new.
    counts = apply_state_file(*file, store, revoked.list, kNow + 10);
    assert_int_equal(counts.tokens, 0);
    assert_int_equal(counts.present, 3);
    assert_int_equal(counts.revocations, 0);
}

// A merge in ranges of two records, as the state writer spreads it over
// turns, does what a whole merge does: into a zone that holds token 2 and
// token 5 (revoked in the file) already.
void a_merge_in_ranges_does_what_a_whole_merge_does(void **) {
    Sample sample;
    std::string reason;
    std::optional<StateFile> file = StateFile::parse(sample.file, "tokens", reason);
    assert_int_equal(file->record_count(), 5);
    fixture::Store whole_memory, ranged_memory;
    TokenStore whole = whole_memory.open(), ranged = ranged_memory.open();
    Revocations whole_revoked, ranged_revoked;
    for (TokenStore *store : {&whole, &ranged}) {
        issue(*store, 2, "app", "a b c", 0b101);
        issue(*store, 5, "app", "a b c", 0b010);
    }
    RestoreCounts expected = apply_state_file(*file, whole, whole_revoked.list, kNow + 10);

    RestoreCounts counts;
    size_t next = 0;
    unsigned ranges = 0;
    for (; next < file->record_count(); ++ranges) {
        next = apply_state_records(*file, ranged, ranged_revoked.list, kNow + 10, true, next, 2,
                                   counts);
    }
    assert_int_equal(ranges, 3);
    assert_int_equal(next, 5);
    assert_int_equal(
        apply_state_records(*file, ranged, ranged_revoked.list, kNow + 10, true, 5, 2, counts), 5);
    assert_int_equal(counts.tokens, expected.tokens);
    assert_int_equal(counts.present, expected.present);
    assert_int_equal(counts.expired, expected.expired);
    assert_int_equal(counts.revocations, expected.revocations);
    assert_int_equal(counts.present, 1);
    assert_int_equal(counts.tokens, 2);
    std::map<Digest, TokenGrant> want = live_tokens(whole, kNow + 10);
    std::map<Digest, TokenGrant> got = live_tokens(ranged, kNow + 10);
    assert_int_equal(got.size(), 3);
    assert_int_equal(got.size(), want.size());
    for (const auto &[digest, grant] : want) {
        assert_true(got.count(digest) == 1);
    }
    assert_false(got.count(digest_of(5)) == 1);  // revoked by the file's first record
    assert_true(ranged_revoked.list.contains(digest_of(5), kNow + 10));
}

// A file may hold more revocations than a smaller list takes: those that do
// not fit are counted, for the log, not dropped silently.
void revocations_that_do_not_fit_are_counted(void **) {
    std::vector<uint64_t> big(4 * RevocationList::kMinRegionSize / 8);
    assert_true(RevocationList::format(big.data(), big.size() * 8));
    RevocationList many(big.data(), {});
    for (int n = 0; n < int(many.capacity() / 2); ++n) {
        assert_true(many.add(digest_of(n), kNow + 3600, kNow));
    }
    fixture::Store memory;
    TokenStore store = memory.open();
    std::string bytes = snapshot(store, many);
    std::string reason;
    std::optional<StateFile> file = StateFile::parse(bytes, "tokens", reason);
    assert_true(file.has_value());

    Revocations small;
    RestoreCounts counts = apply_state_file(*file, store, small.list, kNow + 10);
    assert_true(counts.revocations_refused > 0);
    assert_int_equal(counts.revocations + counts.revocations_refused, many.capacity() / 2);
}

void a_revoked_token_in_an_older_file_stays_revoked(void **) {
    fixture::Store memory;
    TokenStore store = memory.open();
    Revocations revoked;
    issue(store, 1, "app", "a", 1);
    issue(store, 2, "app", "a", 1);
    std::string older = snapshot(store, revoked.list);
    revoked.list.add(digest_of(1), kNow + 3600, kNow);
    store.revoke(digest_of(1), "app");
    std::string newer = snapshot(store, revoked.list);

    // A zone that knows the revocation skips the token of the older file ...
    std::string reason;
    RestoreCounts counts =
        apply_state_file(*StateFile::parse(older, "tokens", reason), store, revoked.list, kNow);
    assert_int_equal(counts.revoked, 1);
    TokenGrant grant;
    assert_false(store.find(digest_of(1), kNow, grant));

    // ... and a zone holding the token loses it to the newer file's revocation.
    fixture::Store other_memory;
    TokenStore other = other_memory.open();
    Revocations other_revoked;
    apply_state_file(*StateFile::parse(older, "tokens", reason), other, other_revoked.list, kNow);
    assert_true(other.find(digest_of(1), kNow, grant));
    apply_state_file(*StateFile::parse(newer, "tokens", reason), other, other_revoked.list, kNow);
    assert_false(other.find(digest_of(1), kNow, grant));
    assert_true(other.find(digest_of(2), kNow, grant));
}

void the_file_holds_no_token(void **) {
    Sample sample;
    for (int n = 1; n <= 5; ++n) {
        std::string token = "token-" + std::to_string(n);
        assert_true(sample.file.find(token) == std::string::npos);
    }
}

void every_truncation_is_refused_with_a_reason(void **) {
    Sample sample;
    for (size_t length = 0; length < sample.file.size(); ++length) {
        std::string reason = reason_for(std::string_view(sample.file).substr(0, length));
        assert_true(reason != "(accepted)");
        assert_false(reason.empty());
    }
    assert_text(reason_for(""), "empty");
    assert_text(reason_for(sample.file.substr(0, 100)), "truncated in its header");
    assert_true(reason_for(sample.file.substr(0, 200)).rfind("truncated: 200 bytes of ", 0) == 0);
    assert_text(reason_for(sample.file + "x"), "damaged: bytes past its end");
}

void every_flipped_byte_is_refused(void **) {
    Sample sample;
    for (size_t at = 0; at < sample.file.size(); ++at) {
        for (unsigned char flip : {0x01, 0x80, 0xff}) {
            std::string damaged = sample.file;
            damaged[at] = char(damaged[at] ^ flip);
            assert_true(reason_for(damaged) != "(accepted)");
        }
    }
    std::string damaged = sample.file;
    damaged[200] ^= 1;
    assert_text(reason_for(damaged), "damaged: checksum mismatch");
}

void foreign_files_are_refused(void **) {
    Sample sample;
    assert_text(reason_for(std::string(4096, '\0')), "not a state file of this module");
    assert_text(reason_for("{\"clients\":[]}"), "not a state file of this module");
    assert_text(reason_for(sample.file, "other"), "written for oauth_token_zone \"tokens\"");
    std::string future = sample.file;
    future[8] = 5;
    assert_text(reason_for(future), "format version 5, this module reads versions 1 to 4");
}

// `file` with its checksum made right again: a writer that lies, not a damaged file.
std::string reseal(std::string file) {
    Digest sum;
    sha256_digest({std::string_view(file).substr(0, 96), std::string_view(file).substr(128)}, sum);
    std::memcpy(&file[96], sum.data(), sum.size());
    return file;
}

// A writer whose checksum is right but whose content is not: each lie is caught.
void a_checksummed_lie_is_refused(void **) {
    Sample sample;
    assert_text(reason_for(reseal(sample.file)), "(accepted)");
    for (size_t at : {size_t(56), size_t(60), size_t(64), size_t(88)}) {
        std::string lie = sample.file;
        lie[at] = char(lie[at] + 1);
        assert_text(reason_for(reseal(lie)), "damaged: inconsistent content");
    }
    std::string longer_name = sample.file;
    longer_name[68] = char(longer_name[68] + 1);
    assert_true(reason_for(reseal(longer_name)) != "(accepted)");
    std::string bad_client = sample.file;
    size_t client = bad_client.find("reporting");
    bad_client[client] = '\n';
    assert_text(reason_for(reseal(bad_client)), "damaged: inconsistent content");
    std::string bad_scope = sample.file;
    size_t scope = bad_scope.find("a c");
    bad_scope[scope + 1] = '"';
    assert_text(reason_for(reseal(bad_scope)), "damaged: inconsistent content");
}

// Bound tokens keep their thumbprints through a file (RFC 8705 §3, RFC 9449 §6).
struct BoundSample {
    fixture::Store memory;
    TokenStore store = memory.open();
    Revocations revoked;
    std::string file;

    static TokenBindings bindings(bool certificate, bool key, int n) {
        TokenBindings out;
        out.certificate = {certificate, digest_token("certificate-" + std::to_string(n))};
        out.dpop = {key, digest_token("key-" + std::to_string(n))};
        return out;
    }

    BoundSample() {
        for (int n = 1; n <= 4; ++n) {
            uint32_t retry_after = 0;
            assert_int_equal(store.insert(digest_of(n), "app", "a", 1, kNow - 5, kNow + 3600, kNow,
                                          retry_after, TokenStore::kDefaultClientCap, {},
                                          bindings(n != 2, n >= 2 && n != 4, n)),
                             InsertResult::ok);
        }
        file = snapshot(store, revoked.list);
    }
};

void bound_tokens_keep_their_bindings_through_a_file(void **) {
    BoundSample sample;
    std::string reason;
    std::optional<StateFile> file = StateFile::parse(sample.file, "tokens", reason);
    assert_true(file.has_value());
    fixture::Store fresh;
    TokenStore store = fresh.open();
    Revocations revoked;
    assert_int_equal(apply_state_file(*file, store, revoked.list, kNow).tokens, 4);
    for (int n = 1; n <= 4; ++n) {
        TokenBindings expected = BoundSample::bindings(n != 2, n >= 2 && n != 4, n);
        TokenGrant grant;
        assert_true(store.find(digest_of(n), kNow, grant));
        assert_int_equal(grant.certificate.bound, expected.certificate.bound);
        assert_int_equal(grant.dpop.bound, expected.dpop.bound);
        assert_true(!expected.certificate.bound ||
                    grant.certificate.thumbprint == expected.certificate.thumbprint);
        assert_true(!expected.dpop.bound || grant.dpop.thumbprint == expected.dpop.thumbprint);
    }
}

void a_checksummed_lie_about_a_binding_is_refused(void **) {
    BoundSample sample;
    auto u32_at = [&](size_t at) {
        uint32_t v;
        std::memcpy(&v, &sample.file[at], 4);
        return v;
    };
    assert_int_equal(u32_at(8), 4);   // the version that has bindings
    assert_int_equal(u32_at(88), 5);  // bindings: 1 and 3 by certificate, 2 and 3 by key
    const size_t record = 37;
    size_t first = sample.file.size() - 5 * record;
    std::string bad_kind = sample.file;
    bad_kind[first + 4] = 3;
    assert_text(reason_for(reseal(bad_kind)), "damaged: inconsistent content");
    std::string no_such_token = sample.file;
    no_such_token[first] = 4;
    assert_text(reason_for(reseal(no_such_token)), "damaged: inconsistent content");
    std::string out_of_order = sample.file;
    std::swap_ranges(&out_of_order[first], &out_of_order[first + record],
                     &out_of_order[first + record]);
    assert_text(reason_for(reseal(out_of_order)), "damaged: inconsistent content");
    std::string twice = sample.file;
    std::memcpy(&twice[first + record], &twice[first], record);
    assert_text(reason_for(reseal(twice)), "damaged: inconsistent content");
    std::string uncounted = sample.file;
    uncounted[88] = 4;
    assert_text(reason_for(reseal(uncounted)), "damaged: inconsistent content");
    // A version 3 file had no bindings: its byte 88 is zero.
    std::string version_3 = sample.file.substr(0, sample.file.size() - 5 * record);
    version_3[8] = 3;
    version_3[88] = 0;
    std::memcpy(&version_3[16], "\0\0\0\0\0\0\0\0", 8);
    uint64_t body = version_3.size() - 128;
    std::memcpy(&version_3[16], &body, 8);
    assert_text(reason_for(reseal(version_3)), "(accepted)");
    version_3[88] = 1;
    assert_text(reason_for(reseal(version_3)), "damaged: inconsistent content");
}

// Version 1 had no audience in its grants: a file of it is still read, and
// its tokens come back without an audience.
void a_version_1_file_is_still_read(void **) {
    fixture::Store memory;
    TokenStore store = memory.open();
    Revocations revoked;
    issue(store, 1, "app", "a b c", 0b101);
    issue(store, 2, "reporting", "r", 1);
    std::string file = snapshot(store, revoked.list);
    auto u32_at = [&](size_t at) {
        uint32_t v;
        std::memcpy(&v, &file[at], 4);
        return v;
    };
    size_t grants = u32_at(56);
    size_t at = 128 + u32_at(68);
    for (size_t g = 0; g < grants; ++g) {
        size_t lengths = uint8_t(file[at]) + uint8_t(file[at + 2]);  // ids and scopes are short
        assert_int_equal(file[at + 4], 0);                           // no audience
        file.erase(at + 4, 2);
        at += 4 + lengths;
    }
    uint64_t body = file.size() - 128;
    std::memcpy(&file[16], &body, 8);
    file[8] = 1;
    Digest sum;
    sha256_digest({std::string_view(file).substr(0, 96), std::string_view(file).substr(128)}, sum);
    std::memcpy(&file[96], sum.data(), sum.size());

    std::string reason;
    std::optional<StateFile> parsed = StateFile::parse(file, "tokens", reason);
    assert_true(parsed.has_value());
    fixture::Store fresh;
    TokenStore restored = fresh.open();
    Revocations none;
    assert_int_equal(apply_state_file(*parsed, restored, none.list, kNow).tokens, 2);
    TokenGrant grant;
    assert_true(restored.find(digest_of(1), kNow, grant));
    assert_text(grant.scopes(), "a c");
    assert_text(grant.audiences(), "");
    assert_true(restored.find(digest_of(2), kNow, grant));
    assert_text(grant.client(), "reporting");
}

void a_peek_tells_who_wrote_a_file(void **) {
    Sample sample;
    std::optional<StateStamp> stamp = StateFile::peek_stamp(sample.file.substr(0, 128));
    assert_true(stamp.has_value());
    assert_int_equal(stamp->writer_pid, 1234);
    assert_false(StateFile::peek_stamp(sample.file.substr(0, 127)).has_value());
    assert_false(StateFile::peek_stamp(std::string(128, 'x')).has_value());
}

void the_fleet_stream_position_round_trips(void **) {
    Sample sample;
    std::string file =
        snapshot(sample.store, sample.revoked.list, "tokens", {1'700'000'000'123, 42});
    std::string reason;
    std::optional<StateFile> parsed = StateFile::parse(file, "tokens", reason);
    assert_true(parsed.has_value());
    assert_int_equal(parsed->stream_position().ms, 1'700'000'000'123);
    assert_int_equal(parsed->stream_position().seq, 42);
    parsed = StateFile::parse(sample.file, "tokens", reason);
    assert_int_equal(parsed->stream_position().ms, 0);
    assert_int_equal(parsed->stream_position().seq, 0);
    // Version 2 had no position: its bytes there were reserved, zero.
    std::string older = sample.file;
    older[8] = 2;
    Digest sum;
    sha256_digest({std::string_view(older).substr(0, 96), std::string_view(older).substr(128)},
                  sum);
    std::memcpy(&older[96], sum.data(), sum.size());
    parsed = StateFile::parse(older, "tokens", reason);
    assert_true(parsed.has_value());
    assert_int_equal(parsed->stream_position().ms, 0);
    assert_int_equal(parsed->token_count(), 4);
    std::string with_position = file;  // a version 2 file with bytes there is not the module's
    with_position[8] = 2;
    sha256_digest({std::string_view(with_position).substr(0, 96),
                   std::string_view(with_position).substr(128)},
                  sum);
    std::memcpy(&with_position[96], sum.data(), sum.size());
    assert_text(reason_for(with_position), "damaged: inconsistent content");
    // A journal's is the furthest of its images'.
    fixture::Store empty_memory;
    TokenStore empty = empty_memory.open();
    std::string journal = snapshot(empty, sample.revoked.list, "tokens", {5, 9}) +
                          snapshot(empty, sample.revoked.list, "tokens", {6, 1}) +
                          snapshot(empty, sample.revoked.list, "tokens", {5, 10});
    StateJournal images = parse_journal(journal, "tokens");
    assert_int_equal(images.images.size(), 3);
    assert_int_equal(images.stream_position().ms, 6);
    assert_int_equal(images.stream_position().seq, 1);
}

// What a state writer does: a snapshot, then what changed in one journal
// image a second; a zone restored from both holds what the zone held.
struct Journaled {
    Logged logged;
    fixture::Store memory;
    TokenStore store = TokenStore(memory.memory.data(), {}, logged.log);
    Revocations revoked;
    RevocationList list = RevocationList(revoked.memory.data(), {}, logged.log);
    std::string file;
    std::string journal;
    std::vector<size_t> image_ends;
    uint64_t journaled = 0;

    Journaled() {
        issue(store, 1, "app", "a b", 0b11);
        file = snapshot(store, list);
        journaled = logged.log.position();
        issue(store, 2, "app", "a b", 0b01);
        issue(store, 3, "reporting", "", 0);
        append();
        assert_true(list.add(digest_of(1), kNow + 3600, kNow));
        assert_true(store.revoke(digest_of(1), "app"));
        issue(store, 4, "app", "a b", 0b10);
        append();
    }

    void append() {
        StateStamp stamp{7, 1234, 100 + image_ends.size(), kNow};
        JournalDrain drained = drain_changes(logged.log, journaled, store, kNow, "tokens", {}, {},
                                             [&stamp] { return stamp; });
        assert_int_equal(int(drained.turn), int(JournalTurn::appended));
        journaled = drained.journaled;
        journal += drained.image;
        image_ends.push_back(journal.size());
    }
};

void a_snapshot_and_its_journal_restore_the_zone(void **) {
    Journaled zone;
    std::string reason;
    std::optional<StateFile> file = StateFile::parse(zone.file, "tokens", reason);
    StateJournal journal = parse_journal(zone.journal, "tokens");
    assert_int_equal(journal.images.size(), 2);
    assert_true(journal.problem.empty());
    assert_int_equal(journal.whole_bytes, zone.journal.size());
    assert_int_equal(journal.images[0].token_count(), 2);
    assert_int_equal(journal.images[1].token_count(), 1);
    assert_int_equal(journal.images[1].revocation_count(), 1);

    fixture::Store memory;
    TokenStore store = memory.open();
    Revocations revoked;
    RestoreCounts counts = apply_state_file(*file, store, revoked.list, kNow);
    for (const StateFile &image : journal.images) {
        apply_state_records(image, store, revoked.list, kNow, true, 0, image.record_count(),
                            counts);
    }
    std::map<Digest, TokenGrant> want = live_tokens(zone.store);
    std::map<Digest, TokenGrant> got = live_tokens(store);
    assert_int_equal(got.size(), 3);
    for (const auto &[digest, grant] : want) {
        assert_true(got.count(digest) == 1);
        assert_text(got[digest].scopes(), grant.scopes());
    }
    assert_true(revoked.list.contains(digest_of(1), kNow));
    assert_true(zone.journal.find("token-2") == std::string::npos);
}

// A crash may cut the journal's last write anywhere: every whole image
// before the cut is read, nothing of the torn one, and the reason is told.
void a_journal_cut_at_any_byte_keeps_its_whole_images(void **) {
    Journaled zone;
    for (size_t length = 0; length <= zone.journal.size(); ++length) {
        StateJournal journal =
            parse_journal(std::string_view(zone.journal).substr(0, length), "tokens");
        size_t whole = 0;
        size_t bytes = 0;
        for (size_t end : zone.image_ends) {
            if (end <= length) {
                ++whole;
                bytes = end;
            }
        }
        assert_int_equal(journal.images.size(), whole);
        assert_int_equal(journal.whole_bytes, bytes);
        assert_int_equal(journal.problem.empty(), length == bytes);
    }
    std::string damaged = zone.journal;
    damaged[zone.image_ends[0] + 200] ^= 1;
    StateJournal journal = parse_journal(damaged, "tokens");
    assert_int_equal(journal.images.size(), 1);
    assert_text(journal.problem,
                "byte " + std::to_string(zone.image_ends[0]) + " on: damaged: checksum mismatch");
    assert_int_equal(parse_journal(zone.journal, "others").images.size(), 0);
}

// A client's tokens were within its cap when issued: a restore keeps them
// all, even past the default cap of a quarter of the zone.
void a_restore_is_not_held_to_a_client_cap(void **) {
    fixture::Store memory;
    TokenStore store = memory.open();
    Revocations revoked;
    int count = int(store.capacity() / 2);
    uint32_t retry_after = 0;
    for (int n = 0; n < count; ++n) {
        assert_int_equal(store.insert(digest_of(n), "app", "a", 1, kNow, kNow + 60, kNow,
                                      retry_after, TokenStore::kNoClientCap),
                         InsertResult::ok);
    }
    std::string file = snapshot(store, revoked.list);
    fixture::Store fresh;
    TokenStore restored = fresh.open();
    std::string reason;
    RestoreCounts counts =
        apply_state_file(*StateFile::parse(file, "tokens", reason), restored, revoked.list, kNow);
    assert_int_equal(counts.tokens, count);
    assert_int_equal(counts.refused, 0);
}

// Only a regular file of the workers' user, writable by it alone, is read or
// written: a link the workers' user left there would lead the master, as
// root, to another file.
void only_the_workers_own_files_are_state_files(void **) {
    constexpr uint32_t kWorkers = 65534;
    using Kind = StateFileFacts::Kind;
    std::string reason;
    assert_true(is_workers_state_file({Kind::regular, kWorkers, 0600}, kWorkers, reason));
    assert_true(is_workers_state_file({Kind::regular, kWorkers, 0644}, kWorkers, reason));
    assert_true(is_workers_state_file({Kind::regular, kWorkers, 0400}, kWorkers, reason));
    const std::pair<StateFileFacts, const char *> refused[] = {
        {{Kind::symlink, kWorkers, 0777}, "a symbolic link, which is never followed"},
        {{Kind::symlink, 0, 0777}, "a symbolic link, which is never followed"},
        {{Kind::other, kWorkers, 0600}, "not a regular file"},
        {{Kind::regular, 0, 0600}, "owned by uid 0, not by the workers' user (uid 65534)"},
        {{Kind::regular, 1000, 0600}, "owned by uid 1000, not by the workers' user (uid 65534)"},
        {{Kind::regular, kWorkers, 0666}, "writable by group or others (mode 0666)"},
        {{Kind::regular, kWorkers, 0620}, "writable by group or others (mode 0620)"},
        {{Kind::regular, kWorkers, 0602}, "writable by group or others (mode 0602)"},
        {{Kind::regular, kWorkers, 04602}, "writable by group or others (mode 4602)"},
    };
    for (const auto &[facts, why] : refused) {
        reason.clear();
        assert_false(is_workers_state_file(facts, kWorkers, reason));
        assert_string_equal(reason.c_str(), why);
    }
    // root's workers (user root) own their files as root
    assert_true(is_workers_state_file({Kind::regular, 0, 0600}, 0, reason));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(visit_live_copies_each_live_token),
        cmocka_unit_test(a_file_restores_what_was_live),
        cmocka_unit_test(a_revoked_token_in_an_older_file_stays_revoked),
        cmocka_unit_test(revocations_that_do_not_fit_are_counted),
        cmocka_unit_test(the_file_holds_no_token),
        cmocka_unit_test(every_truncation_is_refused_with_a_reason),
        cmocka_unit_test(every_flipped_byte_is_refused),
        cmocka_unit_test(foreign_files_are_refused),
        cmocka_unit_test(a_checksummed_lie_is_refused),
        cmocka_unit_test(a_version_1_file_is_still_read),
        cmocka_unit_test(bound_tokens_keep_their_bindings_through_a_file),
        cmocka_unit_test(a_checksummed_lie_about_a_binding_is_refused),
        cmocka_unit_test(a_peek_tells_who_wrote_a_file),
        cmocka_unit_test(a_merge_in_ranges_does_what_a_whole_merge_does),
        cmocka_unit_test(the_fleet_stream_position_round_trips),
        cmocka_unit_test(a_snapshot_and_its_journal_restore_the_zone),
        cmocka_unit_test(a_journal_cut_at_any_byte_keeps_its_whole_images),
        cmocka_unit_test(a_restore_is_not_held_to_a_client_cap),
        cmocka_unit_test(only_the_workers_own_files_are_state_files),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
