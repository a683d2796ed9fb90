#!/bin/sh
# Entry point of the sbx-host container: with ZFS storage, start the zfs-fuse daemon and a pool backed
# by a sparse file on the data volume (so it survives container restarts), then run the host worker.
set -eu

if [ "${SBX_STORAGE:-zfs}" = zfs ]; then
  pool=${SBX_POOL:-sbx}
  dir=/var/lib/sbx/pool
  mkdir -p /var/run/zfs /var/lock/zfs "$dir"
  zpool list >/dev/null 2>&1 || zfs-fuse
  tries=0
  until zpool list >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 100 ] || { echo 'zfs-fuse did not start' >&2; exit 1; }
    sleep 0.1
  done
  if ! zpool list -H -o name "$pool" >/dev/null 2>&1; then
    if [ -f "$dir/$pool.img" ]; then
      zpool import -d "$dir" -f "$pool"
    else
      truncate -s "${SBX_POOL_SIZE:-20G}" "$dir/$pool.img"
      zpool create -f -m none "$pool" "$dir/$pool.img"
    fi
  fi
fi

exec node /app/dist/cli/main.js "$@"
