/**
 * The SLIs as Prometheus metrics, observed as events leave the pipeline: after dedupe and after their commit, so a
 * retried or repeated event never counts twice and a failed batch (which the client retries) counts not at all.
 * Every SLI of the metric catalog is exposed, with or without an SLO: a latency SLI as a histogram
 * (`signalhouse_sli_<id>_seconds`, the default buckets plus every SLO threshold on it), a ratio SLI as two
 * counters (`signalhouse_sli_<id>_total`, `signalhouse_sli_<id>_good_total`), all labelled by tenant under a cap
 * (tenant-series.ts).
 *
 * The observation is on the ingest path, so it allocates nothing per event: one map lookup per batch finds the
 * tenant's counters (a Float64Array), one per log event finds its recorder by event name, and recording is
 * arithmetic on that array. The recorders below read each record exactly as the catalog's SQL does (same
 * events, span operations, attributes and conditions); `alerting/sli.test.ts` holds the two equal on one data set.
 */
import type { Attributes, Batch, LogEvent, SpanRecord } from '../core/event.ts';
import type { AlertingConfig } from './config.ts';
import { cellLayout, SLIS } from './sli-metrics.ts';
import { createTenantSeries, type TenantSeries } from './tenant-series.ts';

/** The SLIs the recorders below observe: every SLI of the catalog must be among them. */
const RECORDED = new Set([
  'voice_first_response',
  'voice_asr_partial_latency',
  'kb_search_latency',
  'ai_tool_calls',
  'ai_optimistic_navigations',
  'kb_searches',
  'spans',
]);

/** A numeric attribute as ClickHouse's toFloat64OrNull reads it; NaN for none. */
function num(s: string | undefined): number {
  return s === undefined || s.length === 0 ? Number.NaN : +s;
}

const isTrue = (s: string | undefined) => s === 'true' || s === '1';
const STATUS_ERROR = 2;

type Recorder = (cells: Float64Array, attributes: Attributes) => void;

/** Records one latency value (ms) into the histogram at `at`; values that are not numbers are not records. */
function latencyRecorder(at: number, bounds: Float64Array): (cells: Float64Array, ms: number) => void {
  const n = bounds.length;
  return (cells, ms) => {
    if (Number.isNaN(ms)) return;
    let i = 0;
    while (i < n && ms > bounds[i]) i++;
    cells[at + i]++;
    cells[at + n + 1] += ms / 1000;
    cells[at + n + 2]++;
  };
}

export interface SliObserver {
  /** Observes a batch's events; call once the batch is committed, with the events that were stored. */
  observe(batch: Batch): void;
  readonly series: TenantSeries;
  stop(): void;
}

/**
 * The observer; its metrics are `series.exposition()`, which `/metrics` appends. `pinnedTenants` always get a label of their
 * own (the tenants per-tenant SLOs name, whose alerts need it).
 */
export function createSliObserver(config: AlertingConfig, pinnedTenants: readonly string[]): SliObserver {
  const layout = cellLayout(config);
  const series = createTenantSeries(config, layout, pinnedTenants);
  const lat = (id: string) => {
    const l = layout.latency.get(id);
    if (!l) throw new Error(`the catalog has no latency SLI ${id}`);
    return latencyRecorder(l.at, l.boundsMs);
  };
  const ratioAt = (id: string) => {
    const at = layout.ratio.get(id);
    if (at === undefined) throw new Error(`the catalog has no ratio SLI ${id}`);
    return at;
  };
  const firstResponse = lat('voice_first_response');
  const asrPartial = lat('voice_asr_partial_latency');
  const kbLatency = lat('kb_search_latency');
  const toolCalls = ratioAt('ai_tool_calls');
  const optimistic = ratioAt('ai_optimistic_navigations');
  const kbSearches = ratioAt('kb_searches');
  const spans = ratioAt('spans');

  const toolCall = (cells: Float64Array, ok: boolean, attributes: Attributes) => {
    cells[toolCalls]++;
    if (ok) cells[toolCalls + 1]++;
    if (isTrue(attributes['ai.navigation.optimistic'])) {
      cells[optimistic]++;
      if (ok) cells[optimistic + 1]++;
    }
  };
  const kbSearch = (cells: Float64Array, attributes: Attributes) => {
    cells[kbSearches]++;
    if (num(attributes['kb.results_count']) > 0) cells[kbSearches + 1]++;
  };
  const logRecorders = new Map<string, Recorder>([
    ['voice.first_response', (cells, a) => firstResponse(cells, num(a['voice.first_response_ms']))],
    ['voice.asr_partial', (cells, a) => asrPartial(cells, num(a['voice.asr_partial_latency_ms']))],
    [
      'kb.search',
      (cells, a) => {
        kbLatency(cells, num(a['kb.search_latency_ms']));
        kbSearch(cells, a);
      },
    ],
    ['ai.tool_call_completed', (cells, a) => toolCall(cells, isTrue(a['ai.tool.success']), a)],
  ]);
  for (const sli of SLIS) if (!RECORDED.has(sli.id)) throw new Error(`SLI ${sli.id} of the catalog has no recorder in alerting/sli.ts`);

  function observeLogs(cells: Float64Array, events: readonly LogEvent[]): void {
    for (let i = 0; i < events.length; i++) {
      const e = events[i];
      const record = logRecorders.get(e.eventName);
      if (record !== undefined) record(cells, e.attributes);
    }
  }

  function observeSpans(cells: Float64Array, events: readonly SpanRecord[]): void {
    for (let i = 0; i < events.length; i++) {
      const s = events[i];
      const ok = s.statusCode !== STATUS_ERROR;
      cells[spans]++;
      if (ok) cells[spans + 1]++;
      const op = s.attributes['gen_ai.operation.name'];
      if (op === 'execute_tool') toolCall(cells, ok, s.attributes);
      else if (op === 'retrieval') {
        kbSearch(cells, s.attributes);
        // The catalog: the attribute, else the span's duration (ns → ms); as doubles, exact to well under a µs.
        const ms = num(s.attributes['kb.search_latency_ms']);
        kbLatency(cells, !Number.isNaN(ms) ? ms : (Number(s.endTimeUnixNano) - Number(s.startTimeUnixNano)) / 1e6);
      }
    }
  }

  return {
    series,
    observe(batch) {
      const n = batch.events.length;
      if (n === 0) return;
      const cells = series.cellsFor(batch.tenantId, n);
      if (batch.signal === 'logs') observeLogs(cells, batch.events);
      else observeSpans(cells, batch.events);
    },
    stop: () => series.stop(),
  };
}
