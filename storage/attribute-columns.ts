/**
 * Enriched attributes kept beside `LogAttributes` as columns of otel_logs (migration 17): the dimensions the
 * product analytics screen breaks every event down by. A map lookup reads and decompresses the whole map of every
 * row (all its keys and values) to find one key; a `LowCardinality(String)` column reads a small dictionary and an
 * index per row. Each column is `MATERIALIZED LogAttributes[key]`, so it holds exactly what the map holds ('' when
 * the key is absent), is computed by ClickHouse at insert (writers, the Collector's exporter included, never name
 * it), and never appears in `SELECT *`.
 */

/** Attribute key → column name. A Map, so that a request's field name such as `constructor` finds nothing. */
export const ATTRIBUTE_COLUMNS: ReadonlyMap<string, string> = new Map([
  ['url.path', 'UrlPath'],
  ['referrer.domain', 'ReferrerDomain'],
  ['campaign.source', 'CampaignSource'],
  ['campaign.medium', 'CampaignMedium'],
  ['campaign.name', 'CampaignName'],
  ['geo.country.iso_code', 'GeoCountryIsoCode'],
  ['user_agent.name', 'UserAgentName'],
  ['user_agent.os.name', 'UserAgentOsName'],
  ['user_agent.device.type', 'UserAgentDeviceType'],
]);

/**
 * The columns, then the rewrite of existing parts. `ADD COLUMN … MATERIALIZED` alone leaves old parts computing the
 * column from the map on every read (same values, no speed-up); `MATERIALIZE COLUMN` writes it into them as a
 * background mutation (`mutations_sync = 0`: the embedded store's default waits), so a start does not wait for a
 * large store to be rewritten (1.1M events took 15 s on a loaded machine). Both are idempotent.
 */
export function attributeColumnsDdl(db: string, onCluster: string): string[] {
  const columns = [...ATTRIBUTE_COLUMNS];
  return [
    `ALTER TABLE ${db}.otel_logs${onCluster} ${columns
      .map(([key, column]) => `ADD COLUMN IF NOT EXISTS ${column} LowCardinality(String) MATERIALIZED LogAttributes['${key}']`)
      .join(', ')}`,
    `ALTER TABLE ${db}.otel_logs${onCluster} ${columns.map(([, column]) => `MATERIALIZE COLUMN ${column}`).join(', ')} SETTINGS mutations_sync = 0`,
  ];
}
