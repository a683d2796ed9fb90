# One image for both sbx processes: `control` and `host` (see docker-compose.yml).

# The sbx-files helper that every sandbox mounts read-only: a static Go binary.
FROM golang:1.25-bookworm AS files-helper
WORKDIR /src
COPY helpers/sbx-files ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/sbx-files .

FROM node:20-bookworm-slim

# runsc (gVisor) and zfs-fuse are what the host worker drives; Debian packages them.
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends runsc zfs-fuse ca-certificates \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev
COPY --from=files-helper /out/sbx-files dist/sandbox-bin/sbx-files

COPY docker/host-entrypoint.sh /usr/local/bin/sbx-host-entrypoint
ENTRYPOINT ["node", "dist/cli/main.js"]
