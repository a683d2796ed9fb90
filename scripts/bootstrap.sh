#!/usr/bin/env bash
# Idempotent setup of everything sbx needs on this machine. Quiet when all is in place; one progress
# line per step that has work to do; a clear error naming the missing piece otherwise.
#
# Environment:
#   SBX_CACHE_DIR   per-user cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/sbx)
#   SBX_POOL        ZFS pool name for development and tests (default sbx)
#   SBX_POOL_SIZE   size of the sparse file backing a new pool (default 8G)
#   SBX_SKIP_ZFS=1  skip the zfs-fuse daemon and pool (local-disk storage only)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache=${SBX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sbx}
pool=${SBX_POOL:-sbx}
pool_size=${SBX_POOL_SIZE:-8G}
temporal_dir="$cache/temporal-cli-$TEMPORAL_CLI_VERSION"
moto_dir="$cache/moto-$MOTO_VERSION"

step() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

mkdir -p "$cache"

# 1. Debian packages: runsc (gVisor), zfs-fuse, busybox-static (the test template's rootfs).
missing=()
command -v runsc >/dev/null || missing+=(runsc)
command -v zfs-fuse >/dev/null || missing+=(zfs-fuse)
# The template rootfs needs a busybox that runs with no libraries beside it.
(ldd /bin/busybox 2>&1 || true) | grep -q 'not a dynamic' || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  is_root || die "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}"
  step "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

# 2. Temporal CLI dev server, built from Temporal's Go module and cached per version.
if [ ! -x "$temporal_dir/temporal" ]; then
  command -v go >/dev/null || die "the Go toolchain is needed to build the Temporal CLI; install Go >= 1.23"
  step "building Temporal CLI v$TEMPORAL_CLI_VERSION from its Go module (first run only, several minutes)"
  mkdir -p "$temporal_dir"
  if ! GOBIN="$temporal_dir" go install "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION" \
      >"$cache/temporal-build.log" 2>&1; then
    die "go install github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION failed; see $cache/temporal-build.log"
  fi
fi

# 3. zfs-fuse daemon and a file-backed pool.
if [ "${SBX_SKIP_ZFS:-0}" != 1 ]; then
  zfs_mounts() { awk '$3 == "fuse.zfs" { print $2 }' /proc/mounts; }
  # A daemon can answer zpool yet leave requests on its mounts unanswered, with every process that
  # touches them stuck in D state: probe each mount too (SIGKILL: such a wait is only killable).
  zfs_answers() {
    timeout -s KILL 10 zpool list >/dev/null 2>&1 || return 1
    local mp
    for mp in $(zfs_mounts); do timeout -s KILL 5 stat -t "$mp" >/dev/null 2>&1 || return 1; done
  }
  if pgrep -x zfs-fuse >/dev/null && ! zfs_answers; then
    is_root || die "the zfs-fuse daemon is hung and restarting it needs root"
    step "zfs-fuse is not answering: killing it and lazily unmounting its datasets"
    pkill -9 -x zfs-fuse || true
    sleep 1
    for mp in $(zfs_mounts | sort -r); do umount -l "$mp" 2>/dev/null || true; done
  fi
  # Reachability, not pgrep: a killed daemon can linger as a zombie.
  if ! zpool list >/dev/null 2>&1; then
    is_root || die "the zfs-fuse daemon is not running and starting it needs root"
    [ -e /dev/fuse ] || die "/dev/fuse is missing: zfs-fuse needs FUSE"
    step "starting the zfs-fuse daemon"
    mkdir -p /var/run/zfs /var/lock/zfs
    # A daemon that was killed leaves its pid file, and zfs-fuse refuses to start over it.
    pidfile="$cache/zfs-fuse.pid"
    if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then rm -f "$pidfile"; fi
    zfs-fuse -p "$pidfile" || { sleep 1; rm -f "$pidfile"; zfs-fuse -p "$pidfile"; } || die "zfs-fuse failed to start"
    for _ in $(seq 1 100); do zpool list >/dev/null 2>&1 && break; sleep 0.1; done
    zpool list >/dev/null 2>&1 || die "zfs-fuse started but zpool cannot reach it"
  fi
  if ! zpool list -H -o name "$pool" >/dev/null 2>&1; then
    img="$cache/pool/$pool.img"
    mkdir -p "$cache/pool"
    if [ -f "$img" ]; then
      step "importing ZFS pool $pool from $img"
      zpool import -d "$cache/pool" -f "$pool" >/dev/null 2>&1 || die "zpool import of $pool from $img failed"
    else
      step "creating ZFS pool $pool on a sparse $pool_size file $img"
      truncate -s "$pool_size" "$img"
      zpool create -f -m none "$pool" "$img" >/dev/null 2>&1 || { rm -f "$img"; die "zpool create $pool failed"; }
    fi
  fi
  health=$(zpool list -H -o health "$pool")
  [ "$health" = ONLINE ] || die "ZFS pool $pool is $health, not ONLINE"
fi

# 4. moto's EC2-compatible server, in a virtualenv in the cache.
if [ ! -f "$moto_dir/.installed" ]; then
  command -v python3 >/dev/null || die "python3 is needed for moto's EC2 server"
  step "installing moto[server]==$MOTO_VERSION into $moto_dir"
  rm -rf "$moto_dir"
  python3 -m venv "$moto_dir" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$moto_dir/bin/pip" install -q "moto[server]==$MOTO_VERSION" >"$cache/moto-install.log" 2>&1 \
    || die "pip install moto[server]==$MOTO_VERSION failed; see $cache/moto-install.log"
  touch "$moto_dir/.installed"
fi

# 5. Node dependencies and the compiled CLI.
cd "$repo"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
fi
if [ -z "$(find dist/.build-stamp -newer package-lock.json 2>/dev/null)" ] \
   || [ -n "$(find src tsconfig.json tsconfig.build.json -newer dist/.build-stamp 2>/dev/null | head -1)" ]; then
  step "compiling TypeScript"
  npx tsc -p tsconfig.build.json || die "TypeScript compilation failed"
  touch dist/.build-stamp
fi

# 6. The sbx-files helper, mounted read-only into every sandbox: a static Go binary, so it runs
#    whatever the template's libc.
helper=dist/sandbox-bin/sbx-files
if [ ! -x "$helper" ] || [ -n "$(find helpers/sbx-files -newer "$helper" 2>/dev/null | head -1)" ]; then
  command -v go >/dev/null || die "the Go toolchain is needed to build the sbx-files helper; install Go >= 1.25"
  step "building the sbx-files helper"
  mkdir -p "$(dirname "$helper")"
  (cd helpers/sbx-files && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$repo/$helper.tmp" .) \
    || die "building helpers/sbx-files failed"
  mv "$helper.tmp" "$helper"
fi
