# One image for both roles: `api` (default) and `worker` (override the command).
# The build stage compiles the TypeScript and bundles the workflows (`npm run build`); the image
# runs the compiled JavaScript with production dependencies only (no tsx, no esbuild, no
# TypeScript: `npm ci --omit=dev`; test/reproducible-build.test.ts checks the lock file says so).
#
# Base: the official node:24-bookworm-slim (Node 24.18.1, an LTS line), pinned by the digest of
# its multi-platform image index as published in docker-library/repo-info
# (repos/node/remote/24-bookworm-slim.md at commit 2fb42a7c1204ce90c8bf85e458cec1447d6f2bbb,
# built 2026-07-30). Docker Hub cannot be reached from the development machines, so the digest
# comes from that public record: refresh it from there, or with `docker buildx imagetools inspect
# node:24-bookworm-slim`, when updating Node. Node 26 entered LTS in October 2026; no digest of an
# LTS-era node:26 image was on public record here (the newest seen, 26.5.0, predates its LTS).
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:235600a8101ab264e117b1768e925532262668dc9b581ef1dd7d96ced463b8e7

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the postinstall only fetches the Temporal CLI for local development.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY scripts ./scripts
RUN npm run build

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
# Workers load the prebuilt bundle instead of running webpack at start. Production encrypts
# (TEMPORAL_PAYLOAD_KEY), so the default is the encrypted bundle; with TEMPORAL_PAYLOAD_ENCRYPTION=off
# point TEMPORAL_WORKFLOW_BUNDLE at /app/dist/workflow-bundle.js (a worker refuses a mismatch).
ENV TEMPORAL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle-encrypted.js
USER node
EXPOSE 3000
# Support CLI in a running container: node dist/src/cli/consent.js status <email>
CMD ["node", "dist/src/api.js"]
