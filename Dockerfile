# One image for both sbx processes: `control` and `host` (see docker-compose.yml).

# gVisor's runsc at the version pinned in scripts/versions.env, with sbx's patches, static.
FROM golang:1.23-bookworm AS gvisor
COPY scripts/versions.env scripts/build-runsc.sh /tmp/scripts/
COPY scripts/gvisor-patches /tmp/scripts/gvisor-patches
RUN . /tmp/scripts/versions.env && /tmp/scripts/build-runsc.sh "$GVISOR_VERSION" /out

# The sbx-files helper that every sandbox mounts read-only: a static Go binary.
FROM golang:1.25-bookworm AS files-helper
WORKDIR /src
COPY helpers/sbx-files ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/sbx-files .

# The sbx-reaper helper on the host: runsc create runs under it, so a killed sandbox is reaped at once.
FROM golang:1.25-bookworm AS reaper
WORKDIR /src
COPY helpers/sbx-reaper ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/sbx-reaper .

FROM node:20-bookworm-slim

# zfs-fuse is what the host worker drives beside runsc; Debian packages it.
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends zfs-fuse ca-certificates \
  && rm -rf /var/lib/apt/lists/*
COPY --from=gvisor /out/runsc /usr/local/bin/runsc

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The build also bundles the workflows (dist/workflow-bundle.js): `sbx control` starts without webpack.
RUN npm run build && npm prune --omit=dev
COPY --from=files-helper /out/sbx-files dist/sandbox-bin/sbx-files
COPY --from=reaper /out/sbx-reaper dist/host-bin/sbx-reaper

COPY docker/host-entrypoint.sh /usr/local/bin/sbx-host-entrypoint
ENTRYPOINT ["node", "dist/cli/main.js"]
