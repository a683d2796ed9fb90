#!/usr/bin/env bash
# The production topology of docker-compose.yml as processes on this machine: Debian's PostgreSQL,
# the Temporal server built from go.temporal.io/server (schema applied with its temporal-sql-tool,
# SQL visibility, sbx's search attributes), two `sbx control` and two `sbx host` workers placing
# through one fleet. Everything lives in one directory; ports are picked free at start.
#
#   scripts/prod-stack.sh start [dir]    start it (default dir: <cache>/prod-stack), print the addresses
#   scripts/prod-stack.sh stop [dir]     stop every process it started (the data stays)
#   scripts/prod-stack.sh status [dir]   which of its processes run
#   scripts/prod-stack.sh restart <control-N|host-N|temporal-server> [dir]   start one process again (after a crash)
#
# <dir>/stack.json names the addresses, host ids and process ids; <dir>/logs holds every log.
# Environment (start):
#   SBX_PROD_PREFIX      prefix of the host ids and the fleet id (default prod)
#   SBX_ZFS_PARENT       parent dataset of the hosts' dataset roots (default sbx)
#   SBX_HEARTBEAT_MS     host heartbeat interval, also the fleet's expectation (default 5000)
#   SBX_RUNTIME, SBX_STORAGE, SBX_RESERVE_MB, …: passed on to the sbx workers
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${SBX_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sbx}
server_dir="$cache/temporal-server-$TEMPORAL_SERVER_VERSION"
temporal_cli="$cache/temporal-cli-$TEMPORAL_CLI_VERSION/temporal"
sbx=(node "$repo/dist/cli/main.js")

cmd=${1:-}
dir=$(realpath -m "${2:-$cache/prod-stack}")
logs="$dir/logs"
namespace=default
db_user=temporal
db_password=temporal

say() { printf '[prod-stack] %s\n' "$*" >&2; }
die() { printf '[prod-stack] error: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
# Alive and not a zombie: a killed worker stays one until init reaps it.
running() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]; }

pg_bin() { # the newest Debian PostgreSQL
  local bin
  bin=$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/postgres' 2>/dev/null | sort -V | tail -1)
  [ -n "$bin" ] || die "Debian's PostgreSQL is missing: run 'npm run bootstrap' (apt-get install postgresql)"
  dirname "$bin"
}
# PostgreSQL refuses to run as root: as root, its files and processes belong to the postgres user.
as_pg() { if is_root; then runuser -u postgres -- "$@"; else "$@"; fi; }

# <n>: n distinct ports free on 127.0.0.1 right now, from 20000-32767: below Linux's ephemeral range
# (outgoing connections never take them meanwhile), and Temporal stores membership ports in a
# PostgreSQL smallint ("value 41879 is out of range for type smallint").
free_ports() {
  node -e '
    const net = require("node:net");
    const want = Number(process.argv[1]);
    const tryPort = (port) => new Promise((ok) => {
      const s = net.createServer().once("error", () => ok(false));
      s.listen(port, "127.0.0.1", () => s.close(() => ok(true)));
    });
    (async () => {
      const ports = new Set();
      for (let tries = 0; ports.size < want && tries < 1000; tries++) {
        const port = 20000 + Math.floor(Math.random() * 12768);
        if (!ports.has(port) && (await tryPort(port))) ports.add(port);
      }
      if (ports.size < want) throw new Error("no free ports in 20000-32767");
      console.log([...ports].join(" "));
    })();' "$1"
}

# Starts "$@" in its own session (a terminal's Ctrl-C does not reach it), logging to logs/<name>.log.
spawn() { # <name> <command...>
  local name=$1
  shift
  # Where this run's lines start: a restarted worker's log still holds the last run's "ready".
  stat -c %s "$logs/$name.log" >"$dir/$name.logfrom" 2>/dev/null || echo 0 >"$dir/$name.logfrom"
  setsid "$@" >>"$logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

wait_until() { # <what> <seconds> <process name or -> <command...>
  local what=$1 seconds=$2 name=$3
  shift 3
  for _ in $(seq 1 $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    if [ "$name" != - ] && ! running "$(cat "$dir/$name.pid")"; then
      die "$name exited: $(tail -c 600 "$logs/$name.log")"
    fi
    sleep 0.2
  done
  die "$what not ready after ${seconds}s; see $logs"
}

wait_log() { # <name> <message> <seconds>: a worker is ready when its log says so
  local name=$1 pid from
  pid=$(cat "$dir/$name.pid")
  from=$(cat "$dir/$name.logfrom")
  for _ in $(seq 1 $(($3 * 5))); do
    tail -c +$((from + 1)) "$logs/$name.log" 2>/dev/null | grep -q "$2" && return 0
    running "$pid" || die "$name exited before it was ready: $(tail -5 "$logs/$name.log")"
    sleep 0.2
  done
  die "$name not ready after $3s; see $logs/$name.log"
}

temporal() { "$temporal_cli" --address "127.0.0.1:$frontend_port" --namespace "$namespace" "$@"; }

sql_tool() { # <database> <command...>
  "$server_dir/temporal-sql-tool" --plugin postgres12 --endpoint 127.0.0.1 --port "$pg_port" \
    --user "$db_user" --password "$db_password" --database "$@"
}

write_server_config() {
  mkdir -p "$dir/temporal/config"
  store() { # <name> <database> <maxConns>
    cat <<YAML
    $1:
      sql:
        pluginName: postgres12
        databaseName: $2
        connectAddr: "127.0.0.1:$pg_port"
        connectProtocol: tcp
        user: $db_user
        password: $db_password
        maxConns: $3
        maxIdleConns: $3
        maxConnLifetime: 1h
YAML
  }
  service() { # <name> <grpcPort> <membershipPort> [extra line]
    printf '  %s:\n    rpc:\n      grpcPort: %s\n      membershipPort: %s\n      bindOnIP: 127.0.0.1\n%s' "$1" "$2" "$3" "${4:+      $4
}"
  }
  {
    cat <<YAML
# Written by scripts/prod-stack.sh: the compose file's temporal service (PostgreSQL persistence and
# SQL visibility) on ports that were free at start.
log:
  stdout: true
  level: warn
persistence:
  defaultStore: postgres-default
  visibilityStore: postgres-visibility
  numHistoryShards: 4
  datastores:
YAML
    store postgres-default temporal 20
    store postgres-visibility temporal_visibility 4
    cat <<YAML
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
YAML
    service frontend "$frontend_port" "${ports[2]}" "httpPort: ${ports[3]}"
    service history "${ports[4]}" "${ports[5]}"
    service matching "${ports[6]}" "${ports[7]}"
    service worker "${ports[8]}" "${ports[9]}"
    cat <<YAML
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:$frontend_port"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: $dir/temporal/config/dynamic.yaml
  pollInterval: 60s
YAML
  } >"$dir/temporal/config/sbx.yaml"
  # The history queue poll rates sbx's dev servers use (src/dev/server-tuning.ts): with 4 shards the
  # default 20 reads per shard per second caps the whole cluster near 40 tool calls a second.
  node --input-type=module -e "
    const { HISTORY_QUEUE_POLL_RATES } = await import('$repo/dist/dev/server-tuning.js');
    for (const [key, value] of Object.entries(HISTORY_QUEUE_POLL_RATES)) console.log(key + ':\\n  - value: ' + value);
  " >"$dir/temporal/config/dynamic.yaml"
}

start() {
  [ -x "$server_dir/temporal-server" ] && [ -x "$server_dir/temporal-sql-tool" ] \
    || die "the Temporal server v$TEMPORAL_SERVER_VERSION is not built: run 'npm run bootstrap'"
  [ -x "$temporal_cli" ] || die "the Temporal CLI is not built: run 'npm run bootstrap'"
  [ -f "$repo/dist/cli/main.js" ] || die "sbx is not compiled: run 'npm run bootstrap'"
  if [ -f "$dir/stack.json" ] && status >/dev/null; then die "a stack already runs in $dir: stop it first"; fi
  local bin prefix fleet heartbeat_ms
  bin=$(pg_bin)
  prefix=${SBX_PROD_PREFIX:-prod}
  fleet="$prefix-fleet"
  heartbeat_ms=${SBX_HEARTBEAT_MS:-5000}
  mkdir -p "$dir" "$logs"
  # PostgreSQL, then the frontend's gRPC, membership and HTTP ports, then gRPC and membership of
  # history, matching and worker.
  read -r -a ports <<<"$(free_ports 10)"
  pg_port=${ports[0]}
  frontend_port=${ports[1]}
  if is_root && ! runuser -u postgres -- test -x "$dir"; then
    die "$dir must be reachable by the postgres user (PostgreSQL runs as postgres): make its parents searchable or pick another dir"
  fi

  # 1. PostgreSQL (compose: postgres), its own cluster in <dir>/postgres, password auth over TCP.
  if [ ! -f "$dir/postgres/PG_VERSION" ]; then
    say "initialising PostgreSQL ($bin) in $dir/postgres"
    mkdir -p "$dir/postgres"
    printf '%s\n' "$db_password" >"$dir/pgpass"
    if is_root; then chown postgres: "$dir/postgres" "$dir/pgpass" "$logs"; fi
    as_pg "$bin/initdb" -D "$dir/postgres" -U "$db_user" --pwfile="$dir/pgpass" \
      --auth-local=trust --auth-host=scram-sha-256 >"$logs/initdb.log" 2>&1 || die "initdb failed: $(tail -3 "$logs/initdb.log")"
    rm -f "$dir/pgpass"
  fi
  if is_root; then chown postgres: "$logs"; touch "$logs/postgres.log"; chown postgres: "$logs/postgres.log"; fi
  as_pg "$bin/pg_ctl" -D "$dir/postgres" -l "$logs/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $dir/postgres" start >/dev/null \
    || die "PostgreSQL did not start: $(tail -3 "$logs/postgres.log")"
  say "PostgreSQL on 127.0.0.1:$pg_port"

  # 2. Schema (compose: temporal-schema): both databases, each step idempotent.
  local db kind
  for db in temporal temporal_visibility; do
    kind=temporal
    [ "$db" = temporal ] || kind=visibility
    {
      sql_tool "$db" create-database || true # fails only when it exists; the next steps say if not
      sql_tool "$db" setup-schema -v 0.0
      sql_tool "$db" update-schema -d "$server_dir/schema/postgresql/v12/$kind/versioned"
    } >>"$logs/schema.log" 2>&1 || die "schema of $db failed: $(tail -3 "$logs/schema.log")"
  done
  say "schema applied (temporal, temporal_visibility)"

  # 3. The Temporal server (compose: temporal), all four services in one process.
  write_server_config
  spawn_server

  # 4. Namespace and search attributes (compose: temporal-init); a visibility query that names them
  #    succeeds once the frontend knows them.
  temporal operator namespace describe >/dev/null 2>&1 || temporal operator namespace create --retention 7d >/dev/null
  wait_until "namespace $namespace" 60 temporal-server temporal workflow count
  local registered name type
  registered=$(temporal operator search-attribute list 2>/dev/null || true)
  for spec in SbxSessionState=Keyword SbxHost=Keyword SbxTemplate=Keyword SbxTurn=Int; do
    name=${spec%=*} type=${spec#*=}
    grep -qw "$name" <<<"$registered" || temporal operator search-attribute create --name "$name" --type "$type" >/dev/null
  done
  wait_until "sbx search attributes" 60 temporal-server temporal workflow count --query "SbxSessionState = 'active' AND SbxTurn >= 0"
  say "namespace $namespace with sbx's search attributes"

  local i host_ids=()
  for i in 1 2; do host_ids+=("$prefix-host-$i"); done
  cat >"$dir/stack.env" <<ENV
frontend_port=$frontend_port
fleet=$fleet
heartbeat_ms=$heartbeat_ms
host_ids=(${host_ids[*]})
zfs_parent=${SBX_ZFS_PARENT:-sbx}
ENV
  # 5. Two control workers (compose: sbx-control) running one fleet that places over the hosts that
  #    heartbeat to it: it provisions and drains nothing (static hosts).
  # 6. Two host workers (compose: sbx-host), each with its own data root and dataset root.
  for i in 1 2; do spawn_worker "control-$i"; done
  for i in 1 2; do spawn_worker "host-$i"; done
  for i in 1 2; do wait_log "control-$i" 'control worker ready' 60; done
  for i in 1 2; do wait_log "host-$i" 'host worker ready' 120; done

  cat >"$dir/stack.json" <<JSON
{
  "temporalAddress": "127.0.0.1:$frontend_port",
  "namespace": "$namespace",
  "postgres": "postgresql://$db_user:$db_password@127.0.0.1:$pg_port/temporal",
  "fleetId": "$fleet",
  "controlTaskQueue": "sbx-control",
  "hostIds": ["${host_ids[0]}", "${host_ids[1]}"],
  "pids": {
    "temporalServer": $(cat "$dir/temporal-server.pid"),
    "control": [$(cat "$dir/control-1.pid"), $(cat "$dir/control-2.pid")],
    "host": [$(cat "$dir/host-1.pid"), $(cat "$dir/host-2.pid")]
  },
  "dir": "$dir"
}
JSON
  cat <<TEXT
sbx production topology running in $dir
  PostgreSQL       postgresql://$db_user:$db_password@127.0.0.1:$pg_port (databases temporal, temporal_visibility)
  Temporal server  127.0.0.1:$frontend_port (namespace $namespace), config $dir/temporal/config/sbx.yaml
  control workers  pids $(cat "$dir/control-1.pid") $(cat "$dir/control-2.pid") (fleet $fleet, queue sbx-control)
  host workers     ${host_ids[*]} (pids $(cat "$dir/host-1.pid") $(cat "$dir/host-2.pid"))
  logs             $logs
Use it:  export TEMPORAL_ADDRESS=127.0.0.1:$frontend_port
         node dist/cli/main.js session create demo && node dist/cli/main.js session exec demo -- uname -a
         node dist/cli/main.js fleet status --fleet $fleet
Stop it: scripts/prod-stack.sh stop $dir
TEXT
}

spawn_server() { # with the config start wrote; frontend_port is set
  spawn temporal-server "$server_dir/temporal-server" --root "$dir/temporal" --config config --env sbx --allow-no-auth start
  wait_until "Temporal server on 127.0.0.1:$frontend_port" 90 temporal-server temporal operator cluster health
  say "Temporal server on 127.0.0.1:$frontend_port"
}

spawn_worker() { # <control-N|host-N>: with the settings start wrote to stack.env
  local name=$1 n=${1##*-}
  # shellcheck disable=SC1091
  source "$dir/stack.env"
  case "$name" in
    control-[12])
      spawn "$name" env SBX_LOG_FORMAT=json "${sbx[@]}" control --temporal-address "127.0.0.1:$frontend_port" \
        --fleet "$fleet" --provisioner static --static-hosts "$(IFS=,; echo "${host_ids[*]}")" \
        --min-hosts 0 --warm-slots 0 --idle-cooldown-ms 31536000000 --heartbeat-ms "$heartbeat_ms" ;;
    host-[12])
      local host_id=${host_ids[$((n - 1))]}
      mkdir -p "$dir/hosts/$host_id"
      spawn "$name" env SBX_LOG_FORMAT=json SBX_HEARTBEAT_MS="$heartbeat_ms" "${sbx[@]}" host \
        --temporal-address "127.0.0.1:$frontend_port" --host-id "$host_id" --fleet "$fleet" \
        --zfs-root "$zfs_parent/$host_id" --data-root "$dir/hosts/$host_id" --ensure-busybox ;;
    *) die "no worker $name: control-1, control-2, host-1 or host-2" ;;
  esac
}

restart() { # <name>
  [ -f "$dir/stack.env" ] || die "no stack in $dir"
  local name=$1 pid
  pid=$(cat "$dir/$name.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && running "$pid"; then die "$name still runs (pid $pid)"; fi
  case "$name" in
    temporal-server)
      # shellcheck disable=SC1091
      source "$dir/stack.env"
      spawn_server ;;
    control-*) spawn_worker "$name" && wait_log "$name" 'control worker ready' 60 ;;
    host-*) spawn_worker "$name" && wait_log "$name" 'host worker ready' 120 ;;
    *) die "no process $name: control-1, control-2, host-1, host-2 or temporal-server" ;;
  esac
  say "$name running again (pid $(cat "$dir/$name.pid"))"
}

stop_pid() { # <name> <seconds>: SIGTERM, then SIGKILL after the grace
  local pidfile="$dir/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $(($2 * 5))); do running "$pid" || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$dir/$1.logfrom"
}

stop() {
  [ -d "$dir" ] || die "no stack in $dir"
  local name
  for name in host-1 host-2 control-1 control-2; do stop_pid "$name" 40 & done
  wait
  stop_pid temporal-server 20
  if [ -f "$dir/postgres/postmaster.pid" ]; then as_pg "$(pg_bin)/pg_ctl" -D "$dir/postgres" -m fast -w stop >/dev/null || true; fi
  say "stopped; the data stays in $dir"
}

status() {
  local name running=0
  for name in temporal-server control-1 control-2 host-1 host-2; do
    if [ -f "$dir/$name.pid" ] && running "$(cat "$dir/$name.pid")"; then
      echo "$name: running (pid $(cat "$dir/$name.pid"))"
      running=1
    else
      echo "$name: stopped"
    fi
  done
  [ "$running" = 1 ]
}

case "$cmd" in
  restart)
    worker=${2:-}
    dir=$(realpath -m "${3:-$cache/prod-stack}")
    logs="$dir/logs"
    restart "$worker" ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: scripts/prod-stack.sh start|stop|status [dir], or restart <control-N|host-N|temporal-server> [dir]" ;;
esac
