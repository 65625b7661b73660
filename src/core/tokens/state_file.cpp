// The state file's format: see state_file.hpp for the layout.
#include "core/tokens/state_file.hpp"

// The incremental SHA-256 of a large image, with the calls token.cpp uses for
// the same reason (EVP's per-call lookup), so one state file costs one pass.
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/registry.hpp"
#include "core/resource.hpp"
#include "core/scope.hpp"
#include "core/tokens/zone_tables.hpp"
#include "core/http/text.hpp"

namespace oauth {
namespace {

constexpr char kMagic[8] = {'O', 'A', 'U', 'T', 'H', 'S', 'T', 'F'};
constexpr size_t kVersionAt = 8;
constexpr size_t kHeaderSizeAt = 12;
constexpr size_t kBodySizeAt = 16;
constexpr size_t kStampAt = 24;     // zone instance, writer pid, write id, time: u64 each
constexpr size_t kCountsAt = 56;    // grants, tokens, revocations, zone name length: u32 each
constexpr size_t kPositionAt = 72;  // fleet stream position: ms, seq (u64 each)
constexpr size_t kBindingCountAt = 88;
constexpr size_t kReservedAt = 92;
constexpr size_t kChecksumAt = 96;
constexpr size_t kTokenRecordSize = 32 + 3 * 4;
constexpr size_t kRevocationRecordSize = 32 + 4;
constexpr size_t kBindingRecordSize = 4 + 1 + 32;

// What a binding record's thumbprint is of.
enum BindingKind : uint8_t { kCertificate = 1, kDpopKey = 2 };
constexpr size_t kMaxZoneName = 255;

void put_u16(std::string &out, uint16_t v) {
    out.push_back(char(v));
    out.push_back(char(v >> 8));
}

void put_u32(std::string &out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(char(v >> (8 * i)));
    }
}

void set_u32(std::string &out, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out[at + i] = char(v >> (8 * i));
    }
}

void set_u64(std::string &out, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        out[at + i] = char(v >> (8 * i));
    }
}

uint64_t get_le(std::string_view in, size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) {
        v = v << 8 | uint8_t(in[at + i]);
    }
    return v;
}

uint32_t get_u32(std::string_view in, size_t at) {
    return uint32_t(get_le(in, at, 4));
}

uint64_t get_u64(std::string_view in, size_t at) {
    return get_le(in, at, 8);
}

void put_digest(std::string &out, const Digest &digest) {
    out.append(reinterpret_cast<const char *>(digest.data()), digest.size());
}

Digest get_digest(std::string_view in, size_t at) {
    Digest digest;
    std::memcpy(digest.data(), in.data() + at, digest.size());
    return digest;
}

void put_binding(std::string &out, uint32_t token, BindingKind kind, const Digest &thumbprint) {
    put_u32(out, token);
    out.push_back(char(kind));
    put_digest(out, thumbprint);
}

// Where the header's bytes that must be zero begin: what a version left unused.
size_t unused_header_bytes(uint32_t version) {
    return version < 3 ? kPositionAt : version < 4 ? kBindingCountAt : kReservedAt;
}

// What the checksum covers: the header up to the checksum, then the body.
std::string_view checked_header(std::string_view file) {
    return file.substr(0, kChecksumAt);
}

std::string_view body_of(std::string_view file) {
    return file.substr(kStateHeaderSize);
}

// Printable ASCII (RFC 6749 Appendix A, VSCHAR), as the registry requires.
bool is_client_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxClientIdLength) {
        return false;
    }
    return is_vschar_string(id);
}

bool is_granted_scope(std::string_view scopes) {
    if (scopes.empty()) {
        return true;
    }
    std::vector<std::string_view> tokens;
    return scopes.size() <= kMaxScopeListLength && split_scope(scopes, tokens) &&
           tokens.size() <= kMaxScopes;
}

// A token's audience: URIs as the registry's "resource" holds them, or the issuer.
bool is_granted_audience(std::string_view audiences) {
    if (audiences.empty()) {
        return true;
    }
    std::vector<std::string_view> uris;
    if (audiences.size() > kMaxResourceListLength || !split_scope(audiences, uris) ||
        uris.size() > kMaxResources) {
        return false;
    }
    for (std::string_view uri : uris) {
        if (!is_resource_uri(uri)) {
            return false;
        }
    }
    return true;
}

}  // namespace

struct StateFileWriter::Hash {
    SHA256_CTX ctx;
};

StateFileWriter::StateFileWriter(std::string_view zone_name, const StateStamp &stamp,
                                 const fleet::StreamId &position)
    : zone_name_(zone_name.substr(0, kMaxZoneName)), stamp_(stamp), position_(position) {}

StateFileWriter::~StateFileWriter() {
    delete hash_;
}

void StateFileWriter::add_token(const Digest &digest, const TokenGrant &grant) {
    // Tokens in a row mostly share their grant: it is looked up only when it changes.
    if (token_count_ == 0 || grant.client() != last_client_ || grant.scopes() != last_scopes_) {
        last_grant_ = grant_of(grant);
        last_client_.assign(grant.client());
        last_scopes_.assign(grant.scopes());
    }
    put_digest(tokens_, digest);
    put_u32(tokens_, last_grant_);
    put_u32(tokens_, grant.issued_at);
    put_u32(tokens_, grant.expires_at);
    if (grant.certificate.bound) {
        put_binding(bindings_, token_count_, kCertificate, grant.certificate.thumbprint);
        ++binding_count_;
    }
    if (grant.dpop.bound) {
        put_binding(bindings_, token_count_, kDpopKey, grant.dpop.thumbprint);
        ++binding_count_;
    }
    ++token_count_;
}

uint32_t StateFileWriter::grant_of(const TokenGrant &grant) {
    std::string key;
    key.reserve(6 + grant.client_id_length + grant.scope_length + grant.audience_length);
    put_u16(key, uint16_t(grant.client_id_length));
    put_u16(key, uint16_t(grant.scope_length));
    put_u16(key, uint16_t(grant.audience_length));
    key.append(grant.client()).append(grant.scopes()).append(grant.audiences());
    auto found = grant_index_.find(key);
    uint32_t index;
    if (found != grant_index_.end()) {
        index = found->second;
    } else {
        index = grant_count_++;
        grants_.append(key);
        grant_index_.emplace(std::move(key), index);
    }
    return index;
}

void StateFileWriter::add_revocation(const Digest &digest, uint32_t expires_at) {
    put_digest(revocations_, digest);
    put_u32(revocations_, expires_at);
    ++revocation_count_;
}

void StateFileWriter::finish() {
    size_t body = zone_name_.size() + grants_.size() + tokens_.size() + revocations_.size() +
                  bindings_.size();
    image_.reserve(kStateHeaderSize + body);
    image_.assign(kStateHeaderSize, '\0');
    std::memcpy(&image_[0], kMagic, sizeof kMagic);
    // Without a binding a file is version 3's byte for byte: written as
    // such, an earlier build (the other generation of a binary upgrade)
    // still reads it.
    set_u32(image_, kVersionAt, binding_count_ == 0 ? kStateFileVersion - 1 : kStateFileVersion);
    set_u32(image_, kHeaderSizeAt, kStateHeaderSize);
    set_u64(image_, kBodySizeAt, body);
    set_u64(image_, kStampAt, stamp_.zone_instance);
    set_u64(image_, kStampAt + 8, stamp_.writer_pid);
    set_u64(image_, kStampAt + 16, stamp_.write_id);
    set_u64(image_, kStampAt + 24, stamp_.written_at);
    set_u32(image_, kCountsAt, grant_count_);
    set_u32(image_, kCountsAt + 4, token_count_);
    set_u32(image_, kCountsAt + 8, revocation_count_);
    set_u32(image_, kCountsAt + 12, uint32_t(zone_name_.size()));
    set_u64(image_, kPositionAt, position_.ms);
    set_u64(image_, kPositionAt + 8, position_.seq);
    set_u32(image_, kBindingCountAt, binding_count_);
    image_.append(zone_name_)
        .append(grants_)
        .append(tokens_)
        .append(revocations_)
        .append(bindings_);
    std::string().swap(grants_);
    std::string().swap(tokens_);
    std::string().swap(revocations_);
    std::string().swap(bindings_);
    grant_index_.clear();
}

bool StateFileWriter::seal_some(size_t max) noexcept {
    std::string_view body = body_of(image_);
    if (hash_ == nullptr) {
        hash_ = new (std::nothrow) Hash;
        if (hash_ == nullptr) {
            return false;
        }
        SHA256_Init(&hash_->ctx);
        std::string_view head = checked_header(image_);
        SHA256_Update(&hash_->ctx, head.data(), head.size());
    }
    size_t n = std::min(max, body.size() - hashed_);
    SHA256_Update(&hash_->ctx, body.data() + hashed_, n);
    hashed_ += n;
    if (hashed_ < body.size()) {
        return false;
    }
    SHA256_Final(reinterpret_cast<unsigned char *>(&image_[kChecksumAt]), &hash_->ctx);
    return true;
}

std::optional<StateStamp> StateFile::peek_stamp(std::string_view head) noexcept {
    if (head.size() < kStateHeaderSize || std::memcmp(head.data(), kMagic, sizeof kMagic) != 0 ||
        get_u32(head, kVersionAt) == 0 || get_u32(head, kVersionAt) > kStateFileVersion) {
        return std::nullopt;
    }
    return StateStamp{get_u64(head, kStampAt), get_u64(head, kStampAt + 8),
                      get_u64(head, kStampAt + 16), get_u64(head, kStampAt + 24)};
}

std::optional<StateFile> StateFile::parse(std::string_view bytes, std::string_view zone_name,
                                          std::string &reason) noexcept {
    try {
        if (bytes.size() < sizeof kMagic) {
            reason = bytes.empty() ? "empty" : "truncated in its header";
            return std::nullopt;
        }
        if (std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
            reason = "not a state file of this module";
            return std::nullopt;
        }
        if (bytes.size() < kStateHeaderSize) {
            reason = "truncated in its header";
            return std::nullopt;
        }
        uint32_t version = get_u32(bytes, kVersionAt);
        if (version == 0 || version > kStateFileVersion) {
            reason = "format version " + std::to_string(version) + ", this module reads versions " +
                     "1 to " + std::to_string(kStateFileVersion);
            return std::nullopt;
        }
        if (get_u32(bytes, kHeaderSizeAt) != kStateHeaderSize) {
            reason = "damaged: bad header size";
            return std::nullopt;
        }
        uint64_t body_size = get_u64(bytes, kBodySizeAt);
        if (body_size > bytes.size() - kStateHeaderSize) {
            reason = "truncated: " + std::to_string(bytes.size()) + " bytes of " +
                     (body_size > UINT32_MAX * uint64_t{64}
                          ? std::string("a damaged length")
                          : std::to_string(body_size + kStateHeaderSize));
            return std::nullopt;
        }
        if (body_size < bytes.size() - kStateHeaderSize) {
            reason = "damaged: bytes past its end";
            return std::nullopt;
        }
        Digest stored = get_digest(bytes, kChecksumAt);
        Digest computed;
        if (!sha256_digest({checked_header(bytes), body_of(bytes)}, computed)) {
            reason = "SHA-256 failed";
            return std::nullopt;
        }
        if (stored != computed) {
            reason = "damaged: checksum mismatch";
            return std::nullopt;
        }

        // From here on a failure means a writer that is not this module.
        reason = "damaged: inconsistent content";
        for (size_t i = unused_header_bytes(version); i < kChecksumAt; ++i) {
            if (bytes[i] != 0) {
                return std::nullopt;
            }
        }
        uint64_t grant_count = get_u32(bytes, kCountsAt);
        uint64_t token_count = get_u32(bytes, kCountsAt + 4);
        uint64_t revocation_count = get_u32(bytes, kCountsAt + 8);
        uint64_t name_length = get_u32(bytes, kCountsAt + 12);
        uint64_t binding_count = version < 4 ? 0 : get_u32(bytes, kBindingCountAt);
        std::string_view body = body_of(bytes);
        if (name_length > kMaxZoneName || name_length > body.size()) {
            return std::nullopt;
        }
        std::string_view name = body.substr(0, name_length);
        if (name != zone_name) {
            reason = "written for oauth_token_zone \"" + log_safe(name) + "\"";
            return std::nullopt;
        }

        StateFile file;
        file.bytes_ = bytes;
        file.stamp_ = *peek_stamp(bytes);
        // Versions 1 and 2 held no stream position: their reserved bytes, zero, read as 0-0.
        file.position_ =
            fleet::StreamId{get_u64(bytes, kPositionAt), get_u64(bytes, kPositionAt + 8)};
        // Each grant record takes its lengths or more: a count past that is a
        // lie. Version 1 had no audience: its tokens come back without one.
        size_t lengths = version == 1 ? 4 : 6;
        if (grant_count > body.size() / lengths) {
            return std::nullopt;
        }
        file.grants_.reserve(grant_count);
        size_t at = name_length;
        for (uint64_t g = 0; g < grant_count; ++g) {
            if (body.size() - at < lengths) {
                return std::nullopt;
            }
            size_t client_length = uint16_t(get_le(body, at, 2));
            size_t scope_length = uint16_t(get_le(body, at + 2, 2));
            size_t audience_length = version == 1 ? 0 : uint16_t(get_le(body, at + 4, 2));
            at += lengths;
            if (body.size() - at < client_length + scope_length + audience_length) {
                return std::nullopt;
            }
            GrantText grant{body.substr(at, client_length),
                            body.substr(at + client_length, scope_length),
                            body.substr(at + client_length + scope_length, audience_length)};
            if (!is_client_id(grant.client_id) || !is_granted_scope(grant.scopes) ||
                !is_granted_audience(grant.audiences)) {
                return std::nullopt;
            }
            file.grants_.push_back(grant);
            at += client_length + scope_length + audience_length;
        }
        if (body.size() - at != token_count * kTokenRecordSize +
                                    revocation_count * kRevocationRecordSize +
                                    binding_count * kBindingRecordSize) {
            return std::nullopt;
        }
        file.tokens_offset_ = kStateHeaderSize + at;
        file.token_count_ = token_count;
        for (size_t t = 0; t < token_count; ++t) {
            size_t record = at + t * kTokenRecordSize;
            uint32_t grant = get_u32(body, record + 32);
            uint32_t issued_at = get_u32(body, record + 36);
            uint32_t expires_at = get_u32(body, record + 40);
            if (grant >= grant_count || expires_at == 0 || issued_at > expires_at) {
                return std::nullopt;
            }
        }
        at += token_count * kTokenRecordSize;
        file.revocations_offset_ = kStateHeaderSize + at;
        file.revocation_count_ = revocation_count;
        for (size_t r = 0; r < revocation_count; ++r) {
            if (get_u32(body, at + r * kRevocationRecordSize + 32) == 0) {
                return std::nullopt;
            }
        }
        at += revocation_count * kRevocationRecordSize;
        file.bindings_offset_ = kStateHeaderSize + at;
        file.binding_count_ = binding_count;
        // In token order, each kind once per token: what token() looks up.
        uint64_t previous = 0;
        for (size_t b = 0; b < binding_count; ++b) {
            size_t record = at + b * kBindingRecordSize;
            uint32_t token = get_u32(body, record);
            uint8_t kind = uint8_t(body[record + 4]);
            uint64_t order = uint64_t{token} << 8 | kind;
            if (token >= token_count || (kind != kCertificate && kind != kDpopKey) ||
                (b > 0 && order <= previous)) {
                return std::nullopt;
            }
            previous = order;
        }
        reason.clear();
        return file;
    } catch (const std::bad_alloc &) {
        reason = "out of memory";
        return std::nullopt;
    }
}

StateToken StateFile::token(size_t i) const noexcept {
    size_t record = tokens_offset_ + i * kTokenRecordSize;
    const GrantText &grant = grants_[get_u32(bytes_, record + 32)];
    return StateToken{get_digest(bytes_, record),
                      grant.client_id,
                      grant.scopes,
                      grant.audiences,
                      get_u32(bytes_, record + 36),
                      get_u32(bytes_, record + 40),
                      bindings_of(i)};
}

// The binding records are in token order: the first of token i is found by
// bisection, and its second, if any, follows it.
TokenBindings StateFile::bindings_of(size_t token) const noexcept {
    TokenBindings bindings;
    size_t low = 0;
    size_t high = binding_count_;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (get_u32(bytes_, bindings_offset_ + middle * kBindingRecordSize) < token) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    for (; low < binding_count_; ++low) {
        size_t record = bindings_offset_ + low * kBindingRecordSize;
        if (get_u32(bytes_, record) != token) {
            break;
        }
        bool is_certificate = uint8_t(bytes_[record + 4]) == kCertificate;
        bool &bound = is_certificate ? bindings.certificate.bound : bindings.dpop.bound;
        Digest &thumbprint =
            is_certificate ? bindings.certificate.thumbprint : bindings.dpop.thumbprint;
        bound = true;
        thumbprint = get_digest(bytes_, record + 5);
    }
    return bindings;
}

Digest StateFile::token_digest(size_t i) const noexcept {
    return get_digest(bytes_, tokens_offset_ + i * kTokenRecordSize);
}

StateRevocation StateFile::revocation(size_t i) const noexcept {
    size_t record = revocations_offset_ + i * kRevocationRecordSize;
    return StateRevocation{get_digest(bytes_, record), get_u32(bytes_, record + 32)};
}

size_t StateJournal::record_count() const {
    size_t count = 0;
    for (const StateFile &image : images) {
        count += image.record_count();
    }
    return count;
}

fleet::StreamId StateJournal::stream_position() const {
    fleet::StreamId furthest;
    for (const StateFile &image : images) {
        furthest = std::max(furthest, image.stream_position());
    }
    return furthest;
}

StateJournal parse_journal(std::string_view bytes, std::string_view zone_name) noexcept {
    StateJournal journal;
    try {
        while (journal.whole_bytes < bytes.size()) {
            std::string_view rest = bytes.substr(journal.whole_bytes);
            // An image's length is in its header: what follows it is the next one.
            size_t length = rest.size();
            if (rest.size() >= kStateHeaderSize &&
                std::memcmp(rest.data(), kMagic, sizeof kMagic) == 0) {
                uint64_t body = get_u64(rest, kBodySizeAt);
                length = body > rest.size() - kStateHeaderSize ? rest.size()
                                                               : size_t(kStateHeaderSize + body);
            }
            std::optional<StateFile> image =
                StateFile::parse(rest.substr(0, length), zone_name, journal.problem);
            if (!image) {
                journal.problem =
                    "byte " + std::to_string(journal.whole_bytes) + " on: " + journal.problem;
                return journal;
            }
            journal.images.push_back(*image);
            journal.whole_bytes += length;
        }
    } catch (const std::bad_alloc &) {
        journal.problem = "out of memory";
    }
    return journal;
}

RestoreCounts apply_state_file(const StateFile &file, TokenStore &store,
                               RevocationList &revocations, uint32_t now) noexcept {
    RestoreCounts counts;
    // Into an empty zone nothing is present: a restore spares the look-up.
    apply_state_records(file, store, revocations, now, store.live_tokens() != 0, 0,
                        file.record_count(), counts);
    return counts;
}

bool is_workers_state_file(const StateFileFacts &file, uint32_t workers_uid, std::string &reason) {
    constexpr uint32_t kWritableByOthers = 0022;
    if (file.kind == StateFileFacts::Kind::symlink) {
        reason = "a symbolic link, which is never followed";
    } else if (file.kind != StateFileFacts::Kind::regular) {
        reason = "not a regular file";
    } else if (file.owner != workers_uid) {
        reason = "owned by uid " + std::to_string(file.owner) + ", not by the workers' user (uid " +
                 std::to_string(workers_uid) + ")";
    } else if ((file.permissions & kWritableByOthers) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", unsigned(file.permissions & 07777));
        reason = std::string("writable by group or others (mode ") + mode + ")";
    } else {
        return true;
    }
    return false;
}

size_t apply_state_records(const StateFile &file, TokenStore &store, RevocationList &revocations,
                           uint32_t now, bool into_live, size_t first, size_t count,
                           RestoreCounts &counts) noexcept {
    ZoneTables tables(store, revocations);
    TokenGrant grant;
    size_t start = std::min(first, file.record_count());
    size_t end = start + std::min(count, file.record_count() - start);
    for (size_t i = start; i < end && i < file.revocation_count(); ++i) {
        StateRevocation revoked = file.revocation(i);
        switch (tables.restore_revocation({revoked.digest, revoked.expires_at}, now)) {
            case RevocationRestored::restored:
                ++counts.revocations;
                break;
            case RevocationRestored::refused:
                ++counts.revocations_refused;
                break;
            case RevocationRestored::skipped:
                break;
        }
    }
    // Each token's look-ups miss the cache: those of the tokens a few ahead
    // are under way meanwhile.
    constexpr size_t kAhead = 8;
    for (size_t i = std::max(start, file.revocation_count()); i < end; ++i) {
        if (i + kAhead < end) {
            tables.prefetch(file.token_digest(i + kAhead - file.revocation_count()));
        }
        StateToken token = file.token(i - file.revocation_count());
        if (token.expires_at <= now) {
            ++counts.expired;
        } else if (revocations.contains(token.digest, now)) {
            ++counts.revoked;
        } else if (into_live && store.find(token.digest, now, grant)) {
            ++counts.present;
        } else if (tables.restore_token(token.digest, token.client_id, token.scopes,
                                        token.audiences, token.issued_at, token.expires_at, now,
                                        token.bindings)) {
            ++counts.tokens;
        } else {
            ++counts.refused;
        }
    }
    return end;
}

}  // namespace oauth
