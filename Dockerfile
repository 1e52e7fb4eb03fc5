# Signalhouse as a container (used by docker-compose.yml). Embedded store in /data unless CLICKHOUSE_URL is set.
# The dashboard is built in a first stage, with the dev dependencies its bundle is made from (Preact, htm, uPlot);
# the image itself installs production dependencies only. Lifecycle scripts (`prepare` builds the tracker and the
# dashboard) run in neither `npm ci`: each stage builds what it needs by name.
FROM node:20-bookworm-slim AS dashboard
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY dashboard ./dashboard
RUN npm run build:dashboard

FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The web tracker (esbuild; served at /sdk/signalhouse.js) is built from its sources here; `prepare` would also
# build the dashboard, whose libraries are dev dependencies, so scripts stay off and the tracker is built by name.
COPY sdk/browser ./sdk/browser
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm run build:sdk
COPY . .
COPY --from=dashboard /app/dashboard/dist ./dashboard/dist
ENV HOST=0.0.0.0 PORT=4318 GRPC_PORT=4317 SIGNALHOUSE_DATA_DIR=/data
EXPOSE 4318 4317
VOLUME ["/data"]
# node itself, not npm: SIGTERM (docker stop) reaches the server, which drains before exiting.
CMD ["node", "--enable-experimental-regexp-engine", "--import", "tsx", "service/main.ts"]
