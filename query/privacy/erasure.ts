/**
 * Erasure of a person (POST /api/v1/privacy/erasures): a job, stored in `privacy_jobs` at each step, run one at
 * a time in the background and resumed at the next start when a restart cut it short. Every step can run again:
 *
 * 1. Resolve the person through the identity links (person.ts) and, with `suppress`, add its ids to the
 *    suppression list, so that no further event of it is stored. First, wait until every acknowledged event is
 *    in its table (the landing slots' barrier, as queries do): none of the person's can surface afterwards.
 * 2. Find the minutes (and trace ids) of the person's events and spans, and store them with the job.
 * 3. Delete those rows (lightweight DELETE: gone from every query at once), only within the minutes found, so
 *    that every deleted row lies in a minute step 4 rebuilds.
 * 4. Rebuild what aggregates them: the rollup's minutes and the trace-id index, recomputed from the remaining
 *    rows while ingest INSERTs wait (a row a view wrote meanwhile would be counted twice) and queries wait too
 *    (they would see a minute half rebuilt). With `suppress`, steps 2–4 run again for rows that were in flight
 *    when the job started, until none is left.
 * 5. Purge: rewrite the parts that hold deleted rows (APPLY DELETED MASK), so the data is gone from disk too,
 *    and blank the person's ids in the audit log's identify and alias rows.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { SuppressionList } from '../../core/suppressions.ts';
import { AUDIT_TABLE } from '../../storage/governance.ts';
import { rollupViews } from '../../storage/rollup.ts';
import { readRows, type Store } from '../../storage/store.ts';
import { type ErasureJob, loadJob, loadJobs, saveJob } from './jobs.ts';
import { type Person, PERSON_ROWS, type PersonRef, personParams, resolvePerson, unionPerson } from './person.ts';

export interface ErasureRunnerOptions {
  store: Store;
  suppressions: SuppressionList;
  /** Whether the rollup's views run: without them its minutes are only deleted, not recomputed. */
  rollups: boolean;
  /** Resolves when every event acknowledged so far is in its table (the exporters' settle). */
  settleIngest(): Promise<void>;
  /** Runs `fn` while ingest INSERTs wait (the exporters' holdWrites). */
  holdWrites<T>(fn: () => Promise<T>): Promise<T>;
  logger?: Logger;
}

export interface ErasureRequest {
  tenantId: string;
  person: PersonRef;
  suppress: boolean;
  actor: string;
  requestId: string;
}

export interface ErasureRunner {
  /** Stores a new job and queues it; resolves with it (status `running`). */
  create(request: ErasureRequest): Promise<ErasureJob>;
  get(tenantId: string, id: string): Promise<ErasureJob | undefined>;
  /** Loads the suppressed ids of every job, then resumes the jobs a restart cut short (in the background). */
  start(): Promise<void>;
  /** Resolves when no rebuild is under way: queries wait for it, so they never read a minute half rebuilt. */
  rebuilt(): Promise<void>;
  /** Stops after the current step; an unfinished job stays `running` and resumes at the next start. */
  close(): Promise<void>;
}

const MAX_ATTEMPTS = 5;
/** Passes of steps 2–4 for rows in flight when a suppressing job started. */
const MAX_PASSES = 3;
const MUTATION_POLL_MS = 50;
const MUTATION_TIMEOUT_MS = 30 * 60_000;

class Stopping extends Error {}

export function createErasureRunner(opts: ErasureRunnerOptions): ErasureRunner {
  const { store } = opts;
  const db = store.database;
  const queue: ErasureJob[] = [];
  let worker: Promise<void> | undefined;
  let stopping = false;
  let rebuilding: Promise<unknown> | undefined;
  let wake: (() => void) | undefined;
  /** A pause between attempts that `close` cuts short. */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const save = (job: ErasureJob) => saveJob(store, job);
  const checkStopping = () => {
    if (stopping) throw new Stopping();
  };
  const command = (query: string, params: Record<string, unknown>, settings: Record<string, number> = {}) =>
    store.client.command({ query, query_params: params, clickhouse_settings: settings });

  function enqueue(job: ErasureJob): void {
    queue.push(job);
    worker ??= (async () => {
      while (queue.length > 0 && !stopping) await attempt(queue.shift()!);
      worker = undefined;
    })();
  }

  async function attempt(job: ErasureJob): Promise<void> {
    try {
      await run(job);
    } catch (err) {
      if (err instanceof Stopping) return;
      // Any failure is tried again (every step can run again), a few times, with growing pauses.
      const retry = job.attempts < MAX_ATTEMPTS;
      opts.logger?.warn({ err, job: job.id, attempts: job.attempts, retry }, 'erasure step failed');
      if (retry) {
        await sleep(1000 * 2 ** job.attempts);
        if (!stopping) queue.push(job);
        return;
      }
      Object.assign(job, { status: 'failed', step: 'failed', error: 'the erasure could not complete; see the server log', completedAtMs: Date.now() });
      await save(job).catch((e) => opts.logger?.error({ err: e, job: job.id }, 'erasure job state not saved'));
    }
  }

  async function run(job: ErasureJob): Promise<void> {
    job.attempts++;
    await save(job);
    await opts.settleIngest();
    const ref: PersonRef = job.requestedUserId ? { userId: job.requestedUserId } : { anonymousId: job.requestedAnonymousId };
    let person = unionPerson({ userIds: job.userIds, anonymousIds: job.anonymousIds }, await resolvePerson(store, job.tenantId, ref));
    if (job.suppress) opts.suppressions.add(job.tenantId, person.userIds, person.anonymousIds);
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      if (pass > 0) {
        if (!job.suppress) break;
        await opts.settleIngest();
      }
      const found = await collect(job.tenantId, person);
      if (pass > 0 && found.events + found.spans === 0) break;
      Object.assign(job, {
        step: 'deleting',
        userIds: person.userIds,
        anonymousIds: person.anonymousIds,
        minutes: [...new Set([...job.minutes, ...found.minutes])].sort((a, b) => a - b),
        traceIds: [...new Set([...job.traceIds, ...found.traceIds])],
        partitions: [...new Set([...job.partitions, ...found.partitions])].sort(),
        erasedEvents: pass === 0 ? Math.max(job.erasedEvents, found.events) : job.erasedEvents + found.events,
        erasedSpans: pass === 0 ? Math.max(job.erasedSpans, found.spans) : job.erasedSpans + found.spans,
      });
      await save(job);
      checkStopping();
      await deleteRows(job, person);
      job.step = 'rebuilding';
      await save(job);
      checkStopping();
      await rebuild(job);
      person = { userIds: job.userIds, anonymousIds: job.anonymousIds };
    }
    job.step = 'purging';
    await save(job);
    checkStopping();
    await purge(job, person);
    Object.assign(job, { status: 'done', step: 'done', completedAtMs: Date.now() });
    await save(job);
  }

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
    rebuilding = work.catch(() => undefined);
    try {
      await work;
    } finally {
      rebuilding = undefined;
    }
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

  return {
    async create(request) {
      const now = Date.now();
      const job: ErasureJob = {
        tenantId: request.tenantId,
        id: randomUUID(),
        status: 'running',
        step: 'queued',
        requestedUserId: request.person.userId ?? '',
        requestedAnonymousId: request.person.anonymousId ?? '',
        suppress: request.suppress,
        userIds: request.person.userId ? [request.person.userId] : [],
        anonymousIds: request.person.anonymousId ? [request.person.anonymousId] : [],
        minutes: [],
        traceIds: [],
        partitions: [],
        erasedEvents: 0,
        erasedSpans: 0,
        attempts: 0,
        error: '',
        actor: request.actor,
        requestId: request.requestId,
        createdAtMs: now,
        updatedAtMs: now,
        completedAtMs: null,
      };
      await save(job);
      // At once, before the reply: the id named is suppressed from now on (its stitched ids once resolved).
      if (job.suppress) opts.suppressions.add(job.tenantId, job.userIds, job.anonymousIds);
      enqueue(job);
      return job;
    },
    get: (tenantId, id) => loadJob(store, tenantId, id),
    async start() {
      const jobs = await loadJobs(store);
      for (const job of jobs) if (job.suppress) opts.suppressions.add(job.tenantId, job.userIds, job.anonymousIds);
      const unfinished = jobs.filter((j) => j.status === 'running');
      if (unfinished.length > 0) opts.logger?.info({ jobs: unfinished.map((j) => j.id) }, 'resuming erasure jobs');
      for (const job of unfinished) enqueue(job);
    },
    rebuilt: async () => {
      await rebuilding;
    },
    async close() {
      stopping = true;
      wake?.();
      await worker;
    },
  };
}
