/**
 * Funnels: pick 2–10 steps (event names seen in the range are offered), the window, the mode and an optional
 * breakdown attribute; the funnel report gives the people per step, conversion from the first step, drop-off
 * from the step before and the median time to convert.
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { type BreakdownResult, type FunnelResult, type FunnelStep, post } from '../api.ts';
import { Empty, ErrorBox, Loading, Scope, useData } from '../components.ts';
import { formatCount, formatDuration, formatPercent } from '../format.ts';
import type { Query } from '../state.ts';
import { rangeBody } from './overview.ts';

const UNITS = { minutes: 60, hours: 3600, days: 86_400 } as const;
type WindowUnit = keyof typeof UNITS;
const MODES = {
  ordered: 'Ordered (other events may come between steps)',
  strict: 'Strict (no other funnel step between steps)',
  unordered: 'Unordered (every step, in any order)',
} as const;

export interface FunnelRequest {
  steps: string[];
  window: number;
  mode: keyof typeof MODES;
  breakdown?: string;
}

function StepsTable({ steps, caption }: { steps: FunnelStep[]; caption?: string }) {
  const first = steps[0]?.count ?? 0;
  return html`<table class="funnel" data-testid="funnel-table">
    ${caption && html`<caption>${caption}</caption>`}
    <thead>
      <tr>
        <th scope="col">Step</th><th scope="col" class="num">People</th><th scope="col" class="num">Conversion</th>
        <th scope="col" class="num">Drop-off</th><th scope="col" class="num">Median time to convert</th>
      </tr>
    </thead>
    <tbody>
      ${steps.map((s, i) => {
        const before = i > 0 ? steps[i - 1].count : null;
        const dropped = before === null ? null : before - s.count;
        return html`<tr
          data-testid="funnel-step"
          data-step=${s.name}
          data-count=${s.count}
          data-conversion=${s.conversion_rate ?? ''}
          data-median=${s.median_time_to_convert_s ?? ''}
        >
          <th scope="row"><span class="bar" style=${`--w:${first ? ((s.count / first) * 100).toFixed(1) : 0}%`}></span><span class="label">${i + 1}. ${s.name}</span></th>
          <td class="num">${formatCount(s.count)}</td>
          <td class="num">${formatPercent(s.conversion_rate)}</td>
          <td class="num">${dropped === null ? '—' : `${formatCount(dropped)} (${formatPercent(before ? dropped / before : null)})`}</td>
          <td class="num">${i === 0 ? '—' : formatDuration(s.median_time_to_convert_s)}</td>
        </tr>`;
      })}
    </tbody>
  </table>`;
}

export function Funnels({ query, params }: { query: Query; params: URLSearchParams }) {
  const [steps, setSteps] = useState<string[]>(() => {
    const given = params.getAll('step');
    return given.length >= 2 ? given : ['', ''];
  });
  const [windowValue, setWindowValue] = useState(1);
  const [windowUnit, setWindowUnit] = useState<WindowUnit>('days');
  const [mode, setMode] = useState<keyof typeof MODES>('ordered');
  const [breakdown, setBreakdown] = useState('');
  const [problem, setProblem] = useState('');
  const [request, setRequest] = useState<FunnelRequest | null>(null);

  const names = useData(
    (signal) => post<BreakdownResult>('/api/v1/analytics/reports/breakdown', { ...rangeBody(query), fields: ['event_name'], limit: 100 }, signal),
    [query.from, query.to, query.site],
  );
  const result = useData<FunnelResult | null>(
    (signal) => (request ? post<FunnelResult>('/api/v1/analytics/reports/funnel', { ...rangeBody(query), ...request }, signal) : Promise.resolve(null)),
    [request, query.from, query.to, query.site],
  );

  const setStep = (i: number, value: string) => setSteps(steps.map((s, j) => (j === i ? value : s)));
  const submit = (e: Event) => {
    e.preventDefault();
    const chosen = steps.map((s) => s.trim());
    if (chosen.some((s) => s === '')) return setProblem('Every step needs an event name.');
    const window = Math.round(windowValue * UNITS[windowUnit]);
    if (!(window >= 1 && window <= 90 * 86_400)) return setProblem('The window must be between 1 second and 90 days.');
    setProblem('');
    setRequest({ steps: chosen, window, mode, ...(breakdown.trim() ? { breakdown: breakdown.trim() } : {}) });
  };

  return html`<form class="panel builder" onSubmit=${submit} data-testid="funnel-builder">
      <fieldset>
        <legend>Steps</legend>
        <datalist id="event-names">${names.data?.breakdowns[0].rows.map((r) => html`<option value=${r.value} />`)}</datalist>
        <ol>
          ${steps.map(
            (s, i) => html`<li>
              <label for=${`step-${i}`}>Step ${i + 1}</label>
              <input id=${`step-${i}`} list="event-names" value=${s} data-testid="funnel-step-input" onInput=${(e: Event) => setStep(i, (e.target as HTMLInputElement).value)} />
              <button type="button" class="quiet" disabled=${steps.length <= 2} onClick=${() => setSteps(steps.filter((_, j) => j !== i))} aria-label=${`Remove step ${i + 1}`}>Remove</button>
            </li>`,
          )}
        </ol>
        <button type="button" disabled=${steps.length >= 10} onClick=${() => setSteps([...steps, ''])} data-testid="add-step">Add a step</button>
      </fieldset>
      <div class="row">
        <label for="window">Window</label>
        <input id="window" type="number" min="1" step="1" value=${windowValue} onInput=${(e: Event) => setWindowValue(Number((e.target as HTMLInputElement).value))} />
        <label for="window-unit" class="visually-hidden">Window unit</label>
        <select id="window-unit" value=${windowUnit} onChange=${(e: Event) => setWindowUnit((e.target as HTMLSelectElement).value as WindowUnit)}>
          ${Object.keys(UNITS).map((u) => html`<option value=${u}>${u}</option>`)}
        </select>
        <label for="mode">Mode</label>
        <select id="mode" value=${mode} onChange=${(e: Event) => setMode((e.target as HTMLSelectElement).value as keyof typeof MODES)}>
          ${Object.entries(MODES).map(([m, label]) => html`<option value=${m}>${label}</option>`)}
        </select>
        <label for="breakdown">Break down by (attribute, optional)</label>
        <input id="breakdown" placeholder="e.g. campaign.source" value=${breakdown} onInput=${(e: Event) => setBreakdown((e.target as HTMLInputElement).value)} />
      </div>
      ${problem && html`<p class="state error" role="alert">${problem}</p>`}
      <button type="submit" data-testid="run-funnel">Show funnel</button>
    </form>
    <${Scope} query=${query} busy=${request !== null && result.loading} extra=${request ? `window ${formatDuration(request.window)}, ${request.mode}` : undefined} />
    ${
      !request
        ? html`<${Empty}>Pick the steps people go through (e.g. <code>page</code>, <code>signup</code>, <code>purchase</code>) and show the funnel.
            Steps are event names; people are counted by user id, with anonymous visits linked by identify calls.<//>`
        : result.error
          ? html`<${ErrorBox} error=${result.error} what="the funnel" />`
          : !result.data
            ? html`<${Loading} what="the funnel" />`
            : result.data.steps[0].count === 0
              ? html`<${Empty}>Nobody did <code>${request.steps[0]}</code> in this range: send that event (with a user or anonymous id), or pick a longer range.<//>`
              : html`<section class="panel" data-testid="funnel-result">
                  <${StepsTable} steps=${result.data.steps} />
                  ${result.data.breakdown?.map((b) => html`<${StepsTable} steps=${b.steps} caption=${`${request.breakdown} = ${b.value || '(none)'}`} />`)}
                </section>`
    }`;
}
