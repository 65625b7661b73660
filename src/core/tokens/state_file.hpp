// The state file: a zone's live tokens and revocations on disk, so that they
// survive a restart. Digests and grants only, never a token or a secret.
//
// Layout (little-endian), version 4:
//   header, 128 bytes: magic "OAUTHSTF", version, header size, body size,
//     the stamp (zone instance, writer pid, write id, time written), the
//     counts of grants, tokens and revocations, the zone name's length, the
//     fleet stream position (ms, seq: u64 each; 0-0 when none), the count of
//     bindings (u32), and at byte 96 the SHA-256 of header bytes 0..95
//     followed by the body;
//   body: the zone name; grants (u16 client id length, u16 scope length,
//     u16 audience length, client id, granted scopes, audience URIs; version
//     1, still read, had no audience); tokens (digest, u32 grant index, u32 iat,
//     u32 exp: 44 bytes); revocations (digest, u32 exp: 36 bytes); bindings
//     of bound tokens (u32 token index, u8 1 for a certificate's x5t#S256 or
//     2 for a DPoP key's jkt, the thumbprint: 37 bytes), in token order.
// Versions 1 and 2, still read, had no stream position (zero bytes there:
// 0-0), version 3 no bindings (zero bytes there); a later version is refused.
//
// Two files of this format keep a zone: FILE, a snapshot of the whole zone,
// and FILE.journal, images of the same format one after another, each what
// changed in one second since. A journal is read up to its first image that
// is incomplete (a write cut short by a crash) or damaged.
//
// The reader trusts nothing: every length is checked against the bytes there
// are, every field against what the module would have written, before any
// record is handed out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/fleet/stream_id.hpp"
#include "core/tokens/token.hpp"
#include "core/tokens/token_store.hpp"
#include "core/tokens/revocation_list.hpp"

namespace oauth {

constexpr size_t kStateHeaderSize = 128;
constexpr uint32_t kStateFileVersion = 4;

// Who wrote a file, and when: what tells a writer that the file on disk is
// not its own last one.
struct StateStamp {
    uint64_t zone_instance = 0;  // drawn when the zone was created
    uint64_t writer_pid = 0;
    uint64_t write_id = 0;  // different for every write
    uint64_t written_at = 0;
};

struct StateToken {
    Digest digest;
    std::string_view client_id;
    std::string_view scopes;     // granted, space-joined
    std::string_view audiences;  // space-joined URIs
    uint32_t issued_at;
    uint32_t expires_at;
    TokenBindings bindings;
};

struct StateRevocation {
    Digest digest;
    uint32_t expires_at;
};

// Builds a file image in memory; the checksum is computed a slice at a time,
// so that a large zone is written across several turns of an event loop.
class StateFileWriter {
  public:
    StateFileWriter(std::string_view zone_name, const StateStamp &stamp,
                    const fleet::StreamId &position);  // may throw bad_alloc
    ~StateFileWriter();
    StateFileWriter(const StateFileWriter &) = delete;
    StateFileWriter &operator=(const StateFileWriter &) = delete;

    void add_token(const Digest &digest, const TokenGrant &grant);  // may throw bad_alloc
    void add_revocation(const Digest &digest, uint32_t expires_at);

    // Lays the image out; nothing may be added afterwards.
    void finish();

    // The whole file once sealed; before that, its body is final and its header is not.
    const std::string &image() const { return image_; }

    // Hashes up to `max` more bytes of the image; true once it is sealed.
    bool seal_some(size_t max) noexcept;

    size_t token_count() const { return token_count_; }

  private:
    struct Hash;
    uint32_t grant_of(const TokenGrant &grant);  // its index, added if new
    std::string zone_name_;
    StateStamp stamp_;
    fleet::StreamId position_;
    std::string grants_;
    std::string tokens_;
    std::string revocations_;
    std::string bindings_;
    std::unordered_map<std::string, uint32_t> grant_index_;
    uint32_t grant_count_ = 0;
    std::string last_client_;  // the grant of the last token added, and its index
    std::string last_scopes_;
    uint32_t last_grant_ = 0;
    uint32_t token_count_ = 0;
    uint32_t revocation_count_ = 0;
    uint32_t binding_count_ = 0;
    std::string image_;
    size_t hashed_ = 0;  // bytes of the body hashed
    Hash *hash_ = nullptr;
};

// A file's bytes, checked whole; its records are read only after that.
class StateFile {
  public:
    // The file written for `zone_name`, or nullopt with `reason` saying what
    // is wrong with it.
    static std::optional<StateFile> parse(std::string_view bytes, std::string_view zone_name,
                                          std::string &reason) noexcept;

    // The stamp alone, from a file's first kStateHeaderSize bytes (or fewer),
    // unchecked but for its shape: enough to tell who last wrote a file.
    static std::optional<StateStamp> peek_stamp(std::string_view head) noexcept;

    const StateStamp &stamp() const { return stamp_; }
    const fleet::StreamId &stream_position() const { return position_; }
    size_t token_count() const { return token_count_; }
    size_t revocation_count() const { return revocation_count_; }
    size_t record_count() const { return revocation_count_ + token_count_; }
    StateToken token(size_t i) const noexcept;
    Digest token_digest(size_t i) const noexcept;
    StateRevocation revocation(size_t i) const noexcept;

  private:
    TokenBindings bindings_of(size_t token) const noexcept;
    struct GrantText {
        std::string_view client_id;
        std::string_view scopes;
        std::string_view audiences;
    };
    std::string_view bytes_;
    StateStamp stamp_;
    fleet::StreamId position_;
    std::vector<GrantText> grants_;
    size_t tokens_offset_ = 0;
    size_t token_count_ = 0;
    size_t revocations_offset_ = 0;
    size_t revocation_count_ = 0;
    size_t bindings_offset_ = 0;
    size_t binding_count_ = 0;
};

// A journal's whole images, in order, and what is wrong with the rest.
struct StateJournal {
    std::vector<StateFile> images;
    size_t whole_bytes = 0;  // the bytes those images take; the rest is ignored
    std::string problem;     // why the rest is ignored; empty when there is none
    size_t record_count() const;
    fleet::StreamId stream_position() const;  // the furthest any image holds
};

StateJournal parse_journal(std::string_view bytes, std::string_view zone_name) noexcept;

struct RestoreCounts {
    size_t tokens = 0;               // inserted
    size_t expired = 0;              // skipped: expired by now
    size_t revoked = 0;              // skipped: in the revocation list
    size_t present = 0;              // skipped: the zone holds it already
    size_t refused = 0;              // the zone was full
    size_t revocations = 0;          // added to the list
    size_t revocations_refused = 0;  // the list was full there: lost, and logged
};

// What the file system says of what was found at a state file's name (the
// name itself: a link there is not followed).
struct StateFileFacts {
    enum class Kind { regular, symlink, other };
    Kind kind = Kind::regular;
    uint32_t owner = 0;        // uid
    uint32_t permissions = 0;  // the mode's permission bits
};

// Whether the workers wrote what was found at a state file's name, as far as
// the file system can tell, before anything is read from it or written to
// it: a regular file of the workers' user that no one else may write. Their
// user may write the directory, so it may leave a link to another file, or
// a file of another's, there; and a file others may write may hold what the
// workers never wrote. Else false, with `reason` saying why.
bool is_workers_state_file(const StateFileFacts &file, uint32_t workers_uid,
                           std::string &reason);  // may throw bad_alloc

// Brings a file's content into a zone: its revocations into `revocations`
// (and out of `store`), then each token neither expired nor revoked, through
// insert() with its granted scopes as the list and all of them in the mask,
// unless the zone holds it already. Into an empty zone this is a restore;
// into a live one, a merge that changes nothing when it brings nothing new.
RestoreCounts apply_state_file(const StateFile &file, TokenStore &store,
                               RevocationList &revocations, uint32_t now) noexcept;

// apply_state_file() over `count` records from `first` only, the file's
// revocations numbered before its tokens, so that a big merge can spread over
// several turns of an event loop; `into_live` says whether the zone held
// tokens when the merge began. Adds to `counts`; answers the next record:
// file.record_count() once done.
size_t apply_state_records(const StateFile &file, TokenStore &store, RevocationList &revocations,
                           uint32_t now, bool into_live, size_t first, size_t count,
                           RestoreCounts &counts) noexcept;

}  // namespace oauth
