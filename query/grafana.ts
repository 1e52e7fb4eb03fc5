/**
 * The metric catalog as a Grafana dashboard, for Grafana's ClickHouse data source (grafana-clickhouse-datasource).
 * Every catalog entry becomes a stat panel (its value over the dashboard's range) and a time series, both running
 * the report API's own rollup SQL: the API's query parameters (`{from:Int64}`, …) are defined in a WITH clause from
 * the plugin's time macros and the dashboard's variables, so Grafana and the API cannot disagree.
 *
 * Variables reach the SQL percent-encoded (Grafana's `percentencode` format, RFC 3986: quotes and backslashes
 * become %27 and %5C) and ClickHouse decodes them: no value can end the string literal. Grafana's `sqlstring`
 * format only doubles quotes, and ClickHouse also reads a backslash as an escape.
 */
import type { Dashboard, Panel, RowPanel, VariableModel } from '@grafana/schema';
import { METRIC_GROUPS, METRICS, type MetricDef, type Unit } from './catalog.ts';
import { ROLLUP_LEVELS_SQL, rollupSummarySql, rollupTimeseriesSql } from './sql.ts';

export const GRAFANA_DATASOURCE_TYPE = 'grafana-clickhouse-datasource';
/** The provisioned data source (grafana/provisioning/datasources); the dashboard's `datasource` variable defaults to it. */
export const GRAFANA_DATASOURCE_UID = 'signalhouse-clickhouse';
export const GRAFANA_DASHBOARD_UID = 'signalhouse-sla';

const DATASOURCE = { type: GRAFANA_DATASOURCE_TYPE, uid: '${datasource}' };

/** A query of the ClickHouse plugin in SQL mode; `format` 0 is a time series, 1 a table. */
type ClickHouseQuery = {
  refId: string;
  datasource: typeof DATASOURCE;
  editorType: 'sql';
  queryType: 'timeseries' | 'table';
  format: 0 | 1;
  rawSql: string;
};

/** Grafana's value for each query parameter of the catalog SQL, in dependency order. */
function inputs(grain: string): Array<[string, string]> {
  return [
    ['tenant', "decodeURLComponent('${tenant:percentencode}')"],
    ['site', "decodeURLComponent('${site:percentencode}')"],
    ['from', 'toUnixTimestamp64Milli($__fromTime_ms)'],
    ['to', 'toUnixTimestamp64Milli($__toTime_ms)'],
    ['grain', grain],
    ...Object.entries(ROLLUP_LEVELS_SQL),
  ];
}

/** A ClickHouse query parameter, `{name:Type}` (not a Grafana variable, `${name:format}`). */
const PARAMETER = /(?<!\$)\{(\w+):\w+\}/g;

/** `select` with its `{name:Type}` parameters replaced by names a WITH clause defines from Grafana's inputs. */
function withGrafanaInputs(select: string, grain: string): string {
  const defs = inputs(grain);
  const known = new Set(defs.map(([name]) => name));
  const refer = (sql: string) =>
    sql.replace(PARAMETER, (_, name: string) => {
      if (!known.has(name)) throw new Error(`query parameter {${name}} has no Grafana input`);
      return `param_${name}`;
    });
  return `WITH\n${defs.map(([name, expr]) => `  ${refer(expr)} AS param_${name}`).join(',\n')}\n${refer(select)}`;
}

/** A catalog name as a column alias (names are dotted words; anything else is a catalog bug). */
function alias(metric: MetricDef): string {
  if (!/^[a-z0-9_.]+$/.test(metric.name)) throw new Error(`metric name ${JSON.stringify(metric.name)} cannot be a column alias`);
  return `\`${metric.name}\``;
}

/** The metric per bucket of Grafana's interval (at least a minute, the rollup's resolution). */
export function grafanaSeriesSql(db: string, metric: MetricDef): string {
  const select = `SELECT fromUnixTimestamp64Milli(toInt64(bucket)) AS time, value AS ${alias(metric)} FROM (${rollupTimeseriesSql(db, metric, true)}) ORDER BY time`;
  return withGrafanaInputs(select, 'greatest(60, $__interval_s)');
}

/** The metric over the dashboard's whole range. */
export function grafanaStatSql(db: string, metric: MetricDef): string {
  return withGrafanaInputs(`SELECT value AS ${alias(metric)} FROM (${rollupSummarySql(db, metric, true)})`, '0');
}

export function grafanaTenantsSql(db: string): string {
  return `SELECT DISTINCT TenantId FROM ${db}.rollup_1m ORDER BY TenantId`;
}

const UNITS: Readonly<Record<Unit, string>> = { ms: 'ms', count: 'short', ratio: 'percentunit', number: 'none' };

function fieldDefaults(metric: MetricDef) {
  return { unit: UNITS[metric.unit], decimals: metric.unit === 'count' ? 0 : undefined, ...(metric.unit === 'ratio' ? { min: 0, max: 1 } : {}) };
}

/** What every panel of a metric has: its name, description, data source, place and one query. */
function metricPanel(metric: MetricDef, id: number, gridPos: Panel['gridPos'], type: 'stat' | 'timeseries', rawSql: string): Panel {
  return {
    id,
    type,
    title: metric.name,
    description: `${metric.description} (${metric.better} is better). Catalog metric \`${metric.name}\`, from the per-minute rollup.`,
    datasource: DATASOURCE,
    gridPos,
    targets: [
      {
        refId: 'A',
        datasource: DATASOURCE,
        editorType: 'sql',
        queryType: type === 'stat' ? 'table' : 'timeseries',
        format: type === 'stat' ? 1 : 0,
        rawSql,
      } satisfies ClickHouseQuery,
    ],
  };
}

function statPanel(db: string, metric: MetricDef, id: number, gridPos: Panel['gridPos']): Panel {
  return {
    ...metricPanel(metric, id, gridPos, 'stat', grafanaStatSql(db, metric)),
    fieldConfig: { defaults: fieldDefaults(metric), overrides: [] },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'none',
      graphMode: 'none',
      textMode: 'value',
      justifyMode: 'auto',
      orientation: 'auto',
    },
  };
}

function seriesPanel(db: string, metric: MetricDef, id: number, gridPos: Panel['gridPos']): Panel {
  return {
    ...metricPanel(metric, id, gridPos, 'timeseries', grafanaSeriesSql(db, metric)),
    interval: '1m',
    fieldConfig: { defaults: { ...fieldDefaults(metric), custom: { drawStyle: 'line', spanNulls: false, showPoints: 'auto' } }, overrides: [] },
    options: { legend: { showLegend: false, displayMode: 'list', placement: 'bottom', calcs: [] }, tooltip: { mode: 'single', sort: 'none' } },
  };
}

function variables(db: string): VariableModel[] {
  return [
    {
      name: 'datasource',
      label: 'ClickHouse',
      type: 'datasource',
      query: GRAFANA_DATASOURCE_TYPE,
      current: { text: 'Signalhouse ClickHouse', value: GRAFANA_DATASOURCE_UID },
      hide: 0,
    },
    {
      name: 'tenant',
      label: 'Tenant',
      type: 'query',
      datasource: DATASOURCE,
      query: grafanaTenantsSql(db),
      refresh: 1,
      sort: 1,
      includeAll: false,
      multi: false,
      hide: 0,
    },
    { name: 'site', label: 'Site (empty: all sites)', type: 'textbox', query: '', current: { text: '', value: '' }, hide: 0 },
  ];
}

/** The dashboard: per row of the catalog, the range values as stats on top, then one time series per metric. */
export function grafanaDashboard(db = 'signalhouse'): Dashboard {
  // The catalog's groups, in its order.
  const rows = new Map<string, MetricDef[]>();
  for (const group of METRIC_GROUPS) {
    const metrics = METRICS.filter((m) => m.group === group.id);
    if (metrics.length > 0) rows.set(group.title, metrics);
  }
  const panels: Array<Panel | RowPanel> = [];
  let id = 0;
  let y = 0;
  for (const [title, metrics] of rows) {
    panels.push({ id: ++id, type: 'row', title, collapsed: false, gridPos: { x: 0, y: y++, w: 24, h: 1 }, panels: [] });
    const statWidth = Math.max(4, Math.floor(24 / metrics.length));
    metrics.forEach((metric, i) => {
      const perLine = Math.floor(24 / statWidth);
      panels.push(statPanel(db, metric, ++id, { x: (i % perLine) * statWidth, y: y + Math.floor(i / perLine) * 4, w: statWidth, h: 4 }));
    });
    y += Math.ceil(metrics.length / Math.floor(24 / statWidth)) * 4;
    metrics.forEach((metric, i) => {
      panels.push(seriesPanel(db, metric, ++id, { x: (i % 2) * 12, y: y + Math.floor(i / 2) * 8, w: 12, h: 8 }));
    });
    y += Math.ceil(metrics.length / 2) * 8;
  }
  return {
    uid: GRAFANA_DASHBOARD_UID,
    title: 'Signalhouse SLA metrics',
    description: 'Every metric of the Signalhouse catalog (query/catalog.ts), generated by `npm run grafana:dashboard`; do not edit by hand.',
    tags: ['signalhouse', 'sla'],
    editable: true,
    graphTooltip: 1,
    timezone: 'utc',
    time: { from: 'now-24h', to: 'now' },
    refresh: '1m',
    schemaVersion: 39,
    version: 1,
    templating: { list: variables(db) },
    annotations: { list: [] },
    panels,
  };
}
