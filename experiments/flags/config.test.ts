/**
 * The `flags` section of signalhouse.yaml: flags per tenant in the admin API's shape, every problem reported by
 * its path at once (unknown tenants, duplicate keys, bad fields, filters that do not compile).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../core/config.ts';
import { createService } from '../../service/service.ts';
import { parseFlagsConfig } from './config.ts';

const problems = (raw: unknown): readonly string[] => {
  try {
    parseFlagsConfig(raw, ['acme']);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('accepted');
};

describe('flags in signalhouse.yaml', () => {
  it('reads flags per tenant, with the defaults of the API', () => {
    const config = parseConfig(
      { tenants: [{ id: 'acme', write_keys: ['wk_acme_cfg'], read_tokens: [] }], flags: { acme: [{ key: 'beta', rolloutPercentage: 20 }] } },
      {},
    );
    expect(parseFlagsConfig(config.flags, ['acme'])).toEqual([
      {
        tenantId: 'acme',
        definition: { key: 'beta', name: 'beta', type: 'boolean', isEnabled: true, rolloutPercentage: 20, conditions: [], variants: [], payloads: {} },
      },
    ]);
    expect(parseFlagsConfig(undefined, ['acme'])).toEqual([]);
  });

  it('lists every problem by its path', () => {
    expect(
      problems({
        acme: [
          { key: 'a' },
          { key: 'a' },
          { key: 'b', rolloutPercentage: 150 },
          { key: 'c', conditions: [{ properties: [{ key: 'url', operator: 'regex', value: '(a*)*' }] }] },
        ],
        nobody: [{ key: 'x' }],
      }),
    ).toEqual([
      'flags.acme.1.key: duplicate flag key "a"',
      'flags.acme.2.rolloutPercentage: a percentage is 0 to 100',
      expect.stringMatching(/^flags\.acme\.3\.conditions\.0\.properties\.0\.value: this regex could take exponential time/),
      'flags.nobody: no tenant "nobody" is configured',
    ]);
    expect(problems({ acme: 'beta' })).toEqual([expect.stringMatching(/^flags\.acme: /)]);
    expect(problems([1])).toEqual([expect.stringMatching(/^flags: /)]);
  });

  it('the service does not start with a bad flags section, naming every problem (before the store opens)', async () => {
    const config = parseConfig(
      { tenants: [{ id: 'acme', write_keys: ['wk_acme_cfg'], read_tokens: [] }], flags: { acme: [{ key: 'a', rolloutPercentage: 500 }], ghost: [] } },
      {},
    );
    await expect(createService(config)).rejects.toMatchObject({
      name: 'ConfigError',
      problems: ['flags.acme.0.rolloutPercentage: a percentage is 0 to 100', 'flags.ghost: no tenant "ghost" is configured'],
    });
  });
});
