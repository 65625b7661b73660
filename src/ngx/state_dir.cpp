// The state directory's I/O: see state_dir.hpp.
#include "ngx/state_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace oauth_ngx {

namespace {

oauth::StateFileFacts factsOf(const struct stat &st) {
    using Kind = oauth::StateFileFacts::Kind;
    Kind kind = S_ISREG(st.st_mode)   ? Kind::regular
                : S_ISLNK(st.st_mode) ? Kind::symlink
                                      : Kind::other;
    return oauth::StateFileFacts{kind, uint32_t(st.st_uid), uint32_t(st.st_mode & 07777)};
}

}  // namespace

// For messages: every operation names a file in its directory (nameOf).
std::string pathOf(const Zone &zone, const char *suffix) {
    return std::string(view(zone.state_file)) + suffix;
}

// The path up to and with the last slash.
std::string directoryPrefixOf(const Zone &zone) {
    std::string path = pathOf(zone);
    return path.substr(0, path.rfind('/') + 1);
}

std::string nameOf(const Zone &zone, const char *suffix) {
    return pathOf(zone, suffix).substr(directoryPrefixOf(zone).size());
}

ZoneState &stateOf(ngx_shm_zone_t *shm) {
    return *static_cast<ZoneRegions *>(shm->data)->state;
}

// The directory of a zone's state files, opened once. Each file is then
// opened, created, renamed and removed by its name in it, and never through
// a link there: the workers' user may write the directory, so it may have put
// a link to any file at any of those names, and the master reads them as
// root. The path up to the directory is the configuration's, and followed.
int openDirectory(const Zone &zone) {
    return open(directoryPrefixOf(zone).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

// Whose the state files are: the workers'. nginx takes on `user` only when
// started as root; else its workers are whoever started it.
uid_t workersUid(ngx_cycle_t *cycle) {
    auto *ccf = reinterpret_cast<ngx_core_conf_t *>(ngx_get_conf(cycle->conf_ctx, ngx_core_module));
    return ccf->user == ngx_uid_t(NGX_CONF_UNSET_UINT) ? geteuid() : ccf->user;
}

bool exists(int dir, const std::string &name) {
    struct stat st;
    return fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// `name`, opened with `flags` into `fd` if it is the workers' state file
// (oauth::is_workers_state_file), else refused with `problem` saying why.
// A fifo there is not waited on.
Read openStateFile(int dir, const std::string &name, int flags, uid_t workers, int &fd,
                   std::string &problem) {
    fd = openat(dir, name.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    ngx_err_t err = ngx_errno;
    if (fd == -1 && err == ENOENT) {
        return Read::missing;
    }
    // What could not be opened may still say why: a link, another's file.
    struct stat st;
    bool seen =
        fd != -1 ? fstat(fd, &st) == 0 : fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    bool refused = seen && !oauth::is_workers_state_file(factsOf(st), workers, problem);
    if (fd != -1 && seen && !refused) {
        return Read::ok;
    }
    if (fd != -1) {
        close(fd);
        fd = -1;
    }
    if (refused) {
        return Read::refused;
    }
    problem = "cannot be opened";
    ngx_set_errno(err);
    return Read::failed;
}

// A new, empty file at `name`, in place of whatever was there: a temporary
// left by a write cut short, or what `problem` then says was not the
// workers' state file.
int createFresh(int dir, const std::string &name, uid_t workers, std::string &problem) {
    struct stat st;
    if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        oauth::is_workers_state_file(factsOf(st), workers, problem);
        unlinkat(dir, name.c_str(), 0);
    }
    return openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

void logRemoved(ngx_log_t *log, const Zone &zone, const std::string &path,
                const std::string &problem) {
    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "oauth_token_zone \"%V\": \"%s\" is not a state file the workers wrote, and "
                  "is removed: %s",
                  &zone.name, path.c_str(), problem.c_str());
}

// The open file from byte `from` on, or `limit` bytes of it.
Read readOpen(int fd, std::string &bytes, std::string &problem, uint64_t limit, uint64_t from) {
    struct stat st;
    Read result = Read::ok;
    if (fstat(fd, &st) != 0 || uint64_t(st.st_size) > kMaxFileSize) {
        problem = "larger than 4 GiB";
        result = Read::failed;
    } else {
        uint64_t size = uint64_t(st.st_size) > from ? uint64_t(st.st_size) - from : 0;
        bytes.resize(size_t(std::min(size, limit)));
        size_t done = 0;
        while (done < bytes.size()) {
            ssize_t n = pread(fd, &bytes[done], bytes.size() - done, off_t(from + done));
            if (n <= 0) {
                break;
            }
            done += size_t(n);
        }
        bytes.resize(done);  // a file that shrank reads as truncated
    }
    return result;
}

Read readFile(int dir, const std::string &name, uid_t workers, std::string &bytes,
              std::string &problem, uint64_t limit, uint64_t from) {
    int fd;
    Read opened = openStateFile(dir, name, O_RDONLY, workers, fd, problem);
    if (opened != Read::ok) {
        return opened;
    }
    Read read = readOpen(fd, bytes, problem, limit, from);
    close(fd);
    return read;
}

// What is at `name` now (not what a link there leads to); all zero when
// there is none.
FileMark markOf(int dir, const std::string &name) {
    struct stat st;
    if (fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return FileMark{};
    }
    return FileMark{uint64_t(st.st_ino), uint64_t(st.st_size),
                    int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

FileMark markOf(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return FileMark{};
    }
    return FileMark{uint64_t(st.st_ino), uint64_t(st.st_size),
                    int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

bool sameMark(const FileMark &a, const FileMark &b) {
    return a.inode == b.inode && a.size == b.size && a.modified_ns == b.modified_ns;
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

// A revocation the list had no room for is lost: its token (an opaque one the
// file also held is dropped all the same) could pass again until it expires.
void logRefusedRevocations(ngx_log_t *log, const Zone &zone, const oauth::RestoreCounts &counts) {
    if (counts.revocations_refused != 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "oauth_token_zone \"%V\": %uz revocations of state file \"%V\" did not "
                      "fit in the revocation list and are lost; a JWT they revoked is valid "
                      "again until it expires",
                      &zone.name, counts.revocations_refused, &zone.state_file);
    }
}

}  // namespace oauth_ngx
