/**
 * The query API's routes, for read tokens: the catalog's reports (summary, time series, realtime), funnels,
 * breakdowns, people, the live stream, the query and count APIs. The tenant comes from the token; requests are
 * validated with every problem reported (request.ts); the work is done by reports.ts, funnel.ts, breakdown.ts,
 * people.ts, live.ts and explore.ts, whose SQL binds every value.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SignalhouseError } from '../core/errors.ts';
import type { Store } from '../storage/store.ts';
import type { Authenticator } from '../core/auth.ts';
import type { RateLimiter } from '../core/rate-limit/limiter.ts';
import type { TenantRegistry } from '../core/tenants.ts';
import { METRIC_GROUPS, METRICS, METRICS_BY_NAME } from './catalog.ts';
import { breakdownSchema, runBreakdown } from './breakdown.ts';
import { COUNT_GRAINS, countEvents, countUsers } from './counts.ts';
import { exploreSchema, runExplore } from './explore.ts';
import { runFunnel } from './funnel.ts';
import { type LiveFeed, liveRoutes } from './live.ts';
import { lookUpPerson, peopleSchema } from './people.ts';
import { createReports } from './reports.ts';
import { parseBody, rangeCheck, rangeFields, readTenant } from './request.ts';
import type { MetricQuery } from './sql.ts';

export interface QueryRoutesOptions {
  store: Store;
  tenants: TenantRegistry;
  /** Checks read tokens (and bearer JWTs): other roles are refused with 403. */
  auth: Authenticator;
  /** Whether the rollup is kept up to date; without it every report reads the raw events. */
  rollups: boolean;
  /**
   * Resolves when every event acknowledged so far is visible to queries. Every read waits for it, so a query
   * started after a 2xx sees that request's events: landed rows that have not moved on yet move first.
   */
  readAfterAck(): Promise<void>;
  /** Committed events for the live stream; without it the stream is not served. */
  live?: LiveFeed;
  /** The read tokens' rate limits, for the gRPC read methods (the HTTP routes' authenticator applies them itself). */
  rateLimits?: RateLimiter;
}

export const GRAINS = { '1m': 60, '5m': 300, '1h': 3600, '1d': 86_400, '1w': 604_800 } as const;
const MAX_POINTS = 10_000;
const MAX_OVERVIEW_POINTS = 1000;
const REALTIME_WINDOW_S = 300;
/** How long a query waits for acknowledged events to become visible before it answers 503. */
const READ_AFTER_ACK_TIMEOUT_MS = 10_000;

/** The catalog as the listing shows it, built once: what each metric is, and what to send for it. */
const CATALOG_LISTING = METRICS.map((m) => ({
  name: m.name,
  description: m.description,
  unit: m.unit,
  better: m.better,
  group: m.group,
  events: m.source.logs ?? [],
  spans: m.source.spans ?? null,
}));

const metricName = z.string().refine((m) => METRICS_BY_NAME.has(m), { message: 'unknown metric (GET /api/v1/analytics/metrics lists them)' });
const range = rangeFields;
/** `raw` or `rollup` forces a path (for checks and debugging); `auto` picks the rollup for long ranges. */
const sourceField = { source: z.enum(['auto', 'raw', 'rollup']).default('auto') };

const grainField = z.enum(Object.keys(GRAINS) as [keyof typeof GRAINS]);
const pointsCheck = (max: number) => (b: { from: number; to: number; grain: keyof typeof GRAINS }, ctx: z.RefinementCtx) => {
  rangeCheck(b, ctx);
  const points = Math.ceil((b.to - b.from) / 1000 / GRAINS[b.grain]);
  if (points > max) ctx.addIssue({ code: 'custom', path: ['grain'], message: `${points} points requested, at most ${max}: use a coarser grain` });
};
const timeseriesBody = z.strictObject({ metric: metricName, grain: grainField, ...range, ...sourceField }).superRefine(pointsCheck(MAX_POINTS));
/** The SLA overview: every metric's value and sparkline in one request (at most 1,000 points each). */
const overviewBody = z
  .strictObject({ metrics: z.array(metricName).min(1).optional(), grain: grainField, ...range, ...sourceField })
  .superRefine(pointsCheck(MAX_OVERVIEW_POINTS));
const funnelBody = z
  .strictObject({
    steps: z.array(z.string().min(1).max(256)).min(2).max(10),
    window: z
      .number()
      .int()
      .min(1)
      .max(90 * 86_400)
      .default(86_400),
    mode: z.enum(['ordered', 'strict', 'unordered']).default('ordered'),
    breakdown: z.string().min(1).max(256).optional(),
    ...range,
  })
  .superRefine(rangeCheck);
const summaryBody = z.strictObject({ metrics: z.array(metricName).min(1).optional(), ...range, ...sourceField }).superRefine(rangeCheck);

/**
 * Waits until what was acknowledged before the call is visible to queries. A move that keeps failing (storage
 * trouble) answers a retryable 503 / UNAVAILABLE rather than a result missing those events.
 */
export async function awaitAcknowledged(readAfterAck: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new SignalhouseError('STORAGE_UNAVAILABLE', 'acknowledged events are still on their way into their tables; retry', { retryAfterSeconds: 1 })),
      READ_AFTER_ACK_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([readAfterAck(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export async function queryRoutes(app: FastifyInstance, opts: QueryRoutesOptions): Promise<void> {
  const { store, auth } = opts;
  const reports = createReports(store, opts.rollups);
  // Every route of this plugin reads: each waits until what was acknowledged before it started is visible. A
  // move that keeps failing (storage trouble) answers a retryable 503 rather than a result missing those events.
  app.addHook('preHandler', () => awaitAcknowledged(opts.readAfterAck));

  app.get('/api/v1/analytics/metrics', async (request) => {
    await readTenant(auth, request);
    return { metrics: CATALOG_LISTING, groups: METRIC_GROUPS };
  });

  app.post('/api/v1/analytics/reports/timeseries', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parseBody(timeseriesBody, request.body);
    const q = { tenantId: tenant.id, fromMs: b.from, toMs: b.to, siteId: b.site_id, grainSeconds: GRAINS[b.grain] };
    const points = await reports.timeseries(METRICS_BY_NAME.get(b.metric)!, q, b.source);
    return { metric: b.metric, grain: b.grain, points };
  });

  app.post('/api/v1/analytics/reports/funnel', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parseBody(funnelBody, request.body);
    const q = { tenantId: tenant.id, steps: b.steps, fromMs: b.from, toMs: b.to, windowSeconds: b.window, mode: b.mode, siteId: b.site_id };
    const [total] = await runFunnel(store, q);
    const steps = total?.steps ?? b.steps.map((name) => ({ name, count: 0, conversion_rate: null, median_time_to_convert_s: null }));
    if (b.breakdown === undefined) return { steps };
    const groups = await runFunnel(store, { ...q, breakdown: b.breakdown });
    return { steps, breakdown: groups.map((g) => ({ value: g.breakdown, steps: g.steps })) };
  });

  // The top values of several fields at once (the dashboard's product analytics), and one person.
  app.post('/api/v1/analytics/reports/breakdown', async (request) => {
    const tenant = await readTenant(auth, request);
    return runBreakdown(store, tenant.id, parseBody(breakdownSchema, request.body));
  });
  app.post('/api/v1/analytics/people', async (request) => {
    const tenant = await readTenant(auth, request);
    return lookUpPerson(store, tenant.id, parseBody(peopleSchema, request.body));
  });
  if (opts.live) await liveRoutes(app, { live: opts.live, auth });

  // The query API; `/api/analytics/query` is the same handler.
  const explore = async (request: FastifyRequest) => {
    const tenant = await readTenant(auth, request);
    const b = parseBody(exploreSchema, request.body);
    const rawTo = (request.body as { dateRange?: { to?: unknown } }).dateRange?.to;
    return { success: true, data: { rows: await runExplore(store, tenant.id, b, rawTo) } };
  };
  app.post('/v1/analytics/query', explore);
  app.post('/api/analytics/query', explore);

  // The count API (the analytics service's GetEventCount / GetUserCount over HTTP; query/counts.ts counts both).
  const countsBody = z.strictObject({ group_by: z.enum(COUNT_GRAINS).optional(), event_name: z.string().min(1).optional(), ...range }).superRefine(rangeCheck);
  app.post('/api/v1/analytics/counts/events', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parseBody(countsBody, request.body);
    const rows = await countEvents(store, tenant.id, { fromMs: b.from, toMs: b.to, eventName: b.event_name, groupBy: b.group_by });
    return b.group_by ? { counts: rows.map((r) => ({ t: r.t, count: r.count })) } : { count: rows[0]?.count ?? 0 };
  });
  app.post('/api/v1/analytics/counts/users', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parseBody(countsBody, request.body);
    return { unique_users: await countUsers(store, tenant.id, b.from, b.to) };
  });

  // The whole catalog over the last five minutes, and the event rate.
  app.get('/api/v1/analytics/metrics/realtime', async (request) => {
    const tenant = await readTenant(auth, request);
    const toMs = Date.now();
    const q: MetricQuery = { tenantId: tenant.id, fromMs: toMs - REALTIME_WINDOW_S * 1000, toMs };
    const values = await reports.summaries(METRICS, q);
    const req = { metrics: ['count' as const], dimensions: [], filters: [], dateRange: { from: q.fromMs, to: toMs }, limit: 1 };
    const [events] = await runExplore(store, tenant.id, req, undefined);
    return {
      window_s: REALTIME_WINDOW_S,
      events_per_second: Number(events?.count ?? 0) / REALTIME_WINDOW_S,
      metrics: Object.fromEntries(METRICS.map((m, i) => [m.name, values[i]])),
    };
  });

  app.post('/api/v1/analytics/reports/summary', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parseBody(summaryBody, request.body);
    const q: MetricQuery = { tenantId: tenant.id, fromMs: b.from, toMs: b.to, siteId: b.site_id };
    const names = b.metrics ?? METRICS.map((m) => m.name);
    const values = await reports.summaries(
      names.map((n) => METRICS_BY_NAME.get(n)!),
      q,
      b.source,
    );
    return { metrics: Object.fromEntries(names.map((n, i) => [n, values[i]])) };
  });

  // The summary and the time series of every metric asked for (all by default), for the SLA overview.
  app.post('/api/v1/analytics/reports/overview', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parseBody(overviewBody, request.body);
    // The values are the summary's (no grain: the grain picks the path of the series only).
    const q: MetricQuery = { tenantId: tenant.id, fromMs: b.from, toMs: b.to, siteId: b.site_id };
    const metrics = (b.metrics ?? METRICS.map((m) => m.name)).map((n) => METRICS_BY_NAME.get(n)!);
    const [values, series] = await Promise.all([
      reports.summaries(metrics, q, b.source),
      reports.timeseriesOf(metrics, { ...q, grainSeconds: GRAINS[b.grain] }, b.source),
    ]);
    return { grain: b.grain, metrics: Object.fromEntries(metrics.map((m, i) => [m.name, { value: values[i], points: series[i] }])) };
  });
}
