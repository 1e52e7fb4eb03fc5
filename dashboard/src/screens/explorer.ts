/**
 * Metric explorer: any catalog metric as a time series over the range (uPlot), at a chosen grain, for a site or
 * all, optionally against the period before it (same length, shifted back). The value over the range sits beside
 * the chart, and the points are in a table too.
 */
import { html } from 'htm/preact';
import { useMemo } from 'preact/hooks';
import { type CatalogMetric, type Point, post } from '../api.ts';
import { type ChartSeries, Empty, ErrorBox, Loading, Scope, TimeChart, useData } from '../components.ts';
import { formatChange, formatTime, formatValue } from '../format.ts';
import { link, type Query } from '../state.ts';
import { GRAIN_SECONDS, type Grain, grainFor, loadCatalog, rangeBody, whatToSend } from './overview.ts';

const MAX_POINTS = 10_000;

interface Series {
  metric: CatalogMetric;
  points: Point[];
  value: number | null;
  previous: { points: Point[]; value: number | null } | null;
}

export function Explorer({ query, params }: { query: Query; params: URLSearchParams }) {
  const catalog = useData(() => loadCatalog(), []);
  const grain = (params.get('grain') as Grain | null) ?? grainFor(query, 300);
  const compare = params.get('compare') === '1';
  const metricName = params.get('metric') ?? catalog.data?.metrics[0]?.name ?? '';
  const go = (next: Record<string, string>) => {
    location.hash = link('explorer', { metric: metricName, grain, ...(compare ? { compare: '1' } : {}), ...next });
  };
  const length = query.to - query.from;
  const data = useData<Series | null>(
    async (signal) => {
      const cat = await loadCatalog();
      const metric = cat.metrics.find((m) => m.name === metricName);
      if (!metric) return null;
      const body = (q: Query) => ({ ...rangeBody(q), metric: metric.name, grain });
      const before = { ...query, from: query.from - length, to: query.to - length };
      const [series, summary, prevSeries, prevSummary] = await Promise.all([
        post<{ points: Point[] }>('/api/v1/analytics/reports/timeseries', body(query), signal),
        post<{ metrics: Record<string, number | null> }>('/api/v1/analytics/reports/summary', { ...rangeBody(query), metrics: [metric.name] }, signal),
        compare ? post<{ points: Point[] }>('/api/v1/analytics/reports/timeseries', body(before), signal) : null,
        compare
          ? post<{ metrics: Record<string, number | null> }>('/api/v1/analytics/reports/summary', { ...rangeBody(before), metrics: [metric.name] }, signal)
          : null,
      ]);
      return {
        metric,
        points: series.points,
        value: summary.metrics[metric.name],
        previous: prevSeries && prevSummary ? { points: prevSeries.points, value: prevSummary.metrics[metric.name] } : null,
      };
    },
    [query.from, query.to, query.site, metricName, grain, compare],
  );

  // Built once per answer: the chart is redrawn only when its data changes.
  const chart = useMemo(() => {
    const d = data.data;
    const series: ChartSeries[] = d ? [{ label: 'this period', values: d.points.map((p) => p.value) }] : [];
    if (d?.previous) {
      const before = d.previous.points;
      series.push({ label: 'previous period', values: d.points.map((_, i) => before[i]?.value ?? null), dashed: true });
    }
    return { times: d ? d.points.map((p) => Date.parse(p.t)) : [], series };
  }, [data.data]);

  const controls = html`<form class="toolbar" onSubmit=${(e: Event) => e.preventDefault()}>
    <label for="metric">Metric</label>
    <select id="metric" data-testid="metric-select" value=${metricName} onChange=${(e: Event) => go({ metric: (e.target as HTMLSelectElement).value })}>
      ${catalog.data?.groups.map(
        (g) => html`<optgroup label=${g.title}>
          ${catalog.data!.metrics.filter((m) => m.group === g.id).map((m) => html`<option value=${m.name}>${m.name}</option>`)}
        </optgroup>`,
      )}
    </select>
    <label for="grain">Grain</label>
    <select id="grain" data-testid="grain" value=${grain} onChange=${(e: Event) => go({ grain: (e.target as HTMLSelectElement).value })}>
      ${(Object.keys(GRAIN_SECONDS) as Grain[]).map((g) => {
        const points = Math.ceil(length / 1000 / GRAIN_SECONDS[g]);
        return html`<option value=${g} disabled=${points > MAX_POINTS}>${g} (${points} points)</option>`;
      })}
    </select>
    <label class="check"
      ><input
        type="checkbox"
        data-testid="compare"
        checked=${compare}
        onChange=${(e: Event) => {
          const kept = { metric: metricName, grain };
          location.hash = link('explorer', (e.target as HTMLInputElement).checked ? { ...kept, compare: '1' } : kept);
        }}
      />
      Compare with the previous period</label
    >
  </form>`;

  if (catalog.error || data.error)
    return html`${controls}<${Scope} query=${query} /><${ErrorBox} error=${(catalog.error ?? data.error)!} what="the time series" />`;
  if (!data.data) {
    return data.loading || catalog.loading
      ? html`${controls}<${Scope} query=${query} busy /><${Loading} what="the time series" />`
      : html`${controls}<${Empty}>Unknown metric <code>${metricName}</code>: pick one from the list.<//>`;
  }
  const { metric, points, value, previous } = data.data;
  const fmt = (v: number | null) => formatValue(v, metric.unit);
  const { times, series } = chart;
  const change = previous ? formatChange(value, previous.value) : null;
  const empty = points.every((p) => p.value === null);
  return html`${controls}
    <${Scope} query=${query} busy=${data.loading} extra=${`per ${grain}${previous ? ', against the period before' : ''}`} />
    <div class="summary">
      <p>
        <span class="muted">${metric.description}, over the range</span><br />
        <span class="value" data-testid="range-value" data-value=${value ?? ''}>${fmt(value)}</span>
        ${previous && html` <span class="muted" data-testid="previous-value" data-value=${previous.value ?? ''}>previous period ${fmt(previous.value)}</span>`}
        ${change && html` <span class="change">(${change})</span>`}
      </p>
      <p class="small better">${metric.better === 'lower' ? '↓ lower is better' : '↑ higher is better'}</p>
    </div>
    ${
      empty
        ? html`<${Empty}>No ${metric.name} data in this range. Send ${whatToSend(metric)}, or pick a longer range.<//>`
        : html`<${TimeChart} times=${times} series=${series} format=${fmt} />`
    }
    <details class="panel">
      <summary>Data table (${points.length} points)</summary>
      <table class="points">
        <thead><tr><th scope="col">Bucket start</th><th scope="col" class="num">Value</th>${previous && html`<th scope="col" class="num">Previous period</th>`}</tr></thead>
        <tbody>
          ${points.map(
            (p, i) => html`<tr data-testid="point" data-t=${p.t} data-value=${p.value ?? ''} data-previous=${previous?.points[i]?.value ?? ''}>
              <td>${formatTime(p.t)}</td><td class="num">${fmt(p.value)}</td>${previous && html`<td class="num">${fmt(previous.points[i]?.value ?? null)}</td>`}
            </tr>`,
          )}
        </tbody>
      </table>
    </details>`;
}
