/**
 * Erasure jobs as stored in `privacy_jobs`: every state change is a new row with a higher `Version`, and the
 * latest row is the job (ReplacingMergeTree; reads use FINAL). Nothing is updated in place, so a crash leaves the
 * last state written, and the next start resumes the jobs that are still `running`.
 */
import { PRIVACY_JOBS_TABLE } from '../../storage/governance.ts';
import { readRows, type Store } from '../../storage/store.ts';

export type JobStatus = 'running' | 'done' | 'failed';
/** Where a running job is: its steps in order (erasure.ts). */
export type JobStep = 'queued' | 'deleting' | 'rebuilding' | 'purging' | 'done' | 'failed';

export interface ErasureJob {
  readonly tenantId: string;
  readonly id: string;
  status: JobStatus;
  step: JobStep;
  readonly requestedUserId: string;
  readonly requestedAnonymousId: string;
  readonly suppress: boolean;
  /** The person's ids, once resolved. */
  userIds: string[];
  anonymousIds: string[];
  /** The rollup minutes (epoch seconds) and trace ids the person's rows were in, found before they were deleted. */
  minutes: number[];
  traceIds: string[];
  /** The partitions the person's rows were in, as `<table>/<partition id>`. */
  partitions: string[];
  erasedEvents: number;
  erasedSpans: number;
  attempts: number;
  error: string;
  /** Who asked (the credential's key id) and the request id of that call. */
  readonly actor: string;
  readonly requestId: string;
  readonly createdAtMs: number;
  updatedAtMs: number;
  completedAtMs: number | null;
}

interface JobRow {
  TenantId: string;
  Id: string;
  Status: JobStatus;
  Step: JobStep;
  RequestedUserId: string;
  RequestedAnonymousId: string;
  Suppress: number;
  UserIds: string[];
  AnonymousIds: string[];
  Minutes: number[];
  TraceIds: string[];
  Partitions: string[];
  ErasedEvents: string | number;
  ErasedSpans: string | number;
  Attempts: number;
  Error: string;
  Actor: string;
  RequestId: string;
  CreatedAt: string;
  UpdatedAt: string;
  CompletedAt: string | null;
}

const COLUMNS =
  'TenantId, Id, Status, Step, RequestedUserId, RequestedAnonymousId, Suppress, UserIds, AnonymousIds, Minutes, TraceIds, Partitions, ErasedEvents, ErasedSpans, Attempts, Error, Actor, RequestId, CreatedAt, UpdatedAt, CompletedAt';

/** DateTime64(3, 'UTC') as JSONEachRow reads and writes it. */
export const chTime = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
const fromChTime = (s: string) => Date.parse(`${s.replace(' ', 'T')}Z`);

let lastVersion = 0;
/** Increasing within this process and across restarts (clock-based). */
function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

export async function saveJob(store: Store, job: ErasureJob): Promise<void> {
  job.updatedAtMs = Date.now();
  await store.client.insert({
    table: `${store.database}.${PRIVACY_JOBS_TABLE}`,
    format: 'JSONEachRow',
    values: [
      {
        TenantId: job.tenantId,
        Id: job.id,
        Kind: 'erasure',
        Status: job.status,
        Step: job.step,
        RequestedUserId: job.requestedUserId,
        RequestedAnonymousId: job.requestedAnonymousId,
        Suppress: job.suppress ? 1 : 0,
        UserIds: job.userIds,
        AnonymousIds: job.anonymousIds,
        Minutes: job.minutes,
        TraceIds: job.traceIds,
        Partitions: job.partitions,
        ErasedEvents: job.erasedEvents,
        ErasedSpans: job.erasedSpans,
        Attempts: job.attempts,
        Error: job.error,
        Actor: job.actor,
        RequestId: job.requestId,
        CreatedAt: chTime(job.createdAtMs),
        UpdatedAt: chTime(job.updatedAtMs),
        CompletedAt: job.completedAtMs === null ? null : chTime(job.completedAtMs),
        Version: nextVersion(),
      },
    ],
    // Two saves of one job may carry equal blocks (a retried step): both must be kept, the later one wins.
    clickhouse_settings: { insert_deduplicate: 0 },
  });
}

function fromRow(r: JobRow): ErasureJob {
  return {
    tenantId: r.TenantId,
    id: r.Id,
    status: r.Status,
    step: r.Step,
    requestedUserId: r.RequestedUserId,
    requestedAnonymousId: r.RequestedAnonymousId,
    suppress: Number(r.Suppress) === 1,
    userIds: r.UserIds,
    anonymousIds: r.AnonymousIds,
    minutes: r.Minutes.map(Number),
    traceIds: r.TraceIds,
    partitions: r.Partitions,
    erasedEvents: Number(r.ErasedEvents),
    erasedSpans: Number(r.ErasedSpans),
    attempts: Number(r.Attempts),
    error: r.Error,
    actor: r.Actor,
    requestId: r.RequestId,
    createdAtMs: fromChTime(r.CreatedAt),
    updatedAtMs: fromChTime(r.UpdatedAt),
    completedAtMs: r.CompletedAt === null ? null : fromChTime(r.CompletedAt),
  };
}

export async function loadJob(store: Store, tenantId: string, id: string): Promise<ErasureJob | undefined> {
  const rows = await readRows<JobRow>(
    store,
    `SELECT ${COLUMNS} FROM ${store.database}.${PRIVACY_JOBS_TABLE} FINAL WHERE TenantId = {tenant:String} AND Id = {id:String}`,
    { tenant: tenantId, id },
  );
  return rows[0] && fromRow(rows[0]);
}

/** Every job, latest state; `status` narrows them. */
export async function loadJobs(store: Store, status?: JobStatus): Promise<ErasureJob[]> {
  const where = status ? 'WHERE Status = {status:String}' : '';
  const rows = await readRows<JobRow>(store, `SELECT ${COLUMNS} FROM ${store.database}.${PRIVACY_JOBS_TABLE} FINAL ${where} ORDER BY CreatedAt`, { status });
  return rows.map(fromRow);
}

/** A job as the API shows it. */
export function jobView(job: ErasureJob) {
  return {
    id: job.id,
    status: job.status,
    step: job.step,
    ...(job.requestedUserId ? { user_id: job.requestedUserId } : { anonymous_id: job.requestedAnonymousId }),
    suppress: job.suppress,
    erased: { events: job.erasedEvents, spans: job.erasedSpans },
    attempts: job.attempts,
    created_at: new Date(job.createdAtMs).toISOString(),
    completed_at: job.completedAtMs === null ? null : new Date(job.completedAtMs).toISOString(),
    ...(job.error ? { error: job.error } : {}),
  };
}
