// The journal's rules: see journal.hpp.
#include "core/tokens/journal.hpp"

#include <algorithm>
#include <optional>
#include <vector>

namespace oauth {

namespace {

// Adds to `image` a record for each change: the revocations listed, the
// tokens as the store holds them now. Answers how many it added.
size_t addChanges(StateFileWriter &image, const std::vector<ZoneChange> &changes,
                  const TokenStore &store, uint32_t now) {
    TokenGrant grant;
    size_t records = 0;
    // Each look-up misses the cache: those of the changes a few ahead are
    // under way meanwhile.
    constexpr size_t kAhead = 8;
    for (size_t i = 0; i < changes.size(); ++i) {
        const ZoneChange &change = changes[i];
        if (i + kAhead < changes.size()) {
            store.prefetch(changes[i + kAhead].digest);
        }
        if (change.revoked_until != 0) {
            image.add_revocation(change.digest, change.revoked_until);
            ++records;
        } else if (store.find(change.digest, now, grant)) {
            image.add_token(change.digest, grant);
            ++records;
        }
    }
    return records;
}

}  // namespace

JournalDrain drain_changes(const ChangeLog &log, uint64_t journaled, const TokenStore &store,
                           uint32_t now, std::string_view zone_name,
                           const fleet::StreamId &position, const fleet::StreamId &written,
                           const std::function<StateStamp()> &stamp) {
    JournalDrain drained;
    drained.journaled = journaled;
    if (log.capacity() == 0) {
        drained.turn = JournalTurn::lapped;
        return drained;
    }
    std::vector<ZoneChange> changes;
    std::optional<uint64_t> to = log.read(journaled, changes);
    if (!to) {
        drained.turn = JournalTurn::lapped;
        return drained;
    }
    bool moved = position != written;
    if (changes.empty() && !moved) {
        return drained;
    }
    StateFileWriter image(zone_name, stamp(), position);
    size_t records = addChanges(image, changes, store, now);
    drained.journaled = *to;
    if (records == 0 && !moved) {
        return drained;  // all gone already
    }
    image.finish();
    image.seal_some(SIZE_MAX);
    drained.turn = JournalTurn::appended;
    drained.image = image.image();
    return drained;
}

bool journal_holds_all_changes(JournalTurn turn) {
    return turn == JournalTurn::nothing || turn == JournalTurn::appended;
}

bool journal_too_long(uint64_t journal_size, uint64_t snapshot_size) {
    return journal_size > std::max(kJournalLimit, snapshot_size / 2);
}

bool starts_snapshot(const CompactionFacts &facts) {
    bool lapped = facts.turn == JournalTurn::lapped;
    bool restart = lapped && facts.log_kept;
    if (facts.snapshot_under_way && !restart) {
        return false;
    }
    return lapped || (facts.turn == JournalTurn::appended && !facts.snapshot_is_ours) ||
           journal_too_long(facts.journal_size, facts.snapshot_size);
}

}  // namespace oauth
