/**
 * Encryption at rest end to end, through the real APIs on the embedded store, restarted on one data directory:
 * traits and PII attributes are stored as ciphertext (read here with SQL), shown in clear only to admin reads
 * (the export, the people API with an admin token), never to read tokens or another tenant; a ciphertext moved
 * to another tenant or attribute is refused per value, not with a failed request; data keys survive restarts
 * and a master key rotation; a wrong or missing master key stops the start with a config error; and erasing a
 * person shreds their key, so a copy of their rows restored afterwards cannot be read.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../core/config.ts';
import { startTestService, type TestService } from './helpers/service.ts';

process.env.SH_TEST_MK1 = randomBytes(32).toString('hex');
process.env.SH_TEST_MK2 = randomBytes(32).toString('base64');
process.env.SH_TEST_MK_WRONG = randomBytes(32).toString('hex');
process.env.SH_TEST_MK_BAD = 'not-a-key';

const TENANTS = [
  { id: 'acme', write_keys: ['wk_acme_enc'], read_tokens: ['rt_acme_enc'], admin_tokens: ['at_acme_enc'] },
  { id: 'globex', write_keys: ['wk_globex_enc'], read_tokens: ['rt_globex_enc'], admin_tokens: ['at_globex_enc'] },
];
const K1 = { id: 'k1', env: 'SH_TEST_MK1' };
const K2 = { id: 'k2', env: 'SH_TEST_MK2' };
const CIPHERTEXT = /^enc:v1:dk_[A-Za-z0-9_-]+:[A-Za-z0-9+/]+=*$/;

const dataDir = mkdtempSync(join(tmpdir(), 'sh-encryption-'));
const overrides = (masterKeys: unknown[], perPersonKeys: boolean) => ({
  tenants: TENANTS,
  encryption: {
    master_keys: masterKeys,
    pii_attributes: ['user.email'],
    blind_index: ['email'],
    tenants: { globex: { pii_attributes: ['phone'] } },
    per_person_keys: perPersonKeys,
  },
  // Redact would mask the e-mail addresses: they are to be stored whole, encrypted.
  processors: { redact: { exempt_keys: ['traits.*', 'user.email'] } },
});
const start = (masterKeys: unknown[], perPersonKeys = true) => startTestService(overrides(masterKeys, perPersonKeys), { dataDir });

let svc: TestService;
afterAll(async () => {
  await svc?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const now = Date.now();
const at = (s: number) => new Date(now - 60_000 + s * 1000).toISOString();
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
async function send(writeKey: string, batch: unknown[]): Promise<void> {
  const res = await fetch(`${svc.url}/v1/batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic(writeKey) },
    body: JSON.stringify({ batch }),
  });
  expect([res.status, await res.json()]).toEqual([200, { success: true }]);
}
const call = async (path: string, token: string, body: unknown) => {
  const res = await fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, requestId: res.headers.get('x-request-id'), json: () => JSON.parse(text) };
};
// biome-ignore lint/suspicious/noExplicitAny: JSON lines of the export and the people API, read field by field
type Line = Record<string, any>;
async function exportOf(token: string, body: unknown): Promise<Line[]> {
  const r = await call('/api/v1/privacy/exports', token, body);
  expect(r.status, r.text).toBe(200);
  return r.text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}
const people = (token: string, id: string) => call('/api/v1/analytics/people', token, { id, from: now - 3_600_000, to: now + 3_600_000 });
const traitsOf = (lines: Line[]) => Object.fromEntries(lines.filter((l) => l.type === 'trait').map((l) => [l.Key, l.Value]));
const eventOf = (lines: Line[], name: string) => lines.find((l) => l.type === 'event' && l.EventName === name)!;

beforeAll(async () => {
  svc = await start([K1]);
  await send('wk_acme_enc', [
    { type: 'identify', messageId: 'id-ann', userId: 'ann', timestamp: at(1), traits: { email: 'ann@example.com', name: 'Ann Lee 🌷', plan: 'pro' } },
    {
      type: 'track',
      messageId: 'tr-ann',
      event: 'signup',
      userId: 'ann',
      timestamp: at(2),
      properties: { 'user.email': 'ann@example.com', path: '/pricing', phone: 'landline' },
    },
    { type: 'identify', messageId: 'id-bob', userId: 'bob', timestamp: at(3), traits: { email: 'bob@example.com' } },
    { type: 'track', messageId: 'tr-anon', event: 'signup', anonymousId: 'anon-x', timestamp: at(4), properties: { 'user.email': 'x@example.com' } },
  ]);
  const nanos = (s: number) => String(BigInt(now - 60_000 + s * 1000) * 1_000_000n);
  const str = (key: string, value: string) => ({ key, value: { stringValue: value } });
  const span = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', name: 'checkout', kind: 2 };
  const traces = await fetch(`${svc.url}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer wk_acme_enc' },
    body: JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [str('service.name', 'shop-api')] },
          scopeSpans: [
            {
              scope: { name: 'test' },
              spans: [
                {
                  ...span,
                  startTimeUnixNano: nanos(2),
                  endTimeUnixNano: nanos(3),
                  attributes: [str('user.id', 'ann'), str('user.email', 'ann@example.com'), str('http.route', '/checkout')],
                },
              ],
            },
          ],
        },
      ],
    }),
  });
  expect(traces.status).toBe(200);
  await send('wk_globex_enc', [
    {
      type: 'track',
      messageId: 'tr-gx',
      event: 'call',
      userId: 'gina',
      timestamp: at(5),
      properties: { phone: '+15550100', 'contact.Phone': '+15550101', 'user.email': 'g@example.com', phone_type: 'mobile' },
    },
  ]);
});

describe('what is stored', () => {
  it('stores traits and PII attributes as ciphertext under the person key, and the rest in clear', async () => {
    const rows = await svc.rows<{ id: string; name: string; user: string; attrs: Record<string, string> }>(
      "SELECT EventId AS id, EventName AS name, UserId AS user, LogAttributes AS attrs FROM signalhouse.otel_logs WHERE TenantId = 'acme' ORDER BY EventId",
    );
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    const ann = byId['id-ann'].attrs;
    for (const k of ['traits.email', 'traits.name', 'traits.plan']) expect(ann[k]).toMatch(CIPHERTEXT);
    expect(JSON.stringify(rows)).not.toMatch(/example\.com|Ann Lee|"pro"/);
    // `phone` is PII for globex only.
    expect(byId['tr-ann']).toMatchObject({ name: 'signup', user: 'ann', attrs: { path: '/pricing', phone: 'landline' } });
    expect(byId['tr-ann'].attrs['user.email']).toMatch(CIPHERTEXT);
    // Ann's values are sealed under her own key, Bob's and the anonymous person's under theirs.
    const keys = await svc.rows<{ PersonId: string; KeyId: string; MasterKeyId: string }>(
      `SELECT PersonId, KeyId, MasterKeyId FROM signalhouse.tenant_data_keys FINAL WHERE TenantId = 'acme' ORDER BY PersonId`,
    );
    expect(keys.map((k) => [k.PersonId, k.MasterKeyId])).toEqual([
      ['', 'k1'],
      ['ann', 'k1'],
      ['anon-x', 'k1'],
      ['bob', 'k1'],
    ]);
    const keyOf = (v: string) => v.split(':')[2];
    expect(keyOf(ann['traits.email'])).toBe(keys.find((k) => k.PersonId === 'ann')!.KeyId);
    expect(keyOf(byId['tr-anon'].attrs['user.email'])).toBe(keys.find((k) => k.PersonId === 'anon-x')!.KeyId);
    // The views over the events (what Grafana and direct ClickHouse reads see) hold ciphertext too.
    const traits = await svc.rows<{ Value: string }>("SELECT Value FROM signalhouse.identity_traits WHERE TenantId = 'acme'");
    expect(traits).toHaveLength(4);
    for (const t of traits) expect(t.Value).toMatch(CIPHERTEXT);
  });

  it('encrypts PII attributes of spans too', async () => {
    const [row] = await svc.rows<{ user: string; attrs: Record<string, string> }>(
      "SELECT UserId AS user, SpanAttributes AS attrs FROM signalhouse.otel_traces WHERE TenantId = 'acme'",
    );
    expect(row.user).toBe('ann');
    expect(row.attrs['user.email']).toMatch(CIPHERTEXT);
    expect(row.attrs['http.route']).toBe('/checkout');
  });

  it("encrypts a tenant's own PII attributes besides the global ones, and only its own", async () => {
    const [gina] = await svc.rows<{ attrs: Record<string, string> }>(
      "SELECT LogAttributes AS attrs FROM signalhouse.otel_logs WHERE TenantId = 'globex' AND EventId = 'tr-gx'",
    );
    expect(gina.attrs.phone).toMatch(CIPHERTEXT);
    // Matched as redact's blocked_keys are: the key, or its last dotted part in any case.
    expect(gina.attrs['contact.Phone']).toMatch(CIPHERTEXT);
    expect(gina.attrs.phone_type).toBe('mobile');
    expect(gina.attrs['user.email']).toMatch(CIPHERTEXT);
  });
});

describe('who reads plaintext', () => {
  it("shows an admin token's export in clear", async () => {
    const lines = await exportOf('at_acme_enc', { user_id: 'ann' });
    expect(traitsOf(lines)).toEqual({ email: 'ann@example.com', name: 'Ann Lee 🌷', plan: 'pro' });
    expect(eventOf(lines, 'signup').LogAttributes).toMatchObject({ 'user.email': 'ann@example.com', path: '/pricing' });
    expect(eventOf(lines, 'identify').LogAttributes['traits.email']).toBe('ann@example.com');
    expect(lines.find((l) => l.type === 'span')?.SpanAttributes).toMatchObject({ 'user.email': 'ann@example.com', 'http.route': '/checkout' });
    expect(lines.some((l) => 'decryption_errors' in l)).toBe(false);
  });

  it('shows traits in clear to admin tokens on the people API, and as stored to read tokens', async () => {
    const admin = await people('at_acme_enc', 'ann');
    expect(admin.status, admin.text).toBe(200);
    expect(Object.fromEntries(admin.json().traits.map((t: Line) => [t.key, t.value]))).toEqual({ email: 'ann@example.com', name: 'Ann Lee 🌷', plan: 'pro' });
    expect(admin.json().events.find((e: Line) => e.event_name === 'signup').attributes['user.email']).toBe('ann@example.com');
    const audited = await fetch(`${svc.url}/api/v1/audit?action=people.read`, { headers: { authorization: 'Bearer at_acme_enc' } }).then((r) => r.json());
    expect(audited.entries).toEqual([
      expect.objectContaining({ action: 'people.read', role: 'admin', target: 'user', status: 200, request_id: admin.requestId, details: { decrypted: true } }),
    ]);
    const read = await people('rt_acme_enc', 'ann');
    expect(read.status).toBe(200);
    expect(read.text).not.toContain('example.com');
    for (const t of read.json().traits) expect(t.value).toMatch(CIPHERTEXT);
  });

  it('gives reports ciphertext, and other tenants nothing of it', async () => {
    const breakdown = await call('/api/v1/analytics/reports/breakdown', 'rt_acme_enc', { fields: ['user.email'], from: now - 3_600_000, to: now + 3_600_000 });
    expect(breakdown.status).toBe(200);
    const values = breakdown.json().breakdowns[0].rows.map((r: Line) => r.value);
    expect(values).toHaveLength(2);
    for (const v of values) expect(v).toMatch(CIPHERTEXT);
    expect((await people('at_globex_enc', 'ann')).status).toBe(404);
    const other = await exportOf('at_globex_enc', { user_id: 'ann' });
    expect(other.map((l) => l.type)).toEqual(['person']);
    expect((await call('/api/v1/privacy/exports', 'rt_acme_enc', { user_id: 'ann' })).status).toBe(403);
  });

  it('refuses a ciphertext copied to another tenant or another attribute, per value, without failing the read', async () => {
    const [signup] = await svc.rows<{ v: string }>(
      "SELECT LogAttributes['user.email'] AS v FROM signalhouse.otel_logs WHERE TenantId = 'acme' AND EventId = 'tr-ann'",
    );
    const copy = (tenant: string, user: string, key: string) =>
      svc.service.store.client.command({
        query: `INSERT INTO signalhouse.otel_logs (Timestamp, TenantId, EventName, EventId, UserId, LogAttributes)
          SELECT now64(9), {tenant:String}, 'copied', {id:String}, {user:String}, map({key:String}, {value:String})`,
        query_params: { tenant, user, key, id: `copy-${tenant}-${key}`, value: signup.v },
      });
    await copy('globex', 'mallory', 'user.email');
    await copy('acme', 'ann', 'user.secondary_email');
    const globex = eventOf(await exportOf('at_globex_enc', { user_id: 'mallory' }), 'copied');
    expect(globex.LogAttributes['user.email']).toBe(signup.v);
    expect(globex.decryption_errors['user.email']).toMatch(
      /^tenant "globex" has no data key dk_\S+: it was shredded by an erasure, or the value is not this tenant's$/,
    );
    const acme = eventOf(await exportOf('at_acme_enc', { user_id: 'ann' }), 'copied');
    expect(acme.LogAttributes['user.secondary_email']).toBe(signup.v);
    expect(acme.decryption_errors['user.secondary_email']).toMatch(/^authentication failed/);
  });
});

const indexOf = (token: string, attribute: string, value: string) => call('/api/v1/privacy/blind-index', token, { attribute, value });

describe('keys across restarts', () => {
  it('keeps the data keys over a restart', async () => {
    await svc.close();
    svc = await start([K1]);
    expect(traitsOf(await exportOf('at_acme_enc', { user_id: 'ann' })).email).toBe('ann@example.com');
    const [n] = await svc.rows<{ n: string }>("SELECT count() AS n FROM signalhouse.tenant_data_keys FINAL WHERE PersonId = ''");
    expect(Number(n.n)).toBe(2);
  });

  it('reads old data after a new master key is added, re-wraps every data key under it, and then needs only it', async () => {
    const annIndex = (await indexOf('at_acme_enc', 'user.email', 'ann@example.com')).json().value;
    expect(annIndex).toMatch(/^bidx:v1:/);
    await svc.close();
    svc = await start([K2, K1]);
    expect(traitsOf(await exportOf('at_acme_enc', { user_id: 'ann' })).email).toBe('ann@example.com');
    const wraps = await svc.rows<{ m: string; n: string }>('SELECT MasterKeyId AS m, count() AS n FROM signalhouse.tenant_data_keys FINAL GROUP BY m');
    expect(wraps.map((w) => [w.m, Number(w.n)])).toEqual([['k2', 6]]);
    await send('wk_acme_enc', [{ type: 'identify', messageId: 'id-cy', userId: 'cy', timestamp: at(6), traits: { email: 'cy@example.com' } }]);
    await svc.close();
    svc = await start([K2]);
    expect(traitsOf(await exportOf('at_acme_enc', { user_id: 'ann' })).email).toBe('ann@example.com');
    expect(traitsOf(await exportOf('at_acme_enc', { user_id: 'cy' })).email).toBe('cy@example.com');
    // Blind indexes come from the tenant's data key, which a master key rotation does not change.
    expect((await indexOf('at_acme_enc', 'user.email', 'ann@example.com')).json().value).toBe(annIndex);
  });

  it('seals new values under the tenant key once per-person keys are off, and still reads those sealed under person keys', async () => {
    await svc.close();
    svc = await start([K2], false);
    await send('wk_acme_enc', [{ type: 'identify', messageId: 'id-dee', userId: 'dee', timestamp: at(7), traits: { email: 'dee@example.com' } }]);
    const [dee] = await svc.rows<{ v: string }>("SELECT LogAttributes['traits.email'] AS v FROM signalhouse.otel_logs WHERE EventId = 'id-dee'");
    const [tenantKey] = await svc.rows<{ KeyId: string }>("SELECT KeyId FROM signalhouse.tenant_data_keys FINAL WHERE TenantId = 'acme' AND PersonId = ''");
    expect(dee.v).toMatch(CIPHERTEXT);
    expect(dee.v.split(':')[2]).toBe(tenantKey.KeyId);
    expect(await svc.rows("SELECT KeyId FROM signalhouse.tenant_data_keys WHERE PersonId = 'dee'")).toEqual([]);
    expect(traitsOf(await exportOf('at_acme_enc', { user_id: 'dee' })).email).toBe('dee@example.com');
    expect(traitsOf(await exportOf('at_acme_enc', { user_id: 'ann' })).email).toBe('ann@example.com');
  });

  it('stops the start with a config error for a wrong, unknown, missing or malformed master key', async () => {
    await svc.close();
    const failure = async (masterKeys: unknown[]) => {
      const err = await start(masterKeys).then(
        (s) => s.close().then(() => new Error('started')),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).problems;
    };
    expect((await failure([{ id: 'k2', env: 'SH_TEST_MK_WRONG' }]))[0]).toMatch(
      /^encryption: master key "k2" does not unwrap data key dk_\S+ of tenant "\w+": is it the right key\?$/,
    );
    expect((await failure([{ id: 'k3', env: 'SH_TEST_MK_WRONG' }]))[0]).toMatch(/is wrapped by master key "k2", which is not configured$/);
    expect(await failure([{ id: 'k2', env: 'SH_TEST_MK_UNSET' }])).toEqual([
      'encryption.master_keys.0: environment variable SH_TEST_MK_UNSET is not set (master key "k2")',
    ]);
    expect(await failure([K2, { id: 'k4', env: 'SH_TEST_MK_BAD' }])).toEqual([
      'encryption.master_keys.1: master key "k4" is not a key: expected 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)',
    ]);
    expect((await failure([{ id: 'k2', file: join(dataDir, 'no-such-key') }]))[0]).toBe('encryption.master_keys.0: cannot read master key file: ENOENT');
    svc = await start([K2]);
  });
});
