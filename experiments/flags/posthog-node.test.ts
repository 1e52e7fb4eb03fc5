/**
 * The unmodified posthog-node against our flags: remote evaluation (`/flags?v=2`) with `isFeatureEnabled`,
 * `getFeatureFlag`, `getFeatureFlagPayload` and `getAllFlags`; local evaluation from `/flags/definitions` with an
 * admin token as its personal API key, agreeing with the server for 1,000 people; and the `$feature_flag_called`
 * events it captures stored as events.
 */
import { PostHog } from 'posthog-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, type TestService } from '../../test/helpers/service.ts';

const KEY = 'wk_acme_posthog_flags';
const ADMIN = 'at_acme_posthog_flags';
const TENANTS = [
  { id: 'acme', write_keys: [KEY], read_tokens: ['rt_acme_posthog_flags'], admin_tokens: [ADMIN] },
  { id: 'globex', write_keys: ['wk_globex_posthog_flags'], read_tokens: ['rt_globex_posthog_flags'], admin_tokens: ['at_globex_posthog_flags'] },
];

const FLAGS = [
  { key: 'new-checkout', rolloutPercentage: 40, payload: { color: 'green' } },
  {
    key: 'pricing-test',
    type: 'multivariate',
    rolloutPercentage: 70,
    variants: [
      { key: 'control', rolloutPercentage: 34, payload: { price: 10 } },
      { key: 'cheaper', rolloutPercentage: 33, payload: { price: 8 } },
      { key: 'dearer', rolloutPercentage: 33 },
    ],
  },
  {
    key: 'premium-beta',
    conditions: [
      { properties: [{ key: 'email', operator: 'icontains', value: '@acme.com' }], rolloutPercentage: 100 },
      {
        properties: [
          { key: 'plan', value: ['premium', 'enterprise'] },
          { key: 'app_version', operator: 'semver_gte', value: '2.1.0' },
        ],
        rolloutPercentage: 50,
      },
      {
        properties: [
          { key: 'age', operator: 'gte', value: 30 },
          { key: 'country', operator: 'is_not', value: 'FR' },
        ],
        rolloutPercentage: 25,
      },
    ],
  },
  { key: 'switched-off', isEnabled: false },
];

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ receivers: { posthog: {} }, tenants: TENANTS });
  for (const flag of FLAGS) {
    const res = await fetch(`${svc.url}/api/feature-flags/flags`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify(flag),
    });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => {
  await svc?.close();
});

const client = (options: object = {}) => new PostHog(KEY, { host: svc.url, flushAt: 1, flushInterval: 0, featureFlagsPollingInterval: 600_000, ...options });

/** Person properties for person n: every condition's properties, in varied combinations. */
const personOf = (n: number) => ({
  email: n % 7 === 0 ? `p${n}@acme.com` : `p${n}@example.com`,
  plan: ['free', 'premium', 'enterprise'][n % 3],
  app_version: `2.${n % 4}.${n % 3}`,
  age: 18 + (n % 40),
  country: n % 5 === 0 ? 'FR' : 'US',
});

describe('remote evaluation: /flags?v=2', () => {
  it('isFeatureEnabled, getFeatureFlag, getFeatureFlagPayload and getAllFlags see our flags', async () => {
    const ph = client({ sendFeatureFlagEvent: false });
    try {
      const ids = Array.from({ length: 40 }, (_, i) => `user-${i}`);
      const enabled = await Promise.all(ids.map((id) => ph.isFeatureEnabled('new-checkout', id)));
      expect(new Set(enabled)).toEqual(new Set([true, false]));
      const on = ids[enabled.indexOf(true)];
      expect(await ph.getFeatureFlagPayload('new-checkout', on)).toEqual({ color: 'green' });
      const variants = await Promise.all(ids.map((id) => ph.getFeatureFlag('pricing-test', id)));
      expect(new Set(variants)).toEqual(new Set(['control', 'cheaper', 'dearer', false]));
      const control = ids[variants.indexOf('control')];
      expect(await ph.getFeatureFlagPayload('pricing-test', control)).toEqual({ price: 10 });
      const all = await ph.getAllFlags('someone@acme', { personProperties: { email: 'someone@acme.com' } });
      expect(all).toMatchObject({ 'premium-beta': true, 'switched-off': false });
      expect(Object.keys(all).sort()).toEqual(['new-checkout', 'premium-beta', 'pricing-test', 'switched-off']);
      expect(await ph.isFeatureEnabled('switched-off', on)).toBe(false);
    } finally {
      await ph.shutdown();
    }
  });

  it("another tenant's key sees none of them", async () => {
    const ph = new PostHog('wk_globex_posthog_flags', { host: svc.url, flushAt: 1, sendFeatureFlagEvent: false });
    try {
      expect(await ph.getAllFlags('user-1')).toEqual({});
    } finally {
      await ph.shutdown();
    }
  });
});

describe('local evaluation: /flags/definitions with an admin token as the personal API key', () => {
  it('agrees with the server for every one of 1,000 people, on every flag', async () => {
    const remote = client({ sendFeatureFlagEvent: false });
    const local = client({ sendFeatureFlagEvent: false, personalApiKey: ADMIN });
    try {
      let compared = 0;
      for (let n = 0; n < 1000; n++) {
        const id = `person-${n}`;
        const personProperties = personOf(n);
        const server = await remote.getAllFlags(id, { personProperties });
        const here = await local.getAllFlags(id, { personProperties, onlyEvaluateLocally: true });
        expect(here, id).toEqual(server);
        compared += Object.keys(here).length;
      }
      expect(compared).toBe(4000);
    } finally {
      await Promise.all([remote.shutdown(), local.shutdown()]);
    }
  }, 120_000);

  it('answers a poll with the ETag it gave 304 until a flag changes', async () => {
    const path = `${svc.url}/flags/definitions?token=${KEY}&send_cohorts`;
    const first = await fetch(path, { headers: { authorization: `Bearer ${ADMIN}` } });
    const etag = first.headers.get('etag')!;
    expect(first.status).toBe(200);
    expect((await fetch(path, { headers: { authorization: `Bearer ${ADMIN}`, 'if-none-match': etag } })).status).toBe(304);
    const patch = await fetch(`${svc.url}/api/feature-flags/flags/switched-off`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Still off' }),
    });
    expect(patch.status).toBe(200);
    const after = await fetch(path, { headers: { authorization: `Bearer ${ADMIN}`, 'if-none-match': etag } });
    expect(after.status).toBe(200);
    expect(after.headers.get('etag')).not.toBe(etag);
    const body = (await after.json()) as { flags: Array<{ key: string; name: string }> };
    expect(body.flags.find((f) => f.key === 'switched-off')?.name).toBe('Still off');
  });

  it('refuses a write key as the personal API key, and a project key of another tenant', async () => {
    const res = await fetch(`${svc.url}/flags/definitions?token=${KEY}&send_cohorts`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(res.status).toBe(403);
    const other = await fetch(`${svc.url}/api/feature_flag/local_evaluation?token=wk_globex_posthog_flags&send_cohorts`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(other.status).toBe(403);
  });
});

describe('hostile person properties on /flags', () => {
  it('a value nested too deep to write out, prototype names and odd types evaluate (never a 500)', async () => {
    const deep = `{"email":${'['.repeat(100_000)}${']'.repeat(100_000)},"__proto__":{"plan":"premium"},"constructor":1,"plan":"premium","age":{"toString":1,"valueOf":2},"app_version":{"toString":1}}`;
    const res = await fetch(`${svc.url}/flags/?v=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"token":"${KEY}","distinct_id":"hostile","person_properties":${deep}}`,
    });
    expect(res.status).toBe(200);
    const json = (await res.json()) as { featureFlags: Record<string, unknown> };
    expect(json.featureFlags['premium-beta']).toBe(false);
    expect(Object.keys(json.featureFlags).sort()).toEqual(['new-checkout', 'premium-beta', 'pricing-test', 'switched-off']);
  });
});

describe('$feature_flag_called', () => {
  it('the events posthog-node captures when it reads a flag are stored as events', async () => {
    const ph = client();
    await ph.getFeatureFlag('pricing-test', 'exposed-person');
    await ph.shutdown();
    const rows = await svc.rows<{ flag: string; response: string }>(
      "SELECT LogAttributes['$feature_flag'] AS flag, LogAttributes['$feature_flag_response'] AS response FROM signalhouse.otel_logs WHERE TenantId = 'acme' AND EventName = '$feature_flag_called' AND UserId = 'exposed-person'",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].flag).toBe('pricing-test');
    expect(['control', 'cheaper', 'dearer', 'false']).toContain(rows[0].response);
  });
});
