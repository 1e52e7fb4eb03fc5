/**
 * consent: drops events whose consent attribute says no (`context.consent.analytics: false` in the product APIs
 * becomes `consent.analytics = "false"`; OTLP senders set the attribute directly). Dropped, not refused: the
 * event is accepted and not stored, which is no error; the reply says so (result status `dropped`, reason
 * `consent`; an OTLP warning) and the ingest counters count it as dropped. Per-tenant switch:
 * `tenants: { acme: { enabled: false } }`.
 */
import { z } from 'zod';
import { type Batch, type DroppedOutcome, dropEvent } from '../core/event.ts';
import type { Processor, ProcessorFactory } from '../core/components.ts';

const configSchema = z.strictObject({
  enabled: z.boolean().default(true),
  attribute: z.string().min(1).default('consent.analytics'),
  tenants: z.record(z.string(), z.strictObject({ enabled: z.boolean() })).default({}),
});
export type ConsentConfig = z.infer<typeof configSchema>;

const NO = new Set(['false', '0', 'no', 'denied']);

export function createConsent(config: ConsentConfig, name = 'consent'): Processor {
  const { attribute } = config;
  const enabledFor = (tenantId: string) => config.tenants[tenantId]?.enabled ?? config.enabled;
  const dropped: DroppedOutcome = { status: 'dropped', code: 'consent', reason: `dropped: no consent (${attribute})` };
  return {
    name,
    process(batch: Batch): Batch {
      if (!enabledFor(batch.tenantId)) return batch;
      const events = batch.events as Array<{ attributes: Record<string, string> }>;
      let i = 0;
      while (i < events.length && !NO.has(events[i].attributes[attribute] ?? '')) i++;
      if (i === events.length) return batch; // nothing to drop: no copy
      const kept = events.slice(0, i);
      for (; i < events.length; i++) {
        if (NO.has(events[i].attributes[attribute] ?? '')) dropEvent(batch, events[i], dropped);
        else kept.push(events[i]);
      }
      return { ...batch, events: kept } as Batch;
    },
  };
}

export const consentFactory: ProcessorFactory<typeof configSchema> = {
  type: 'consent',
  signals: ['logs', 'traces'],
  configSchema,
  create: createConsent,
};
