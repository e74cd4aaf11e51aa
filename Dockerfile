# One image for both roles: `api` (default) and `worker` (override the command).
# The build stage compiles the TypeScript and bundles the workflows (`npm run build`); the image
# runs the compiled JavaScript with production dependencies only.
FROM node:20-bookworm-slim AS build
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

FROM node:20-bookworm-slim
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
