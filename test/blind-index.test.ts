/**
 * Blind indexes end to end (encryption.blind_index), with the tenant's data key only (no per-person keys): equal
 * e-mail addresses of a tenant get equal `bidx.*` indexes in every attribute, so reads with a read token can
 * filter and group by them without seeing an address; the index of a value comes from an admin-only route; what
 * a sender puts under `bidx.*` is not stored; another tenant's indexes differ.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestService, type TestService } from './helpers/service.ts';

process.env.SH_TEST_BIDX_KEY = randomBytes(32).toString('base64');

const TENANTS = [
  { id: 'acme', write_keys: ['wk_acme_bidx'], read_tokens: ['rt_acme_bidx'], admin_tokens: ['at_acme_bidx'] },
  { id: 'globex', write_keys: ['wk_globex_bidx'], read_tokens: ['rt_globex_bidx'], admin_tokens: ['at_globex_bidx'] },
];
const CIPHERTEXT = /^enc:v1:dk_[A-Za-z0-9_-]+:[A-Za-z0-9+/]+=*$/;

let svc: TestService;
const now = Date.now();
const at = (s: number) => new Date(now - 60_000 + s * 1000).toISOString();
const range = { from: now - 3_600_000, to: now + 3_600_000 };

const post = async (path: string, authorization: string, body: unknown) => {
  const res = await fetch(`${svc.url}${path}`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) };
};
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
const indexOf = (token: string, attribute: string, value: string) => post('/api/v1/privacy/blind-index', `Bearer ${token}`, { attribute, value });

beforeAll(async () => {
  svc = await startTestService({
    tenants: TENANTS,
    encryption: { master_key_env: 'SH_TEST_BIDX_KEY', pii_attributes: ['user.email'], blind_index: ['email'] },
    processors: { redact: { exempt_keys: ['traits.*', 'user.email'] } },
  });
  const sent = await post('/v1/batch', basic('wk_acme_bidx'), {
    batch: [
      { type: 'identify', messageId: 'id-ann', userId: 'ann', timestamp: at(1), traits: { email: 'ann@example.com', name: 'Ann' } },
      { type: 'track', messageId: 'nl-1', event: 'newsletter', userId: 'ann', timestamp: at(2), properties: { 'user.email': 'ann@example.com' } },
      { type: 'track', messageId: 'nl-2', event: 'newsletter', userId: 'bob', timestamp: at(3), properties: { 'user.email': 'ann@example.com' } },
      {
        type: 'track',
        messageId: 'nl-3',
        event: 'newsletter',
        anonymousId: 'anon-x',
        timestamp: at(4),
        properties: { 'user.email': 'x@example.com', 'bidx.user.email': 'bidx:v1:forged', 'bidx.other': 'x' },
      },
    ],
  });
  expect([sent.status, sent.json()]).toEqual([200, { success: true }]);
});
afterAll(() => svc?.close());

it('gives equal e-mail addresses of a tenant equal indexes, which read tokens can filter and group by', async () => {
  const ann = await indexOf('at_acme_bidx', 'user.email', 'ann@example.com');
  expect(ann.status, ann.text).toBe(200);
  expect(ann.json()).toEqual({ attribute: 'bidx.user.email', value: expect.stringMatching(/^bidx:v1:[A-Za-z0-9_-]{22}$/) });
  const annIndex = ann.json().value;
  const x = (await indexOf('at_acme_bidx', 'user.email', 'x@example.com')).json().value;
  const breakdown = await post('/api/v1/analytics/reports/breakdown', 'Bearer rt_acme_bidx', {
    fields: ['bidx.user.email'],
    event_names: ['newsletter'],
    ...range,
  });
  expect(breakdown.status, breakdown.text).toBe(200);
  expect(breakdown.json().breakdowns[0].rows).toEqual([
    { value: annIndex, events: 2, people: 2 },
    { value: x, events: 1, people: 1 },
  ]);
  expect(breakdown.text).not.toContain('example.com');
});

it('stores indexes beside the ciphertexts under the tenant key, one index per value in every attribute, none a sender wrote', async () => {
  const annIndex = (await indexOf('at_acme_bidx', 'user.email', 'ann@example.com')).json().value;
  const x = (await indexOf('at_acme_bidx', 'user.email', 'x@example.com')).json().value;
  const rows = await svc.rows<{ id: string; attrs: Record<string, string> }>(
    "SELECT EventId AS id, LogAttributes AS attrs FROM signalhouse.otel_logs WHERE TenantId = 'acme' ORDER BY EventId",
  );
  const byId = Object.fromEntries(rows.map((r) => [r.id, r.attrs]));
  expect(byId['id-ann']['traits.email']).toMatch(CIPHERTEXT);
  expect(byId['id-ann']['bidx.traits.email']).toBe(annIndex);
  expect(byId['id-ann']['bidx.traits.name']).toBeUndefined();
  expect(byId['nl-3']['bidx.user.email']).toBe(x);
  expect(byId['nl-3']['bidx.other']).toBeUndefined();
  // Without per-person keys every value is sealed under the tenant's one key.
  const keys = await svc.rows<{ KeyId: string; PersonId: string }>("SELECT KeyId, PersonId FROM signalhouse.tenant_data_keys FINAL WHERE TenantId = 'acme'");
  expect(keys.map((k) => k.PersonId)).toEqual(['']);
  for (const id of ['id-ann', 'nl-1', 'nl-2']) expect((id === 'id-ann' ? byId[id]['traits.email'] : byId[id]['user.email']).split(':')[2]).toBe(keys[0].KeyId);
});

it('computes indexes for admin tokens only, per tenant, for indexed attributes only', async () => {
  const annIndex = (await indexOf('at_acme_bidx', 'user.email', 'ann@example.com')).json().value;
  expect((await indexOf('at_globex_bidx', 'user.email', 'ann@example.com')).json().value).not.toBe(annIndex);
  const read = await indexOf('rt_acme_bidx', 'user.email', 'ann@example.com');
  expect([read.status, read.json().error]).toEqual([403, 'FORBIDDEN_ROLE']);
  const unindexed = await indexOf('at_acme_bidx', 'traits.name', 'Ann');
  expect([unindexed.status, unindexed.json().message]).toEqual([400, 'attribute "traits.name" has no blind index (encryption.blind_index)']);
  const bad = await post('/api/v1/privacy/blind-index', 'Bearer at_acme_bidx', { attribute: 'user.email' });
  expect([bad.status, bad.json().error]).toEqual([400, 'BAD_REQUEST']);
});
