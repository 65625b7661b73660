// State files (oauth_token_zone ... state=FILE): the zone's live tokens and
// revocations, read when the zone is created (a start, or the new master of
// a binary upgrade; never a reload, which keeps the zone), and written by one
// worker of the zone, the holder of its writer lease, a second after each
// change and when it exits. The format is core/tokens/state_file.hpp's.
//
// A write goes to FILE.tmp (locked, so that the two generations of a binary
// upgrade never write it at once) a slice per turn of the event loop, then
// is renamed over FILE. A file written by another zone (the other
// generation of an upgrade) is merged into this one before the next write.
#include "ngx/module.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>

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
// How long the new master of a binary upgrade waits for the old generation's
// writer to answer its request for a fresh snapshot.
constexpr ngx_msec_t kRequestWait = 2000;
constexpr ngx_msec_t kRequestPoll = 10;
constexpr uint64_t kMaxFileSize = uint64_t{4} << 30;

std::string pathOf(const Zone &zone, const char *suffix = "") {
    return std::string(view(zone.state_file)) + suffix;
}

ZoneState &stateOf(ngx_shm_zone_t *shm) {
    return *static_cast<ZoneRegions *>(shm->data)->state;
}

}  // namespace

// A process killed with its parent stays a zombie until someone reaps it.
bool isAlive(uint32_t pid) {
    if (kill(pid_t(pid), 0) != 0 && ngx_errno != EPERM) {
        return false;
    }
    char path[32];
    ngx_sprintf(reinterpret_cast<u_char *>(path), "/proc/%uD/stat%Z", pid);
    std::FILE *f = std::fopen(path, "r");
    if (f == nullptr) {
        return true;  // no /proc: kill() is all there is to go by
    }
    char line[256];
    size_t n = std::fread(line, 1, sizeof line - 1, f);
    std::fclose(f);
    line[n] = '\0';
    const char *state = std::strrchr(line, ')');
    return state == nullptr || state[1] != ' ' || state[2] != 'Z';
}

namespace {

const oauth::LeasePolicy kLeasePolicy{3, isAlive};

uint64_t randomWord() {
    uint64_t word = 0;
    if (getrandom(&word, sizeof word, 0) != sizeof word) {
        word = uint64_t(ngx_time()) << 32 ^ uint64_t(ngx_pid) << 8 ^ ngx_random();
    }
    return word == 0 ? 1 : word;
}

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
    std::string path = pathOf(zone);
    std::string directory = path.substr(0, path.rfind('/'));
    if (directory.empty()) {
        directory = "/";
    }
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

// ---- reading -------------------------------------------------------------

enum class Read { ok, missing, failed };

// The file, or its first `limit` bytes.
Read readFile(const std::string &path, std::string &bytes, std::string &problem,
              uint64_t limit = kMaxFileSize) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        problem = "cannot be opened";
        return ngx_errno == ENOENT ? Read::missing : Read::failed;
    }
    struct stat st;
    Read result = Read::ok;
    if (fstat(fd, &st) != 0 || uint64_t(st.st_size) > kMaxFileSize) {
        problem = "larger than 4 GiB";
        result = Read::failed;
    } else {
        bytes.resize(size_t(std::min(uint64_t(st.st_size), limit)));
        size_t done = 0;
        while (done < bytes.size()) {
            ssize_t n = read(fd, &bytes[done], bytes.size() - done);
            if (n <= 0) {
                break;
            }
            done += size_t(n);
        }
        bytes.resize(done);  // a file that shrank reads as truncated
    }
    close(fd);
    return result;
}

// A damaged file is kept for whoever wants to look at it, out of the way of
// the next snapshot.
void setAside(ngx_shm_zone_t *shm, const Zone &zone, const std::string &reason) {
    std::string bad = pathOf(zone, ".bad");
    bool moved = rename(pathOf(zone).c_str(), bad.c_str()) == 0;
    ngx_log_error(NGX_LOG_ERR, shm->shm.log, moved ? 0 : ngx_errno,
                  "oauth_token_zone \"%V\": state file \"%V\" is not loaded: %s; %s \"%s\", and "
                  "the zone starts empty",
                  &zone.name, &zone.state_file, reason.c_str(),
                  moved ? "it is set aside as" : "it could not be set aside as", bad.c_str());
}

// The new master of a binary upgrade (started with inherited sockets): the
// old generation's writer is alive, and its last snapshot may be up to a
// second old, or not written yet. It is asked for a fresh one through
// FILE.request, which it removes once the snapshot is in place.
void awaitFreshSnapshot(ngx_shm_zone_t *shm, const Zone &zone) {
    if (!ngx_inherited) {
        return;
    }
    std::string head;
    std::string problem;
    // No file yet: the old generation started less than a second ago.
    if (readFile(pathOf(zone), head, problem, oauth::kStateHeaderSize) == Read::ok) {
        std::optional<oauth::StateStamp> stamp = oauth::StateFile::peek_stamp(head);
        if (!stamp || stamp->writer_pid == 0 || stamp->writer_pid == uint64_t(ngx_pid) ||
            stamp->writer_pid > UINT32_MAX || !isAlive(uint32_t(stamp->writer_pid))) {
            return;
        }
    }
    std::string request = pathOf(zone, ".request");
    int fd = open(request.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd == -1) {
        return;
    }
    close(fd);
    ngx_msec_t waited = 0;
    while (access(request.c_str(), F_OK) == 0 && waited < kRequestWait) {
        ngx_msleep(kRequestPoll);
        waited += kRequestPoll;
    }
    if (unlink(request.c_str()) == 0) {
        ngx_log_error(NGX_LOG_WARN, shm->shm.log, 0,
                      "oauth_token_zone \"%V\": the old generation's writer of state file "
                      "\"%V\" did not answer in %M ms; its last snapshot, if any, is loaded",
                      &zone.name, &zone.state_file, kRequestWait);
    }
}

}  // namespace

void loadStateFile(ngx_shm_zone_t *shm, const Zone &zone) {
    ZoneState &state = stateOf(shm);
    state.instance = randomWord();
    // A reload keeps its zone (or ops' resize copies it); nginx -t loads nothing.
    if (zone.state_file.len == 0 || !ngx_is_init_cycle(ngx_cycle) || ngx_test_config) {
        return;
    }
    try {
        awaitFreshSnapshot(shm, zone);
        ngx_time_update();
        ngx_msec_t started = ngx_current_msec;
        std::string bytes;
        std::string problem;
        Read read = readFile(pathOf(zone), bytes, problem);
        if (read == Read::missing) {
            ngx_log_error(NGX_LOG_INFO, shm->shm.log, 0,
                          "oauth_token_zone \"%V\": no state file \"%V\" yet", &zone.name,
                          &zone.state_file);
            return;
        }
        std::optional<oauth::StateFile> file;
        if (read == Read::ok) {
            file = oauth::StateFile::parse(bytes, view(zone.name), problem);
        }
        if (!file) {
            setAside(shm, zone, problem);
            return;
        }
        oauth::TokenStore store = storeOf(shm);
        oauth::RevocationList revocations = revocationsOf(shm);
        oauth::RestoreCounts counts =
            oauth::apply_state_file(*file, store, revocations, uint32_t(ngx_time()));
        state.loaded_instance = file->stamp().zone_instance;
        state.loaded_write = file->stamp().write_id;
        ngx_time_update();
        ngx_uint_t level = counts.refused != 0 ? NGX_LOG_WARN : NGX_LOG_NOTICE;
        ngx_log_error(level, shm->shm.log, 0,
                      "oauth_token_zone \"%V\": %uz tokens and %uz revocations loaded from \"%V\" "
                      "in %M ms (%uz expired, %uz revoked, %uz did not fit)",
                      &zone.name, counts.tokens, counts.revocations, &zone.state_file,
                      ngx_current_msec - started, counts.expired, counts.revoked, counts.refused);
    } catch (const std::bad_alloc &) {
        ngx_log_error(NGX_LOG_ERR, shm->shm.log, 0,
                      "oauth_token_zone \"%V\": out of memory reading state file \"%V\"; the "
                      "zone starts empty",
                      &zone.name, &zone.state_file);
    }
}

void noteZoneChange(ngx_shm_zone_t *zone) {
    stateOf(zone).changes.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// ---- writing -------------------------------------------------------------

struct Writer {
    ngx_event_t timer{};
    ngx_shm_zone_t *shm;
    Zone zone;
    std::string path;
    std::string temporary;
    std::string request;
    std::unique_ptr<oauth::StateFileWriter> image;  // a write under way
    int fd = -1;                                    // -1 while the zone is copied into image
    uint32_t copied_at = 0;                         // the `now` of that copy
    uint32_t next_token_slot = 0;
    uint32_t next_revocation_slot = 0;
    size_t written = 0;  // bytes of the image's body in the file
    uint64_t changes = 0;
    bool answers_request = false;
    bool holds_lease = false;
    struct stat seen {};  // the file as this worker last looked at it
    // A merge under way of another zone's snapshot: its bytes, parsed.
    std::string merge_bytes;
    std::optional<oauth::StateFile> merge_file;
    size_t next_record = 0;
    bool merge_into_live = false;
    uint32_t merge_now = 0;
    oauth::RestoreCounts merged;
};

void addToken(void *image, const oauth::Digest &digest, const oauth::TokenGrant &grant) {
    static_cast<oauth::StateFileWriter *>(image)->add_token(digest, grant);
}

void addRevocation(void *image, const oauth::Digest &digest, uint32_t expires_at) {
    static_cast<oauth::StateFileWriter *>(image)->add_revocation(digest, expires_at);
}

bool sameFile(const struct stat &a, const struct stat &b) {
    return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
           a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// FILE.tmp, locked. A lock taken on a file another writer has just renamed
// into place would be on FILE itself: the path must still name what is locked.
int openTemporary(const std::string &path) {
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1) {
        return -1;
    }
    struct stat locked, named;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &locked) != 0 ||
        stat(path.c_str(), &named) != 0 || locked.st_ino != named.st_ino || ftruncate(fd, 0) != 0 ||
        fchmod(fd, 0600) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

void abandonWrite(Writer &w) {
    if (w.fd != -1) {
        close(w.fd);
        w.fd = -1;
    }
    w.image.reset();
}

bool writeAll(int fd, const char *data, size_t size, off_t at) {
    while (size > 0) {
        ssize_t n = pwrite(fd, data, size, at);
        if (n <= 0) {
            return false;
        }
        data += n;
        size -= size_t(n);
        at += n;
    }
    return true;
}

void finishWrite(Writer &w) {
    const std::string &image = w.image->image();
    bool ok = writeAll(w.fd, image.data(), oauth::kStateHeaderSize, 0) &&
              rename(w.temporary.c_str(), w.path.c_str()) == 0;
    if (!ok) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                      "oauth_token_zone \"%V\": state file \"%V\" could not be written",
                      &w.zone.name, &w.zone.state_file);
    } else {
        stateOf(w.shm).written_changes.store(w.changes, std::memory_order_relaxed);
        stat(w.path.c_str(), &w.seen);
        if (w.answers_request) {
            unlink(w.request.c_str());
        }
    }
    abandonWrite(w);
}

// One slice: hashes and writes the next part of the body. True when done.
bool writeSlice(Writer &w) {
    const std::string &image = w.image->image();
    size_t body = image.size() - oauth::kStateHeaderSize;
    size_t n = std::min(kSliceBytes, body - w.written);
    bool sealed = w.image->seal_some(kSliceBytes);
    if (!writeAll(w.fd, image.data() + oauth::kStateHeaderSize + w.written, n,
                  off_t(oauth::kStateHeaderSize + w.written))) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                      "oauth_token_zone \"%V\": writing \"%s\" failed", &w.zone.name,
                      w.temporary.c_str());
        abandonWrite(w);
        return true;
    }
    w.written += n;
    if (sealed && w.written == body) {
        finishWrite(w);
        return true;
    }
    return false;
}

// The zone, copied into memory a slice at a time; the file follows likewise.
// What changes meanwhile in slots already copied waits for the next write.
void startWrite(Writer &w, uint64_t changes, bool requested) {
    ZoneState &state = stateOf(w.shm);
    oauth::StateStamp stamp{state.instance, uint64_t(ngx_pid),
                            state.writes.fetch_add(1, std::memory_order_relaxed) + 1,
                            uint64_t(ngx_time())};
    w.image = std::make_unique<oauth::StateFileWriter>(view(w.zone.name), stamp);
    w.copied_at = uint32_t(ngx_time());
    w.next_token_slot = 0;
    w.next_revocation_slot = 0;
    w.written = 0;
    w.changes = changes;
    w.answers_request = requested;
}

// One slice of the copy; once the copy is whole, opens the file to write.
void copySlice(Writer &w) {
    oauth::TokenStore store = storeOf(w.shm);
    oauth::RevocationList revocations = revocationsOf(w.shm);
    if (w.next_token_slot < store.slot_count()) {
        w.next_token_slot =
            store.visit_live(w.copied_at, w.next_token_slot, kSliceSlots, addToken, w.image.get());
        return;
    }
    if (w.next_revocation_slot < revocations.slot_count()) {
        w.next_revocation_slot = revocations.visit_live(w.copied_at, w.next_revocation_slot,
                                                        kSliceSlots, addRevocation, w.image.get());
        return;
    }
    w.image->finish();
    w.fd = openTemporary(w.temporary);
    if (w.fd == -1) {
        w.image.reset();  // another writer has it this turn; the next one tries again
    }
}

// One slice of the write under way. True when it is over.
bool writeStep(Writer &w) {
    if (w.fd == -1) {
        copySlice(w);
        return w.image == nullptr;
    }
    return writeSlice(w);
}

// A snapshot another zone wrote (the other generation of a binary upgrade,
// or the zone a resize replaced) may hold what this one lacks.
void mergeForeignFile(Writer &w) {
    struct stat st;
    if (stat(w.path.c_str(), &st) != 0 || sameFile(st, w.seen)) {
        return;
    }
    w.seen = st;
    std::string bytes;
    std::string problem;
    if (readFile(w.path, bytes, problem, oauth::kStateHeaderSize) != Read::ok) {
        return;
    }
    std::optional<oauth::StateStamp> stamp = oauth::StateFile::peek_stamp(bytes);
    ZoneState &state = stateOf(w.shm);
    if (!stamp || stamp->zone_instance == state.instance ||
        (stamp->zone_instance == state.loaded_instance && stamp->write_id == state.loaded_write) ||
        readFile(w.path, bytes, problem) != Read::ok) {
        return;
    }
    w.merge_bytes = std::move(bytes);
    w.merge_file = oauth::StateFile::parse(w.merge_bytes, view(w.zone.name), problem);
    if (!w.merge_file) {
        w.merge_bytes = std::string();
        return;  // replaced by the next snapshot
    }
    w.next_record = 0;
    w.merge_into_live = storeOf(w.shm).live_tokens() != 0;
    w.merge_now = uint32_t(ngx_time());
    w.merged = oauth::RestoreCounts{};
}

// One slice of the merge under way: kSliceRecords records of the file.
void mergeSlice(Writer &w) {
    oauth::TokenStore store = storeOf(w.shm);
    oauth::RevocationList revocations = revocationsOf(w.shm);
    const oauth::StateFile &file = *w.merge_file;
    w.next_record =
        oauth::apply_state_records(file, store, revocations, w.merge_now, w.merge_into_live,
                                   w.next_record, kSliceRecords, w.merged);
    if (w.next_record < file.record_count()) {
        return;
    }
    if (w.merged.tokens + w.merged.revocations != 0) {
        noteZoneChange(w.shm);
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "oauth_token_zone \"%V\": %uz tokens and %uz revocations merged from "
                      "\"%V\", written by pid %uL",
                      &w.zone.name, w.merged.tokens, w.merged.revocations, &w.zone.state_file,
                      file.stamp().writer_pid);
    }
    w.merge_file.reset();
    w.merge_bytes = std::string();
}

void tick(Writer &w) {
    ZoneState &state = stateOf(w.shm);
    bool held =
        oauth::hold_lease(state.writer, uint32_t(ngx_pid), uint32_t(ngx_time()), kLeasePolicy);
    if (held != w.holds_lease) {
        w.holds_lease = held;
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      held ? "oauth_token_zone \"%V\": this worker writes state file \"%V\""
                           : "oauth_token_zone \"%V\": this worker no longer writes \"%V\"",
                      &w.zone.name, &w.zone.state_file);
    }
    if (!held) {
        w.merge_file.reset();  // the worker that holds the lease merges the file
        return;
    }
    if (w.merge_file) {
        mergeSlice(w);
        return;
    }
    mergeForeignFile(w);
    if (w.merge_file) {
        return;  // sliced over the next turns; a write waits for its end
    }
    bool requested = access(w.request.c_str(), F_OK) == 0;
    uint64_t changes = state.changes.load(std::memory_order_relaxed);
    if (changes != state.written_changes.load(std::memory_order_relaxed) || requested) {
        startWrite(w, changes, requested);
    }
}

void onTimer(ngx_event_t *ev) {
    Writer &w = *static_cast<Writer *>(ev->data);
    try {
        if (w.image == nullptr) {
            tick(w);
        }
        if (w.image != nullptr) {
            writeStep(w);
        }
    } catch (const std::bad_alloc &) {
        abandonWrite(w);
        w.merge_file.reset();
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "oauth_token_zone \"%V\": out of memory writing state file \"%V\"",
                      &w.zone.name, &w.zone.state_file);
    }
    bool sliced = w.image != nullptr || w.merge_file;
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
        auto *w = new (std::nothrow) Writer();
        ngx_pool_cleanup_t *cleanup = ngx_pool_cleanup_add(cycle->pool, 0);
        auto **slot = static_cast<Writer **>(ngx_array_push(writers));
        if (w == nullptr || cleanup == nullptr || slot == nullptr) {
            delete w;
            return NGX_ERROR;
        }
        cleanup->handler = deleteWriter;
        cleanup->data = w;
        *slot = w;
        try {
            w->shm = zones[i].shm;
            w->zone = zones[i];
            w->path = pathOf(zones[i]);
            w->temporary = pathOf(zones[i], ".tmp");
            w->request = pathOf(zones[i], ".request");
        } catch (const std::bad_alloc &) {
            return NGX_ERROR;
        }
        w->timer.handler = onTimer;
        w->timer.data = w;
        w->timer.log = cycle->log;
        w->timer.cancelable = 1;
        ngx_add_timer(&w->timer, kWriteInterval);
    }
    return NGX_OK;
}

// A worker going away ends a merge under way and writes the zone's last
// snapshot if it is the writer, whole and at once, then hands the lease on.
void stopStateWriters(ngx_cycle_t *) {
    if (writers == nullptr) {
        return;
    }
    auto **list = static_cast<Writer **>(writers->elts);
    for (ngx_uint_t i = 0; i < writers->nelts; ++i) {
        Writer &w = *list[i];
        ZoneState &state = stateOf(w.shm);
        abandonWrite(w);
        ngx_time_update();
        if (!oauth::hold_lease(state.writer, uint32_t(ngx_pid), uint32_t(ngx_time()),
                               kLeasePolicy)) {
            continue;
        }
        try {
            while (w.merge_file) {
                mergeSlice(w);
            }
            uint64_t changes = state.changes.load(std::memory_order_relaxed);
            if (changes != state.written_changes.load(std::memory_order_relaxed) ||
                access(w.request.c_str(), F_OK) == 0) {
                startWrite(w, changes, true);
                while (w.image != nullptr && !writeStep(w)) {
                }
            }
        } catch (const std::bad_alloc &) {
            abandonWrite(w);
        }
        oauth::release_lease(state.writer, uint32_t(ngx_pid));
    }
}

}  // namespace oauth_ngx
