// The journal's rules (FILE.journal, see state_file.hpp): what a state
// file's writer appends each turn, and when it writes a whole snapshot
// instead. The writer (src/ngx/state.cpp) does the file system's part.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/tokens/token_store.hpp"
#include "core/tokens/change_log.hpp"
#include "core/tokens/state_file.hpp"

namespace oauth {

// Past this, and past half the snapshot, a new snapshot replaces the journal.
constexpr uint64_t kJournalLimit = uint64_t{16} << 20;

// What a writer's turn did with the zone's change log.
enum class JournalTurn {
    nothing,   // nothing changed that the journal lacks
    appended,  // an image went to the journal (from drain_changes: one is to go)
    lapped,    // the change log lost changes the journal lacks: only a snapshot holds them
    failed,    // the image could not be appended
};

struct JournalDrain {
    JournalTurn turn = JournalTurn::nothing;
    std::string image;       // sealed, when turn is appended
    uint64_t journaled = 0;  // the change log's position the journal holds once
                             // `image` is in it (at once, when turn is nothing)
};

// What the change log `log` noted from position `journaled` on, as one
// journal image for zone `zone_name`: each revocation listed, each token
// stored as `store` holds it `now` (one gone since was revoked or has
// expired: left out). The image is due too when the fleet's stream position
// moved from `written`, the last one the files hold, to `position`, even
// with no record in it. Lapped when the log lost some of those changes, or
// keeps none (a reload gave state= to a zone made without it). `stamp` is
// drawn only for an image: each write has its own. May throw bad_alloc.
JournalDrain drain_changes(const ChangeLog &log, uint64_t journaled, const TokenStore &store,
                           uint32_t now, std::string_view zone_name,
                           const fleet::StreamId &position, const fleet::StreamId &written,
                           const std::function<StateStamp()> &stamp);

// Whether a request to write what changed (a new master's FILE.request) is
// answered by this turn: the journal holds all that changed.
bool journal_holds_all_changes(JournalTurn turn);

// Whether the journal has grown long enough that a snapshot should replace it.
bool journal_too_long(uint64_t journal_size, uint64_t snapshot_size);

// What the writer knows after draining the change log.
struct CompactionFacts {
    JournalTurn turn = JournalTurn::nothing;
    bool log_kept = true;             // the zone has a change log
    bool snapshot_under_way = false;  // a new snapshot is being written
    bool snapshot_is_ours = false;    // this zone wrote the snapshot on disk
    uint64_t journal_size = 0;
    uint64_t snapshot_size = 0;
};

// Whether the writer starts a new snapshot now, in place of one under way:
// when the change log lapped (only a snapshot holds what it lost), when it
// appended to a journal on top of a snapshot this zone did not write (its
// first change after a start, a merge), or when the journal grew too long.
// One under way goes on, but when the log lapped since it began copying.
bool starts_snapshot(const CompactionFacts &facts);

}  // namespace oauth
