// Loading a zone's state files (oauth_token_zone ... state=FILE): when the
// zone is created (a start, or the new master of a binary upgrade; never a
// reload, which keeps the zone), the master reads the snapshot FILE and its
// journal FILE.journal into it, after asking the old generation's writer, if
// any, to write what changed. What the workers then write is state.cpp's.
#include "ngx/module.hpp"
#include "ngx/state_dir.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <optional>
#include <string>

#include "core/tokens/state_file.hpp"

namespace oauth_ngx {

namespace {

// How long the new master of a binary upgrade waits for the old generation's
// writer to answer its request to write what changed.
constexpr ngx_msec_t kRequestWait = 2000;
constexpr ngx_msec_t kRequestPoll = 10;

uint64_t randomWord() {
    uint64_t word = 0;
    if (getrandom(&word, sizeof word, 0) != sizeof word) {
        word = uint64_t(ngx_time()) << 32 ^ uint64_t(ngx_pid) << 8 ^ ngx_random();
    }
    return word == 0 ? 1 : word;
}

// A damaged snapshot is kept for whoever wants to look at it, out of the way
// of the next one; its journal, which only makes sense on top of it, too.
void setAside(ngx_shm_zone_t *shm, const Zone &zone, int dir, const std::string &reason) {
    std::string bad = pathOf(zone, ".bad");
    bool moved = renameat(dir, nameOf(zone).c_str(), dir, nameOf(zone, ".bad").c_str()) == 0;
    ngx_err_t err = moved ? 0 : ngx_errno;
    bool journal = renameat(dir, nameOf(zone, ".journal").c_str(), dir,
                            nameOf(zone, ".journal.bad").c_str()) == 0;
    ngx_log_error(NGX_LOG_ERR, shm->shm.log, err,
                  "oauth_token_zone \"%V\": state file \"%V\" is not loaded: %s; %s \"%s\"%s, and "
                  "the zone starts empty",
                  &zone.name, &zone.state_file, reason.c_str(),
                  moved ? "it is set aside as" : "it could not be set aside as", bad.c_str(),
                  journal ? ", its journal beside it" : "");
}

// The new master of a binary upgrade (started with inherited sockets): the
// old generation's writer is alive, and what it wrote may be up to a second
// old. It is asked to write what changed since through FILE.request, which
// it removes once that is in place; the file is the workers', as they
// remove it from a directory that may be sticky.
void awaitFreshSnapshot(ngx_shm_zone_t *shm, const Zone &zone, int dir, uid_t workers) {
    if (!ngx_inherited) {
        return;
    }
    std::string head;
    std::string problem;
    // No file yet: the old generation started less than a second ago.
    if (readFile(dir, nameOf(zone), workers, head, problem, oauth::kStateHeaderSize) == Read::ok) {
        std::optional<oauth::StateStamp> stamp = oauth::StateFile::peek_stamp(head);
        if (!stamp || stamp->writer_pid == 0 || stamp->writer_pid == uint64_t(ngx_pid) ||
            stamp->writer_pid > UINT32_MAX || !isAlive(uint32_t(stamp->writer_pid))) {
            return;
        }
    }
    std::string request = nameOf(zone, ".request");
    problem.clear();
    int fd = createFresh(dir, request, workers, problem);
    if (!problem.empty()) {
        logRemoved(shm->shm.log, zone, pathOf(zone, ".request"), problem);
    }
    if (fd == -1) {
        return;
    }
    bool handed = geteuid() != 0 || fchown(fd, workers, gid_t(-1)) == 0;
    close(fd);
    if (!handed) {
        unlinkat(dir, request.c_str(), 0);
        return;
    }
    ngx_msec_t waited = 0;
    while (exists(dir, request) && waited < kRequestWait) {
        ngx_msleep(kRequestPoll);
        waited += kRequestPoll;
    }
    if (unlinkat(dir, request.c_str(), 0) == 0) {
        ngx_log_error(NGX_LOG_WARN, shm->shm.log, 0,
                      "oauth_token_zone \"%V\": the old generation's writer of state file "
                      "\"%V\" did not answer in %M ms; what it wrote last, if anything, is loaded",
                      &zone.name, &zone.state_file, kRequestWait);
    }
}

// This process's CPU time: what a load costs, however busy the machine.
ngx_msec_t cpuMsec() {
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0) {
        return 0;
    }
    return ngx_msec_t(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000 +
           ngx_msec_t(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000;
}

// The journal's whole images; a torn or damaged rest (a crash cut the last
// write short) is cut off, in the file that was read, so that what is
// appended next follows whole ones.
oauth::StateJournal readJournal(ngx_shm_zone_t *shm, const Zone &zone, int dir, uid_t workers,
                                std::string &bytes) {
    std::string path = pathOf(zone, ".journal");
    std::string problem;
    int fd;
    Read read = openStateFile(dir, nameOf(zone, ".journal"), O_RDWR, workers, fd, problem);
    Descriptor journal_file(fd);
    if (read == Read::ok) {
        read = readOpen(fd, bytes, problem);
    }
    if (read == Read::failed || read == Read::refused) {
        ngx_err_t err = read == Read::failed ? ngx_errno : 0;
        std::string bad = pathOf(zone, ".journal.bad");
        renameat(dir, nameOf(zone, ".journal").c_str(), dir, nameOf(zone, ".journal.bad").c_str());
        ngx_log_error(NGX_LOG_ERR, shm->shm.log, err,
                      "oauth_token_zone \"%V\": the journal \"%s\" is not loaded: %s; it is set "
                      "aside as \"%s\"",
                      &zone.name, path.c_str(), problem.c_str(), bad.c_str());
        bytes.clear();
    }
    oauth::StateJournal journal = oauth::parse_journal(bytes, view(zone.name));
    if (!journal.problem.empty()) {
        bool cut = ftruncate(fd, off_t(journal.whole_bytes)) == 0;
        ngx_log_error(NGX_LOG_WARN, shm->shm.log, cut ? 0 : ngx_errno,
                      "oauth_token_zone \"%V\": the journal \"%s\" is read up to byte %uz, and %s "
                      "there: %s",
                      &zone.name, path.c_str(), journal.whole_bytes,
                      cut ? "cut" : "could not be cut", journal.problem.c_str());
    }
    return journal;
}

}  // namespace

void loadStateFile(ngx_shm_zone_t *shm, const Zone &zone) {
    ZoneState &state = stateOf(shm);
    state.instance = randomWord();
    // A reload keeps its zone (or ops' resize copies it); nginx -t loads nothing.
    if (zone.state_file.len == 0 || !ngx_is_init_cycle(ngx_cycle) || ngx_test_config) {
        return;
    }
    Descriptor dir(openDirectory(zone));
    if (dir.get() == -1) {
        ngx_log_error(NGX_LOG_ERR, shm->shm.log, ngx_errno,
                      "oauth_token_zone \"%V\": the directory of state file \"%V\" cannot be "
                      "opened, and the zone starts empty",
                      &zone.name, &zone.state_file);
        return;
    }
    uid_t workers = workersUid(zone.cycle);
    try {
        awaitFreshSnapshot(shm, zone, dir.get(), workers);
        ngx_time_update();
        ngx_msec_t started = ngx_current_msec;
        ngx_msec_t cpu_started = cpuMsec();
        std::string bytes;
        std::string problem;
        Read read = readFile(dir.get(), nameOf(zone), workers, bytes, problem);
        std::optional<oauth::StateFile> file;
        if (read == Read::ok) {
            file = oauth::StateFile::parse(bytes, view(zone.name), problem);
        }
        if (read != Read::missing && !file) {
            setAside(shm, zone, dir.get(), problem);
            return;
        }
        std::string journal_bytes;
        oauth::StateJournal journal = readJournal(shm, zone, dir.get(), workers, journal_bytes);
        if (!file && journal.images.empty()) {
            ngx_log_error(NGX_LOG_INFO, shm->shm.log, 0,
                          "oauth_token_zone \"%V\": no state file \"%V\" yet", &zone.name,
                          &zone.state_file);
            return;
        }
        // The zone is the new master's alone until its workers start: no lock,
        // and nothing noted in the change log, as all of it is on disk.
        auto *regions = static_cast<ZoneRegions *>(shm->data);
        oauth::TokenStore store(regions->tokens, oauth::StoreLock{});
        oauth::RevocationList revocations(regions->revocations, oauth::StoreLock{});
        uint32_t now = uint32_t(ngx_time());
        oauth::RestoreCounts counts;
        oauth::fleet::StreamId position = journal.stream_position();
        if (file) {
            counts = oauth::apply_state_file(*file, store, revocations, now);
            position = std::max(position, file->stream_position());
        }
        for (const oauth::StateFile &image : journal.images) {
            oauth::apply_state_records(image, store, revocations, now, true, 0,
                                       image.record_count(), counts);
        }
        state.fleet_position.store(position);
        state.snapshot = markOf(dir.get(), nameOf(zone));
        state.journal = markOf(dir.get(), nameOf(zone, ".journal"));
        ngx_time_update();
        // Tokens held once the journal is applied: a journal may revoke some
        // the snapshot held.
        ngx_uint_t level = counts.refused != 0 ? NGX_LOG_WARN : NGX_LOG_NOTICE;
        ngx_log_error(level, shm->shm.log, 0,
                      "oauth_token_zone \"%V\": %uz tokens and %uz revocations loaded from \"%V\" "
                      "and %uz records of its journal in %M ms, %M ms of CPU (%uz expired, %uz "
                      "revoked, %uz did not fit)",
                      &zone.name, store.live_tokens(), counts.revocations, &zone.state_file,
                      journal.record_count(), ngx_current_msec - started, cpuMsec() - cpu_started,
                      counts.expired, counts.revoked, counts.refused);
        logRefusedRevocations(shm->shm.log, zone, counts);
    } catch (const std::bad_alloc &) {
        ngx_log_error(NGX_LOG_ERR, shm->shm.log, 0,
                      "oauth_token_zone \"%V\": out of memory reading state file \"%V\"; the "
                      "zone starts empty",
                      &zone.name, &zone.state_file);
    }
}

}  // namespace oauth_ngx
