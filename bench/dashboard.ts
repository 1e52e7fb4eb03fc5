/**
 * The dashboard's screens for `bench:query`: each screen's data as the server computes it for one page load (the
 * same report functions the routes call, issued together as the page issues its requests), timed as a whole.
 * The SLA overview, the metric explorer (with the previous period) and product analytics' event tables run on the
 * bench tenant's events; product analytics' page tables and people on a web tenant (`bench-web`, generated here
 * once: page views with paths, referrers, campaigns, countries, browsers and identify calls), so that the
 * other figures keep their data set.
 */
import type { Store } from '../storage/store.ts';
import { runBreakdown } from '../query/breakdown.ts';
import { METRICS, METRICS_BY_NAME } from '../query/catalog.ts';
import { lookUpPerson } from '../query/people.ts';
import { createReports } from '../query/reports.ts';
import type { MetricQuery } from '../query/sql.ts';

const DAY = 86_400_000;
type Timer = (fn: () => Promise<unknown>) => Promise<{ p50: number; p95: number }>;
type Row = [string, string, { p50: number; p95: number }];

const count = async (store: Store, tenant: string) =>
  Number(
    (
      await (
        await store.client.query({
          query: 'SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = {t:String}',
          query_params: { t: tenant },
          format: 'JSONEachRow',
        })
      ).json<{ n: string }>()
    )[0].n,
  );

/** `n` page views over 90 days for `bench-web`, and an identify call per 20 users (once per store). */
export async function generateWebEvents(store: Store, n: number, now: number): Promise<void> {
  if ((await count(store, 'bench-web')) > 0) return;
  const pick = (list: string[], seed: number) => `[${list.map((v) => `'${v}'`).join(',')}][cityHash64(number, ${seed}) % ${list.length} + 1]`;
  await store.client.command({
    query: `INSERT INTO signalhouse.otel_logs (TenantId, EventId, EventName, Timestamp, SessionId, UserId, AnonymousId, LogAttributes)
      SELECT 'bench-web', toString(number), 'page', fromUnixTimestamp64Milli(toInt64(${now} - (cityHash64(number) % ${90 * DAY}))),
        concat('s', toString(intDiv(number, 5))), if(number % 3 = 0, concat('u', toString(cityHash64(number, 1) % 50000)), ''),
        concat('a', toString(cityHash64(number, 1) % 200000)),
        map('site.id', concat('site-', toString(number % 3)), 'url.path', concat('/p/', toString(cityHash64(number, 2) % 500)),
            'referrer.domain', ${pick(['www.google.com', 'news.ycombinator.com', 't.co', 'duckduckgo.com', ''], 3)},
            'campaign.name', ${pick(['spring', 'launch', '', '', ''], 4)}, 'campaign.source', ${pick(['newsletter', 'twitter', '', ''], 5)},
            'geo.country.iso_code', ${pick(['US', 'GB', 'DE', 'FR', 'JP', 'BR', 'IN'], 6)}, 'user_agent.name', ${pick(['Chrome', 'Firefox', 'Safari', 'Edge'], 7)},
            'user_agent.os.name', ${pick(['Windows', 'macOS', 'Linux', 'iOS', 'Android'], 8)}, 'user_agent.device.type', ${pick(['desktop', 'mobile', 'tablet'], 9)})
      FROM numbers(${n})`,
  });
  await store.client.command({
    query: `INSERT INTO signalhouse.otel_logs (TenantId, EventId, EventName, Timestamp, UserId, AnonymousId, LogAttributes)
      SELECT 'bench-web', concat('id', toString(number)), 'identify', fromUnixTimestamp64Milli(toInt64(${now} - (cityHash64(number) % ${90 * DAY}))),
        concat('u', toString(number)), concat('a', toString(number * 4)), map('traits.plan', if(number % 2 = 0, 'pro', 'free'))
      FROM numbers(2500)`,
  });
}

/** The dashboard's screens over 1, 7, 30 and 90 days (the sparklines' and the explorer's grains as the UI picks them). */
export async function dashboardRows(store: Store, now: number, time: Timer): Promise<Row[]> {
  const reports = createReports(store, true);
  const rows: Row[] = [];
  const ranges = [
    [1, 3600, 300, '1 day'],
    [7, 86_400, 3600, '7 days'],
    [30, 86_400, 3600, '30 days'],
    [90, 604_800, 86_400, '90 days'],
  ] as const;
  const q = (tenantId: string, days: number): MetricQuery => ({ tenantId, fromMs: now - days * DAY, toMs: now });
  for (const [days, sparkGrain, explorerGrain, label] of ranges) {
    // SLA overview (`POST /reports/overview`): every metric's summary and sparkline.
    rows.push([
      'dashboard: SLA overview (15 summaries + 15 sparklines)',
      label,
      await time(() => reports.overview(METRICS, { ...q('bench', days), grainSeconds: sparkGrain }, 'auto')),
    ]);
    // Metric explorer, comparing with the period before.
    const metric = METRICS_BY_NAME.get('voice.first_response_ms.p95')!;
    const before = { tenantId: 'bench', fromMs: now - 2 * days * DAY, toMs: now - days * DAY };
    rows.push([
      'dashboard: metric explorer p95, with the previous period',
      label,
      await time(() =>
        Promise.all([
          reports.timeseries(metric, { ...q('bench', days), grainSeconds: explorerGrain }, 'auto'),
          reports.summary(metric, q('bench', days), 'auto'),
          reports.timeseries(metric, { ...before, grainSeconds: explorerGrain }, 'auto'),
          reports.summary(metric, before, 'auto'),
        ]),
      ),
    ]);
    const range = { from: now - days * DAY, to: now, limit: 10 };
    rows.push([
      'dashboard: product analytics (events by name, country, browser, OS, device; page views by page, referrer, campaign)',
      label,
      await time(() =>
        Promise.all([
          runBreakdown(store, 'bench', {
            ...range,
            fields: ['event_name', 'geo.country.iso_code', 'user_agent.name', 'user_agent.os.name', 'user_agent.device.type'],
          }),
          runBreakdown(store, 'bench-web', {
            ...range,
            fields: ['url.path', 'referrer.domain', 'campaign.name', 'campaign.source', 'campaign.medium'],
            event_names: ['page', '$pageview', 'page_view'],
          }),
        ]),
      ),
    ]);
    rows.push([
      'dashboard: people (user u8: links, traits, latest 100 events)',
      label,
      await time(() => lookUpPerson(store, 'bench-web', { ...range, id: 'u8', limit: 100 })),
    ]);
  }
  return rows;
}
