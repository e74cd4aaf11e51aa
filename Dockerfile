# One image for both roles: `api` (default) and `worker` (override the command).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# --ignore-scripts: the postinstall only fetches the Temporal CLI for local development.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY scripts ./scripts
# Bundle the workflows once at build time; the worker loads the file (TEMPORAL_WORKFLOW_BUNDLE).
# With TEMPORAL_PAYLOAD_KEY set, point TEMPORAL_WORKFLOW_BUNDLE at the --encrypted bundle instead.
RUN node --import tsx scripts/build-workflows.ts && node --import tsx scripts/build-workflows.ts --encrypted
ENV TEMPORAL_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "src/api.ts"]
