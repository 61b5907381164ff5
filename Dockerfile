# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run with production dependencies only, as a
# non-root user, under pm2-runtime (PM2 in the foreground, as PID 1 of the container).

ARG NODE_VERSION=20.20

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
# PM2 kills an instance SHUTDOWN_TIMEOUT_MS + 3 s after asking it to stop; 6 s keeps that
# (9 s) below `docker stop`'s default 10 s grace period.
ENV NODE_ENV=production PORT=3000 SHUTDOWN_TIMEOUT_MS=6000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY ecosystem.config.cjs check-cluster.sh ./
COPY prisma ./prisma
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node_modules/.bin/pm2-runtime", "start", "ecosystem.config.cjs", "--env", "production"]
