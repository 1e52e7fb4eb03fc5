# Signalhouse as a container (used by docker-compose.yml). Embedded store in /data unless CLICKHOUSE_URL is set.
# The dashboard is built in a first stage, with the dev dependencies its bundle is made from (Preact, htm, uPlot);
# the image itself installs production dependencies only. Lifecycle scripts (`prepare` builds the dashboard) run
# in neither `npm ci`: the source is copied after it.
FROM node:20-bookworm-slim AS dashboard
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY dashboard ./dashboard
RUN npm run build:dashboard

FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY . .
COPY --from=dashboard /app/dashboard/dist ./dashboard/dist
ENV HOST=0.0.0.0 PORT=4318 GRPC_PORT=4317 SIGNALHOUSE_DATA_DIR=/data
EXPOSE 4318 4317
VOLUME ["/data"]
# node itself, not npm: SIGTERM (docker stop) reaches the server, which drains before exiting.
CMD ["node", "--import", "tsx", "service/main.ts"]
