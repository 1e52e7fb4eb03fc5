/**
 * The tables of data governance (docs/privacy.md): the privacy jobs, the audit log and the view that records
 * identify and alias calls in it. Their migrations are entries of schema.ts; the query layer's privacy routes
 * read and write them.
 */

/** What these DDL builders need of schema.ts' DdlContext (not imported: schema.ts imports this file). */
interface Ddl {
  readonly db: string;
  readonly onCluster: string;
  engine(kind: 'MergeTree' | 'ReplacingMergeTree', table: string, args?: string): string;
}

/** Erasure jobs, one row per state change (ReplacingMergeTree by `Version`: the latest row is the job). */
export const PRIVACY_JOBS_TABLE = 'privacy_jobs';
/** The audit log: append-only (docs/privacy.md, "Audit log"). */
export const AUDIT_TABLE = 'audit_log';
/** The materialized view recording identify and alias calls in the audit log. */
export const AUDIT_IDENTITY_VIEW = 'audit_identity_mv';

/** Event names of identify calls and of alias calls, as the receivers store them. */
export const IDENTIFY_EVENT_NAMES = ['identify', '$identify'] as const;
export const ALIAS_EVENT_NAMES = ['alias', '$create_alias'] as const;
const inList = (names: readonly string[]) => `(${names.map((n) => `'${n}'`).join(', ')})`;

export function privacyJobsDdl({ db, onCluster, engine }: Ddl): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${PRIVACY_JOBS_TABLE}${onCluster} (
      TenantId LowCardinality(String),
      Id String,
      Kind LowCardinality(String),
      Status LowCardinality(String),
      Step LowCardinality(String),
      RequestedUserId String,
      RequestedAnonymousId String,
      Suppress UInt8,
      UserIds Array(String),
      AnonymousIds Array(String),
      Minutes Array(UInt32),
      TraceIds Array(String),
      Partitions Array(String),
      ErasedEvents UInt64,
      ErasedSpans UInt64,
      Attempts UInt32,
      Error String,
      Actor String,
      RequestId String,
      CreatedAt DateTime64(3, 'UTC'),
      UpdatedAt DateTime64(3, 'UTC'),
      CompletedAt Nullable(DateTime64(3, 'UTC')),
      Version UInt64
    ) ENGINE = ${engine('ReplacingMergeTree', PRIVACY_JOBS_TABLE, 'Version')}
    ORDER BY (TenantId, Id)`,
  ];
}

/**
 * The audit log and the view that fills it from otel_logs for identify and alias calls, then the calls stored
 * before it (idempotent: a call already recorded is skipped, so a crash part-way is harmless). The view's rows
 * name the tenant, not which of its write keys (events do not carry their key); their request id is the
 * event id. The table keeps a deduplication window, so a retried INSERT into otel_logs is recorded once.
 */
export function auditDdl({ db, onCluster, engine }: Ddl): string[] {
  const identityEvents = inList([...IDENTIFY_EVENT_NAMES, ...ALIAS_EVENT_NAMES]);
  const select = `
      SELECT toDateTime64(if(ObservedTimestamp > 0, ObservedTimestamp, Timestamp), 3, 'UTC') AS Timestamp, TenantId,
        'write_key' AS Actor, 'write' AS Role,
        if(EventName IN ${inList(IDENTIFY_EVENT_NAMES)}, 'identify', 'alias') AS Action,
        EventId AS Target, toUInt16(200) AS Status, EventId AS RequestId, UserId,
        if(AnonymousId != '', AnonymousId, LogAttributes['alias.previous_id']) AS AnonymousId,
        toJSONString(map('service', ServiceName, 'event', EventName)) AS Details
      FROM ${db}.otel_logs
      WHERE EventName IN ${identityEvents}`;
  return [
    `CREATE TABLE IF NOT EXISTS ${db}.${AUDIT_TABLE}${onCluster} (
      Timestamp DateTime64(3, 'UTC'),
      TenantId LowCardinality(String),
      Actor String,
      Role LowCardinality(String),
      Action LowCardinality(String),
      Target String,
      Status UInt16,
      RequestId String,
      UserId String,
      AnonymousId String,
      Details String
    ) ENGINE = ${engine('MergeTree', AUDIT_TABLE)}
    PARTITION BY toYYYYMM(Timestamp)
    ORDER BY (TenantId, Timestamp)
    SETTINGS non_replicated_deduplication_window = 1000`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${AUDIT_IDENTITY_VIEW}${onCluster} TO ${db}.${AUDIT_TABLE} AS ${select}`,
    `INSERT INTO ${db}.${AUDIT_TABLE} ${select}
        AND (TenantId, EventId) NOT IN (SELECT TenantId, Target FROM ${db}.${AUDIT_TABLE} WHERE Action IN ('identify', 'alias'))`,
  ];
}
