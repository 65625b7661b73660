// A small file of the configuration read whole: the client registry, a
// signing key, the fleet's password file. Each caller says what went wrong
// in its directive's words. (The state files have their own reads, through
// their directory's descriptor: state_dir.hpp.)
#pragma once

#include "ngx/ngx.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace oauth_ngx {

enum class FileRead {
    ok,
    cannot_open,  // ngx_errno says why
    cannot_read,  // ngx_errno says why
    too_long,     // more than the limit
};

// `path` whole into `bytes`, or what went wrong; a file of more than `limit`
// bytes is too_long. `readable_by_others`, when given, is set to whether
// its group or others may read it.
FileRead readWholeFile(const ngx_str_t &path, std::string &bytes, size_t limit = SIZE_MAX,
                       bool *readable_by_others = nullptr);

}  // namespace oauth_ngx
