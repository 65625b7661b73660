// Reading a small file of the configuration whole: see file_io.hpp.
#include "ngx/file_io.hpp"

#include <sys/stat.h>

#include <cstdio>

#include "ngx/module.hpp"

namespace oauth_ngx {

FileRead readWholeFile(const ngx_str_t &path, std::string &bytes, size_t limit,
                       bool *readable_by_others) {
    bytes.clear();
    std::string file(view(path));
    std::FILE *f = std::fopen(file.c_str(), "rb");
    if (f == nullptr) {
        return FileRead::cannot_open;
    }
    char chunk[8192];
    for (size_t n; bytes.size() <= limit && (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) {
        bytes.append(chunk, n);
    }
    FileRead result = std::ferror(f) != 0    ? FileRead::cannot_read
                      : bytes.size() > limit ? FileRead::too_long
                                             : FileRead::ok;
    ngx_err_t err = ngx_errno;
    struct stat st;
    if (readable_by_others != nullptr) {
        *readable_by_others = fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
    }
    std::fclose(f);
    ngx_set_errno(err);
    return result;
}

}  // namespace oauth_ngx
