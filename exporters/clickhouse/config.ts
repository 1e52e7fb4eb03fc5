/**
 * The ClickHouse exporter's options (`exporters.clickhouse` in signalhouse.yaml), validated by its factory at
 * start. The store the service opens for it is derived from them (`storeOptions`).
 */
import { z } from 'zod';
import { durationMs, intLike } from '../../core/units.ts';
import type { StoreOptions } from '../../storage/store.ts';
import { queueConfigSchema } from '../exporterhelper/queue.ts';
import { retryConfigSchema } from '../exporterhelper/retry.ts';

export const clickhouseExporterSchema = z.strictObject({
  /** Server URL; empty means the embedded chDB store in `data_dir`. */
  endpoint: z.string().default(''),
  username: z.string().default('default'),
  password: z.string().default(''),
  data_dir: z.string().default('./data'),
  database: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain identifier')
    .default('signalhouse'),
  /** Cluster name: DDL runs `ON CLUSTER` with Replicated engines. */
  cluster: z
    .string()
    .regex(/^([A-Za-z_][A-Za-z0-9_-]*)?$/, 'must be a plain identifier')
    .default(''),
  /** Retention; 0 keeps data forever. */
  ttl: durationMs.default(90 * 86_400_000),
  /** Group commit: one INSERT per table when this many rows are waiting, or after max_delay. */
  batch: z
    .strictObject({
      max_rows: intLike(1, 1_000_000).default(50_000),
      max_delay: durationMs.default(0),
    })
    .prefault({}),
  /**
   * Landing table (embedded store only): a group of fewer than `max_rows` rows is appended to a landing slot,
   * and landed rows move on to their tables in bulk after `move_delay` (or once `move_max_rows` have landed).
   * 0 turns it off; so does `fsync` (landing slots are not fsynced). See landing.ts. Groups of 500 rows and more
   * go straight: an append takes no time, so under full load groups stay request-sized and, landed, they would
   * all pass through the slots (web events at 500 a request: 15.5k / 23.3k events/s landed against 21.5k /
   * 25.1k straight, bench:ingest).
   */
  landing: z
    .strictObject({
      max_rows: intLike(0, 1_000_000).default(500),
      // Each move INSERT runs the views and writes parts: one a second instead of five cut the single-event
      // p99 by a fifth (21.4 → 17.4 ms, bench:ingest); rows are visible to queries about a second later.
      move_delay: durationMs.default(1_000),
      move_max_rows: intLike(1, 1_000_000).default(50_000),
    })
    .prefault({}),
  /** Rows accepted but not yet committed; beyond this, ingest answers 503 with Retry-After. */
  queue: queueConfigSchema,
  retry: retryConfigSchema,
  /** Keep the per-minute rollup for long-range reports; each INSERT then costs ~11 ms more. */
  rollups: z.boolean().default(true),
  /**
   * fsync every inserted part (survives power loss, not only process crashes), at a throughput cost. Turns the
   * landing slots off: every INSERT then goes straight to its table.
   */
  fsync: z.boolean().default(false),
  /** Per-query timeout. */
  timeout: durationMs.default(60_000),
});
export type ClickHouseExporterConfig = z.infer<typeof clickhouseExporterSchema>;

/** The store's connection options from the exporter's. */
export function storeOptions(config: ClickHouseExporterConfig): StoreOptions {
  return {
    endpoint: config.endpoint,
    username: config.username,
    password: config.password,
    dataDir: config.data_dir,
    database: config.database,
    timeoutMs: config.timeout,
  };
}
