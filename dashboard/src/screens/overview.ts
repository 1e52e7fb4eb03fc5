/**
 * SLA overview: every catalog metric, grouped as the catalog groups them, with its value over the range, a
 * sparkline (both from `POST /reports/overview`), which direction is better and — where SLOs are defined (`GET /api/v1/alerts`, when the server has
 * alerting) — the SLO's state and error budget.
 */
import { html } from 'htm/preact';
import { ApiError, type Catalog, type CatalogMetric, get, type Point, post } from '../api.ts';
import { Empty, ErrorBox, Loading, Scope, Sparkline, useData } from '../components.ts';
import { formatPercent, formatValue } from '../format.ts';
import { link, type Query } from '../state.ts';

let catalog: Promise<Catalog> | undefined;
/** The catalog is the same for the whole session: asked for once. */
export function loadCatalog(): Promise<Catalog> {
  catalog ??= get<Catalog>('/api/v1/analytics/metrics').catch((err) => {
    catalog = undefined;
    throw err;
  });
  return catalog;
}

export const GRAIN_SECONDS = { '1m': 60, '5m': 300, '1h': 3600, '1d': 86_400, '1w': 604_800 } as const;
export type Grain = keyof typeof GRAIN_SECONDS;

/** The finest grain giving at most `maxPoints` buckets over the range. */
export function grainFor(query: Query, maxPoints: number): Grain {
  const seconds = (query.to - query.from) / 1000;
  return (Object.keys(GRAIN_SECONDS) as Grain[]).find((g) => seconds / GRAIN_SECONDS[g] <= maxPoints) ?? '1w';
}

export const rangeBody = (query: Query) => ({ from: query.from, to: query.to, ...(query.site ? { site_id: query.site } : {}) });

/** What to send for a metric, from the catalog's sources. */
export function whatToSend(m: CatalogMetric): string {
  const parts = [];
  if (m.events.length > 0) parts.push(`${m.events.join(' / ')} events`);
  if (m.spans) parts.push(m.spans === '*' ? 'spans (OTLP traces)' : `spans with gen_ai.operation.name = ${m.spans}`);
  return parts.join(' or ');
}

export interface Slo {
  name: string;
  metric: string;
  objective: string;
  status: string;
  budget: number | null;
}

/** SLO states from the alerting API, read leniently; nothing when the server has no alerting (404). */
async function loadSlos(signal: AbortSignal): Promise<Slo[]> {
  try {
    const body = await get<Record<string, unknown>>('/api/v1/alerts', signal);
    const list = (body.slos ?? body.alerts ?? []) as Array<Record<string, unknown>>;
    return list
      .filter((s) => typeof s === 'object' && s !== null && typeof (s.metric ?? (s.slo as Record<string, unknown> | undefined)?.metric) === 'string')
      .map((s) => {
        const budget = s.error_budget_remaining ?? s.budget_remaining;
        return {
          name: String(s.name ?? s.id ?? s.slo ?? ''),
          metric: String(s.metric ?? (s.slo as Record<string, unknown>).metric),
          objective: typeof s.objective === 'string' ? s.objective : '',
          status: String(s.status ?? s.state ?? 'unknown'),
          budget: typeof budget === 'number' ? budget : null,
        };
      });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return [];
    throw err;
  }
}

interface OverviewData {
  catalog: Catalog;
  values: Record<string, number | null>;
  series: Record<string, Point[]>;
}

function MetricCard({ m, value, points, slos }: { m: CatalogMetric; value: number | null; points: Point[]; slos: Slo[] }) {
  return html`<article class="card" data-testid="metric" data-metric=${m.name}>
    <h3><a href=${link('explorer', { metric: m.name })}>${m.name}</a></h3>
    <p class="muted small">${m.description}</p>
    <p class="value" data-testid="metric-value" data-value=${value ?? ''}>${formatValue(value, m.unit)}</p>
    <p class="small better">${m.better === 'lower' ? '↓ lower is better' : '↑ higher is better'}</p>
    <${Sparkline} points=${points.map((p) => p.value)} label=${`${m.name} over the range`} />
    ${value === null && html`<p class="small muted" data-testid="metric-empty">No data in this range: send ${whatToSend(m)}.</p>`}
    ${slos.map(
      (s) => html`<p class=${`slo ${/breach|fir|violat|critical/i.test(s.status) ? 'bad' : 'good'}`} data-testid="slo">
        <strong>SLO ${s.name}</strong>${s.objective ? ` (${s.objective})` : ''}: ${s.status}${s.budget !== null ? ` · error budget ${formatPercent(s.budget)} left` : ''}
      </p>`,
    )}
  </article>`;
}

export function Overview({ query }: { query: Query }) {
  const grain = grainFor(query, 48);
  const data = useData<OverviewData>(
    async (signal) => {
      // One request for every metric's value and sparkline: the server answers them in two statements.
      const [cat, overview] = await Promise.all([
        loadCatalog(),
        post<{ metrics: Record<string, { value: number | null; points: Point[] }> }>(
          '/api/v1/analytics/reports/overview',
          { ...rangeBody(query), grain },
          signal,
        ),
      ]);
      return {
        catalog: cat,
        values: Object.fromEntries(cat.metrics.map((m) => [m.name, overview.metrics[m.name]?.value ?? null])),
        series: Object.fromEntries(cat.metrics.map((m) => [m.name, overview.metrics[m.name]?.points ?? []])),
      };
    },
    [query.from, query.to, query.site],
  );
  const slos = useData(loadSlos, []);
  if (data.error) return html`<${Scope} query=${query} /><${ErrorBox} error=${data.error} what="the SLA metrics" />`;
  if (!data.data) return html`<${Scope} query=${query} busy /><${Loading} what="the SLA metrics" />`;
  const { catalog: cat, values, series } = data.data;
  // Counts answer 0 rather than null for a range without events.
  const anyData = cat.metrics.some((m) => values[m.name] !== null && values[m.name] !== undefined && values[m.name] !== 0);
  return html`<${Scope} query=${query} busy=${data.loading} extra=${`sparklines per ${grain}`} />
    ${slos.error && html`<${ErrorBox} error=${slos.error} what="the SLO states" />`}
    ${
      !anyData &&
      html`<${Empty}>No SLA data in this range. Send the catalog's events (e.g. <code>voice.first_response</code> with
        <code>voice.first_response_ms</code>, <code>ai.tool_call_completed</code>, <code>kb.search</code>) through OTLP or the envelope API,
        or pick a longer range.<//>`
    }
    ${cat.groups.map((g) => {
      const metrics = cat.metrics.filter((m) => m.group === g.id);
      return html`<section class="group" aria-labelledby=${`group-${g.id}`} data-testid="group" data-group=${g.id}>
        <h2 id=${`group-${g.id}`}>${g.title}</h2>
        <div class="cards">
          ${metrics.map(
            (m) =>
              html`<${MetricCard} m=${m} value=${values[m.name] ?? null} points=${series[m.name]} slos=${(slos.data ?? []).filter((s) => s.metric === m.name)} />`,
          )}
        </div>
      </section>`;
    })}`;
}
