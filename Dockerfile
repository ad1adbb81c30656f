# syntax=docker/dockerfile:1

# 1. Build: full dependencies (argon2 compiles natively when no prebuild fits), TypeScript to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# patches/ fixes a process crash in postgres.js when a connection drops mid-write; patch-package applies it on install.
COPY patches ./patches
RUN npm ci
COPY tsconfig.json tsconfig.build.json drizzle.config.ts ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
COPY workers ./workers
COPY drizzle ./drizzle
RUN npm run build && npm prune --omit=dev

# 2. Run: production dependencies and compiled code only, as the unprivileged node user.
FROM node:20-bookworm-slim AS runtime
# Memory (bench/README.md): one argon2 thread per core (19 MiB each while hashing); glibc's fixed mmap
# threshold hands argon2's buffers back to the system after each hash instead of keeping them in the heap,
# and its hugetlb tunable maps them in transparent huge pages (a fifth fewer CPU per hash than 4 KiB faults).
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    UV_THREADPOOL_SIZE=2 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/api/health/db').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node directly, not npm: the process must receive SIGTERM itself to drain gracefully. V8 tuned for a small heap
# that turns over fast (README, "Runtime settings"; bench/README.md, ninth pass): the old-space cap keeps RSS
# under 200 MB through the bench (204-264 MB peaks without it); under a 256 MB cap V8 keeps its smallest growing
# factor and would mark almost continuously, hence growing 100% (a cache miss 218-238 µs of server CPU against
# 284-303); 4 MB semi-spaces pay for that headroom in memory (peak RSS 184 MB). NODE_OPTIONS refuses the V8 flag.
CMD ["node", "--max-old-space-size=160", "--max-semi-space-size=4", "--heap-growing-percent=100", "dist/src/server.js"]
