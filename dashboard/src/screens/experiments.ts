/**
 * Experiments: the tenant's A/B tests, and one test's results — a sample-ratio-mismatch warning when exposures
 * do not match the allocations (then no lift can be trusted), and per metric and variant the exposures, the
 * rate or mean, the relative lift against control with its fixed-horizon and sequential 95% intervals, the
 * p-value and the chance to beat control. The sequential interval is the one to read while the test runs.
 */
import { html } from 'htm/preact';
import { type AbTest, type ExperimentResults, get, type Interval, type VariantResult } from '../api.ts';
import { Empty, ErrorBox, Loading, useData } from '../components.ts';
import { formatCount, formatPercent } from '../format.ts';
import { link } from '../state.ts';

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 });
const signedPercent = (r: number | null) => (r === null ? '—' : `${r >= 0 ? '+' : ''}${formatPercent(r)}`);
const interval = ([lo, hi]: Interval) => (lo === null || hi === null ? 'no interval' : `${signedPercent(lo)} to ${signedPercent(hi)}`);
const known = (i: Interval): i is [number, number] => i[0] !== null && i[1] !== null;
/** Whether an interval excludes zero: the lift is significant at its level. */
const excludesZero = (i: Interval) => known(i) && (i[0] > 0 || i[1] < 0);
const pValue = (p: number) => (p < 0.001 ? '< 0.001' : number.format(p));

/**
 * The lift and its intervals on one axis through zero: the solid bar is the fixed-horizon 95% interval, the
 * dashed one the sequential interval. Decorative: the numbers beside it are the text.
 */
function LiftPlot({ lift, span }: { lift: NonNullable<VariantResult['lift']>; span: number }) {
  if (lift.relative === null || !known(lift.ci95) || !known(lift.sequentialCi95)) return null;
  const x = (v: number) => 50 + (Math.max(-span, Math.min(span, v)) / span) * 48;
  const [lo, hi] = lift.ci95;
  const [slo, shi] = lift.sequentialCi95;
  return html`<svg class="lift" viewBox="0 0 100 20" preserveAspectRatio="none" aria-hidden="true">
    <line x1="50" x2="50" y1="0" y2="20" class="zero" />
    <line x1=${x(slo)} x2=${x(shi)} y1="15" y2="15" class="sequential" />
    <line x1=${x(lo)} x2=${x(hi)} y1="8" y2="8" class=${lo > 0 ? 'ci up' : hi < 0 ? 'ci down' : 'ci'} />
    <circle cx=${x(lift.relative)} cy="8" r="1.6" />
  </svg>`;
}

function MetricTable({ metric }: { metric: ExperimentResults['metrics'][number] }) {
  const rates = metric.variants.some((v) => v.rate != null);
  const bounds = metric.variants.flatMap((v) => (v.lift ? [...v.lift.ci95, ...v.lift.sequentialCi95] : [])).filter((b): b is number => b !== null);
  const span = Math.max(0.05, ...bounds.map(Math.abs).filter(Number.isFinite));
  return html`<section class="panel" data-testid="experiment-metric" data-metric=${metric.id}>
    <h3>${metric.name}${metric.isPrimary ? html` <span class="muted small">primary</span>` : ''}</h3>
    <table class="experiment">
      <thead><tr>
        <th scope="col">Variant</th><th scope="col" class="num">Exposures</th>
        ${rates ? html`<th scope="col" class="num">Conversions</th><th scope="col" class="num">Rate (95%)</th>` : html`<th scope="col" class="num">Mean (sd)</th>`}
        <th scope="col">Lift vs control (95%; sequential dashed)</th><th scope="col" class="num">p-value</th><th scope="col" class="num">Chance to beat</th>
      </tr></thead>
      <tbody>
        ${metric.variants.map(
          (v) => html`<tr data-testid="experiment-variant" data-variant=${v.id} data-exposures=${v.exposures} data-lift=${v.lift?.relative ?? ''}
              data-significant=${v.lift ? String(excludesZero(v.lift.sequentialCi95)) : ''}>
            <th scope="row">${v.name || v.id}${v.isControl ? html` <span class="muted small">control</span>` : ''}</th>
            <td class="num">${formatCount(v.exposures)}</td>
            ${
              rates
                ? html`<td class="num">${formatCount(v.conversions ?? 0)}</td>
                    <td class="num">${formatPercent(v.rate ?? null)}${v.rateCi95 ? html`<span class="muted small"> ${formatPercent(v.rateCi95[0])}–${formatPercent(v.rateCi95[1])}</span>` : ''}</td>`
                : html`<td class="num">${v.mean == null ? '—' : number.format(v.mean)}${v.stddev == null ? '' : html`<span class="muted small"> (${number.format(v.stddev)})</span>`}</td>`
            }
            <td>${
              v.lift
                ? html`<${LiftPlot} lift=${v.lift} span=${span} />
                    <span>${signedPercent(v.lift.relative)}</span> <span class="muted small">${interval(v.lift.ci95)}; sequential ${interval(v.lift.sequentialCi95)}</span>
                    ${v.lift.cuped && html`<br /><span class="small">CUPED ${signedPercent(v.lift.cuped.relative)} (${interval(v.lift.cuped.ci95)}), variance −${formatPercent(v.lift.cuped.varianceReduction)}</span>`}`
                : html`<span class="muted">—</span>`
            }</td>
            <td class="num">${v.lift && v.lift.pValue != null ? pValue(v.lift.pValue) : '—'}</td>
            <td class="num">${v.lift ? formatPercent(v.lift.chanceToBeatControl ?? null) : '—'}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

/** What the SRM check found, in one sentence: the statistic, then each variant's exposures against its expectation. */
function srmText(srm: ExperimentResults['srm']): string {
  const test =
    srm.chiSquare === null ? 'a variant allocated 0% has exposures' : `χ² ${number.format(srm.chiSquare)}, p ${srm.pValue === null ? '—' : pValue(srm.pValue)}`;
  const counts = Object.entries(srm.observed)
    .map(([k, n]) => `${k} ${formatCount(n)} (expected ${formatCount(Math.round(srm.expected[k] ?? 0))})`)
    .join(', ');
  return `(${test}): exposures ${counts} do not match the allocations`;
}

function Results({ id }: { id: string }) {
  const results = useData((signal) => get<ExperimentResults>(`/api/feature-flags/ab-tests/${encodeURIComponent(id)}/results`, signal), [id]);
  if (results.error) return html`<p><a href=${link('experiments')}>All experiments</a></p><${ErrorBox} error=${results.error} what="the results" />`;
  if (!results.data) return html`<${Loading} what="the results" />`;
  const r = results.data;
  const { srm } = r;
  return html`<p><a href=${link('experiments')}>All experiments</a></p>
    <section class="panel" data-testid="experiment" data-id=${r.id} data-exposures=${r.exposures} data-srm=${String(srm.mismatch)}>
      <h2>${r.name} <span class="muted small">${r.status} · flag <span class="mono">${r.flagKey}</span> · ${formatCount(r.exposures)} people exposed</span></h2>
      ${
        srm.mismatch &&
        html`<div class="state error" role="alert" data-testid="srm-warning">
          <strong>Sample ratio mismatch</strong> ${srmText(srm)}. Assignment or exposure logging is broken; do not read the lifts below until it is
          fixed.
        </div>`
      }
      ${r.exposures === 0 && html`<${Empty}>No exposures yet: people are exposed when they first evaluate the flag <code>${r.flagKey}</code> (posthog-js sends <code>$feature_flag_called</code>).<//>`}
    </section>
    ${r.metrics.map((m) => html`<${MetricTable} metric=${m} />`)}`;
}

export function Experiments({ params }: { params: URLSearchParams }) {
  const id = params.get('id') ?? '';
  const list = useData((signal) => (id ? Promise.resolve(null) : get<{ abTests: AbTest[] }>('/api/feature-flags/ab-tests', signal)), [id]);
  if (id) return html`<${Results} id=${id} />`;
  if (list.error) return html`<${ErrorBox} error=${list.error} what="the experiments" />`;
  if (!list.data) return html`<${Loading} what="the experiments" />`;
  const tests = list.data.abTests;
  if (tests.length === 0) {
    return html`<${Empty}>No experiments yet. Create one with <code>POST /api/feature-flags/ab-tests</code> (an admin token): its variants become a
      multivariate flag, and exposures and metrics are counted from the events people send.<//>`;
  }
  return html`<table class="experiments" data-testid="experiments">
    <thead><tr><th scope="col">Experiment</th><th scope="col">Status</th><th scope="col">Variants</th><th scope="col">Primary metric</th></tr></thead>
    <tbody>
      ${tests.map(
        (t) => html`<tr data-testid="experiment-row" data-id=${t.id}>
          <th scope="row"><a href=${link('experiments', { id: t.id })}>${t.name}</a></th>
          <td>${t.status}</td>
          <td>${t.variants.map((v) => `${v.name || v.id} ${v.allocation}%`).join(' · ')}</td>
          <td>${t.metrics.find((m) => m.isPrimary)?.name ?? '—'}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
