/**
 * What Grafana sends ClickHouse for a panel of the catalog dashboard, where no Grafana runs (neither Debian nor npm
 * ships it): dashboard variables in Grafana's `percentencode` format (RFC 3986, as Grafana's encodeURIComponentStrict),
 * then the ClickHouse plugin's macros `$__fromTime_ms`, `$__toTime_ms` and `$__interval_s` (pkg/macros of
 * grafana/clickhouse-datasource). Anything else Grafana would expand is an error, so a panel cannot use it unseen.
 */
export interface GrafanaView {
  fromMs: number;
  toMs: number;
  /** Grafana's interval for the panel (default 1 minute). */
  intervalMs?: number;
  tenant: string;
  /** The site text box; empty means all sites. */
  site?: string;
}

const percentEncode = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export function expandLikeGrafana(sql: string, view: GrafanaView): string {
  const vars: Record<string, string> = { tenant: view.tenant, site: view.site ?? '' };
  const out = sql
    .replace(/\$\{(\w+):percentencode\}/g, (_, name: string) => {
      if (!(name in vars)) throw new Error(`unknown dashboard variable ${name}`);
      return percentEncode(vars[name]);
    })
    .replace(/\$__fromTime_ms\b/g, `fromUnixTimestamp64Milli(${view.fromMs})`)
    .replace(/\$__toTime_ms\b/g, `fromUnixTimestamp64Milli(${view.toMs})`)
    .replace(/\$__interval_s\b/g, String(Math.max(1, Math.floor((view.intervalMs ?? 60_000) / 1000))));
  const left = /\$__\w+|\$\{[^}]*\}/.exec(out);
  if (left) throw new Error(`${left[0]} is not expanded here (and may not be by Grafana)`);
  return out;
}
