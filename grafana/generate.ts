/**
 * Writes the Grafana dashboard of the metric catalog (query/grafana.ts) to grafana/dashboards/, where Grafana's
 * provisioning (grafana/provisioning/dashboards) loads it. `npm run grafana:dashboard` after changing the catalog;
 * a test fails while the committed file differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { grafanaDashboard } from '../query/grafana.ts';

export const DASHBOARD_FILE = fileURLToPath(new URL('./dashboards/signalhouse-sla.json', import.meta.url));

export function dashboardText(): string {
  return `${JSON.stringify(grafanaDashboard(), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(DASHBOARD_FILE, dashboardText());
  console.log(`wrote ${DASHBOARD_FILE}`);
}
