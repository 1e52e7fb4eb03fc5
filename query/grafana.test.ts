/**
 * The Grafana dashboard of the catalog against the real engine: each panel's SQL, expanded as Grafana and its
 * ClickHouse plugin expand it (test/helpers/grafana.ts), runs on the service's store and must show what the report
 * API answers for the same tenant, site, range and interval.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_FILE, dashboardText } from '../grafana/generate.ts';
import { ACME_KEY, startTestService, type TestService } from '../test/helpers/service.ts';
import { BASE, HOUR, ingest, loadCatalogData, postReport } from '../test/helpers/catalog-data.ts';
import { expandLikeGrafana, type GrafanaView } from '../test/helpers/grafana.ts';
import { METRICS } from './catalog.ts';
import { GRAFANA_DATASOURCE_TYPE, grafanaDashboard, grafanaSeriesSql, grafanaStatSql, grafanaTenantsSql } from './grafana.ts';

let svc: TestService;
const ODD_SITE = "o'brien \\ café/1 %41";
beforeAll(async () => {
  svc = await startTestService();
  await loadCatalogData(svc);
  // A site id that only arrives intact if the dashboard decodes what Grafana percent-encodes.
  await ingest(svc, ACME_KEY, [{ name: 'voice.barge_in', hour: 1, site: ODD_SITE, attrs: { 'voice.turn_id': 'odd' } }]);
  await svc.settle();
});
afterAll(async () => {
  await svc?.close();
});

interface View extends Omit<GrafanaView, 'tenant'> {
  tenant?: string;
}
const expand = (sql: string, v: View) => expandLikeGrafana(sql, { ...v, tenant: v.tenant ?? 'acme' });

const num = (v: unknown) => (v === null ? null : Number(v));

async function grafanaStat(name: string, v: View): Promise<number | null> {
  const rows = await svc.rows<Record<string, unknown>>(expand(grafanaStatSql('signalhouse', METRICS.find((m) => m.name === name)!), v));
  expect(rows).toHaveLength(1);
  return num(rows[0][name]);
}

/** The panel's points as the API shows them: ISO time → value (the API also lists empty buckets, as null). */
async function grafanaSeries(name: string, v: View): Promise<Record<string, number | null>> {
  const rows = await svc.rows<Record<string, unknown>>(expand(grafanaSeriesSql('signalhouse', METRICS.find((m) => m.name === name)!), v));
  return Object.fromEntries(rows.map((r) => [new Date(`${r.time as string}Z`).toISOString(), num(r[name])]));
}

const iso = (ms: number) => new Date(ms).toISOString();
const GRAINS = { 60000: '1m', 300000: '5m', 3600000: '1h', 86400000: '1d' } as const;

describe('panels give the report API’s answers', () => {
  // Inside hours at both ends: minutes at the edges, whole hours between (the rollup's two levels).
  const ranges = [
    { fromMs: BASE + 10 * 60_000, toMs: BASE + 3 * HOUR + 50 * 60_000 },
    { fromMs: BASE - 2 * HOUR, toMs: BASE + 5 * HOUR },
    { fromMs: BASE + 70 * 60_000, toMs: BASE + 110 * 60_000 },
  ];

  it('stat panels: every metric over ranges with and without whole hours, per site', async () => {
    for (const range of ranges) {
      for (const site of [undefined, 'site-a', ODD_SITE]) {
        const body = { from: iso(range.fromMs), to: iso(range.toMs), source: 'rollup', ...(site ? { site_id: site } : {}) };
        const api = (await postReport(svc.url, 'summary', body)).body.metrics as Record<string, number | null>;
        for (const metric of METRICS) {
          const shown = await grafanaStat(metric.name, { ...range, site });
          if (api[metric.name] === null) expect(shown, metric.name).toBeNull();
          else expect(shown, `${metric.name} ${JSON.stringify(body)}`).toBeCloseTo(api[metric.name]!, 9);
        }
      }
    }
    // The data has values: a test over empty answers would prove nothing.
    expect(await grafanaStat('voice.barge_in_count', ranges[1])).toBe(8);
    expect(await grafanaStat('voice.first_response_ms.p50', { ...ranges[1], site: 'site-a' })).toBeGreaterThan(0);
    expect(await grafanaStat('voice.barge_in_count', { ...ranges[1], site: ODD_SITE })).toBe(1);
  });

  it('time series: every metric at Grafana intervals of 30 s (read as 1 min), 5 min, 1 h and 1 day', async () => {
    const range = ranges[0];
    for (const intervalMs of [30_000, 300_000, 3_600_000, 86_400_000]) {
      const grain = GRAINS[Math.max(60_000, intervalMs) as keyof typeof GRAINS];
      for (const metric of METRICS) {
        const api = await postReport(svc.url, 'timeseries', { metric: metric.name, from: iso(range.fromMs), to: iso(range.toMs), grain, source: 'rollup' });
        const points = api.body.points as Array<{ t: string; value: number | null }>;
        const shown = await grafanaSeries(metric.name, { ...range, intervalMs });
        // A bucket with rows but no value (a rate without a denominator) is a null point in both.
        expect(
          Object.keys(shown).every((t) => points.some((p) => p.t === t)),
          `${metric.name} at ${grain}: buckets outside the API's`,
        ).toBe(true);
        const nonNull = (entries: Array<[string, number | null]>) =>
          entries
            .filter(([, value]) => value !== null)
            .map(([t]) => t)
            .sort();
        expect(nonNull(Object.entries(shown)), `${metric.name} at ${grain}`).toEqual(nonNull(points.map((p) => [p.t, p.value])));
        for (const p of points) if (p.value !== null) expect(shown[p.t], `${metric.name} ${p.t} at ${grain}`).toBeCloseTo(p.value, 9);
      }
    }
    const hourly = await grafanaSeries('voice.barge_in_count', { fromMs: BASE, toMs: BASE + 4 * HOUR, intervalMs: HOUR });
    expect(hourly).toEqual({ [iso(BASE)]: 5, [iso(BASE + HOUR)]: 1, [iso(BASE + 2 * HOUR)]: 2 });
  });
});

describe('tenants', () => {
  it('the tenant variable lists the tenants with data, and each sees only its own rows', async () => {
    expect(await svc.rows(grafanaTenantsSql('signalhouse'))).toEqual([{ TenantId: 'acme' }, { TenantId: 'globex' }]);
    const range = { fromMs: BASE - HOUR, toMs: BASE + 5 * HOUR };
    expect(await grafanaStat('voice.first_response_ms.p50', { ...range, tenant: 'globex' })).toBeCloseTo(99_999, -3);
    expect(await grafanaStat('voice.first_response_ms.p99', { ...range, tenant: 'acme' })).toBeLessThan(99_999);
  });

  it('hostile variable values match nothing and cannot change the SQL', async () => {
    const range = { fromMs: BASE - HOUR, toMs: BASE + 5 * HOUR };
    for (const tenant of ["acme' OR 1=1 --", "x\\' OR TenantId != '' --", "acme'), ('globex", '%27', 'ACME']) {
      expect(await grafanaStat('voice.barge_in_count', { ...range, tenant }), tenant).toBe(0);
      expect(await grafanaSeries('voice.first_response_ms.p50', { ...range, tenant }), tenant).toEqual({});
    }
    expect(await grafanaStat('voice.barge_in_count', { ...range, site: "site-a' OR '1'='1" })).toBe(0);
  });
});

describe('the dashboard', () => {
  const dashboard = grafanaDashboard();
  const panels = dashboard.panels ?? [];

  it('has a stat and a time series panel for every catalog metric, all on the chosen ClickHouse data source', () => {
    for (const type of ['stat', 'timeseries']) {
      expect(
        panels.filter((p) => p.type === type).map((p) => p.title),
        type,
      ).toEqual(METRICS.map((m) => m.name));
    }
    for (const panel of panels.filter((p) => p.type !== 'row')) {
      expect(panel.datasource).toEqual({ type: GRAFANA_DATASOURCE_TYPE, uid: '${datasource}' });
      const metric = METRICS.find((m) => m.name === panel.title)!;
      // The SQL the tests above run is the SQL the panels hold.
      const sql = panel.type === 'stat' ? grafanaStatSql('signalhouse', metric) : grafanaSeriesSql('signalhouse', metric);
      expect((panel as { targets: unknown[] }).targets).toEqual([expect.objectContaining({ refId: 'A', editorType: 'sql', rawSql: sql })]);
    }
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    expect(dashboard.templating?.list?.map((v) => v.name)).toEqual(['datasource', 'tenant', 'site']);
  });

  it('lays panels out without overlaps on the 24-column grid', () => {
    const cells = new Set<string>();
    for (const { gridPos: g, title } of panels) {
      expect(g!.x + g!.w, title).toBeLessThanOrEqual(24);
      for (let x = g!.x; x < g!.x + g!.w; x++) {
        for (let y = g!.y; y < g!.y + g!.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('is committed as generated (run `npm run grafana:dashboard` after changing the catalog)', () => {
    expect(readFileSync(DASHBOARD_FILE, 'utf8')).toBe(dashboardText());
  });
});
