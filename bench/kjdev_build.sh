#!/bin/bash
# Figure J8's peer: kjdev/nginx-auth-jwt built as a dynamic module for the
# nginx the bench runs, from git mirrors (never copied into this repository).
#   kjdev_build.sh KJDEV_SRC NGINX_TREE OUT_DIR
# KJDEV_SRC is the module's git directory; its submodules nxe-json and nxe-jwx
# are the git directories beside it (kjdev+nxe-json/repo, kjdev+nxe-jwx/repo,
# as /work/.mirror lays them out), at the commits the module's tree pins.
# The version built is the newest that fits both (see below).
# NGINX_TREE is the nginx source tree the module's build configured
# (build/nginx-src): copied without its objs/, configured again with the same
# flags plus this module, and only `make modules` run. Writes
# OUT_DIR/ngx_http_auth_jwt_module.so and OUT_DIR/build.log.
set -euo pipefail
src=$1 tree=$2 out=$3
mirrors=$(dirname "$(dirname "$src")")
work=$out/src
rm -rf "$work" && mkdir -p "$work/module" "$work/nginx"
log=$out/build.log
: > "$log"

# A submodule's pinned commit, if the module had that submodule then, and
# whether its mirror holds it.
pinned() { git --git-dir="$src" ls-tree "$1" "$2" | awk '{print $3}'; }
mirrored() {
    local commit
    commit=$(pinned "$1" "$2")
    [ -z "$commit" ] || git --git-dir="$mirrors/kjdev+$2/repo" cat-file -e "$commit^{tree}" 2>/dev/null
}
# ngx_table_elt_t has had a `next` member since nginx 1.23.0; the module
# sets it from 2025 on, so an older nginx (Debian 12 has 1.22.1) needs a
# version from before.
nginx_version=$(sed -n 's/^#define nginx_version *\([0-9]*\)/\1/p' "$tree/src/core/nginx.h")
fits_nginx() {
    [ "$nginx_version" -ge 1023000 ] || ! git --git-dir="$src" grep -q -e '->next = NULL' "$1" -- src
}

# The newest commit of the module that fits this nginx and whose submodule
# commits the mirrors hold (a mirror may lag behind the module's pins).
commit=
for c in $(git --git-dir="$src" rev-list HEAD); do
    if fits_nginx "$c" && mirrored "$c" nxe-json && mirrored "$c" nxe-jwx; then
        commit=$c
        break
    fi
done
[ -n "$commit" ] || { echo "kjdev: no commit of $src fits nginx $nginx_version with the mirrors' submodules" >&2; exit 1; }
echo "kjdev: nginx-auth-jwt $(git --git-dir="$src" describe --tags --always "$commit")" | tee -a "$log"
git --git-dir="$src" archive "$commit" | tar -x -C "$work/module"
for sub in nxe-json nxe-jwx; do
    if [ -n "$(pinned "$commit" "$sub")" ]; then
        mkdir -p "$work/module/$sub"
        git --git-dir="$mirrors/kjdev+$sub/repo" archive "$(pinned "$commit" "$sub")" | tar -x -C "$work/module/$sub"
    fi
done

tar -C "$tree" --exclude=./objs -cf - . | tar -C "$work/nginx" -xf -
cd "$work/nginx"
# conf_flags: Debian's configure flags, shipped with its nginx source
. ./conf_flags
./configure "${NGX_CONF_FLAGS[@]}" --with-cc-opt="-O2" --add-dynamic-module="$work/module" >> "$log" 2>&1
make -f objs/Makefile modules >> "$log" 2>&1
cp objs/ngx_http_auth_jwt_module.so "$out/"
