# One image for both sbx processes: `control` and `host` (see docker-compose.yml).
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

COPY docker/host-entrypoint.sh /usr/local/bin/sbx-host-entrypoint
ENTRYPOINT ["node", "dist/cli/main.js"]
