/**
 * Erasure, export, suppression and the audit log end to end, through the real APIs on the embedded store. Tenant
 * acme holds Alice, Bob and Carol; tenant control holds the same data without Alice (test/helpers/people.ts).
 * Once Alice is erased from acme, every report, rollup read, funnel, count and query of acme must answer exactly
 * what control answers, and the stored rows (events, spans, identities, rollup, trace index, audit) must match
 * too: she is gone, and nobody else's numbers moved. Globex holds an Alice of its own, untouched.
 */
import { createHash } from 'node:crypto';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, answers as answersAt, FROM, sendAfterErasure, sendPeople, stored as storedIn, TO } from './helpers/people.ts';
import { startTestService, type TestService } from './helpers/service.ts';

const TENANTS = [
  { id: 'acme', write_keys: ['wk_acme_privacy'], read_tokens: ['rt_acme_privacy'], admin_tokens: ['at_acme_privacy'] },
  { id: 'control', write_keys: ['wk_control_privacy'], read_tokens: ['rt_control_privacy'], admin_tokens: ['at_control_privacy'] },
  {
    id: 'globex',
    write_keys: ['wk_globex_privacy'],
    read_tokens: ['rt_globex_privacy'],
    admin_tokens: [`sha256:${createHash('sha256').update('at_globex_privacy').digest('hex')}`],
  },
];
const keyId = (role: string, token: string) => `${role}:sha256:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;

const idp = await generateKeyPair('ES256');
const jwt = (claims: Record<string, unknown>) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('https://idp.test')
    .setAudience('signalhouse')
    .setSubject('ops')
    .setExpirationTime('10m')
    .sign(idp.privateKey);

let svc: TestService;
beforeAll(async () => {
  const jwtConfig = { public_key: await exportSPKI(idp.publicKey), issuer: 'https://idp.test', audience: 'signalhouse' };
  svc = await startTestService({ tenants: TENANTS, auth: { jwt: jwtConfig } });
  await sendPeople(svc.url, 'wk_acme_privacy', true);
  await sendPeople(svc.url, 'wk_control_privacy', false);
  await sendPeople(svc.url, 'wk_globex_privacy', true);
});
afterAll(() => svc?.close());

const call = async (method: string, path: string, token: string, body?: unknown) => {
  const res = await fetch(`${svc.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
};

const answers = (readToken: string) => answersAt(svc.url, readToken);
const stored = (tenant: string) => storedIn((sql, params) => svc.rows(sql, params), tenant);

const exportLines = async (token: string, body: unknown) => {
  const r = await call('POST', '/api/v1/privacy/exports', token, body);
  expect(r.status, r.text).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
  return r.text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
};

describe('roles', () => {
  it('refuses the admin routes to write keys, read tokens, unknown and missing tokens, with what each is for', async () => {
    const body = { user_id: 'alice' };
    const read = await call('POST', '/api/v1/privacy/erasures', 'rt_acme_privacy', body);
    expect([read.status, read.json()]).toEqual([403, { error: 'FORBIDDEN_ROLE', message: 'a read token only queries: this route needs an admin token' }]);
    const write = await call('POST', '/api/v1/privacy/exports', 'wk_acme_privacy', body);
    expect([write.status, write.json().message]).toEqual([403, 'a write key only ingests: this route needs an admin token']);
    expect((await call('GET', '/api/v1/audit', 'rt_acme_privacy')).status).toBe(403);
    const unknown = await call('POST', '/api/v1/privacy/erasures', 'at_nobody_has_this', body);
    expect([unknown.status, unknown.json()]).toEqual([401, { error: 'UNAUTHENTICATED', message: 'unknown admin token' }]);
    const none = await fetch(`${svc.url}/api/v1/privacy/erasures/x`);
    expect([none.status, (await none.json()).message]).toEqual([401, 'missing admin token: send "Authorization: Bearer <admin token>"']);
  });

  it('refuses the query API to admin tokens and write keys', async () => {
    const range = { from: FROM, to: TO };
    const admin = await call('POST', '/api/v1/analytics/counts/users', 'at_acme_privacy', range);
    expect([admin.status, admin.json().error]).toEqual([403, 'FORBIDDEN_ROLE']);
    expect(admin.json().message).toBe('an admin token only runs the admin routes (privacy jobs, the audit log): this route needs a read token');
    const write = await call('POST', '/api/v1/analytics/counts/users', 'wk_acme_privacy', range);
    expect([write.status, write.json().message]).toEqual([403, 'a write key only ingests: this route needs a read token']);
  });

  it('keeps an admin token to its tenant: a body naming another is refused, its jobs are not found elsewhere', async () => {
    const other = await call('POST', '/api/v1/privacy/erasures', 'at_acme_privacy', { user_id: 'alice', tenant_id: 'globex' });
    expect([other.status, other.json()]).toEqual([
      403,
      { error: 'FORBIDDEN_TENANT', message: 'this admin token is tenant "acme"\'s: it cannot act for tenant "globex"' },
    ]);
    const exported = await call('POST', '/api/v1/privacy/exports', 'at_globex_privacy', { user_id: 'alice', tenant_id: 'acme' });
    expect(exported.status).toBe(403);
  });

  it('takes bearer JWTs by their tenant and role claims, each role to its own routes and tenant', async () => {
    const admin = await jwt({ tenant: 'acme', role: 'admin' });
    expect((await call('GET', '/api/v1/audit?limit=1', admin)).status).toBe(200);
    const asRead = await call('POST', '/api/v1/analytics/counts/users', admin, { from: FROM, to: TO });
    expect([asRead.status, asRead.json().error]).toEqual([403, 'FORBIDDEN_ROLE']);
    const read = await jwt({ tenant: 'acme', role: 'read' });
    expect((await call('POST', '/api/v1/analytics/counts/users', read, { from: FROM, to: TO })).status).toBe(200);
    expect((await call('POST', '/api/v1/privacy/erasures', read, { user_id: 'bob' })).status).toBe(403);
    const elsewhere = await call('POST', '/api/v1/privacy/erasures', await jwt({ tenant: 'globex', role: 'admin' }), { user_id: 'bob', tenant_id: 'acme' });
    expect([elsewhere.status, elsewhere.json().error]).toEqual([403, 'FORBIDDEN_TENANT']);
    const forged = await call('GET', '/api/v1/audit', `${admin.slice(0, -4)}AAAA`);
    expect([forged.status, forged.json().error]).toEqual([401, 'UNAUTHENTICATED']);
  });

  it('answers hostile bodies with 400 naming the problem', async () => {
    for (const body of [
      {},
      { user_id: 'a', anonymous_id: 'b' },
      { user_id: '' },
      { user_id: 'a', extra: 1 },
      { user_id: 7 },
      { user_id: 'a', suppress: 'yes' },
    ]) {
      const r = await call('POST', '/api/v1/privacy/erasures', 'at_acme_privacy', body);
      expect([JSON.stringify(body), r.status, r.json().error]).toEqual([JSON.stringify(body), 400, 'BAD_REQUEST']);
    }
    const bad = await call('GET', '/api/v1/audit?limit=0', 'at_acme_privacy');
    expect([bad.status, bad.json().error]).toEqual([400, 'BAD_REQUEST']);
  });
});

describe('export and erasure of a person', () => {
  let jobId = '';

  it('exports everything stored about a stitched person as JSON lines', async () => {
    const lines = await exportLines('at_acme_privacy', { anonymous_id: 'a-old-2' });
    expect(lines[0]).toMatchObject({ type: 'person', tenant_id: 'acme', user_ids: ['alice'], anonymous_ids: ALICE.anonymousIds });
    const byType = (t: string) => lines.filter((l) => l.type === t);
    expect(byType('identity').map((l) => [l.UserId, Number(l.IdentifyCalls)])).toEqual([['alice', 1]]);
    expect(byType('trait').map((l) => [l.Key, l.Value])).toEqual([
      ['name', 'Alice A.'],
      ['plan', 'pro'],
    ]);
    expect(byType('link').map((l) => [l.AnonymousId, l.UserId])).toEqual([
      ['a-anon-1', 'alice'],
      ['a-old-2', 'alice'],
    ]);
    // Her 15 events (as alice, a-anon-1 and a-old-2, identify and alias included); not Bob's event on her device.
    const events = byType('event');
    expect(events).toHaveLength(15);
    expect(events.every((e) => e.UserId === 'alice' || (e.UserId === '' && ALICE.anonymousIds.includes(String(e.AnonymousId))))).toBe(true);
    expect(byType('span').map((s) => s.SpanId)).toEqual(['0000000000000003', '0000000000000004', '0000000000000005']);
    expect(byType('audit').map((a) => a.Action)).toEqual(['identify', 'alias']);
    expect(lines.filter((l) => l.TenantId !== undefined && l.TenantId !== 'acme')).toEqual([]);
  });

  it('shows Alice in acme before her erasure: acme and control differ', async () => {
    expect(await answers('rt_acme_privacy')).not.toEqual(await answers('rt_control_privacy'));
    expect(await stored('acme')).not.toEqual(await stored('control'));
  });

  it('erases her: a job that reports running, then done with its completion time', async () => {
    const created = await call('POST', '/api/v1/privacy/erasures', 'at_acme_privacy', { user_id: 'alice' });
    expect(created.status, created.text).toBe(202);
    const job = created.json();
    expect(job).toEqual({ id: expect.any(String), status: 'running' });
    expect(created.headers.get('location')).toBe(`/api/v1/privacy/erasures/${job.id}`);
    jobId = job.id;
    const done = await waitForJob('at_acme_privacy', jobId);
    expect(done).toMatchObject({ id: jobId, status: 'done', step: 'done', user_id: 'alice', suppress: true, erased: { events: 15, spans: 3 }, attempts: 1 });
    expect(Date.parse(done.completed_at)).toBeGreaterThanOrEqual(Date.parse(done.created_at));
  });

  it('leaves no query, rollup, funnel or count showing her, and everyone else as they were', async () => {
    expect(await answers('rt_acme_privacy')).toEqual(await answers('rt_control_privacy'));
    expect(await stored('acme')).toEqual(await stored('control'));
    // Gone from disk too, not only hidden.
    const masked = await svc.rows<{ n: string }>(
      "SELECT count() AS n FROM signalhouse.otel_logs WHERE TenantId = 'acme' AND UserId = 'alice' SETTINGS apply_deleted_mask = 0",
    );
    expect(masked).toEqual([{ n: 0 }]);
    // Globex's Alice is another tenant's person: untouched.
    expect((await stored('globex')).identities.map((r) => [r.UserId, Number(r.IdentifyCalls)])).toEqual([
      ['alice', 1],
      ['bob', 1],
    ]);
    const lines = await exportLines('at_acme_privacy', { user_id: 'alice' });
    expect(lines.map((l) => l.type)).toEqual(['person']);
  });

  it('does not show the job to another tenant', async () => {
    const r = await call('GET', `/api/v1/privacy/erasures/${jobId}`, 'at_globex_privacy');
    expect([r.status, r.json()]).toEqual([404, { error: 'NOT_FOUND', message: `tenant "globex" has no erasure job "${jobId}"` }]);
  });

  it('suppresses her further events: dropped with a reason, not stored; others on her device still stored', async () => {
    const reply = await sendAfterErasure(svc.url, 'wk_acme_privacy');
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({
      accepted: 1,
      dropped: [
        { index: 0, reason: 'suppressed' },
        { index: 1, reason: 'suppressed' },
      ],
    });
    const late = await svc.rows<{ EventId: string }>(
      "SELECT EventId FROM signalhouse.otel_logs WHERE TenantId = 'acme' AND EventId LIKE 'late-%' ORDER BY EventId",
    );
    expect(late).toEqual([{ EventId: 'late-3' }]);
  });
});

describe('audit log', () => {
  it('records identify, alias, erasure, export and refused calls, without secrets, per tenant', async () => {
    const r = await call('GET', '/api/v1/audit', 'at_acme_privacy');
    expect(r.status, r.text).toBe(200);
    const entries = r.json().entries as Array<Record<string, unknown>>;
    const of = (action: string) => entries.filter((e) => e.action === action);
    // Identify calls: Bob's as recorded, Alice's with her ids blanked by the erasure.
    const identify = of('identify').sort((a, b) => String(a.user_id ?? '').localeCompare(String(b.user_id ?? '')));
    expect(identify.map((e) => [e.actor, e.user_id, e.anonymous_id, e.status])).toEqual([
      ['write_key', undefined, undefined, 200],
      ['write_key', 'bob', 'b-anon', 200],
    ]);
    expect(identify[0].details).toEqual({ erased_by: expect.any(String) });
    expect(of('alias').map((e) => [e.user_id, e.anonymous_id])).toEqual([[undefined, undefined]]);
    const erasure = of('privacy.erasure.create');
    expect(erasure.map((e) => [e.actor, e.role, e.status])).toContainEqual([keyId('admin', 'at_acme_privacy'), 'admin', 202]);
    expect(erasure.map((e) => [e.actor, e.role, e.status])).toContainEqual([keyId('read', 'rt_acme_privacy'), 'read', 403]);
    expect(erasure.every((e) => typeof e.request_id === 'string' && (e.request_id as string).length === 36)).toBe(true);
    expect(of('privacy.export').length).toBeGreaterThanOrEqual(3);
    expect(of('privacy.erasure.read').length).toBeGreaterThanOrEqual(1);
    // Refused cross-tenant call: recorded under the caller's tenant.
    expect(erasure.map((e) => e.status)).toContain(403);
    expect(r.text).not.toMatch(/at_acme_privacy|rt_acme_privacy|wk_acme_privacy|alice/);
    const globex = (await call('GET', '/api/v1/audit', 'at_globex_privacy')).json().entries as Array<Record<string, unknown>>;
    expect(
      globex
        .filter((e) => e.action === 'identify')
        .map((e) => e.user_id)
        .sort(),
    ).toEqual(['alice', 'bob']);
    expect(globex.some((e) => e.actor === keyId('admin', 'at_acme_privacy'))).toBe(false);
    const filtered = (await call('GET', '/api/v1/audit?action=privacy.export&limit=2', 'at_acme_privacy')).json().entries;
    expect(filtered.map((e: { action: string }) => e.action)).toEqual(['privacy.export', 'privacy.export']);
  });
});

async function waitForJob(token: string, id: string): Promise<Record<string, string> & { status: string }> {
  for (;;) {
    const r = await call('GET', `/api/v1/privacy/erasures/${id}`, token);
    expect(r.status, r.text).toBe(200);
    const job = r.json();
    if (job.status !== 'running') return job;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
