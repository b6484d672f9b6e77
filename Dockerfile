# OpenClaw gateway (mTLS) image: one image for every compose service (init,
# gateway, worker, cli); each service picks its program with entrypoint/command.
#
#   docker build -t openclaw-gateway-mtls .
#
# Programs on PATH: openclaw-gateway, openclaw-cli, certs-tools (the "bin" entries of
# package.json). State lives in /var/lib/openclaw; certificate folders of the clients
# in /certs/<name>. Everything runs as the unprivileged "node" user.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile the TypeScript with the dev dependencies ----------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY certs-tools ./certs-tools
# test/ and bench/ are not in the build context (.dockerignore): only the programs are compiled.
RUN npm run build

# ---- runtime: production dependencies and the compiled programs only ---------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    OPENCLAW_STATE_DIR=/var/lib/openclaw \
    OPENCLAW_GRPC_HOST=0.0.0.0 \
    OPENCLAW_GRPC_PORT=18790 \
    OPENCLAW_BRIDGE_HOST=0.0.0.0 \
    OPENCLAW_BRIDGE_PORT=18789
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/certs-tools ./dist/certs-tools
# Put every program of package.json "bin" on PATH (the build fails if one was not
# built), and create the mount points owned by "node": an empty named volume takes
# the owner of the directory it is first mounted on, so the volumes become writable
# for the unprivileged user without any chown at run time.
RUN node -e 'const fs = require("fs"); for (const [name, file] of Object.entries(require("./package.json").bin)) { fs.chmodSync(file, 0o755); fs.symlinkSync("/app/" + file, "/usr/local/bin/" + name); }' \
 && mkdir -p /var/lib/openclaw /certs/cli /certs/worker /certs/bridge \
 && chown -R node:node /var/lib/openclaw /certs
# openclaw-cli's compile cache, warmed once here (a throw-away gateway on loopback, the
# everyday commands run twice): every `docker compose run --rm openclaw-cli` starts from
# cached code although its HOME is new each time. Read-only for "node" (owned by root).
RUN node dist/src/cli/warm-compile-cache.js /app/dist/compile-cache
USER node
EXPOSE 18790 18789
# Standard gRPC health check of the gateway (anonymous RPC, TLS verified against the
# gateway's own CA). Only meaningful in the gateway container: compose gives the
# bridge its own check (/readyz) and disables it for the other services.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const g = require('@grpc/grpc-js'), { service } = require('grpc-health-check'), fs = require('fs'); const e = process.env, h = e.OPENCLAW_GRPC_HOST, host = !h || h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h; const Health = g.makeGenericClientConstructor(service, 'Health'); const c = new Health(host + ':' + (e.OPENCLAW_GRPC_PORT || 18790), g.credentials.createSsl(fs.readFileSync((e.OPENCLAW_STATE_DIR || '/var/lib/openclaw') + '/ca/ca.pem'))); c.check({ service: '' }, { deadline: Date.now() + 4000 }, (err, res) => process.exit(!err && (res.status === 'SERVING' || res.status === 1) ? 0 : 1));"]
ENTRYPOINT ["openclaw-gateway"]
CMD ["start"]
