/** Hostile rate-limit options: every problem reported by its path, none accepted silently. */
import { expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../config.ts';

function problemsOf(raw: unknown): readonly string[] {
  try {
    parseConfig(raw, {}, 'test');
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

it('refuses negative and zero rates, unknown options and keys of no one, each by its path', () => {
  const problems = problemsOf({
    rate_limits: {
      tenant: { requests_per_second: -5, burst_seconds: 0 },
      key: { events_per_second: 'lots' },
      redis: { url: 'http://cache:6379', timeout: 'soon' },
      max_buckets: 0,
      per_ip: 10,
    },
    tenants: [
      {
        id: 'acme',
        write_keys: ['wk_acme_browser'],
        read_tokens: ['rt_acme_reader'],
        rate_limits: {
          events_per_second: 0,
          requests: 10,
          keys: [{ key: 'wk_globex_key', requests_per_second: 1 }, { key: 'rt_acme_reader', events_per_second: -1 }, { key: 'rt_acme_reader' }, { name: 'x' }],
        },
      },
      { id: 'globex', write_keys: ['wk_globex_key'] },
    ],
  });
  expect(problems).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^rate_limits\.tenant\.requests_per_second: a rate is a number above 0/),
      expect.stringMatching(/^rate_limits\.tenant\.burst_seconds: burst_seconds is a number above 0/),
      expect.stringMatching(/^rate_limits\.key\.events_per_second: /),
      expect.stringMatching(/^rate_limits\.redis\.url: a redis:\/\/ or rediss:\/\/ URL/),
      expect.stringMatching(/^rate_limits\.redis\.timeout: /),
      expect.stringMatching(/^rate_limits\.max_buckets: /),
      expect.stringMatching(/^rate_limits: .*per_ip/),
      expect.stringMatching(/^tenants\.0\.rate_limits\.events_per_second: a rate is a number above 0/),
      expect.stringMatching(/^tenants\.0\.rate_limits: .*requests/),
      expect.stringMatching(/^tenants\.0\.rate_limits\.keys\.1\.events_per_second: a rate is a number above 0/),
      expect.stringMatching(/^tenants\.0\.rate_limits\.keys\.3\.key: /),
      expect.stringMatching(/^tenants\.0\.rate_limits\.keys\.3: .*name/),
    ]),
  );
  expect(problems.length).toBe(12);
});

it("refuses an override naming another tenant's key, or a key twice (once the options are well formed)", () => {
  const problems = problemsOf({
    tenants: [
      {
        id: 'acme',
        write_keys: ['wk_acme_browser'],
        read_tokens: ['rt_acme_reader'],
        rate_limits: { keys: [{ key: 'wk_globex_key', requests_per_second: 1 }, { key: 'rt_acme_reader' }, { key: 'rt_acme_reader' }] },
      },
      { id: 'globex', write_keys: ['wk_globex_key'] },
    ],
  });
  expect(problems).toEqual([
    "tenants.0.rate_limits.keys.0.key: not one of this tenant's write_keys, read_tokens or admin_tokens",
    'tenants.0.rate_limits.keys.2.key: this key already has limits above',
  ]);
});

it('has no limits by default', () => {
  const cfg = parseConfig({}, {}, 'test');
  expect(cfg.rate_limits).toEqual({ max_buckets: 100_000 });
  expect(cfg.tenants[0].rate_limits).toBeUndefined();
});
