/**
 * The rollup in a server time zone whose hours start at :30 UTC. The query layer splits ranges at UTC hours, so
 * the rollup's hours must be UTC hours whatever the zone. chDB takes its zone from TZ when it starts, so this
 * file sets it before the store opens (each test file runs in its own process).
 */
process.env.TZ = 'Asia/Kolkata';

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate } from '../storage/migrate.ts';
import { openStore, type Store } from '../storage/store.ts';
import { METRICS_BY_NAME } from './catalog.ts';
import { params, rollupSummarySql, rollupTimeseriesSql, summarySql, timeseriesSql } from './sql.ts';

let dir: string;
let store: Store;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sh-tz-'));
  store = await openStore({ dataDir: dir });
  await migrate(store.client, { database: 'signalhouse', cluster: '', ttlMs: 0 });
});
afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function value(sql: string, q: Parameters<typeof params>[0]): Promise<unknown> {
  return (await store.client.query({ query: sql, query_params: params(q), format: 'JSONEachRow' })).json();
}

it('gives the raw answers from the rollup in a zone whose hours start at :30 UTC', async () => {
  const zone = (await (await store.client.query({ query: 'SELECT timezone() AS z', format: 'JSONEachRow' })).json<{ z: string }>())[0].z;
  expect(zone).toBe('Asia/Kolkata');
  // 200 events in 200 of the 300 minutes after a UTC hour, unevenly (an even spread would hide a shifted hour).
  const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 6 * 3_600_000;
  const minuteOf = (n: number) => (n * 37) % 300;
  await store.client.command({
    query: `INSERT INTO signalhouse.otel_logs (TenantId, EventId, EventName, Timestamp)
      SELECT 'tz', toString(number), 'voice.barge_in', fromUnixTimestamp64Milli(toInt64(${base} + ((number * 37) % 300) * 60000 + 1000)) FROM numbers(200)`,
  });
  const count = METRICS_BY_NAME.get('voice.barge_in_count')!;
  // From 10 past the first UTC hour to 50 past the fourth: edges, and whole UTC hours that straddle local hours.
  const q = { tenantId: 'tz', fromMs: base + 10 * 60_000, toMs: base + 3 * 3_600_000 + 50 * 60_000 };
  const raw = await value(summarySql('signalhouse', count, false), q);
  const expected = Array.from({ length: 200 }, (_, n) => minuteOf(n)).filter((m) => m >= 10 && m < 230).length;
  expect(raw).toEqual([{ value: expected }]);
  expect(await value(rollupSummarySql('signalhouse', count, false), q)).toEqual(raw);
  const series = { ...q, grainSeconds: 3600 };
  expect(await value(rollupTimeseriesSql('signalhouse', count, false), series)).toEqual(await value(timeseriesSql('signalhouse', count, false), series));
});
