# syntax=docker/dockerfile:1
#
# token-rotator's image: `token-rotator run` by default (a CronJob, a scheduled task),
# `daemon --listen 0.0.0.0:9464` for the long-running mode. deploy/kubernetes/ runs it.
#
#   docker build -t token-rotator .
#   docker run --rm -v "$PWD/token-rotator.yaml:/etc/token-rotator/config.yaml:ro" token-rotator
#
# PID 1 is tini, not node: the kernel gives PID 1 no default signal actions, so a node
# that installs no SIGTERM handler (as `run` does not) would ignore SIGTERM and die only
# to SIGKILL at the end of the grace period. tini forwards SIGTERM/SIGINT to node (the
# daemon then finishes its pass and exits 0; `run` stops at once) and reaps zombies.
# HEALTHCHECK is left out: Kubernetes ignores it and uses the Deployment's probes.

ARG NODE_IMAGE=node:22-alpine

# Build: every dependency (no install scripts: tsc needs none), compile TypeScript, then
# drop the development dependencies.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run: the compiled code and the production dependencies only, owned by root and
# read-only to the unprivileged user that runs them.
FROM ${NODE_IMAGE}
RUN apk add --no-cache tini=~0.19
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The image's `node` user, by number so that runAsNonRoot can verify it.
USER 1000:1000
ENTRYPOINT ["/sbin/tini", "--", "node", "dist/runtimes/bin.js"]
CMD ["run", "--config", "/etc/token-rotator/config.yaml"]
