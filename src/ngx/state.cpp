// State files (oauth_token_zone ... state=FILE): the zone's live tokens and
// revocations, read when the zone is created (state_load.cpp), and written
// by one worker of the zone, the holder of its writer lease (here). The
// format is core/tokens/state_file.hpp's; the journal's rules are
// core/tokens/journal.hpp's; every file is opened through the directory's
// descriptor (state_dir.hpp).
//
// Two files keep a zone: FILE, a snapshot of all of it, and FILE.journal,
// what changed since. Each second the writer appends to the journal what the
// zone's change log noted since its last write: the cost follows what
// changed. A new snapshot is written (to FILE.tmp, a slice per turn of the
// event loop, then renamed over FILE; the journal is then cut to what was
// appended meanwhile) only when the journal grows past half the snapshot
// and 16 MiB, when the change log laps, or when the snapshot there is not
// this zone's. What another zone writes there (the other generation of a
// binary upgrade, the zone a resize replaced) is merged into this one.
#include "ngx/module.hpp"
#include "ngx/state_dir.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/tokens/journal.hpp"
#include "core/tokens/state_file.hpp"

namespace oauth_ngx {

namespace {

constexpr ngx_msec_t kWriteInterval = 1000;
constexpr ngx_msec_t kSliceInterval = 1;
constexpr size_t kSliceBytes = 1 << 20;
// Slots of the zone copied into the image per turn: some milliseconds.
constexpr uint32_t kSliceSlots = 16384;
// Records of another zone's snapshot merged per turn.
constexpr size_t kSliceRecords = 16384;

// ---- nginx -t: where the file goes ---------------------------------------

// The directory's permission bits as they apply to nginx's worker user.
bool writableByWorkers(const char *directory, const struct stat &st, ngx_core_conf_t *ccf) {
    if (ccf->user == ngx_uid_t(NGX_CONF_UNSET_UINT)) {
        return faccessat(AT_FDCWD, directory, W_OK | X_OK, AT_EACCESS) == 0;  // workers are us
    }
    if (ccf->user == 0) {
        return true;
    }
    if (st.st_uid == ccf->user) {
        return (st.st_mode & (S_IWUSR | S_IXUSR)) == (S_IWUSR | S_IXUSR);
    }
    bool member = st.st_gid == ccf->group;
    gid_t groups[256];
    int count = 256;
    if (!member && getgrouplist(ccf->username, ccf->group, groups, &count) != -1) {
        for (int i = 0; i < count && !member; ++i) {
            member = groups[i] == st.st_gid;
        }
    }
    mode_t bits = member ? (S_IWGRP | S_IXGRP) : (S_IWOTH | S_IXOTH);
    return (st.st_mode & bits) == bits;
}

}  // namespace

ngx_int_t checkStateDirectory(ngx_shm_zone_t *shm, const Zone &zone) {
    if (zone.state_file.len == 0) {
        return NGX_OK;
    }
    std::string directory = directoryPrefixOf(zone);
    struct stat st;
    if (stat(directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        ngx_log_error(NGX_LOG_EMERG, shm->shm.log, ngx_errno,
                      "oauth_token_zone \"%V\": the directory of state=%V does not exist in %V:%ui",
                      &zone.name, &zone.state_file, &zone.place.file, zone.place.line);
        return NGX_ERROR;
    }
    auto *ccf =
        reinterpret_cast<ngx_core_conf_t *>(ngx_get_conf(zone.cycle->conf_ctx, ngx_core_module));
    if (!writableByWorkers(directory.c_str(), st, ccf)) {
        ngx_log_error(NGX_LOG_EMERG, shm->shm.log, 0,
                      "oauth_token_zone \"%V\": nginx's worker user may not write in the "
                      "directory of state=%V in %V:%ui",
                      &zone.name, &zone.state_file, &zone.place.file, zone.place.line);
        return NGX_ERROR;
    }
    return NGX_OK;
}

namespace {

// ---- writing -------------------------------------------------------------

// A new snapshot under way: the zone copied into `image` a slice per turn,
// then written to FILE.tmp likewise.
struct Compaction {
    std::unique_ptr<oauth::StateFileWriter> image;
    int fd = -1;  // -1 while the zone is copied into image
    uint32_t copied_at = 0;
    uint32_t next_token_slot = 0;
    uint32_t next_revocation_slot = 0;
    size_t written = 0;      // bytes of the image's body in the file
    FileMark journal_start;  // FILE.journal when it began: what the snapshot holds
    bool answers_request = false;

    ~Compaction() {
        if (fd != -1) {
            close(fd);
        }
    }
};

// What another zone wrote, merged into this one a slice per turn.
struct Merge {
    std::string snapshot_bytes;
    std::string journal_bytes;
    std::vector<oauth::StateFile> files;  // over those bytes
    size_t file = 0;
    size_t next_record = 0;
    bool into_live = false;
    uint32_t now = 0;
    oauth::RestoreCounts counts;
};

// The files' names (snapshot, temporary, ...) are in `dir`, the state files' directory.
struct Writer {
    explicit Writer(int directory) : dir(directory) {}
    ngx_event_t timer{};
    ngx_shm_zone_t *shm = nullptr;
    Zone zone{};
    Descriptor dir;
    uid_t workers = 0;
    std::string snapshot;
    std::string temporary;
    std::string journal;
    std::string journal_temporary;
    std::string request;
    std::unique_ptr<Compaction> compaction;
    std::unique_ptr<Merge> merge;
    ngx_msec_t drained_at = 0;
    oauth::fleet::StreamId written_position;  // the fleet's, as last written
    bool holds_lease = false;
};

oauth::StateStamp newStamp(ZoneState &state) {
    return oauth::StateStamp{state.instance, uint64_t(ngx_pid),
                             state.writes.fetch_add(1, std::memory_order_relaxed) + 1,
                             uint64_t(ngx_time())};
}

void addToken(void *image, const oauth::Digest &digest, const oauth::TokenGrant &grant) {
    static_cast<oauth::StateFileWriter *>(image)->add_token(digest, grant);
}

void addRevocation(void *image, const oauth::Digest &digest, uint32_t expires_at) {
    static_cast<oauth::StateFileWriter *>(image)->add_revocation(digest, expires_at);
}

// For messages.
std::string pathIn(const Writer &w, const std::string &name) {
    return directoryPrefixOf(w.zone) + name;
}

// `name`, locked. A lock taken on a file another writer has just renamed
// over it would be on the file replaced: the name must still be what is
// locked. The two generations of a binary upgrade write the same files.
// What is there and is not the workers' state file is removed, so that the
// next turn creates it anew; as it may have stood for the journal, the next
// append starts a new snapshot.
int openLocked(Writer &w, const std::string &name, int flags) {
    int fd;
    std::string problem;
    Read opened = openStateFile(w.dir.get(), name, flags, w.workers, fd, problem);
    if (opened == Read::refused) {
        logRemoved(ngx_cycle->log, w.zone, pathIn(w, name), problem);
        unlinkat(w.dir.get(), name.c_str(), 0);
        stateOf(w.shm).snapshot_is_ours = false;
    }
    if (opened != Read::ok) {
        return -1;
    }
    struct stat locked, named;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &locked) != 0 ||
        fstatat(w.dir.get(), name.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0 ||
        locked.st_ino != named.st_ino ||
        ((flags & O_ACCMODE) != O_RDONLY && fchmod(fd, 0600) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

// ---- the journal ----------------------------------------------------------

// One image at FILE.journal's end, whole or not at all.
bool appendToJournal(Writer &w, const std::string &image) {
    ZoneState &state = stateOf(w.shm);
    int fd = openLocked(w, w.journal, O_WRONLY | O_CREAT);
    if (fd == -1) {
        return false;
    }
    FileMark before = markOf(fd);
    bool ok = writeAll(fd, image.data(), image.size(), off_t(before.size));
    if (!ok) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                      "oauth_token_zone \"%V\": appending to \"%s\" failed", &w.zone.name,
                      pathIn(w, w.journal).c_str());
        if (ftruncate(fd, off_t(before.size)) == -1) {
            // the torn tail stays; the reader stops at it and the next load cuts it
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                          "oauth_token_zone \"%V\": cutting \"%s\" back failed", &w.zone.name,
                          pathIn(w, w.journal).c_str());
        }
    } else if (sameMark(before, state.journal)) {
        state.journal = markOf(fd);  // else what another wrote there is still to merge
    }
    close(fd);
    return ok;
}

// What changed since the last write, from the change log into the journal
// (oauth::drain_changes).
oauth::JournalTurn drain(Writer &w) {
    ZoneState &state = stateOf(w.shm);
    oauth::fleet::StreamId position = state.fleet_position.load();
    oauth::JournalDrain drained =
        oauth::drain_changes(changesOf(w.shm), state.journaled.load(std::memory_order_relaxed),
                             storeOf(w.shm), uint32_t(ngx_time()), view(w.zone.name), position,
                             w.written_position, [&state] { return newStamp(state); });
    if (drained.turn == oauth::JournalTurn::lapped) {
        return drained.turn;
    }
    if (drained.turn == oauth::JournalTurn::appended && !appendToJournal(w, drained.image)) {
        return oauth::JournalTurn::failed;
    }
    state.journaled.store(drained.journaled, std::memory_order_relaxed);
    if (drained.turn == oauth::JournalTurn::appended) {
        w.written_position = position;
    }
    return drained.turn;
}

// After a snapshot: the journal's images from before it began are in it now;
// only what was appended since stays.
void cutJournal(Writer &w, const FileMark &start) {
    ZoneState &state = stateOf(w.shm);
    if (start.inode == 0) {
        return;  // there was none: all it holds came later
    }
    int fd = openLocked(w, w.journal, O_RDONLY);
    if (fd == -1) {
        return;  // the next snapshot cuts it
    }
    FileMark now = markOf(fd);
    if (now.inode == start.inode && now.size >= start.size) {
        std::string rest;
        std::string problem;
        bool tracked = sameMark(now, state.journal);
        if (now.size == start.size) {
            unlinkat(w.dir.get(), w.journal.c_str(), 0);
            if (tracked) {
                state.journal = FileMark{};
            }
        } else if (readOpen(fd, rest, problem, kMaxFileSize, start.size) == Read::ok) {
            int out = createFresh(w.dir.get(), w.journal_temporary, w.workers, problem);
            if (!problem.empty()) {
                logRemoved(ngx_cycle->log, w.zone, pathIn(w, w.journal_temporary), problem);
            }
            bool ok = out != -1 && writeAll(out, rest.data(), rest.size(), 0);
            if (out != -1) {
                close(out);
            }
            if (ok &&
                renameat(w.dir.get(), w.journal_temporary.c_str(), w.dir.get(),
                         w.journal.c_str()) == 0 &&
                tracked) {
                state.journal = markOf(w.dir.get(), w.journal);
            }
        }
    }
    close(fd);
}

// ---- snapshots ------------------------------------------------------------

// A snapshot begins with what changed so far in the journal: until it is in
// place, the journal must hold everything the old one lacks. When the change
// log has lapped, the snapshot is what holds it.
void startCompaction(Writer &w, bool lapped, bool requested) {
    ZoneState &state = stateOf(w.shm);
    auto compaction = std::make_unique<Compaction>();
    if (lapped) {
        state.journaled.store(changesOf(w.shm).position(), std::memory_order_relaxed);
    }
    compaction->journal_start = markOf(w.dir.get(), w.journal);
    oauth::fleet::StreamId position = state.fleet_position.load();
    compaction->image =
        std::make_unique<oauth::StateFileWriter>(view(w.zone.name), newStamp(state), position);
    compaction->copied_at = uint32_t(ngx_time());
    compaction->answers_request = requested;
    w.compaction = std::move(compaction);
    w.written_position = position;
}

void finishCompaction(Writer &w) {
    ZoneState &state = stateOf(w.shm);
    Compaction &c = *w.compaction;
    const std::string &image = c.image->image();
    bool ok = writeAll(c.fd, image.data(), oauth::kStateHeaderSize, 0) &&
              renameat(w.dir.get(), w.temporary.c_str(), w.dir.get(), w.snapshot.c_str()) == 0;
    if (!ok) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                      "oauth_token_zone \"%V\": state file \"%V\" could not be written",
                      &w.zone.name, &w.zone.state_file);
    } else {
        state.snapshot = markOf(w.dir.get(), w.snapshot);
        state.snapshot_is_ours = true;
        cutJournal(w, c.journal_start);
        if (c.answers_request) {
            unlinkat(w.dir.get(), w.request.c_str(), 0);
        }
    }
    w.compaction.reset();
}

// One slice of the copy; once the copy is whole, opens the file to write.
void copySlice(Writer &w) {
    Compaction &c = *w.compaction;
    oauth::TokenStore store = storeOf(w.shm);
    oauth::RevocationList revocations = revocationsOf(w.shm);
    if (c.next_token_slot < store.slot_count()) {
        c.next_token_slot =
            store.visit_live(c.copied_at, c.next_token_slot, kSliceSlots, addToken, c.image.get());
        return;
    }
    if (c.next_revocation_slot < revocations.slot_count()) {
        c.next_revocation_slot = revocations.visit_live(c.copied_at, c.next_revocation_slot,
                                                        kSliceSlots, addRevocation, c.image.get());
        return;
    }
    c.image->finish();
    c.fd = openLocked(w, w.temporary, O_WRONLY | O_CREAT);
    if (c.fd == -1 || ftruncate(c.fd, 0) != 0) {
        w.compaction.reset();  // another writer has it this turn; the next one tries again
    }
}

// One slice: hashes and writes the next part of the body.
void writeSlice(Writer &w) {
    Compaction &c = *w.compaction;
    const std::string &image = c.image->image();
    size_t body = image.size() - oauth::kStateHeaderSize;
    size_t n = std::min(kSliceBytes, body - c.written);
    bool sealed = c.image->seal_some(kSliceBytes);
    if (!writeAll(c.fd, image.data() + oauth::kStateHeaderSize + c.written, n,
                  off_t(oauth::kStateHeaderSize + c.written))) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                      "oauth_token_zone \"%V\": writing \"%s\" failed", &w.zone.name,
                      pathIn(w, w.temporary).c_str());
        w.compaction.reset();
        return;
    }
    c.written += n;
    if (sealed && c.written == body) {
        finishCompaction(w);
    }
}

// One slice of the snapshot under way.
void compactionStep(Writer &w) {
    if (w.compaction->fd == -1) {
        copySlice(w);
    } else {
        writeSlice(w);
    }
}

// ---- merging what another zone wrote ---------------------------------------

// Whether anyone but this zone's writer changed FILE or FILE.journal since it
// last looked (the other generation of a binary upgrade, or the zone a
// resize replaced): what they wrote may hold what this zone lacks. Of a
// journal only appended to, only what is new is read.
void startMerge(Writer &w) {
    ZoneState &state = stateOf(w.shm);
    FileMark snapshot = markOf(w.dir.get(), w.snapshot);
    FileMark journal = markOf(w.dir.get(), w.journal);
    bool snapshot_changed = !sameMark(snapshot, state.snapshot);
    if (!snapshot_changed && sameMark(journal, state.journal)) {
        return;
    }
    uint64_t journal_from = 0;
    if (!snapshot_changed && journal.inode == state.journal.inode &&
        journal.size >= state.journal.size) {
        journal_from = state.journal.size;
    }
    if (snapshot_changed) {
        state.snapshot_is_ours = false;
    }
    state.snapshot = snapshot;
    state.journal = journal;
    auto merge = std::make_unique<Merge>();
    std::string problem;
    if (snapshot_changed &&
        readFile(w.dir.get(), w.snapshot, w.workers, merge->snapshot_bytes, problem) == Read::ok) {
        if (std::optional<oauth::StateFile> file =
                oauth::StateFile::parse(merge->snapshot_bytes, view(w.zone.name), problem)) {
            merge->files.push_back(*file);
        }
    }
    if (readFile(w.dir.get(), w.journal, w.workers, merge->journal_bytes, problem, kMaxFileSize,
                 journal_from) == Read::ok) {
        oauth::StateJournal images = oauth::parse_journal(merge->journal_bytes, view(w.zone.name));
        merge->files.insert(merge->files.end(), images.images.begin(), images.images.end());
    }
    if (merge->files.empty()) {
        return;  // nothing whole yet: the next look reads it again, or what replaces it
    }
    merge->into_live = storeOf(w.shm).live_tokens() != 0;
    merge->now = uint32_t(ngx_time());
    w.merge = std::move(merge);
}

// One slice of the merge under way: kSliceRecords records.
void mergeSlice(Writer &w) {
    Merge &m = *w.merge;
    oauth::TokenStore store = storeOf(w.shm);
    oauth::RevocationList revocations = revocationsOf(w.shm);
    const oauth::StateFile &file = m.files[m.file];
    m.next_record = oauth::apply_state_records(file, store, revocations, m.now, m.into_live,
                                               m.next_record, kSliceRecords, m.counts);
    if (m.next_record < file.record_count()) {
        return;
    }
    m.next_record = 0;
    m.into_live = true;
    if (++m.file < m.files.size()) {
        return;
    }
    if (m.counts.tokens + m.counts.revocations != 0) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "oauth_token_zone \"%V\": %uz tokens and %uz revocations merged from "
                      "\"%V\", written by pid %uL",
                      &w.zone.name, m.counts.tokens, m.counts.revocations, &w.zone.state_file,
                      m.files.back().stamp().writer_pid);
    }
    logRefusedRevocations(ngx_cycle->log, w.zone, m.counts);
    w.merge.reset();
}

// ---- the writer's turn -------------------------------------------------------

// Every second: what changed goes to the journal, which also answers a new
// master's request; then a new snapshot may replace the journal
// (oauth::starts_snapshot).
void tick(Writer &w) {
    ZoneState &state = stateOf(w.shm);
    if (ngx_current_msec - w.drained_at < kWriteInterval) {
        return;
    }
    w.drained_at = ngx_current_msec;
    bool requested = exists(w.dir.get(), w.request);
    oauth::JournalTurn drained = drain(w);
    if (requested && oauth::journal_holds_all_changes(drained)) {
        unlinkat(w.dir.get(), w.request.c_str(), 0);
        requested = false;
    }
    oauth::CompactionFacts facts;
    facts.turn = drained;
    facts.log_kept = changesOf(w.shm).capacity() != 0;
    facts.snapshot_under_way = w.compaction != nullptr;
    facts.snapshot_is_ours = state.snapshot_is_ours;
    facts.journal_size = state.journal.size;
    facts.snapshot_size = state.snapshot.size;
    if (oauth::starts_snapshot(facts)) {
        startCompaction(w, drained == oauth::JournalTurn::lapped, requested);
    }
}

bool holdsLease(Writer &w) {
    ZoneState &state = stateOf(w.shm);
    bool held = holdZoneLease(state.writer);
    if (held != w.holds_lease) {
        w.holds_lease = held;
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      held ? "oauth_token_zone \"%V\": this worker writes state file \"%V\""
                           : "oauth_token_zone \"%V\": this worker no longer writes \"%V\"",
                      &w.zone.name, &w.zone.state_file);
    }
    return held;
}

void onTimer(ngx_event_t *ev) {
    Writer &w = *static_cast<Writer *>(ev->data);
    try {
        if (!holdsLease(w)) {
            w.merge.reset();  // the worker that holds the lease does it
            w.compaction.reset();
        } else if (w.merge != nullptr) {
            mergeSlice(w);
        } else {
            if (w.compaction == nullptr) {
                startMerge(w);
            }
            if (w.merge == nullptr) {
                tick(w);
                if (w.compaction != nullptr) {
                    compactionStep(w);
                }
            }
        }
    } catch (const std::bad_alloc &) {
        w.compaction.reset();
        w.merge.reset();
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "oauth_token_zone \"%V\": out of memory writing state file \"%V\"",
                      &w.zone.name, &w.zone.state_file);
    }
    bool sliced = w.compaction != nullptr || w.merge != nullptr;
    ngx_add_timer(ev, sliced ? kSliceInterval : kWriteInterval);
}

void deleteWriter(void *writer) {
    delete static_cast<Writer *>(writer);
}

MainConf *mainConf(ngx_cycle_t *cycle) {
    return static_cast<MainConf *>(
        ngx_http_cycle_get_module_main_conf(cycle, ngx_http_oauth_module));
}

// The writers of this worker, kept in the cycle's pool beside its zones.
ngx_array_t *writers = nullptr;

}  // namespace

ngx_int_t startStateWriters(ngx_cycle_t *cycle) {
    MainConf *mcf = mainConf(cycle);
    if (mcf == nullptr) {
        return NGX_OK;
    }
    writers = ngx_array_create(cycle->pool, 1, sizeof(Writer *));
    if (writers == nullptr) {
        return NGX_ERROR;
    }
    Zone *zones = static_cast<Zone *>(mcf->zones.elts);
    for (ngx_uint_t i = 0; i < mcf->zones.nelts; ++i) {
        if (zones[i].state_file.len == 0) {
            continue;
        }
        int dir = openDirectory(zones[i]);
        if (dir == -1) {
            ngx_log_error(NGX_LOG_ERR, cycle->log, ngx_errno,
                          "oauth_token_zone \"%V\": the directory of state file \"%V\" cannot be "
                          "opened, and nothing is written there",
                          &zones[i].name, &zones[i].state_file);
            continue;
        }
        auto *w = new (std::nothrow) Writer(dir);
        if (w == nullptr) {
            close(dir);
            return NGX_ERROR;
        }
        ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cycle->pool, 0);
        auto **slot = static_cast<Writer **>(ngx_array_push(writers));
        if (cleanup == nullptr || slot == nullptr) {
            delete w;
            return NGX_ERROR;
        }
        cleanup->handler = deleteWriter;
        cleanup->data = w;
        *slot = w;
        try {
            w->shm = zones[i].shm;
            w->zone = zones[i];
            w->snapshot = nameOf(zones[i]);
            w->temporary = nameOf(zones[i], ".tmp");
            w->journal = nameOf(zones[i], ".journal");
            w->journal_temporary = nameOf(zones[i], ".journal.tmp");
            w->request = nameOf(zones[i], ".request");
        } catch (const std::bad_alloc &) {
            return NGX_ERROR;
        }
        w->workers = workersUid(cycle);
        w->written_position = stateOf(w->shm).fleet_position.load();
        w->timer.handler = onTimer;
        w->timer.data = w;
        w->timer.log = cycle->log;
        w->timer.cancelable = 1;
        ngx_add_timer(&w->timer, kWriteInterval);
    }
    return NGX_OK;
}

// A worker going away, if it is the writer, ends a merge under way and
// appends what changed to the journal (a whole snapshot, at once, when the
// change log lapped), then hands the lease on.
void stopStateWriters(ngx_cycle_t *) {
    if (writers == nullptr) {
        return;
    }
    auto **list = static_cast<Writer **>(writers->elts);
    for (ngx_uint_t i = 0; i < writers->nelts; ++i) {
        Writer &w = *list[i];
        ZoneState &state = stateOf(w.shm);
        w.compaction.reset();
        ngx_time_update();
        if (!holdZoneLease(state.writer)) {
            continue;
        }
        try {
            while (w.merge != nullptr) {
                mergeSlice(w);
            }
            oauth::JournalTurn drained = drain(w);
            if (drained == oauth::JournalTurn::lapped) {
                startCompaction(w, true, false);
                while (w.compaction != nullptr) {
                    compactionStep(w);
                }
            }
            if (drained != oauth::JournalTurn::failed) {
                unlinkat(w.dir.get(), w.request.c_str(), 0);
            }
        } catch (const std::bad_alloc &) {
            w.compaction.reset();
        }
        releaseZoneLease(state.writer);
    }
}

}  // namespace oauth_ngx
