/**
 * Alerts on Signalhouse itself, over its own metrics (`GET /metrics`), per instance: what the product's SLAs ask
 * of ingestion (p95 under 200 ms, schema validation failures and duplicates under 1%), of queries (p95 under
 * 5 s) and of storage (no failed writes). Percentiles are read exactly from the threshold's bucket
 * (`signalhouse_http_request_duration_seconds` has buckets at 0.2 and 5 s): "p95 above 200 ms" is "more than 5%
 * of the requests slower than 200 ms". docs/alerting.md says what each means and what to do.
 */
import type { AlertingRule } from './rule-types.ts';

const perInstance = (agg: string, series: string, window = '5m') => `sum by (job, instance) (${agg}(${series}[${window}]))`;

/** The share of requests of `kind` slower than `seconds` over 5 minutes. */
const slowShare = (kind: string, seconds: string) =>
  `1 - (${perInstance('rate', `signalhouse_http_request_duration_seconds_bucket{kind="${kind}",le="${seconds}"}`)}\n  / ${perInstance('rate', `signalhouse_http_request_duration_seconds_count{kind="${kind}"}`)})`;

/** The share of a processor's records with `outcome` over 5 minutes (`validate` and `validate/<name>` alike). */
const processorShare = (processor: string, outcome: string) =>
  `${perInstance('rate', `signalhouse_processor_records_total{processor=~"${processor}(/.+)?",outcome="${outcome}"}`)}\n  / ${perInstance('rate', `signalhouse_processor_records_total{processor=~"${processor}(/.+)?",outcome="in"}`)}`;

const runbook = (anchor: string) => `docs/alerting.md#${anchor}`;

export const OPERATIONAL_ALERTS: AlertingRule[] = [
  {
    alert: 'SignalhouseIngestLatencyHigh',
    expr: `${slowShare('ingest', '0.2')} > 0.05`,
    for: '10m',
    labels: { severity: 'page' },
    annotations: {
      summary: '{{ $labels.instance }}: ingest p95 above 200 ms',
      description: '{{ $value | humanizePercentage }} of the ingest requests of the last 5 minutes took longer than 200 ms (at most 5% may).',
      runbook: runbook('signalhouseingestlatencyhigh'),
    },
  },
  {
    alert: 'SignalhouseValidationFailuresHigh',
    expr: `${processorShare('validate', 'refused')} > 0.01`,
    for: '10m',
    labels: { severity: 'ticket' },
    annotations: {
      summary: '{{ $labels.instance }}: more than 1% of the events fail schema validation',
      description: '{{ $value | humanizePercentage }} of the events the validate processor saw in the last 5 minutes were refused.',
      runbook: runbook('signalhousevalidationfailureshigh'),
    },
  },
  {
    alert: 'SignalhouseDuplicateRateHigh',
    expr: `${processorShare('dedupe', 'dropped')} > 0.01`,
    for: '10m',
    labels: { severity: 'ticket' },
    annotations: {
      summary: '{{ $labels.instance }}: more than 1% of the events are duplicates',
      description:
        '{{ $value | humanizePercentage }} of the events of the last 5 minutes repeated an event already stored (retries, or senders reusing ids). None is stored twice.',
      runbook: runbook('signalhouseduplicateratehigh'),
    },
  },
  {
    alert: 'SignalhouseQueryLatencyHigh',
    expr: `${slowShare('query', '5')} > 0.05`,
    for: '10m',
    labels: { severity: 'ticket' },
    annotations: {
      summary: '{{ $labels.instance }}: query p95 above 5 s',
      description: '{{ $value | humanizePercentage }} of the query API requests of the last 5 minutes took longer than 5 s (at most 5% may).',
      runbook: runbook('signalhousequerylatencyhigh'),
    },
  },
  {
    alert: 'SignalhouseStorageErrors',
    expr:
      `${perInstance('increase', 'signalhouse_exporter_failed_batches_total')} > 0\n` +
      `or\n${perInstance('increase', 'signalhouse_exporter_landing_move_failures_total')} > 0`,
    labels: { severity: 'page' },
    annotations: {
      summary: '{{ $labels.instance }}: writes to ClickHouse are failing',
      description:
        'In the last 5 minutes INSERTs failed after their retries (their requests were answered 503 and will be retried by the senders), or landed rows failed to move on to their tables.',
      runbook: runbook('signalhousestorageerrors'),
    },
  },
  {
    alert: 'SignalhouseIngestOverloaded',
    expr: `${perInstance('rate', 'signalhouse_receiver_failed_requests_total{status="503"}')} > 0`,
    for: '10m',
    labels: { severity: 'ticket' },
    annotations: {
      summary: '{{ $labels.instance }}: ingest requests are refused with 503',
      description: '{{ $value | humanize }} ingest requests a second were answered 503 (overload, a full queue or storage trouble) over the last 5 minutes.',
      runbook: runbook('signalhouseingestoverloaded'),
    },
  },
];
