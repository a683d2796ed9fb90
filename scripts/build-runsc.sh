#!/usr/bin/env bash
# Builds gVisor's runsc at the given version from its Go module, with sbx's patches
# (scripts/gvisor-patches/*.patch, in name order) applied, into <out-dir>/runsc. Static
# (CGO_ENABLED=0): a cgo build cannot re-exec itself inside its chroot. `runsc --version` prints
# <label> (default: the gVisor version), so logs and bench results say which build ran.
# Usage: scripts/build-runsc.sh <gvisor-version> <out-dir> [<label>]
set -euo pipefail
version=$1
out=$2
label=${3:-$version}
here=$(cd "$(dirname "$0")" && pwd)
module=$(go mod download -json "gvisor.dev/gvisor@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$module" ] || { echo "go mod download gvisor.dev/gvisor@$version gave no source directory" >&2; exit 1; }
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
cp -r "$module/." "$src"
chmod -R u+w "$src"
for patch in "$here"/gvisor-patches/*.patch; do
  (cd "$src" && git apply -p1 "$patch")
done
mkdir -p "$out"
(cd "$src" && CGO_ENABLED=0 go build -ldflags "-X gvisor.dev/gvisor/runsc/version.version=$label" -o "$out/runsc" ./runsc)
