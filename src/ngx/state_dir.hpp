// The state directory's I/O, shared by the master that loads a zone's state
// files (state_load.cpp) and the worker that writes them (state.cpp). The
// workers' user may write the directory, and the master reads it as root:
// every file there is opened, created, renamed and removed by its name
// through the directory's descriptor (openat, O_NOFOLLOW), and only what
// oauth::is_workers_state_file accepts is read or written.
#pragma once

#include "ngx/module.hpp"

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "core/tokens/state_file.hpp"

namespace oauth_ngx {

constexpr uint64_t kMaxFileSize = uint64_t{4} << 30;

// FILE (state=FILE) and its siblings: FILE plus `suffix`, its whole path
// (for messages) or its name in the directory (for the *at calls).
std::string pathOf(const Zone &zone, const char *suffix = "");
std::string directoryPrefixOf(const Zone &zone);  // up to and with the last slash
std::string nameOf(const Zone &zone, const char *suffix = "");

ZoneState &stateOf(ngx_shm_zone_t *shm);

// A descriptor closed with its owner.
class Descriptor {
  public:
    explicit Descriptor(int fd = -1) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ != -1) {
            close(fd_);
        }
    }
    Descriptor(const Descriptor &) = delete;
    Descriptor &operator=(const Descriptor &) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

// The directory of a zone's state files, opened once; -1 with errno.
int openDirectory(const Zone &zone);

// Whose the state files are: the workers'.
uid_t workersUid(ngx_cycle_t *cycle);

// Whether anything is at `name` (a link there included).
bool exists(int dir, const std::string &name);

enum class Read { ok, missing, failed, refused };

// `name`, opened with `flags` into `fd` if it is the workers' state file,
// else refused with `problem` saying why.
Read openStateFile(int dir, const std::string &name, int flags, uid_t workers, int &fd,
                   std::string &problem);

// A new, empty file at `name`, in place of whatever was there (`problem`
// says why that was not the workers' state file); -1 with errno.
int createFresh(int dir, const std::string &name, uid_t workers, std::string &problem);

void logRemoved(ngx_log_t *log, const Zone &zone, const std::string &path,
                const std::string &problem);

// The open file from byte `from` on, or `limit` bytes of it.
Read readOpen(int fd, std::string &bytes, std::string &problem, uint64_t limit = kMaxFileSize,
              uint64_t from = 0);

// `name` (openStateFile), read as readOpen does.
Read readFile(int dir, const std::string &name, uid_t workers, std::string &bytes,
              std::string &problem, uint64_t limit = kMaxFileSize, uint64_t from = 0);

// What is at `name` now (not what a link there leads to), or what `fd` is;
// all zero when there is none.
FileMark markOf(int dir, const std::string &name);
FileMark markOf(int fd);
bool sameMark(const FileMark &a, const FileMark &b);

// All of `data` at `at`, or false with errno.
bool writeAll(int fd, const char *data, size_t size, off_t at);

// Revocations a load or merge could not fit, logged with what that costs.
void logRefusedRevocations(ngx_log_t *log, const Zone &zone, const oauth::RestoreCounts &counts);

}  // namespace oauth_ngx
