#include "core/fleet/stream.hpp"

namespace oauth::fleet {

std::string stream_name(std::string_view prefix, std::string_view zone) {
    std::string name(prefix);
    name += ':';
    name += zone;
    return name;
}

Continuity check_continuity(StreamId position, const StreamInfo &stream) noexcept {
    if (position.none()) {
        return Continuity::read_on;
    }
    if (!stream.exists || stream.last_generated_id < position) {
        return Continuity::reset_and_republish;
    }
    if (!stream.first_entry.none() && position < stream.first_entry) {
        return Continuity::republish;
    }
    return Continuity::read_on;
}

bool republish_restored(size_t live_revocations) noexcept {
    return live_revocations != 0;
}

uint64_t refused_since_republish(uint64_t dropped, uint64_t dropped_republished) noexcept {
    return dropped - dropped_republished;
}

void apply_batch(const std::vector<StreamEntry> &entries, std::string_view stream,
                 const std::vector<jose::Key> &accepted, uint32_t now, BatchTarget &target,
                 BatchCounts &counts) noexcept {
    for (const StreamEntry &entry : entries) {
        Revocation revocation;
        Rejection why = entry.well_formed ? verify_entry(entry.fields, stream, accepted, revocation)
                                          : Rejection::malformed;
        if (why != Rejection::none) {
            ++counts.rejected;
            counts.last = why;
            counts.last_rejected = entry.id;
        } else {
            if (apply_entry(revocation, target.store, target.revocations, now) == Applied::full &&
                target.list_full != nullptr) {
                target.list_full(target.context, revocation);
            }
            ++counts.applied;
        }
        target.position.store(entry.id);
    }
}

}  // namespace oauth::fleet
