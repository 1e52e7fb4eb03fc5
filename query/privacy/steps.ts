/**
 * The statements of an erasure's steps (erasure.ts runs them, in order, and saves the job between them): find the
 * person's rows, delete them, recompute what aggregates them, purge. Every one can run again. Mutations are
 * registered and their completion polled, so that the query connection is not held while ClickHouse applies
 * them.
 */
import { AUDIT_TABLE } from '../../storage/governance.ts';
import { rollupViews } from '../../storage/rollup.ts';
import { readRows, type Store } from '../../storage/store.ts';
import type { ErasureJob } from './jobs.ts';
import { type Person, PERSON_ROWS, personParams } from './person.ts';

const MUTATION_POLL_MS = 50;
const MUTATION_TIMEOUT_MS = 30 * 60_000;

export interface ErasureStepsOptions {
  store: Store;
  /** Whether the rollup's views run: without them its minutes are only deleted, not recomputed. */
  rollups: boolean;
  /** Runs `fn` while ingest INSERTs wait (the exporters' holdWrites). */
  holdWrites<T>(fn: () => Promise<T>): Promise<T>;
  /** Marks `work` as a rebuild under way (queries wait for it). */
  rebuilding(work: Promise<void>): Promise<void>;
  /** Throws when the runner is stopping (checked between statements that may take long). */
  checkStopping(): void;
}

export type ErasureSteps = ReturnType<typeof createErasureSteps>;

export function createErasureSteps(opts: ErasureStepsOptions) {
  const { store, checkStopping } = opts;
  const db = store.database;
  const command = (query: string, params: Record<string, unknown>, settings: Record<string, number> = {}) =>
    store.client.command({ query, query_params: params, clickhouse_settings: settings });

  /** The minutes and trace ids of the person's rows, and how many there are. */
  async function collect(tenantId: string, person: Person) {
    const params = personParams(tenantId, person);
    const minute = 'toUInt32(toUnixTimestamp(toStartOfMinute(Timestamp)))';
    const [logs] = await readRows<{ m: number[]; p: string[]; n: string }>(
      store,
      `SELECT groupUniqArray(${minute}) AS m, groupUniqArray(_partition_id) AS p, count() AS n FROM ${db}.otel_logs WHERE ${PERSON_ROWS}`,
      params,
    );
    const [spans] = await readRows<{ m: number[]; p: string[]; t: string[]; n: string }>(
      store,
      `SELECT groupUniqArray(${minute}) AS m, groupUniqArray(_partition_id) AS p, groupUniqArrayIf(TraceId, TraceId != '') AS t, count() AS n
       FROM ${db}.otel_traces WHERE ${PERSON_ROWS}`,
      params,
    );
    return {
      minutes: [...logs.m, ...spans.m].map(Number),
      partitions: [...logs.p.map((p) => `otel_logs/${p}`), ...spans.p.map((p) => `otel_traces/${p}`)],
      traceIds: spans.t,
      events: Number(logs.n),
      spans: Number(spans.n),
    };
  }

  /**
   * The job's partitions of `table`, as ClickHouse names them (`_partition_id`: digits, or a hash's hex digits;
   * checked before they are written into a statement).
   */
  function partitionsOf(job: ErasureJob, table: 'otel_logs' | 'otel_traces'): string[] {
    const ids = job.partitions.filter((p) => p.startsWith(`${table}/`)).map((p) => p.slice(table.length + 1));
    for (const id of ids) if (!/^[0-9A-Za-z_-]+$/.test(id)) throw new Error(`unexpected partition id ${JSON.stringify(id)}`);
    return ids;
  }

  /**
   * Deletes the person's rows within the job's minutes (lightweight DELETE: hidden from every query at once), in
   * the partitions that hold them. The DELETEs are only registered here and their completion is polled, so that
   * the query connection is not held while they run.
   */
  async function deleteRows(job: ErasureJob, person: Person): Promise<void> {
    if (job.minutes.length === 0) return;
    const params = { ...personParams(job.tenantId, person), minutes: job.minutes, lo: job.minutes[0], hi: job.minutes[job.minutes.length - 1] + 60 };
    const inMinutes = 'toUInt32(toUnixTimestamp(toStartOfMinute(Timestamp))) IN {minutes:Array(UInt32)}';
    const async = { lightweight_deletes_sync: 0 };
    for (const id of partitionsOf(job, 'otel_logs')) {
      await command(
        `DELETE FROM ${db}.otel_logs IN PARTITION ID '${id}' WHERE ${PERSON_ROWS} AND ${inMinutes}
         AND TimestampTime >= toDateTime({lo:UInt32}) AND TimestampTime < toDateTime({hi:UInt32})`,
        params,
        async,
      );
    }
    for (const id of partitionsOf(job, 'otel_traces')) {
      await command(
        `DELETE FROM ${db}.otel_traces IN PARTITION ID '${id}' WHERE ${PERSON_ROWS} AND ${inMinutes}
         AND toDateTime(Timestamp) >= toDateTime({lo:UInt32}) AND toDateTime(Timestamp) < toDateTime({hi:UInt32})`,
        params,
        async,
      );
    }
    await mutationsDone(['otel_logs', 'otel_traces']);
  }

  /**
   * Recomputes the job's rollup minutes and the trace-id index of its traces from the rows that remain, a month
   * partition of the rollup at a time. While ingest waits: the deletes (mutations, which apply to the parts that
   * exist when they are created) and the INSERTs that recompute; then, with ingest going again, until the
   * mutations are done. Queries wait for all of it.
   */
  async function rebuild(job: ErasureJob): Promise<void> {
    const months = new Map<number, number[]>();
    for (const m of job.minutes) {
      const d = new Date(m * 1000);
      const month = d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
      months.set(month, [...(months.get(month) ?? []), m]);
    }
    const views = rollupViews(db);
    const noDedup = { insert_deduplicate: 0 };
    const tenant = { tenant: job.tenantId };
    const work = (async () => {
      if (job.traceIds.length > 0) {
        const params = { ...tenant, traces: job.traceIds };
        await opts.holdWrites(async () => {
          await command(`ALTER TABLE ${db}.otel_traces_trace_id_ts DELETE WHERE TenantId = {tenant:String} AND TraceId IN {traces:Array(String)}`, params);
          await command(
            `INSERT INTO ${db}.otel_traces_trace_id_ts SELECT TenantId, TraceId, min(Timestamp) AS Start, max(Timestamp) AS End FROM ${db}.otel_traces
             WHERE TenantId = {tenant:String} AND TraceId IN {traces:Array(String)} GROUP BY TenantId, TraceId`,
            params,
            noDedup,
          );
        });
      }
      for (const [month, minutes] of months) {
        checkStopping();
        const params = { ...tenant, minutes, lo: minutes[0], hi: minutes[minutes.length - 1] + 60 };
        const where = `TenantId = {tenant:String} AND toUInt32(toUnixTimestamp(toStartOfMinute(Timestamp))) IN {minutes:Array(UInt32)}
          AND toDateTime(Timestamp) >= toDateTime({lo:UInt32}) AND toDateTime(Timestamp) < toDateTime({hi:UInt32})`;
        await opts.holdWrites(async () => {
          // The partition id is toYYYYMM(Minute), an integer computed here.
          await command(
            `ALTER TABLE ${db}.rollup_1m DELETE IN PARTITION ${month} WHERE TenantId = {tenant:String} AND toUInt32(toUnixTimestamp(Minute)) IN {minutes:Array(UInt32)}`,
            params,
          );
          if (opts.rollups) for (const view of views) await command(`INSERT INTO ${db}.rollup_1m ${view.select(where)}`, params, noDedup);
        });
      }
      await mutationsDone(['rollup_1m', 'otel_traces_trace_id_ts']);
    })();
    await opts.rebuilding(work);
  }

  /**
   * Waits for the tables' mutations to finish. ClickHouse retries a failing mutation itself; one still failing
   * at the deadline fails the step (with its reason in the log).
   */
  async function mutationsDone(tables: string[]): Promise<void> {
    const deadline = Date.now() + MUTATION_TIMEOUT_MS;
    for (;;) {
      const [row] = await readRows<{ n: string; reason: string }>(
        store,
        'SELECT count() AS n, max(latest_fail_reason) AS reason FROM system.mutations WHERE database = {db:String} AND table IN {tables:Array(String)} AND is_done = 0',
        { db, tables },
      );
      if (Number(row.n) === 0) return;
      if (Date.now() > deadline) throw new Error(`mutations on ${tables.join(', ')} not done in time${row.reason ? `: ${row.reason}` : ''}`);
      // A shutdown does not wait for them: ClickHouse finishes them, and the job resumes at this step.
      checkStopping();
      await new Promise((resolve) => setTimeout(resolve, MUTATION_POLL_MS));
    }
  }

  /**
   * Deleted rows gone from disk too (the parts holding them rewritten, in their partitions only); the person's
   * ids gone from the audit log's identify and alias rows. Registered, then polled, as the DELETEs.
   */
  async function purge(job: ErasureJob, person: Person): Promise<void> {
    const async = { mutations_sync: 0 };
    for (const table of ['otel_logs', 'otel_traces'] as const) {
      for (const id of partitionsOf(job, table)) await command(`ALTER TABLE ${db}.${table} APPLY DELETED MASK IN PARTITION ID '${id}'`, {}, async);
    }
    await command(
      `ALTER TABLE ${db}.${AUDIT_TABLE}
       UPDATE UserId = if(UserId IN {users:Array(String)}, '', UserId), AnonymousId = if(AnonymousId IN {anons:Array(String)}, '', AnonymousId), Details = {details:String}
       WHERE TenantId = {tenant:String} AND Action IN ('identify', 'alias') AND (UserId IN {users:Array(String)} OR AnonymousId IN {anons:Array(String)})`,
      { ...personParams(job.tenantId, person), details: JSON.stringify({ erased_by: job.id }) },
      async,
    );
    await mutationsDone(['otel_logs', 'otel_traces', AUDIT_TABLE]);
  }

  return { collect, deleteRows, rebuild, purge };
}
