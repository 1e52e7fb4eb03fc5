/**
 * The flags API on a real service: create, read, change, delete, each change a version row and an audit row
 * with who and the request id; the history newest first; admin-token-only changes (read tokens read, write keys
 * only evaluate); another tenant's flags invisible; config flags read-only; hostile bodies refused with 400s
 * naming their paths; the evaluate API's `$feature_flag_called` event stored; and the flags, as stored, back
 * after a restart with the same answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../core/config.ts';
import { createService, type Service } from '../../service/service.ts';

// biome-ignore lint/suspicious/noExplicitAny: replies are read field by field, as the assertions say
type Json = Record<string, any>;

const TENANTS = [
  { id: 'acme', write_keys: ['wk_acme_flags'], read_tokens: ['rt_acme_flags'], admin_tokens: ['at_acme_flags'] },
  { id: 'globex', write_keys: ['wk_globex_flags'], read_tokens: ['rt_globex_flags'], admin_tokens: ['at_globex_flags'] },
];
const ADMIN = 'at_acme_flags';
const READ = 'rt_acme_flags';
const WRITE = 'wk_acme_flags';
const OTHER_ADMIN = 'at_globex_flags';
const CONFIG_FLAGS = { acme: [{ key: 'from-config', name: 'Declared', rolloutPercentage: 100, payload: { banner: 'hi' } }] };

const dataDir = mkdtempSync(join(tmpdir(), 'signalhouse-flags-'));
let service: Service;
let url: string;

async function start() {
  const config = parseConfig(
    {
      receivers: { otlp: { protocols: { http: {} } }, posthog: {} },
      service: { http: { host: '127.0.0.1', port: 0 }, log_level: 'warn', pipelines: { logs: { receivers: ['posthog'], exporters: ['clickhouse'] } } },
      exporters: { clickhouse: { data_dir: dataDir, batch: { max_delay: '5ms' } } },
      tenants: TENANTS,
      flags: CONFIG_FLAGS,
    },
    {},
    'test',
  );
  service = await createService(config, pino({ level: 'warn' }));
  url = await service.listen();
}
beforeAll(start);
afterAll(async () => {
  await service?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function call(method: string, path: string, token: string | undefined, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, requestId: res.headers.get('x-request-id'), json: (await res.json()) as Json };
}
async function rows<T = Record<string, unknown>>(query: string, params: Record<string, unknown> = {}) {
  await service.settle();
  return (await service.store.client.query({ query, query_params: params, format: 'JSONEachRow' })).json<T>();
}

const SEED = { name: 'New Feature', key: 'new_feature', type: 'boolean', isEnabled: true, value: true, rolloutPercentage: 50, createdBy: 'admin' };

describe('create, read, change, delete', () => {
  it('POST creates the flag (201) in the view shape; the same key again is 409', async () => {
    const res = await call('POST', '/api/feature-flags/flags', ADMIN, SEED);
    expect(res.status).toBe(201);
    expect(res.json.flag).toEqual({
      key: 'new_feature',
      name: 'New Feature',
      type: 'boolean',
      isEnabled: true,
      value: true,
      rolloutPercentage: 50,
      conditions: [],
      variants: [],
      payloads: {},
      version: 1,
      createdAt: expect.any(String),
      createdBy: 'admin',
      updatedAt: res.json.flag.createdAt,
      updatedBy: 'admin',
      source: 'api',
    });
    const again = await call('POST', '/api/feature-flags/flags', ADMIN, SEED);
    expect(again.status).toBe(409);
    expect(again.json).toMatchObject({ error: 'CONFLICT', message: expect.stringContaining('new_feature') });
  });

  it('GET lists and reads it, for admin and read tokens', async () => {
    for (const token of [ADMIN, READ]) {
      const list = await call('GET', '/api/feature-flags/flags', token);
      expect(list.status).toBe(200);
      expect(list.json.flags.map((f: { key: string }) => f.key)).toEqual(['from-config', 'new_feature']);
      const one = await call('GET', '/api/feature-flags/flags/new_feature', token);
      expect(one.json.flag).toMatchObject({ key: 'new_feature', version: 1 });
    }
  });

  it('PATCH changes it: a new version, kept createdAt/createdBy, a version row and an audit row with the request id', async () => {
    const res = await call('PATCH', '/api/feature-flags/flags/new_feature', ADMIN, {
      rolloutPercentage: 80,
      conditions: [{ properties: [{ key: 'plan', value: 'premium' }], rolloutPercentage: 100 }],
      updatedBy: 'jo',
    });
    expect(res.status).toBe(200);
    expect(res.json.flag).toMatchObject({ version: 2, rolloutPercentage: 80, createdBy: 'admin', updatedBy: 'jo' });
    const stored = await rows<{ Version: number; ChangedBy: string; RequestId: string; Deleted: number }>(
      "SELECT Version, ChangedBy, RequestId, Deleted FROM signalhouse.feature_flag_versions WHERE TenantId = 'acme' AND Key = 'new_feature' ORDER BY Version",
    );
    expect(stored.map((r) => [Number(r.Version), r.ChangedBy])).toEqual([
      [1, 'admin'],
      [2, 'jo'],
    ]);
    expect(stored[1].RequestId).toBe(res.requestId);
    const audit = await rows<{ Action: string; Actor: string; RequestId: string }>(
      "SELECT Action, Actor, RequestId FROM signalhouse.audit_log WHERE TenantId = 'acme' AND Target = 'new_feature' ORDER BY Timestamp, Action",
    );
    expect(audit.map((a) => a.Action)).toEqual(['flag.create', 'flag.update']);
    expect(audit[1]).toMatchObject({ Actor: expect.stringMatching(/^admin:sha256:/), RequestId: res.requestId });
  });

  it('history lists the versions newest first, with their definitions', async () => {
    const res = await call('GET', '/api/feature-flags/flags/new_feature/history', READ);
    expect(res.status).toBe(200);
    expect(res.json.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect(res.json.versions[0]).toMatchObject({ changedBy: 'jo', deleted: false, requestId: expect.any(String), definition: { rolloutPercentage: 80 } });
  });

  it('DELETE deletes it (a version row saying so); it is then not found; the key can be created again', async () => {
    await call('POST', '/api/feature-flags/flags', ADMIN, { key: 'short_lived' });
    const del = await call('DELETE', '/api/feature-flags/flags/short_lived', ADMIN);
    expect(del).toMatchObject({ status: 200, json: { key: 'short_lived', deleted: true } });
    expect((await call('GET', '/api/feature-flags/flags/short_lived', ADMIN)).status).toBe(404);
    expect((await call('DELETE', '/api/feature-flags/flags/short_lived', ADMIN)).status).toBe(404);
    const history = await call('GET', '/api/feature-flags/flags/short_lived/history', ADMIN);
    expect(history.json.versions.map((v: { version: number; deleted: boolean }) => [v.version, v.deleted])).toEqual([
      [2, true],
      [1, false],
    ]);
    const again = await call('POST', '/api/feature-flags/flags', ADMIN, { key: 'short_lived' });
    expect(again.json.flag.version).toBe(3);
  });
});

describe('who may do what', () => {
  it('read tokens and write keys cannot change flags (403); no token or an unknown one is 401', async () => {
    for (const token of [READ, WRITE]) {
      expect((await call('POST', '/api/feature-flags/flags', token, { key: 'nope' })).status).toBe(403);
      expect((await call('PATCH', '/api/feature-flags/flags/new_feature', token, { isEnabled: false })).status).toBe(403);
      expect((await call('DELETE', '/api/feature-flags/flags/new_feature', token)).status).toBe(403);
    }
    expect((await call('GET', '/api/feature-flags/flags', WRITE)).status).toBe(403);
    const refused = await rows<{ Action: string; Role: string; Status: number }>(
      "SELECT Action, Role, Status FROM signalhouse.audit_log WHERE TenantId = 'acme' AND Status = 403 AND Action LIKE 'flag.%' ORDER BY Timestamp",
    );
    expect(refused.map((r) => `${r.Role} ${r.Action} ${r.Status}`).sort()).toEqual([
      'read flag.create 403',
      'read flag.delete 403',
      'read flag.update 403',
      'write flag.create 403',
      'write flag.delete 403',
      'write flag.update 403',
    ]);
    expect((await call('GET', '/api/feature-flags/flags', undefined)).status).toBe(401);
    expect((await call('GET', '/api/feature-flags/flags', 'at_unknown_token')).status).toBe(401);
  });

  it("another tenant's flags are not found, and its changes do not touch ours", async () => {
    expect((await call('GET', '/api/feature-flags/flags/new_feature', OTHER_ADMIN)).status).toBe(404);
    expect((await call('PATCH', '/api/feature-flags/flags/new_feature', OTHER_ADMIN, { isEnabled: false })).status).toBe(404);
    expect((await call('POST', '/api/feature-flags/flags/new_feature/evaluate', 'wk_globex_flags', { userId: 'u' })).status).toBe(404);
    expect((await call('GET', '/api/feature-flags/flags', OTHER_ADMIN)).json.flags).toEqual([]);
    // The same key is theirs to create.
    expect((await call('POST', '/api/feature-flags/flags', OTHER_ADMIN, { key: 'new_feature' })).json.flag.version).toBe(1);
  });

  it('a flag declared in signalhouse.yaml is read-only through the API (409 saying where to change it)', async () => {
    const flag = (await call('GET', '/api/feature-flags/flags/from-config', ADMIN)).json.flag;
    expect(flag).toMatchObject({ source: 'config', payloads: { true: { banner: 'hi' } } });
    for (const [method, body] of [
      ['PATCH', { isEnabled: false }],
      ['DELETE', undefined],
    ] as const) {
      const res = await call(method, '/api/feature-flags/flags/from-config', ADMIN, body);
      expect(res.status).toBe(409);
      expect(res.json.message).toContain('signalhouse.yaml');
    }
    expect((await call('POST', '/api/feature-flags/flags', ADMIN, { key: 'from-config' })).status).toBe(409);
  });
});

describe('evaluate', () => {
  it('answers for write keys, read and admin tokens, and stores a $feature_flag_called event for the person', async () => {
    for (const token of [WRITE, READ, ADMIN]) {
      const res = await call('POST', '/api/feature-flags/flags/new_feature/evaluate', token, {
        userId: 'user123',
        attributes: { plan: 'premium', country: 'US' },
      });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ key: 'new_feature', enabled: true, value: true, variant: null, payload: null, reason: 'condition_match' });
    }
    const events = await rows<{ UserId: string; flag: string; response: string }>(
      "SELECT UserId, LogAttributes['$feature_flag'] AS flag, LogAttributes['$feature_flag_response'] AS response FROM signalhouse.otel_logs WHERE TenantId = 'acme' AND EventName = '$feature_flag_called'",
    );
    expect(events).toHaveLength(3);
    expect(events[0]).toEqual({ UserId: 'user123', flag: 'new_feature', response: 'true' });
  });

  it('a multivariate flag answers its variant and payload', async () => {
    await call('POST', '/api/feature-flags/flags', ADMIN, {
      key: 'checkout',
      type: 'multivariate',
      variants: [
        { key: 'control', rolloutPercentage: 50, payload: { layout: 'original' } },
        { key: 'new', rolloutPercentage: 50, payload: { layout: 'new' } },
      ],
    });
    const res = await call('POST', '/api/feature-flags/flags/checkout/evaluate', WRITE, { userId: 'user123' });
    expect(res.json).toMatchObject({ enabled: true, variant: expect.stringMatching(/^(control|new)$/), reason: 'condition_match' });
    expect(res.json.payload).toEqual({ layout: res.json.variant === 'control' ? 'original' : 'new' });
    expect(res.json.value).toBe(res.json.variant);
  });
});

describe('changes at once', () => {
  it('concurrent PATCHes of one flag each get a version of their own, in order, and the last is the flag', async () => {
    await call('POST', '/api/feature-flags/flags', ADMIN, { key: 'busy', rolloutPercentage: 0 });
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call('PATCH', '/api/feature-flags/flags/busy', ADMIN, { rolloutPercentage: i + 1, updatedBy: `u${i}` })),
    );
    expect(results.map((r) => r.status)).toEqual(new Array(12).fill(200));
    expect(results.map((r) => r.json.flag.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
    const last = results.find((r) => r.json.flag.version === 13)!;
    expect((await call('GET', '/api/feature-flags/flags/busy', ADMIN)).json.flag).toEqual(last.json.flag);
  });

  it('a PATCH can turn a boolean flag multivariate, giving its variants', async () => {
    const res = await call('PATCH', '/api/feature-flags/flags/busy', ADMIN, {
      type: 'multivariate',
      variants: [
        { key: 'a', rolloutPercentage: 50 },
        { key: 'b', rolloutPercentage: 50 },
      ],
    });
    expect(res.json.flag).toMatchObject({ type: 'multivariate', value: null, variants: [{ key: 'a' }, { key: 'b' }] });
    expect((await call('PATCH', '/api/feature-flags/flags/busy', ADMIN, { type: 'multivariate', variants: [] })).status).toBe(400);
  });
});

describe('the PostHog API answers the flags', () => {
  const post = async (path: string, body: object) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: (await res.json()) as Json };
  };

  it('/flags?v=2 and /decide?v=3 in their shapes, payloads included; the remote config says the tenant has flags', async () => {
    const person = { token: WRITE, distinct_id: 'decide-person', person_properties: { plan: 'premium' } };
    const v2 = await post('/flags/?v=2', person);
    expect(v2.status).toBe(200);
    expect(v2.json.featureFlags).toMatchObject({ new_feature: true, 'from-config': true });
    expect(v2.json.featureFlagPayloads).toMatchObject({ 'from-config': { banner: 'hi' } });
    expect(v2.json.flags['from-config']).toMatchObject({
      key: 'from-config',
      enabled: true,
      reason: { code: 'condition_match', condition_index: 0 },
      metadata: { payload: JSON.stringify({ banner: 'hi' }) },
    });
    const decide = await post('/decide/?v=3', person);
    expect(decide.json.featureFlags).toEqual(v2.json.featureFlags);
    expect(decide.json.featureFlagPayloads).toEqual(v2.json.featureFlagPayloads);
    expect(decide.json.hasFeatureFlags).toBe(true);
    const only = await post('/flags/?v=2', { ...person, flag_keys: ['checkout'] });
    expect(Object.keys(only.json.featureFlags)).toEqual(['checkout']);
    const config = await (await fetch(`${url}/array/${WRITE}/config`)).json();
    expect(config).toMatchObject({ hasFeatureFlags: true });
  });
});

describe('the store, for other experiments code', () => {
  it('put creates or replaces a multivariate flag (versioned and audited as any change); remove deletes it', async () => {
    const actor = { keyId: 'experiment:exp-1', role: 'internal', name: 'experiment exp-1' };
    const input = {
      key: 'exp-1-flag',
      type: 'multivariate',
      variants: [
        { key: 'control', rolloutPercentage: 50 },
        { key: 'treatment', rolloutPercentage: 50 },
      ],
    };
    const created = await service.flags.put('acme', input, actor, 'req-exp-1');
    expect(created).toMatchObject({ key: 'exp-1-flag', version: 1, createdBy: 'experiment exp-1', source: 'api' });
    const replaced = await service.flags.put('acme', { ...input, rolloutPercentage: 20 }, actor, 'req-exp-2');
    expect(replaced).toMatchObject({ version: 2, rolloutPercentage: 20 });
    expect(service.flags.get('acme', 'exp-1-flag')).toEqual(replaced);
    expect(service.flags.list('globex').map((f) => f.key)).not.toContain('exp-1-flag');
    expect((await call('GET', '/api/feature-flags/flags/exp-1-flag', READ)).json.flag).toEqual(replaced);
    const audit = await rows<{ Action: string; RequestId: string }>(
      "SELECT Action, RequestId FROM signalhouse.audit_log WHERE TenantId = 'acme' AND Target = 'exp-1-flag' ORDER BY Timestamp, Action",
    );
    expect(audit).toEqual([
      { Action: 'flag.create', RequestId: 'req-exp-1' },
      { Action: 'flag.update', RequestId: 'req-exp-2' },
    ]);
    expect(await service.flags.remove('acme', 'exp-1-flag', actor, 'req-exp-3')).toBe(true);
    expect(service.flags.get('acme', 'exp-1-flag')).toBeUndefined();
    await expect(service.flags.put('acme', { key: 'bad', rolloutPercentage: -1 }, actor, 'r')).rejects.toMatchObject({ statusCode: 400 });
  });
});

describe('hostile input: 400s naming their paths, never a 500', () => {
  it.each([
    ['not JSON', '{"key":', 'JSON'],
    ['an array', '[]', '(body)'],
    ['a __proto__ key', '{"key":"f","__proto__":{"isEnabled":false}}', ''],
    ['a bad key', { key: '../etc' }, 'key'],
    ['a wrong type', { key: 'f', rolloutPercentage: '50' }, 'rolloutPercentage'],
    ['an invalid regex', { key: 'f', conditions: [{ properties: [{ key: 'u', operator: 'regex', value: '(' }] }] }, 'conditions.0.properties.0.value'],
    ['variants not summing to 100', { key: 'f', type: 'multivariate', variants: [{ key: 'a', rolloutPercentage: 10 }] }, 'variants'],
    ['deep nesting', `{"key":"f","payload":${'['.repeat(5000)}${']'.repeat(5000)}}`, 'payload'],
    ['an unknown field', { key: 'f', owner: 'me' }, 'owner'],
  ])('create with %s', async (_name, body, path) => {
    const res = await call('POST', '/api/feature-flags/flags', ADMIN, body);
    expect(res.status).toBe(400);
    expect(res.json.message).toContain(path);
  });

  it('a huge body is 413', async () => {
    const res = await call('POST', '/api/feature-flags/flags', ADMIN, { key: 'f', name: 'x'.repeat(300_000) });
    expect(res.status).toBe(413);
  });

  it.each([
    ['no userId', {}, 'userId'],
    ['a wrong type', { userId: 5 }, 'userId'],
    ['nested attributes', { userId: 'u', attributes: { a: { b: { c: 1 } } } }, 'attributes.a'],
    ['a constructor attribute', { userId: 'u', attributes: { constructor: 'x' } }, 'attributes.constructor'],
    ['an unknown field', { userId: 'u', context: {} }, 'context'],
  ])('evaluate with %s', async (_name, body, path) => {
    const res = await call('POST', '/api/feature-flags/flags/new_feature/evaluate', WRITE, body);
    expect(res.status).toBe(400);
    expect(res.json.message).toContain(path);
  });

  it('a key that is not a flag key in the path is 400', async () => {
    expect((await call('GET', '/api/feature-flags/flags/__proto__', ADMIN)).status).toBe(400);
    expect((await call('PATCH', '/api/feature-flags/flags/new_feature', ADMIN, { key: 'renamed' })).status).toBe(400);
  });
});

describe('after a restart', () => {
  it('the stored flags are back, at their versions, with the same answer for every person', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `person-${i}`);
    const answers = async () =>
      Promise.all(ids.map(async (id) => (await call('POST', '/api/feature-flags/flags/checkout/evaluate', ADMIN, { userId: id })).json.value));
    const before = await answers();
    const stored = async () => (await call('GET', '/api/feature-flags/flags', ADMIN)).json.flags.filter((f: { source: string }) => f.source === 'api');
    const listBefore = await stored();
    await service.close();
    await start();
    expect(await stored()).toEqual(listBefore);
    expect(listBefore.map((f: { key: string; version: number }) => [f.key, f.version])).toEqual([
      ['busy', 14],
      ['checkout', 1],
      ['new_feature', 2],
      ['short_lived', 3],
    ]);
    expect(await answers()).toEqual(before);
    expect(new Set(before)).toEqual(new Set(['control', 'new']));
  });
});
