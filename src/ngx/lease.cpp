// A zone's one-writer leases (core/lease): the state file's writer and the
// fleet's reader. Held by a worker's pid, taken over once that pid is gone,
// a zombie, or silent too long: one policy for both.
#include "ngx/module.hpp"

#include <signal.h>

#include <cstdio>
#include <cstring>

namespace oauth_ngx {

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

// A holder renews each second or more often: three seconds of silence is a
// worker that is stuck, not busy.
const oauth::LeasePolicy kLeasePolicy{3, isAlive};

}  // namespace

bool holdZoneLease(oauth::LeaseWord &lease) {
    return oauth::hold_lease(lease, uint32_t(ngx_pid), uint32_t(ngx_time()), kLeasePolicy);
}

void releaseZoneLease(oauth::LeaseWord &lease) {
    oauth::release_lease(lease, uint32_t(ngx_pid));
}

}  // namespace oauth_ngx
