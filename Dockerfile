# filesync: a live one-way file sync sidecar. Build: docker build -t filesync .
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: compile TypeScript and the native scanner, then keep only production dependencies
FROM ${NODE_IMAGE} AS build
# A C compiler for native/scan.c (the fast start's walk); it stays in this stage.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build-native.ts ./scripts/
COPY native ./native
COPY src ./src
RUN npm run build && test -f build/scan.node && npm prune --omit=dev --no-audit --no-fund

# --- run: Node, rsync, ssh and tini; nothing else ------------------------------------------
FROM ${NODE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rsync openssh-client tini \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx \
 && mkdir -p /data
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/build ./build
# The manual, where the usage text and messages point (docs/configuration.md).
COPY docs ./docs
# `filesync` on PATH, for `docker exec <container> filesync status` and `kubectl exec … -- filesync`.
RUN chmod 755 /app/dist/cli.js && ln -s /app/dist/cli.js /usr/local/bin/filesync

# Everything written at run time goes under TMPDIR: mount a tmpfs there with --read-only.
# A small young generation keeps V8's heap (and RSS) from growing during large passes and
# bursts; measured with npm run bench, it costs no time.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    TMPDIR=/tmp \
    SYNC_SOURCE_DIR=/data \
    SYNC_SSH_KEY=/run/secrets/id_ed25519 \
    SYNC_KNOWN_HOSTS=/run/secrets/known_hosts
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const p=process.env.SYNC_HEALTH_PORT??'8080';if(p==='0')process.exit(0);fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["tini", "--", "node", "/app/dist/cli.js"]
CMD ["watch"]

LABEL org.opencontainers.image.title="filesync" \
      org.opencontainers.image.description="Live one-way file sync sidecar: watches a directory and mirrors every change to a remote host over rsync and SSH." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.1.0"
