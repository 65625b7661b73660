// The journal's rules: what a state file's writer appends from the zone's
// change log each turn, and when it writes a whole snapshot instead.
#include "unit.hpp"

#include <vector>

#include "core/tokens/token_store.hpp"
#include "core/tokens/journal.hpp"
#include "core/tokens/revocation_list.hpp"
#include "core/tokens/state_file.hpp"
#include "fixtures.hpp"

using namespace oauth;

namespace {

constexpr uint32_t kNow = 1'700'000'000;
constexpr uint64_t kMiB = uint64_t{1} << 20;

Digest digest_of(int n) {
    return digest_token("token-" + std::to_string(n));
}

// A zone whose token store and revocation list note their changes.
struct Zone {
    std::vector<uint64_t> log_memory = std::vector<uint64_t>(ChangeLog::kMinRegionSize / 8);
    ChangeLog log = open_log();
    fixture::Store memory;
    TokenStore store = TokenStore(memory.memory.data(), {}, log);
    std::vector<uint64_t> list_memory = std::vector<uint64_t>(RevocationList::kMinRegionSize / 8);
    RevocationList revoked = open_list();
    int stamps = 0;  // drawn

    ChangeLog open_log() {
        assert_true(ChangeLog::format(log_memory.data(), log_memory.size() * 8));
        return ChangeLog(log_memory.data());
    }
    RevocationList open_list() {
        assert_true(RevocationList::format(list_memory.data(), list_memory.size() * 8));
        return RevocationList(list_memory.data(), {}, log);
    }
    void issue(int n, uint32_t expires_at = kNow + 3600) {
        uint32_t retry_after = 0;
        assert_int_equal(store.insert(digest_of(n), "app", "a b", 0b01, kNow - 5, expires_at, kNow,
                                      retry_after, TokenStore::kDefaultClientCap, {}),
                         InsertResult::ok);
    }
    JournalDrain drain(uint64_t journaled, fleet::StreamId position = {},
                       fleet::StreamId written = {}, uint32_t now = kNow) {
        return drain_changes(log, journaled, store, now, "tokens", position, written, [this] {
            ++stamps;
            return StateStamp{7, 1234, uint64_t(stamps), kNow};
        });
    }
};

StateFile parsed(const std::string &image) {
    std::string reason;
    std::optional<StateFile> file = StateFile::parse(image, "tokens", reason);
    assert_true(file.has_value());
    return *file;
}

// Each token as the store holds it now, each revocation; one revoked since
// is left out (its revocation says it all).
void a_drain_writes_what_changed_as_the_zone_holds_it_now(void **) {
    Zone zone;
    zone.issue(1);
    uint64_t from = zone.log.position();
    zone.issue(2);
    zone.issue(3);
    assert_true(zone.revoked.add(digest_of(3), kNow + 3600, kNow));
    assert_true(zone.store.revoke(digest_of(3), "app"));
    JournalDrain drained = zone.drain(from);
    assert_int_equal(int(drained.turn), int(JournalTurn::appended));
    assert_int_equal(drained.journaled, zone.log.position());
    assert_int_equal(zone.stamps, 1);
    StateFile image = parsed(drained.image);
    assert_int_equal(image.token_count(), 1);
    assert_true(image.token(0).digest == digest_of(2));
    assert_text(image.token(0).scopes, "a");
    assert_int_equal(image.revocation_count(), 1);
    assert_true(image.revocation(0).digest == digest_of(3));
    assert_int_equal(image.stamp().write_id, 1);
    assert_true(parse_journal(drained.image, "tokens").problem.empty());
}

// Nothing new: no image, and no stamp drawn for it.
void a_drain_of_no_change_writes_nothing(void **) {
    Zone zone;
    zone.issue(1);
    uint64_t at = zone.log.position();
    JournalDrain drained = zone.drain(at, fleet::StreamId{5, 1}, fleet::StreamId{5, 1});
    assert_int_equal(int(drained.turn), int(JournalTurn::nothing));
    assert_int_equal(drained.journaled, at);
    assert_true(drained.image.empty());
    assert_int_equal(zone.stamps, 0);
}

// Tokens expired since they were noted: nothing to write, but the journal
// is past them.
void changes_all_gone_write_nothing_and_are_passed(void **) {
    Zone zone;
    zone.issue(1, kNow + 10);
    JournalDrain drained = zone.drain(0, {}, {}, kNow + 20);
    assert_int_equal(int(drained.turn), int(JournalTurn::nothing));
    assert_int_equal(drained.journaled, 1);
    assert_true(drained.image.empty());
}

// The fleet's stream moved on: the journal says so, even with no record.
void a_moved_stream_position_is_written_alone(void **) {
    Zone zone;
    JournalDrain drained = zone.drain(0, fleet::StreamId{1700, 3}, fleet::StreamId{1700, 2});
    assert_int_equal(int(drained.turn), int(JournalTurn::appended));
    StateFile image = parsed(drained.image);
    assert_int_equal(image.record_count(), 0);
    assert_int_equal(image.stream_position().ms, 1700);
    assert_int_equal(image.stream_position().seq, 3);
}

// Changes the ring lost, or a zone that keeps no change log: only a
// snapshot holds them.
void a_lapped_or_missing_change_log_asks_for_a_snapshot(void **) {
    Zone zone;
    for (size_t n = 0; n < zone.log.capacity(); ++n) {
        zone.log.note(digest_of(int(n)), 0);
    }
    assert_int_equal(int(zone.drain(0).turn), int(JournalTurn::lapped));
    JournalDrain behind = zone.drain(1);  // a whole ring behind, less one: nothing lost
    assert_int_equal(int(behind.turn), int(JournalTurn::nothing));
    assert_int_equal(behind.journaled, zone.log.capacity());
    fixture::Store memory;
    TokenStore store = memory.open();
    JournalDrain drained =
        drain_changes(ChangeLog(), 0, store, kNow, "tokens", {}, {}, [] { return StateStamp{}; });
    assert_int_equal(int(drained.turn), int(JournalTurn::lapped));
}

void a_request_is_answered_once_the_journal_holds_all(void **) {
    assert_true(journal_holds_all_changes(JournalTurn::nothing));
    assert_true(journal_holds_all_changes(JournalTurn::appended));
    assert_false(journal_holds_all_changes(JournalTurn::lapped));
    assert_false(journal_holds_all_changes(JournalTurn::failed));
}

// Past 16 MiB and past half the snapshot, both.
void the_journal_is_too_long_past_16_mib_and_half_the_snapshot(void **) {
    assert_false(journal_too_long(16 * kMiB, 0));
    assert_true(journal_too_long(16 * kMiB + 1, 0));
    assert_false(journal_too_long(16 * kMiB + 1, 40 * kMiB));
    assert_false(journal_too_long(20 * kMiB, 40 * kMiB));
    assert_true(journal_too_long(20 * kMiB + 1, 40 * kMiB));
    assert_true(journal_too_long(20 * kMiB + 1, 40 * kMiB + 1));
}

CompactionFacts facts(JournalTurn turn) {
    CompactionFacts facts;
    facts.turn = turn;
    facts.snapshot_is_ours = true;
    facts.journal_size = kMiB;
    facts.snapshot_size = 64 * kMiB;
    return facts;
}

void a_snapshot_starts_when_the_journal_cannot_do(void **) {
    // An append on top of this zone's own snapshot, a short journal: no.
    assert_false(starts_snapshot(facts(JournalTurn::appended)));
    assert_false(starts_snapshot(facts(JournalTurn::nothing)));
    assert_false(starts_snapshot(facts(JournalTurn::failed)));
    // The change log lapped.
    assert_true(starts_snapshot(facts(JournalTurn::lapped)));
    // The first append on top of a snapshot another zone wrote (or none).
    CompactionFacts foreign = facts(JournalTurn::appended);
    foreign.snapshot_is_ours = false;
    assert_true(starts_snapshot(foreign));
    foreign.turn = JournalTurn::nothing;
    assert_false(starts_snapshot(foreign));
    // A journal grown past half the snapshot and 16 MiB.
    CompactionFacts grown = facts(JournalTurn::nothing);
    grown.journal_size = 32 * kMiB + 1;
    assert_true(starts_snapshot(grown));
}

// One under way goes on, unless the log lapped since it began copying;
// a zone with no change log laps every turn, and goes on too.
void a_snapshot_under_way_is_restarted_only_by_a_lap(void **) {
    CompactionFacts under_way = facts(JournalTurn::appended);
    under_way.snapshot_under_way = true;
    under_way.snapshot_is_ours = false;
    under_way.journal_size = 64 * kMiB;
    assert_false(starts_snapshot(under_way));
    under_way.turn = JournalTurn::lapped;
    assert_true(starts_snapshot(under_way));
    under_way.log_kept = false;
    assert_false(starts_snapshot(under_way));
    under_way.snapshot_under_way = false;
    assert_true(starts_snapshot(under_way));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_drain_writes_what_changed_as_the_zone_holds_it_now),
        cmocka_unit_test(a_drain_of_no_change_writes_nothing),
        cmocka_unit_test(changes_all_gone_write_nothing_and_are_passed),
        cmocka_unit_test(a_moved_stream_position_is_written_alone),
        cmocka_unit_test(a_lapped_or_missing_change_log_asks_for_a_snapshot),
        cmocka_unit_test(a_request_is_answered_once_the_journal_holds_all),
        cmocka_unit_test(the_journal_is_too_long_past_16_mib_and_half_the_snapshot),
        cmocka_unit_test(a_snapshot_starts_when_the_journal_cannot_do),
        cmocka_unit_test(a_snapshot_under_way_is_restarted_only_by_a_lap),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
