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
 *    and blank the person's ids in the audit log's identify and alias rows. With per-person encryption keys,
 *    delete the person's keys too: any copy of their encrypted values left elsewhere can no longer be read.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { SuppressionList } from '../../core/suppressions.ts';
import type { Store } from '../../storage/store.ts';
import { type ErasureJob, loadJob, loadJobs, saveJob } from './jobs.ts';
import { type PersonRef, resolvePerson, unionPerson } from './person.ts';
import { createErasureSteps } from './steps.ts';

export interface ErasureRunnerOptions {
  store: Store;
  suppressions: SuppressionList;
  /** Whether the rollup's views run: without them its minutes are only deleted, not recomputed. */
  rollups: boolean;
  /** Resolves when every event acknowledged so far is in its table (the exporters' settle). */
  settleIngest(): Promise<void>;
  /** Runs `fn` while ingest INSERTs wait (the exporters' holdWrites). */
  holdWrites<T>(fn: () => Promise<T>): Promise<T>;
  /** With per-person encryption keys: deletes the persons' keys (core/keyring.ts, `shred`). */
  shredKeys?(tenantId: string, personIds: readonly string[]): Promise<void>;
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

class Stopping extends Error {}

export function createErasureRunner(opts: ErasureRunnerOptions): ErasureRunner {
  const { store } = opts;
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
  const { collect, deleteRows, rebuild, purge } = createErasureSteps({
    store,
    rollups: opts.rollups,
    holdWrites: opts.holdWrites,
    checkStopping,
    async rebuilding(work) {
      rebuilding = work.catch(() => undefined);
      try {
        await work;
      } finally {
        rebuilding = undefined;
      }
    },
  });

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
    await opts.shredKeys?.(job.tenantId, [...person.userIds, ...person.anonymousIds]);
    Object.assign(job, { status: 'done', step: 'done', completedAtMs: Date.now() });
    await save(job);
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
