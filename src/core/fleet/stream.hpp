// What a node does with the fleet's stream, whoever drives the link (the
// master's read at start, a worker's link): which stream a zone uses, what
// to do once its continuity is known, when the zone's whole revocation list
// goes out again, and how a batch of entries read is applied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/fleet/entry.hpp"
#include "core/fleet/stream_id.hpp"
#include "core/jose/key.hpp"
#include "core/tokens/token_store.hpp"
#include "core/tokens/revocation_list.hpp"

namespace oauth::fleet {

// The zone's stream: "PREFIX:ZONE".
std::string stream_name(std::string_view prefix, std::string_view zone);

// What the stream says of a node's position when the link comes up.
struct StreamInfo {
    bool exists = false;
    StreamId first_entry;        // none: the stream is empty
    StreamId last_generated_id;  // the last id Redis handed out for it, trimmed or not
};

// What the link does once it knows the stream's continuity.
enum class Continuity {
    read_on,  // read on from the position
    // Entries after the position may be gone, or Redis lost them and another
    // node refilled the stream first: what is left is read from the position,
    // and this node's live revocations, which only it may hold, go out again.
    republish,
    // The stream holds less than the node read (Redis lost its data): it is
    // read from its start and this node's live revocations go out again.
    reset_and_republish
};
Continuity check_continuity(StreamId position, const StreamInfo &stream) noexcept;

// Revocations a state file brought back may never have left the outbox of
// the node's previous life (Redis away when it stopped): they go out again.
bool republish_restored(size_t live_revocations) noexcept;

// Revocations the outbox refused since the list was last published again
// (`dropped` counts every refusal): any makes the whole list go out again.
uint64_t refused_since_republish(uint64_t dropped, uint64_t dropped_republished) noexcept;

// One entry read, its fields viewed in the reply that holds them.
struct StreamEntry {
    StreamId id;
    std::vector<FieldView> fields;
    bool well_formed = true;  // false: the reply's shape of it was not fields
};

struct BatchCounts {
    size_t applied = 0;
    size_t rejected = 0;
    Rejection last = Rejection::none;  // why the last rejected one was
    StreamId last_rejected;
};

// Where a batch goes: the zone's store, its revocation list and its position.
struct BatchTarget {
    TokenStore &store;
    RevocationList &revocations;
    SharedStreamId &position;
    // Told of each revocation the full list could not take (the caller logs it).
    void (*list_full)(void *context, const Revocation &revocation) = nullptr;
    void *context = nullptr;
};

// Verifies each entry of `stream` against `accepted`, applies those that
// pass, and moves the position past every entry, applied or rejected: a
// rejected entry never becomes acceptable by being read again.
void apply_batch(const std::vector<StreamEntry> &entries, std::string_view stream,
                 const std::vector<jose::Key> &accepted, uint32_t now, BatchTarget &target,
                 BatchCounts &counts) noexcept;

}  // namespace oauth::fleet
