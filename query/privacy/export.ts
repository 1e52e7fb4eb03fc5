/**
 * Export of a person (POST /api/v1/privacy/exports): everything stored about them, as JSON lines, streamed as
 * ClickHouse produces them. The first line describes the person (the ids resolved through the identity links);
 * then one line per row, its `type` first: `identity` (first and last identify call), `trait` (the latest value
 * of each trait), `link` (anonymous id → user), `event` (otel_logs, every column), `span` (otel_traces) and
 * `audit` (their identify and alias calls in the audit log). Rows are ClickHouse's JSONEachRow output, passed
 * through without being parsed again, except those holding a ciphertext when encryption is on: they are
 * decrypted (query/decrypt.ts), as an export is for an admin token.
 */
import { AUDIT_TABLE } from '../../storage/governance.ts';
import type { Encryption } from '../../core/keyring.ts';
import type { Store } from '../../storage/store.ts';
import { decryptExportLine } from '../decrypt.ts';
import { type Person, PERSON_ROWS, personParams } from './person.ts';

/** What each kind of line reads, in order; `{tenant}`, `{users}`, `{anons}` bound. */
function sections(db: string): Array<[type: string, sql: string]> {
  const ofUsers = 'TenantId = {tenant:String} AND UserId IN {users:Array(String)}';
  return [
    ['identity', `SELECT * FROM ${db}.identities WHERE ${ofUsers} ORDER BY UserId`],
    ['trait', `SELECT * FROM ${db}.identity_traits WHERE ${ofUsers} ORDER BY Key`],
    ['link', `SELECT * FROM ${db}.identity_links WHERE TenantId = {tenant:String} AND AnonymousId IN {anons:Array(String)} ORDER BY AnonymousId`],
    ['event', `SELECT * FROM ${db}.otel_logs WHERE ${PERSON_ROWS} ORDER BY Timestamp`],
    ['span', `SELECT * FROM ${db}.otel_traces WHERE ${PERSON_ROWS} ORDER BY Timestamp`],
    [
      'audit',
      `SELECT * FROM ${db}.${AUDIT_TABLE} WHERE TenantId = {tenant:String} AND Action IN ('identify', 'alias')
         AND (UserId IN {users:Array(String)} OR AnonymousId IN {anons:Array(String)}) ORDER BY Timestamp`,
    ],
  ];
}

/** The lines of a person's export. */
export async function* exportPerson(store: Store, tenantId: string, person: Person, encryption?: Encryption): AsyncGenerator<string> {
  yield `${JSON.stringify({ type: 'person', tenant_id: tenantId, user_ids: person.userIds, anonymous_ids: person.anonymousIds, exported_at: new Date().toISOString() })}\n`;
  const params = personParams(tenantId, person);
  for (const [type, sql] of sections(store.database)) {
    const rs = await store.client.query({ query: `SELECT '${type}' AS type, * FROM (${sql})`, query_params: params, format: 'JSONEachRow' });
    for await (const rows of rs.stream()) {
      for (const row of rows as Array<{ text: string }>) yield `${encryption ? await decryptExportLine(encryption, tenantId, row.text) : row.text}\n`;
    }
  }
}
