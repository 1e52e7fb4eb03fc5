/**
 * The query API's routes, for read tokens: the catalog's reports (summary, time series, realtime), funnels,
 * the query and count APIs. The tenant comes from the token; requests are validated with every problem
 * reported; the work is done by reports.ts, funnel.ts and explore.ts, whose SQL binds every value.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SignalhouseError } from '../core/errors.ts';
import type { Store } from '../storage/store.ts';
import type { Authenticator } from '../core/auth.ts';
import type { Tenant, TenantRegistry } from '../core/tenants.ts';
import { METRICS, METRICS_BY_NAME } from './catalog.ts';
import { exploreSchema, runExplore } from './explore.ts';
import { timeField } from './fields.ts';
import { runFunnel } from './funnel.ts';
import { createReports } from './reports.ts';
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
}

export const GRAINS = { '1m': 60, '5m': 300, '1h': 3600, '1d': 86_400, '1w': 604_800 } as const;
const MAX_POINTS = 10_000;
const REALTIME_WINDOW_S = 300;
/** How long a query waits for acknowledged events to become visible before it answers 503. */
const READ_AFTER_ACK_TIMEOUT_MS = 10_000;

const metricName = z.string().refine((m) => METRICS_BY_NAME.has(m), { message: 'unknown metric (GET /api/v1/analytics/metrics lists them)' });
const range = { from: timeField, to: timeField, site_id: z.string().min(1).max(256).optional() };
/** `raw` or `rollup` forces a path (for checks and debugging); `auto` picks the rollup for long ranges. */
const sourceField = { source: z.enum(['auto', 'raw', 'rollup']).default('auto') };
const rangeCheck = (b: { from: number; to: number }, ctx: z.RefinementCtx) => {
  if (b.to <= b.from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
};

const timeseriesBody = z
  .strictObject({ metric: metricName, grain: z.enum(Object.keys(GRAINS) as [keyof typeof GRAINS]), ...range, ...sourceField })
  .superRefine((b, ctx) => {
    rangeCheck(b, ctx);
    const points = Math.ceil((b.to - b.from) / 1000 / GRAINS[b.grain]);
    if (points > MAX_POINTS)
      ctx.addIssue({ code: 'custom', path: ['grain'], message: `${points} points requested, at most ${MAX_POINTS}: use a coarser grain` });
  });
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

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`);
    throw new SignalhouseError('BAD_REQUEST', problems.join('; '));
  }
  return r.data;
}

async function readTenant(auth: Authenticator, request: FastifyRequest): Promise<Tenant> {
  return (await auth.authenticate(request.headers.authorization, 'read')).tenant;
}

export async function queryRoutes(app: FastifyInstance, opts: QueryRoutesOptions): Promise<void> {
  const { store, auth } = opts;
  const reports = createReports(store, opts.rollups);
  // Every route of this plugin reads: each waits until what was acknowledged before it started is visible. A
  // move that keeps failing (storage trouble) answers a retryable 503 rather than a result missing those events.
  app.addHook('preHandler', async () => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new SignalhouseError('STORAGE_UNAVAILABLE', 'acknowledged events are still on their way into their tables; retry', { retryAfterSeconds: 1 })),
        READ_AFTER_ACK_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([opts.readAfterAck(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  });

  app.get('/api/v1/analytics/metrics', async (request) => {
    await readTenant(auth, request);
    return { metrics: METRICS.map((m) => ({ name: m.name, description: m.description, unit: m.unit, better: m.better })) };
  });

  app.post('/api/v1/analytics/reports/timeseries', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parse(timeseriesBody, request.body);
    const q = { tenantId: tenant.id, fromMs: b.from, toMs: b.to, siteId: b.site_id, grainSeconds: GRAINS[b.grain] };
    const points = await reports.timeseries(METRICS_BY_NAME.get(b.metric)!, q, b.source);
    return { metric: b.metric, grain: b.grain, points };
  });

  app.post('/api/v1/analytics/reports/funnel', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parse(funnelBody, request.body);
    const q = { tenantId: tenant.id, steps: b.steps, fromMs: b.from, toMs: b.to, windowSeconds: b.window, mode: b.mode, siteId: b.site_id };
    const [total] = await runFunnel(store, q);
    const steps = total?.steps ?? b.steps.map((name) => ({ name, count: 0, conversion_rate: null, median_time_to_convert_s: null }));
    if (b.breakdown === undefined) return { steps };
    const groups = await runFunnel(store, { ...q, breakdown: b.breakdown });
    return { steps, breakdown: groups.map((g) => ({ value: g.breakdown, steps: g.steps })) };
  });

  // The query API; `/api/analytics/query` is the same handler.
  const explore = async (request: FastifyRequest) => {
    const tenant = await readTenant(auth, request);
    const b = parse(exploreSchema, request.body);
    const rawTo = (request.body as { dateRange?: { to?: unknown } }).dateRange?.to;
    return { success: true, data: { rows: await runExplore(store, tenant.id, b, rawTo) } };
  };
  app.post('/v1/analytics/query', explore);
  app.post('/api/analytics/query', explore);

  // The count API (the gRPC service's GetEventCount / GetUserCount over HTTP).
  const countsBody = z
    .strictObject({ group_by: z.enum(['hour', 'day', 'week']).optional(), event_name: z.string().min(1).optional(), ...range })
    .superRefine(rangeCheck);
  app.post('/api/v1/analytics/counts/events', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parse(countsBody, request.body);
    const filters = b.event_name ? [{ field: 'event_name', op: 'eq' as const, value: b.event_name }] : [];
    const req = { metrics: ['count' as const], dimensions: b.group_by ? [b.group_by] : [], filters, dateRange: { from: b.from, to: b.to }, limit: 10_000 };
    const rows = await runExplore(store, tenant.id, req, undefined);
    return b.group_by ? { counts: rows.map((r) => ({ t: r[b.group_by!], count: r.count })) } : { count: rows[0]?.count ?? 0 };
  });
  app.post('/api/v1/analytics/counts/users', async (request) => {
    const tenant = await readTenant(auth, request);
    const b = parse(countsBody, request.body);
    const req = { metrics: ['unique_users' as const], dimensions: [], filters: [], dateRange: { from: b.from, to: b.to }, limit: 1 };
    const rows = await runExplore(store, tenant.id, req, undefined);
    return { unique_users: rows[0]?.unique_users ?? 0 };
  });

  // The whole catalog over the last five minutes, and the event rate.
  app.get('/api/v1/analytics/metrics/realtime', async (request) => {
    const tenant = await readTenant(auth, request);
    const toMs = Date.now();
    const q: MetricQuery = { tenantId: tenant.id, fromMs: toMs - REALTIME_WINDOW_S * 1000, toMs };
    const values = await Promise.all(METRICS.map((m) => reports.summary(m, q)));
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
    const b = parse(summaryBody, request.body);
    const q: MetricQuery = { tenantId: tenant.id, fromMs: b.from, toMs: b.to, siteId: b.site_id };
    const names = b.metrics ?? METRICS.map((m) => m.name);
    const values = await Promise.all(names.map((n) => reports.summary(METRICS_BY_NAME.get(n)!, q, b.source)));
    return { metrics: Object.fromEntries(names.map((n, i) => [n, values[i]])) };
  });
}
