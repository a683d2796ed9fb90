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
server_dir="$cache/temporal-server-$TEMPORAL_SERVER_VERSION"
gvisor_dir="$cache/runsc-$GVISOR_VERSION-sbx$GVISOR_PATCHLEVEL"
moto_dir="$cache/moto-$MOTO_VERSION"
temporalio_py_dir="$cache/temporalio-py-$TEMPORALIO_PY_VERSION"

step() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }

mkdir -p "$cache"

# 1. Debian packages: runsc (gVisor), zfs-fuse, busybox-static (the test template's rootfs), chromium,
#    postgresql (the production topology's database, scripts/prod-stack.sh).
missing=()
command -v runsc >/dev/null || missing+=(runsc)
command -v zfs-fuse >/dev/null || missing+=(zfs-fuse)
# The template rootfs needs a busybox that runs with no libraries beside it.
(ldd /bin/busybox 2>&1 || true) | grep -q 'not a dynamic' || missing+=(busybox-static)
# The Web UI test drives Debian's chromium through playwright-core (no browser download).
[ -x /usr/bin/chromium ] || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
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

# 2a. The Temporal server and its temporal-sql-tool for the production topology, built from
#     go.temporal.io/server, with the PostgreSQL schema files of the same version.
if [ ! -x "$server_dir/temporal-server" ] || [ ! -x "$server_dir/temporal-sql-tool" ] || [ ! -d "$server_dir/schema" ]; then
  command -v go >/dev/null || die "the Go toolchain is needed to build the Temporal server; install Go >= 1.25"
  step "building Temporal server v$TEMPORAL_SERVER_VERSION and temporal-sql-tool from go.temporal.io/server (first run only, about 10 minutes on two cores)"
  server_log="$cache/temporal-server-build.log"
  rm -rf "$server_dir.tmp"
  mkdir -p "$server_dir.tmp"
  # -v names each package as it compiles: a count every 200 shows the build moving.
  if ! GOFLAGS=-mod=mod GOBIN="$server_dir.tmp" nice -n 10 go install -v \
      "go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION" "go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION" 2>&1 \
      | tee "$server_log" | awk 'NR % 200 == 0 { printf "[bootstrap]   %d packages built\n", NR > "/dev/stderr"; fflush("/dev/stderr") }'; then
    die "go install go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION failed; see $server_log"
  fi
  module_dir=$(go mod download -json "go.temporal.io/server@v$TEMPORAL_SERVER_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$module_dir/schema/postgresql" ] || die "no schema/postgresql in go.temporal.io/server@v$TEMPORAL_SERVER_VERSION ($module_dir)"
  mkdir -p "$server_dir.tmp/schema"
  cp -r "$module_dir/schema/postgresql" "$server_dir.tmp/schema/"
  chmod -R u+w "$server_dir.tmp/schema"
  mv "$server_dir.tmp/server" "$server_dir.tmp/temporal-server"
  mv "$server_dir.tmp/sql" "$server_dir.tmp/temporal-sql-tool"
  rm -rf "$server_dir"
  mv "$server_dir.tmp" "$server_dir"
fi

# 2b. gVisor's runsc at the pinned version with sbx's patches, built from its Go module by
# scripts/build-runsc.sh, and kept only if it runs a sandbox here. Otherwise Debian's runsc from step 1 stays in use, and every run says so.
smoke_runsc() { # <runsc>: runs a busybox echo in a throwaway sandbox; prints runsc's error on failure
  local dir out rc=0
  dir=$(mktemp -d)
  mkdir -p "$dir/bundle/rootfs/bin"
  cp /bin/busybox "$dir/bundle/rootfs/bin/busybox"
  cat >"$dir/bundle/config.json" <<'JSON'
{"ociVersion": "1.0.0",
 "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/bin/busybox", "echo", "sbx-runsc-ok"], "cwd": "/"},
 "root": {"path": "rootfs", "readonly": true},
 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
 "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}}
JSON
  out=$(timeout 120 "$1" --root "$dir/state" --network none run --bundle "$dir/bundle" "sbx-bootstrap-$$" 2>&1 </dev/null) || rc=$?
  # Newer runsc pins an empty network namespace in its root with a bind mount.
  if [ -e "$dir/state/null-netns" ]; then umount "$dir/state/null-netns" 2>/dev/null || true; fi
  rm -rf "$dir"
  case "$out" in *sbx-runsc-ok*) return 0 ;; esac
  printf '%s' "${out:-exit code $rc}" | tail -n 3
  return 1
}
if [ ! -x "$gvisor_dir/runsc" ]; then
  failed="$gvisor_dir.failed" # a build that failed or did not run here is not retried until removed
  reason=$(cat "$failed" 2>/dev/null || true)
  if [ -z "$reason" ] && ! command -v go >/dev/null; then
    reason="the Go toolchain is missing (install Go >= 1.23)"
  elif [ -z "$reason" ] && ! is_root; then
    reason="checking that it runs a sandbox needs root"
  elif [ -z "$reason" ]; then
    step "building gVisor runsc $GVISOR_VERSION (patchlevel $GVISOR_PATCHLEVEL) from its Go module (first run only, a few minutes)"
    rm -rf "$gvisor_dir.tmp"
    if ! nice -n 10 "$here/build-runsc.sh" "$GVISOR_VERSION" "$gvisor_dir.tmp" "$GVISOR_VERSION-sbx$GVISOR_PATCHLEVEL" >"$cache/runsc-build.log" 2>&1; then
      reason="building gvisor.dev/gvisor/runsc@$GVISOR_VERSION failed; see $cache/runsc-build.log"
    elif ! smoke=$(smoke_runsc "$gvisor_dir.tmp/runsc"); then
      reason="it built but could not run a sandbox here: $smoke"
    else
      mv "$gvisor_dir.tmp" "$gvisor_dir"
    fi
    rm -rf "$gvisor_dir.tmp"
    if [ -n "$reason" ]; then printf '%s\n' "$reason" >"$failed"; fi
  fi
  if [ -f "$failed" ]; then reason="$reason (remove $failed to try again)"; fi
  if [ -n "$reason" ]; then
    debian=$(command -v runsc) || die "no usable runsc: gVisor $GVISOR_VERSION: $reason; and Debian's runsc is missing"
    step "using Debian's runsc ($debian, $("$debian" --version 2>/dev/null | head -1)) instead of gVisor $GVISOR_VERSION: $reason"
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

# 4b. The Temporal Python SDK, in a virtualenv in the cache: the example client for non-TypeScript platforms.
if [ ! -f "$temporalio_py_dir/.installed" ]; then
  command -v python3 >/dev/null || die "python3 is needed for the Temporal Python SDK example"
  step "installing temporalio==$TEMPORALIO_PY_VERSION into $temporalio_py_dir"
  rm -rf "$temporalio_py_dir"
  python3 -m venv "$temporalio_py_dir" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$temporalio_py_dir/bin/pip" install -q "temporalio==$TEMPORALIO_PY_VERSION" >"$cache/temporalio-py-install.log" 2>&1 \
    || die "pip install temporalio==$TEMPORALIO_PY_VERSION failed; see $cache/temporalio-py-install.log"
  touch "$temporalio_py_dir/.installed"
fi

# 5. Node dependencies and the compiled CLI.
cd "$repo"
if [ -L node_modules ]; then
  # A git worktree sharing another checkout's node_modules: npm ci would empty the shared one.
  [ -f node_modules/.package-lock.json ] || die "node_modules is a link to an incomplete install; run npm ci where it points"
elif [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null || die "npm ci failed"
fi
if [ -z "$(find dist/.build-stamp -newer package-lock.json 2>/dev/null)" ] \
   || [ -n "$(find src tsconfig.json tsconfig.build.json -newer dist/.build-stamp 2>/dev/null | head -1)" ]; then
  step "compiling TypeScript"
  npx tsc -p tsconfig.build.json || die "TypeScript compilation failed"
  # Rebundled too: new dependencies can change the bundle while leaving the compiled files as they were.
  rm -f dist/workflow-bundle.js
  touch dist/.build-stamp
fi
# 5b. The workflow bundle a control worker loads, so that it does not run webpack at every start.
if ! stale=$(node dist/workers/bundle-workflows.js --check); then
  step "bundling the workflows: $stale"
  node dist/workers/bundle-workflows.js >/dev/null || die "bundling the workflows failed (node dist/workers/bundle-workflows.js)"
fi

# 6. sbx's Go helpers, static binaries (CGO_ENABLED=0), rebuilt when their source is newer:
#    - sbx-files, mounted read-only into every sandbox (static, so it runs whatever the template's libc);
#    - sbx-reaper, on the host: runsc create runs under it, so the sandbox it leaves is reaped the
#      moment it dies and `runsc delete` (stop, rollback, destroy) does not wait on init;
#    - sbx-spawn, on the host: the host worker starts runsc and zfs through it, so no command pays
#      for copying the worker's page tables (a fork of a 180 MB process costs ~5 ms).
build_helper() { # <name> <output path>
  local name=$1 out=$2
  if [ ! -x "$out" ] || [ ! -s "$out" ] || [ -n "$(find "helpers/$name" -newer "$out" 2>/dev/null | head -1)" ]; then
    command -v go >/dev/null || die "the Go toolchain is needed to build the $name helper; install Go >= 1.25"
    step "building the $name helper"
    mkdir -p "$(dirname "$out")"
    (cd "helpers/$name" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$repo/$out.tmp" .) \
      || die "building helpers/$name failed"
    mv "$out.tmp" "$out"
  fi
}
build_helper sbx-files dist/sandbox-bin/sbx-files
build_helper sbx-reaper dist/host-bin/sbx-reaper
build_helper sbx-spawn dist/host-bin/sbx-spawn
