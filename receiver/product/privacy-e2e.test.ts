/**
 * Every receiver through the default processor chain: personal data, events without consent, duplicates and
 * bots sent over OTLP, the Segment API, PostHog and the envelope API; the stored rows are checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME_KEY, startTestService, type TestService } from '../../test/helpers/service.ts';

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

const BOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const auth = { authorization: `Bearer ${ACME_KEY}`, 'content-type': 'application/json' };
const post = async (path: string, body: unknown) => (await fetch(`${svc.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: auth })).status;

/** The same four cases in each receiver's own format. */
const senders: Record<string, (run: string) => Promise<number[]>> = {
  otlp: async (run) => {
    const kv = (key: string, v: string) => ({ key, value: { stringValue: v } });
    const rec = (id: string, attrs: Array<ReturnType<typeof kv>>) => ({ eventName: `${run}.event`, attributes: [kv('log.record.uid', id), ...attrs] });
    const body = {
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: [
                rec(`${run}-pii`, [kv('note', 'write to jane@example.com'), kv('client.address', '198.51.100.23')]),
                rec(`${run}-noconsent`, [kv('consent.analytics', 'false')]),
                rec(`${run}-bot`, [kv('user_agent.original', BOT)]),
              ],
            },
          ],
        },
      ],
    };
    return [await post('/v1/logs', body), await post('/v1/logs', body)];
  },
  segment: async (run) => {
    const m = (id: string, extra: Record<string, unknown>) => ({ type: 'track', userId: 'u', event: `${run}.event`, messageId: id, ...extra });
    const body = {
      batch: [
        m(`${run}-pii`, { properties: { note: 'write to jane@example.com' }, context: { ip: '198.51.100.23' } }),
        m(`${run}-noconsent`, { context: { consent: { analytics: false } } }),
        m(`${run}-bot`, { context: { userAgent: BOT } }),
      ],
    };
    return [await post('/v1/batch', body), await post('/v1/batch', body)];
  },
  posthog: async (run) => {
    const e = (id: string, props: Record<string, unknown>) => ({ event: `${run}.event`, distinct_id: 'u', uuid: id, properties: props });
    const body = {
      api_key: ACME_KEY,
      batch: [
        e(`${run}-pii`, { note: 'write to jane@example.com', $ip: '198.51.100.23' }),
        e(`${run}-noconsent`, { 'consent.analytics': false }),
        e(`${run}-bot`, { $raw_user_agent: BOT }),
      ],
    };
    return [await post('/batch/', body), await post('/batch/', body)];
  },
  envelope: async (run) => {
    const e = (id: string, extra: Record<string, unknown>) => ({ event_id: id, event_name: `${run}.event`, occurred_at: new Date().toISOString(), ...extra });
    const body = {
      events: [
        e(`${run}-pii`, { attributes: { note: 'write to jane@example.com' } }),
        e(`${run}-noconsent`, { context: { consent: { analytics: false } } }),
        e(`${run}-bot`, { context: { device: { user_agent: BOT } } }),
      ],
    };
    return [await post('/api/v1/analytics/events/batch', body), await post('/api/v1/analytics/events/batch', body)];
  },
};

describe.each(Object.keys(senders))('%s through the default processors', (receiver) => {
  it('redacts personal data, drops events without consent, stores duplicates once and flags bots', async () => {
    const run = `e2e${receiver}`;
    expect(await senders[receiver](run)).toEqual([200, 200]);
    const rows = await svc.rows<{ EventId: string; LogAttributes: Record<string, string> }>(
      'SELECT EventId, LogAttributes FROM signalhouse.otel_logs WHERE EventName = {name:String} ORDER BY EventId',
      { name: `${run}.event` },
    );
    expect(rows.map((r) => r.EventId)).toEqual([`${run}-bot`, `${run}-pii`]);
    const pii = rows[1].LogAttributes;
    expect(pii.note).toBe('write to ****');
    // The envelope carries no client address; the others do, and it is coarsened to its /24.
    expect(pii['client.address']).toBe(receiver === 'envelope' ? undefined : '198.51.100.0');
    expect(JSON.stringify(rows)).not.toContain('jane@example.com');
    expect(rows[0].LogAttributes['user_agent.bot']).toBe('true');
  });
});
