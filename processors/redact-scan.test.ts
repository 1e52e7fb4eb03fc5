/**
 * redact's value scan skips work by first looking for what each kind of match must contain. That may never
 * change a result: for any value, what redact stores equals one full scan with every pattern (`PATTERN_SOURCES`,
 * one alternation, cards Luhn-checked), in mask and in hash mode.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LogBatch } from '../core/event.ts';
import { testLogEvent } from '../test/helpers/events.ts';
import { createRedact, luhnValid, PATTERN_SOURCES, redactFactory } from './redact.ts';

const KINDS = Object.keys(PATTERN_SOURCES) as Array<keyof typeof PATTERN_SOURCES>;
const full = new RegExp(KINDS.map((k) => `(?<${k}>${PATTERN_SOURCES[k]})`).join('|'), 'gi');

/** What one full scan makes of a value (values under 6 characters are left alone, as redact does). */
function reference(value: string, mode: 'mask' | 'hash', tenantId: string, salt: string): string {
  if (value.length < 6) return value;
  return value.replace(full, (match, ...args) => {
    const groups = args[args.length - 1] as Record<string, string | undefined>;
    const kind = KINDS.find((k) => groups[k] !== undefined)!;
    if (kind === 'card' && !luhnValid(match.replace(/[ -]/g, ''))) return match;
    return mode === 'hash' ? `${kind}:${createHash('sha256').update(`${salt}\0${tenantId}\0${match}`).digest('hex').slice(0, 16)}` : '****';
  });
}

const FRAGMENTS = [
  'jane.doe@example.com',
  'J.Doe+news@Mail.Example.ORG',
  '@',
  'a@b',
  '+14155550100',
  '+44 20 7946 0958',
  '(415) 555-0100',
  '415.555.0100',
  '4111 1111 1111 1111',
  '4111-1111-1111-1111',
  '4111111111111112',
  '5555555555554444',
  '4222222222222',
  '30569309025904',
  '123-45-6789',
  'AB123456C',
  'ab123456d',
  'QQ123456Z',
  'Bearer abcdefghijkl',
  'BEARER\tabcdefgh==',
  'eyJhbGciOi.eyJzdWIiOi.SflKxwRJSM',
  'sk_live_abcdefghijklmnop',
  'PK_TEST_ABCDEFGHIJKLMNOPQ',
  'AKIAABCDEFGHIJKLMNOP',
  `ghp_${'a1'.repeat(15)}`,
  'xoxb-abcdefghijk',
  'Chrome/131.0.6778.39',
  'Mobile/15E148',
  '537.36',
  'u_462836',
  '6d97bcef-2809-4ad7-35ce-59ed18b8c3d0',
  'R000000123-00042',
  '/2026/03/trail-guide-4',
  'utm_campaign=weekly_2026_48',
  'email=jane%40example.com',
];
const charsOf = (chars: string, maxLength: number) => fc.array(fc.constantFrom(...chars), { maxLength }).map((a) => a.join(''));
const value = fc
  .array(
    fc.oneof(
      fc.constantFrom(...FRAGMENTS),
      charsOf('0123456789 .-()+/', 24),
      charsOf('0123456789ABCDQZabcdqz-_', 16),
      charsOf('abeijkloprsuxyzABEJKIOPRSTX_- \t', 12),
      fc.string({ maxLength: 8 }),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(''));

const batchOf = (v: string, tenantId: string): LogBatch => {
  const e = testLogEvent({ body: v, eventName: 'x', attributes: { note: v } });
  return { tenantId, signal: 'logs', events: [e], rejections: [] };
};

describe('redact scan', () => {
  for (const mode of ['mask', 'hash'] as const) {
    it(`stores what one full scan with every pattern makes of any value (${mode} mode)`, async () => {
      const redact = createRedact(redactFactory.configSchema.parse({ mode, salt: 'pepper' }));
      await fc.assert(
        fc.asyncProperty(value, async (v) => {
          const out = ((await redact.process(batchOf(v, 'acme'))) as LogBatch).events[0];
          const expected = reference(v, mode, 'acme', 'pepper');
          expect(out.attributes.note).toBe(expected);
          expect(out.body).toBe(expected);
        }),
        { seed: 42, numRuns: 3000, interruptAfterTimeLimit: 4000 },
      );
    });
  }
});
