/**
 * Migration 17 on a store that already holds events: the enriched columns hold what the map holds for the rows
 * written before it (computed on read, then written into the parts by the background mutation) and after it
 * (computed at insert), and breakdowns read through them answer as through the map.
 */
import { describe, expect, it } from 'vitest';
import { useTempStore } from '../test/helpers/store.ts';
import { breakdownSql, type AttributeSource, type BreakdownRequest } from '../query/breakdown.ts';
import { ATTRIBUTE_COLUMNS } from './attribute-columns.ts';
import { migrate } from './migrate.ts';
import { MIGRATIONS } from './schema.ts';

const temp = useTempStore({ prefix: 'attribute-columns' });
const db = 'pre_columns';
const opts = { database: db, cluster: '', ttlMs: 0 };

async function rows<T>(query: string, params: Record<string, unknown> = {}): Promise<T[]> {
  return (await temp.store.client.query({ query, query_params: params, format: 'JSONEachRow' })).json<T>();
}
const keys = [...ATTRIBUTE_COLUMNS.keys()];
/** `n` events from `start` on: each enriched key present on some rows only, among a few values, '' included. */
const insert = (start: number, n: number, at: number) =>
  temp.store.client.command({
    query: `INSERT INTO ${db}.otel_logs (TenantId, EventId, EventName, Timestamp, UserId, AnonymousId, LogAttributes)
      SELECT if(number % 7 = 0, 'globex', 'acme'), toString(number), ['page', 'signup', 'identify'][number % 3 + 1],
        fromUnixTimestamp64Milli(toInt64(${at} + number * 1000)),
        if(number % 3 = 2 OR number % 5 = 0, concat('u', toString(number % 4)), ''), concat('a', toString(number % 9)),
        mapFromArrays(
          arrayFilter((k, i) -> (number + i) % 3 != 0, [${keys.map((k) => `'${k}'`).join(', ')}, 'site.id'], range(${keys.length + 1})),
          arrayFilter((v, i) -> (number + i) % 3 != 0, arrayMap(i -> ['', 'x', 'y', 'shop'][(number * (i + 1)) % 4 + 1], range(${keys.length + 1})), range(${keys.length + 1}))
        )
      FROM numbers(${start}, ${n})`,
  });

describe('enriched attribute columns (migration 17)', () => {
  it('hold the map values of rows written before and after it; breakdowns through them answer as through the map', async () => {
    const at = Date.now() - 3_600_000;
    await migrate(temp.store.client, { ...opts, migrations: MIGRATIONS.filter((m) => m.version < 17) });
    await insert(0, 600, at);
    const req: BreakdownRequest = { fields: [...keys, 'event_name'], limit: 100, from: at, to: at + 3_600_000 };
    const answer = async (attributes: AttributeSource, request: BreakdownRequest = req) => {
      const { sql, params } = breakdownSql(db, request, attributes);
      return rows(sql, { ...params, tenant: 'acme' });
    };
    const before = await answer('map');
    expect(before.length).toBeGreaterThan(keys.length * 2);

    expect(await migrate(temp.store.client, opts)).toEqual([17]);
    const differing = async () =>
      (
        await rows<{ n: string }>(
          `SELECT count() AS n FROM ${db}.otel_logs WHERE ${[...ATTRIBUTE_COLUMNS].map(([k, c]) => `${c} != LogAttributes['${k}']`).join(' OR ')}`,
        )
      ).map((r) => Number(r.n));
    expect(await differing()).toEqual([0]);
    expect(await answer('columns')).toEqual(before);
    // The background mutation writes the columns into the old parts.
    const deadline = Date.now() + 30_000;
    const pending = async () => Number((await rows<{ n: string }>(`SELECT count() AS n FROM system.mutations WHERE database = '${db}' AND NOT is_done`))[0].n);
    while ((await pending()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await pending()).toBe(0);
    const stored = await rows<{ column: string }>(
      `SELECT DISTINCT column FROM system.parts_columns WHERE database = '${db}' AND table = 'otel_logs' AND active AND column IN {c:Array(String)} ORDER BY column`,
      { c: [...ATTRIBUTE_COLUMNS.values()] },
    );
    expect(stored.map((r) => r.column)).toEqual([...ATTRIBUTE_COLUMNS.values()].sort());
    expect(await answer('columns')).toEqual(before);

    // Rows written now get the columns at insert; a site filter reads the same rows either way.
    await insert(600, 600, at);
    expect(await differing()).toEqual([0]);
    const after = await answer('map');
    expect(after).not.toEqual(before);
    expect(await answer('columns')).toEqual(after);
    const site = { ...req, site_id: 'shop', event_names: ['page', 'signup'] };
    expect(await answer('columns', site)).toEqual(await answer('map', site));
    await temp.store.client.command({ query: `DROP DATABASE ${db}` });
  });
});
