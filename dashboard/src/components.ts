/**
 * Pieces every screen uses: loading data with a stale-answer guard, the line saying which range and site a screen
 * shows, the loading / empty / error states, sparklines, the uPlot time series chart and bar tables.
 */
import { html } from 'htm/preact';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { ApiError, type BreakdownRow } from './api.ts';
import { formatCount, formatRange } from './format.ts';
import type { Query } from './state.ts';

export interface Data<T> {
  loading: boolean;
  error: Error | null;
  data: T | null;
}

/**
 * Runs `load` whenever `deps` change; an answer to an older request is dropped (its fetch is aborted). While a
 * new answer is on its way the previous data stays on screen, and `loading` is true from the first render with
 * the new deps (not only once the effect has run), so nothing reads old data as the new range's.
 */
export function useData<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Data<T> {
  const key = JSON.stringify(deps);
  const [state, setState] = useState<Data<T> & { for: string }>({ loading: true, error: null, data: null, for: key });
  useEffect(() => {
    const abort = new AbortController();
    setState((s) => ({ loading: true, error: null, data: s.data, for: key }));
    load(abort.signal).then(
      (data) => abort.signal.aborted || setState({ loading: false, error: null, data, for: key }),
      (error: Error) => abort.signal.aborted || setState({ loading: false, error, data: null, for: key }),
    );
    return () => abort.abort();
  }, [key]);
  return { loading: state.loading || state.for !== key, error: state.for === key ? state.error : null, data: state.data };
}

/**
 * Which range and site the screen's numbers are for (`data-from` / `data-to` carry them exactly); `busy` while
 * the numbers for it are still on their way (`aria-busy`, `data-busy`).
 */
export function Scope({ query, extra, busy = false }: { query: Query; extra?: string; busy?: boolean }) {
  return html`<p class="scope" data-testid="scope" data-from=${query.from} data-to=${query.to} data-site=${query.site} aria-busy=${busy} data-busy=${busy}>
    <span>${formatRange(query.from, query.to)}</span> · <span>${query.site ? `site ${query.site}` : 'all sites'}</span>${extra ? ` · ${extra}` : ''}
  </p>`;
}

export function Loading({ what }: { what: string }) {
  return html`<p class="state" role="status" data-testid="loading">Loading ${what}…</p>`;
}

export function ErrorBox({ error, what }: { error: Error; what: string }) {
  const detail = error instanceof ApiError ? `${error.message} (${error.code}${error.status ? `, HTTP ${error.status}` : ''})` : error.message;
  return html`<div class="state error" role="alert" data-testid="error"><strong>Could not load ${what}:</strong> ${detail}</div>`;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return html`<div class="state empty" data-testid="empty">${children}</div>`;
}

/** A small inline chart of a series; gaps (null) break the line. Decorative: the value beside it is the text. */
export function Sparkline({ points, label }: { points: Array<number | null>; label: string }) {
  const values = points.filter((v): v is number => v !== null);
  if (values.length === 0) return html`<svg class="spark" viewBox="0 0 100 24" aria-hidden="true"></svg>`;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const y = (v: number) => (max === min ? 12 : 22 - ((v - min) / (max - min)) * 20);
  const x = (i: number) => (points.length === 1 ? 50 : (i / (points.length - 1)) * 100);
  // One path per run of buckets with data; a lone bucket is drawn as a dot.
  const runs: Array<Array<[number, number]>> = [];
  let run: Array<[number, number]> = [];
  points.forEach((v, i) => {
    if (v !== null) run.push([x(i), y(v)]);
    else if (run.length > 0) {
      runs.push(run);
      run = [];
    }
  });
  if (run.length > 0) runs.push(run);
  const d = (r: Array<[number, number]>) =>
    r.map(([px, py], i) => `${i ? 'L' : 'M'}${px.toFixed(1)},${py.toFixed(1)}`).join('') + (r.length === 1 ? 'h0.01' : '');
  return html`<svg class="spark" viewBox="0 0 100 24" preserveAspectRatio="none" role="img" aria-label=${label}>
    ${runs.map((r) => html`<path d=${d(r)} class=${r.length === 1 ? 'dot' : undefined} />`)}
  </svg>`;
}

const cssVar = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
  dashed?: boolean;
}

/** A uPlot time series chart; `times` in epoch ms. Redrawn when the data changes, resized with its box. */
export function TimeChart({ times, series, format }: { times: number[]; series: ChartSeries[]; format: (v: number | null) => string }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const colors = [cssVar('--series-1'), cssVar('--series-2')];
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--grid') }, ticks: { stroke: cssVar('--grid') } };
    const plot = new uPlot(
      {
        width: el.clientWidth || 600,
        height: 260,
        series: [
          { value: (_u: uPlot, v: number | null) => (v === null ? '—' : new Date(v * 1000).toISOString().slice(0, 16).replace('T', ' ')) },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: colors[i % 2],
            width: 2,
            dash: s.dashed ? [6, 4] : undefined,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => format(v),
          })),
        ],
        axes: [{ ...axis }, { ...axis, size: 70, values: (_u: uPlot, vals: number[]) => vals.map((v) => format(v)) }],
        scales: { x: { time: true } },
        legend: { live: true },
      },
      [times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 260 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, series]);
  return html`<div class="chart" ref=${box} aria-hidden="true"></div>`;
}

/** Top values as a table with proportional bars (plain HTML: readable by screen readers, testable by value). */
export function BarTable({ title, field, rows, total, valueLabel }: { title: string; field: string; rows: BreakdownRow[]; total: number; valueLabel: string }) {
  const max = Math.max(1, ...rows.map((r) => r.events));
  return html`<section class="panel" data-testid="breakdown" data-field=${field}>
    <h3>${title}</h3>
    ${
      rows.length === 0
        ? html`<p class="muted">No ${valueLabel} in this range.</p>`
        : html`<table class="bars">
            <thead><tr><th scope="col">${valueLabel}</th><th scope="col" class="num">Events</th><th scope="col" class="num">People</th></tr></thead>
            <tbody>
              ${rows.map(
                (r) => html`<tr data-testid="breakdown-row" data-value=${r.value} data-events=${r.events} data-people=${r.people}>
                  <th scope="row"><span class="bar" style=${`--w:${((r.events / max) * 100).toFixed(1)}%`}></span><span class="label">${r.value}</span></th>
                  <td class="num">${formatCount(r.events)}<span class="muted small"> ${total ? `${Math.round((r.events / total) * 100)}%` : ''}</span></td>
                  <td class="num">${formatCount(r.people)}</td>
                </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}
