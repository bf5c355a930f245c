# The gpu-dev product image, gpu-dev-api:0.1.0 (the stack's default image for the API and the
# migration Job):
#   docker build -t gpu-dev-api:0.1.0 .
# Build stage: all dependencies, bundle the API's own code with src/build/api-bundle.ts
# (dist/gpu-dev-api.js and dist/gpu-dev-api-admin.js, from src/api/main.ts and admin.ts; npm
# packages left external) and the migration runner with src/build/runner-bundle.ts
# (dist/gpu-dev-db.js, self-contained: the same bytes as `npm run build` gives in this checkout,
# which the stack hashes and the Job checks). Runtime stage: production dependencies only, the
# three bundles, a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build the runner before its sources are copied in.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build:api && npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist/gpu-dev-api.js /app/dist/gpu-dev-api-admin.js /app/dist/gpu-dev-db.js ./dist/
# The node image's unprivileged user, by number so that runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 8000
# Node itself is PID 1 and handles SIGTERM (graceful shutdown); no npm wrapper in between.
# Keys: kubectl exec deploy/<api> -- node dist/gpu-dev-api-admin.js create-user <name>
# The migration Job runs: node /app/dist/gpu-dev-db.js apply …
CMD ["node", "dist/gpu-dev-api.js"]
