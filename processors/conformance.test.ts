/**
 * One fixture table through every processor (default options): for each input event, what each processor
 * does with it — keeps it (and how it changes attributes), drops it, or refuses it with a reason.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Batch, LogEvent } from '../core/event.ts';
import { testLogEvent } from '../test/helpers/events.ts';
import type { Processor, ProcessorFactory } from '../core/components.ts';
import { createSuppressionList } from '../core/suppressions.ts';
import { createConsent } from './consent.ts';
import { createDedupe } from './dedupe.ts';
import { createEnrich } from './enrich.ts';
import { coarsenIp, createRedact, luhnValid } from './redact.ts';
import { PROCESSOR_FACTORIES } from './registry.ts';
import { createValidate } from './validate/index.ts';
import { EVENT_SCHEMAS } from '../semconv/events.ts';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const resource = { attributes: { 'service.name': 'fixture' }, schemaUrl: '', serviceName: 'fixture' };
const scope = { name: 'fixture', version: '', attributes: {}, schemaUrl: '' };

function event(eventName: string, attributes: Record<string, string>, over: Partial<LogEvent> = {}): LogEvent {
  return testLogEvent({ userId: 'u-1', timeUnixNano: BigInt(NOW) * 1_000_000n, eventName, attributes: { ...attributes }, resource, scope, ...over });
}
const batchOf = (events: LogEvent[], tenantId = 'acme'): Batch => ({ tenantId, signal: 'logs', events, rejections: [] });
const defaults = (type: string) => {
  const f = PROCESSOR_FACTORIES.get(type) as ProcessorFactory;
  return f.configSchema.parse({});
};

type Outcome = 'kept' | 'dropped' | { refused: string } | Record<string, string | undefined>;
interface Fixture {
  name: string;
  input: () => LogEvent;
  consent: Outcome;
  validate: Outcome;
  enrich: Outcome;
  redact: Outcome;
}

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';
const BOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

const FIXTURES: Fixture[] = [
  {
    name: 'a valid first response',
    input: () => event('voice.first_response', { 'voice.turn_id': 't1', 'voice.first_response_ms': '420' }),
    consent: 'kept',
    validate: 'kept',
    enrich: 'kept',
    redact: { 'voice.first_response_ms': '420', 'redaction.masked.count': undefined },
  },
  {
    name: 'no analytics consent',
    input: () => event('commerce.view', { 'consent.analytics': 'false' }),
    consent: 'dropped',
    validate: 'kept',
    enrich: 'kept',
    redact: 'kept',
  },
  {
    name: 'a metric attribute that is not a number',
    input: () => event('voice.first_response', { 'voice.turn_id': 't1', 'voice.first_response_ms': 'fast' }),
    consent: 'kept',
    validate: { refused: 'event "voice.first_response": attribute "voice.first_response_ms" must be a number' },
    enrich: 'kept',
    redact: 'kept',
  },
  {
    name: 'a missing required attribute',
    input: () => event('booking.confirmed', {}),
    consent: 'kept',
    validate: { refused: 'event "booking.confirmed": attribute "booking.id" is required' },
    enrich: 'kept',
    redact: 'kept',
  },
  {
    name: 'a time two days ahead',
    input: () => event('custom.thing', {}, { timeUnixNano: BigInt(NOW + 2 * 86_400_000) * 1_000_000n }),
    consent: 'kept',
    validate: { refused: 'event "custom.thing": time is more than 24 h from the receive time' },
    enrich: 'kept',
    redact: 'kept',
  },
  {
    name: 'a browser with an IP and a campaign URL',
    input: () =>
      event('page', {
        'user_agent.original': CHROME,
        'client.address': '81.2.69.142',
        'url.full': 'https://shop.example/p/1?utm_source=news&utm_campaign=fall&email=a@b.co',
        'page.referrer': 'https://www.google.com/search?q=x',
      }),
    consent: 'kept',
    validate: 'kept',
    enrich: {
      'user_agent.name': 'Chrome',
      'user_agent.os.name': 'Windows',
      'user_agent.device.type': 'desktop',
      'user_agent.bot': 'false',
      'geo.country.iso_code': 'GB',
      'geo.locality.name': 'London',
      'url.domain': 'shop.example',
      'url.path': '/p/1',
      'campaign.source': 'news',
      'campaign.name': 'fall',
      'referrer.domain': 'www.google.com',
    },
    redact: { 'client.address': '81.2.69.0', 'url.full': '/p/1', 'page.referrer': '/search', 'redaction.masked.keys': 'client.address,page.referrer,url.full' },
  },
  {
    name: 'a crawler',
    input: () => event('page', { 'user_agent.original': BOT }),
    consent: 'kept',
    validate: 'kept',
    enrich: { 'user_agent.bot': 'true' },
    redact: 'kept',
  },
  {
    name: 'personal data and secrets in attributes',
    input: () =>
      event('support.message', {
        text: 'mail jane.doe@example.com or call +1 (415) 555-0100, card 4111 1111 1111 1111, ssn 123-45-6789',
        order_ref: '4111111111111112', // 16 digits, fails Luhn: not a card
        header: 'Bearer abcdefghijklmnop.qrstuv',
        password: 'hunter2',
        'kb.query': 'q'.repeat(600),
        ipv6: '2001:db8:1234:5678::1',
      }),
    consent: 'kept',
    validate: 'kept',
    enrich: 'kept',
    redact: {
      text: 'mail **** or call ****, card ****, ssn ****',
      order_ref: '4111111111111112',
      header: '****',
      password: '****',
      'kb.query': 'q'.repeat(500),
      'redaction.masked.keys': 'header,kb.query,password,text',
    },
  },
];

async function runOne(p: Processor, e: LogEvent): Promise<{ out: Batch; input: Batch }> {
  const input = batchOf([e]);
  return { out: await p.process(input), input };
}

function check(outcome: Outcome, out: Batch): void {
  if (outcome === 'kept') {
    expect(out.events).toHaveLength(1);
    return;
  }
  if (outcome === 'dropped') {
    expect(out.events).toHaveLength(0);
    expect(out.rejections).toEqual([]);
    return;
  }
  if ('refused' in outcome && typeof outcome.refused === 'string') {
    expect(out.events).toHaveLength(0);
    expect(out.rejections.map((r) => r.reason)).toEqual([outcome.refused]);
    return;
  }
  expect(out.events).toHaveLength(1);
  const attrs = (out.events[0] as LogEvent).attributes;
  for (const [k, v] of Object.entries(outcome)) expect(attrs[k], k).toBe(v);
}

describe('processor conformance fixtures', async () => {
  const enrich = createEnrich(defaults('enrich') as never);
  await enrich.start!({ recentEventIds: async () => [], suppressions: createSuppressionList() });
  const processors: Record<'consent' | 'validate' | 'enrich' | 'redact', Processor> = {
    consent: createConsent(defaults('consent') as never),
    validate: createValidate(defaults('validate') as never, 'validate', () => NOW),
    enrich,
    redact: createRedact(defaults('redact') as never),
  };
  for (const f of FIXTURES) {
    for (const type of ['consent', 'validate', 'enrich', 'redact'] as const) {
      it(`${type}: ${f.name}`, async () => {
        const { out } = await runOne(processors[type], f.input());
        check(f[type], out);
      });
    }
  }
});

describe('redact details', () => {
  it('checks card numbers with Luhn and coarsens IPv4 and IPv6', () => {
    expect([luhnValid('4111111111111111'), luhnValid('4111111111111112'), luhnValid('5555555555554444')]).toEqual([true, false, true]);
    expect(coarsenIp('203.0.113.77', 24, 48)).toBe('203.0.113.0');
    expect(coarsenIp('203.0.113.77', 16, 48)).toBe('203.0.0.0');
    expect(coarsenIp('2001:db8:1234:5678:9abc::1', 24, 48)).toBe('2001:db8:1234::');
    expect(coarsenIp('not an ip', 24, 48)).toBe('');
  });

  it('hashes with a per-tenant salt: equal values join within a tenant, not across tenants', async () => {
    const redact = createRedact({ ...(defaults('redact') as object), mode: 'hash', salt: 's3cret' } as never);
    const run = async (tenant: string) =>
      ((await redact.process(batchOf([event('x', { email: 'jane@example.com' })], tenant))).events[0] as LogEvent).attributes.email;
    const [a1, a2, b] = [await run('acme'), await run('acme'), await run('globex')];
    expect(a1).toMatch(/^email:[0-9a-f]{16}$/);
    expect(a1).toBe(a2);
    expect(a1).not.toBe(b);
  });

  it('keeps only allow-listed keys when an allow list is set, and keeps allow-listed query parameters', async () => {
    const redact = createRedact({ ...(defaults('redact') as object), allowed_keys: ['url.full', 'plan'], allowed_query_params: ['utm_source'] } as never);
    const out = await redact.process(batchOf([event('x', { plan: 'pro', secret_note: 'x', 'url.full': 'https://a.example/p?utm_source=n&token=t' })]));
    expect((out.events[0] as LogEvent).attributes).toEqual({
      plan: 'pro',
      'url.full': '/p?utm_source=n',
      'redaction.masked.keys': 'url.full',
      'redaction.masked.count': '1',
      'redaction.redacted.keys': 'secret_note',
      'redaction.redacted.count': '1',
    });
  });

  it('reduces the URLs SDKs send under other keys than the page’s own (keys ending in url or referrer)', async () => {
    const redact = createRedact(defaults('redact') as never);
    const out = await redact.process(
      batchOf([
        event('x', {
          $initial_current_url: 'https://shop.example/welcome?invite=secret-token',
          $session_entry_referrer: 'https://mail.example/inbox?u=jane@example.com',
          'traits.Landing_URL': 'https://shop.example/l?ref=1',
          plan: 'https://not-a-url-key.example/?kept=1',
        }),
      ]),
    );
    expect((out.events[0] as LogEvent).attributes).toMatchObject({
      $initial_current_url: '/welcome',
      $session_entry_referrer: '/inbox',
      'traits.Landing_URL': '/l',
      plan: 'https://not-a-url-key.example/?kept=1',
    });
  });

  it('finds each pattern on its own, in any letter case (the cheap pre-check never hides a match)', async () => {
    const redact = createRedact(defaults('redact') as never);
    const values = {
      a: 'jane@example.io',
      b: '+14155550100',
      c: '(415) 555-0100',
      d: '4111-1111-1111-1111',
      e: '123-45-6789',
      f: 'AB123456C',
      g: 'bearer abcdefghijklmn',
      h: 'eyJhbGciOi.eyJzdWIiOi.SflKxwRJSM',
      i: 'sk_live_abcdefghijklmnopqrst',
      j: 'AKIAABCDEFGHIJKLMNOP',
      k: `ghp_${'a'.repeat(30)}`,
      l: 'xoxb-abcdefghijkl',
      m: 'BEARER ABCDEFGHIJKLMN',
    };
    const out = (await redact.process(batchOf([event('x', values)]))).events[0] as LogEvent;
    for (const k of Object.keys(values)) expect(out.attributes[k], `${k}: ${values[k as keyof typeof values]}`).toBe('****');
    const clean = (await redact.process(batchOf([event('x', { id: 'conv-12', n: '12345', ts: '2026-11-22' })]))).events[0] as LogEvent;
    expect(clean.attributes).toMatchObject({ id: 'conv-12', n: '12345', ts: '2026-11-22' });
  });

  it('redacts bodies too', async () => {
    const out = await createRedact(defaults('redact') as never).process(batchOf([event('x', {}, { body: 'user bob@example.org failed login' })]));
    expect((out.events[0] as LogEvent).body).toBe('user **** failed login');
  });
});

describe('validate details', () => {
  it('accepts exactly what the zod schemas accept (the fast path is compiled from them)', async () => {
    const validate = createValidate({ unknown_events: 'allow', schemas: [], clock_skew_tolerance: 86_400_000 }, 'validate', () => NOW);
    const samples = ['', 'abc', '12', '-7', '1.5e3', '.5', '3.', 'true', 'false', 'True', ' 1', '1 ', 'ünï'];
    let compared = 0;
    for (const [name, schema] of Object.entries(EVENT_SCHEMAS)) {
      const fields = Object.keys((schema as unknown as { shape: Record<string, unknown> }).shape);
      const base = Object.fromEntries(fields.map((f) => [f, '1']));
      const variants: Array<Record<string, string>> = [{}, base];
      for (const f of fields) for (const v of samples) variants.push({ ...base, [f]: v });
      for (const attrs of variants) {
        const out = await validate.process(batchOf([event(name, attrs)]));
        expect(out.events.length === 1, `${name} ${JSON.stringify(attrs)}`).toBe(schema.safeParse(attrs).success);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(300);
  });

  it('uses custom JSON Schema files and refuses unknown events when asked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sh-schemas-'));
    const file = join(dir, 'checkout.json');
    writeFileSync(
      file,
      JSON.stringify({ 'checkout.step': { type: 'object', required: ['step'], properties: { step: { type: 'string', enum: ['cart', 'pay'] } } } }),
    );
    const validate = createValidate({ unknown_events: 'reject', schemas: [file], clock_skew_tolerance: 86_400_000 }, 'validate', () => NOW);
    const out = await validate.process(
      batchOf([
        event('checkout.step', { step: 'cart' }),
        event('checkout.step', { step: 'ship' }),
        event('checkout.step', {}),
        event('mystery', {}),
        event('kb.hit', { 'kb.result_id': 'r1' }),
      ]),
    );
    expect(out.events.map((e) => (e as LogEvent).eventName)).toEqual(['checkout.step', 'kb.hit']);
    expect(out.rejections.map((r) => [r.code, r.reason])).toEqual([
      ['invalid_field', 'event "checkout.step": attribute "step" must be equal to one of the allowed values'],
      ['invalid_field', 'event "checkout.step": attribute "step" is required'],
      ['unknown_event', 'event "mystery": unknown event'],
    ]);
    expect(() => createValidate({ unknown_events: 'allow', schemas: [join(dir, 'missing.json')], clock_skew_tolerance: 1000 })).toThrow(
      /cannot read schema file/,
    );
  });
});

describe('consent details', () => {
  it('can be switched off per tenant', async () => {
    const consent = createConsent({ enabled: true, attribute: 'consent.analytics', tenants: { globex: { enabled: false } } });
    const e = () => event('x', { 'consent.analytics': 'false' });
    expect((await consent.process(batchOf([e()], 'acme'))).events).toHaveLength(0);
    expect((await consent.process(batchOf([e()], 'globex'))).events).toHaveLength(1);
  });
});

describe('dedupe details', () => {
  const dd = (now: () => number = () => NOW) => createDedupe({ window: 600_000, max_ids: 1000, rebuild: false }, 'dedupe', 'logs', now);

  it('drops repeats within a batch, across batches and per tenant, and hashes events without ids', async () => {
    const d = dd();
    const first = await d.process(batchOf([event('a', {}, { eventId: 'e1' }), event('a', {}, { eventId: 'e1' }), event('b', { k: 'v' })]));
    expect(first.events).toHaveLength(2);
    expect((first.events[1] as LogEvent).eventId).toMatch(/^h:/);
    d.committed!(first);
    const again = await d.process(batchOf([event('a', {}, { eventId: 'e1' }), event('b', { k: 'v' }), event('c', {}, { eventId: 'e2' })]));
    expect(again.events.map((e) => e.eventId)).toEqual(['e2']);
    expect(again.dependsOn).toBeUndefined();
    const otherTenant = await d.process(batchOf([event('a', {}, { eventId: 'e1' })], 'globex'));
    expect(otherTenant.events).toHaveLength(1);
  });

  it('forgets the ids of a batch that failed to commit, so the retry is kept; copies in flight wait for it', async () => {
    const d = dd();
    const original = await d.process(batchOf([event('a', {}, { eventId: 'p1' })]));
    const copy = await d.process(batchOf([event('a', {}, { eventId: 'p1' })]));
    expect(copy.events).toHaveLength(0);
    expect(copy.dependsOn).toHaveLength(1);
    d.release!(original);
    await expect(copy.dependsOn![0]).rejects.toThrow('original batch failed to commit');
    const retry = await d.process(batchOf([event('a', {}, { eventId: 'p1' })]));
    expect(retry.events).toHaveLength(1);
    const copy2 = await d.process(batchOf([event('a', {}, { eventId: 'p1' })]));
    d.committed!(retry);
    await expect(copy2.dependsOn![0]).resolves.toBeUndefined();
  });

  it('forgets ids after the window', async () => {
    let t = NOW;
    const d = dd(() => t);
    d.committed!(await d.process(batchOf([event('a', {}, { eventId: 'w1' })])));
    t += 599_000;
    expect((await d.process(batchOf([event('a', {}, { eventId: 'w1' })]))).events).toHaveLength(0);
    t += 2_000;
    expect((await d.process(batchOf([event('a', {}, { eventId: 'w1' })]))).events).toHaveLength(1);
  });
});
