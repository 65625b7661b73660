// The position in the fleet's stream: a Redis stream entry id, "MS-SEQ".
// One type for the link that reads the stream, the zone that shares how far
// it was read, and the state file that keeps that across a restart.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace oauth::fleet {

// A Redis stream entry id; 0-0 names no entry.
struct StreamId {
    uint64_t ms = 0;
    uint64_t seq = 0;

    bool operator<(const StreamId &other) const {
        return ms != other.ms ? ms < other.ms : seq < other.seq;
    }
    bool operator==(const StreamId &other) const { return ms == other.ms && seq == other.seq; }
    bool operator!=(const StreamId &other) const { return !(*this == other); }
    bool none() const { return ms == 0 && seq == 0; }
    std::string text() const;
    static std::optional<StreamId> parse(std::string_view text) noexcept;
};

// A StreamId in memory that several processes share (a zone's): its two
// words, as a zone has always laid them out, read and written whole by the
// one process that moves it and read by the others.
class SharedStreamId {
  public:
    StreamId load() const noexcept {
        return {ms_.load(std::memory_order_acquire), seq_.load(std::memory_order_acquire)};
    }
    void store(StreamId id) noexcept {
        seq_.store(id.seq, std::memory_order_release);
        ms_.store(id.ms, std::memory_order_release);
    }

  private:
    std::atomic<uint64_t> ms_{0};
    std::atomic<uint64_t> seq_{0};
};

}  // namespace oauth::fleet
