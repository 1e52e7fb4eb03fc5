# Signalhouse as a container (used by docker-compose.yml). Embedded store in /data unless CLICKHOUSE_URL is set.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
# The web tracker is built by npm's prepare step (esbuild; served at /sdk/signalhouse.js): its sources first.
COPY sdk/browser ./sdk/browser
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
ENV HOST=0.0.0.0 PORT=4318 SIGNALHOUSE_DATA_DIR=/data
EXPOSE 4318
VOLUME ["/data"]
# node itself, not npm: SIGTERM (docker stop) reaches the server, which drains before exiting.
CMD ["node", "--import", "tsx", "service/main.ts"]
