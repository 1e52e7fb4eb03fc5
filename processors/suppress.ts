/**
 * suppress: drops events of people erased with `suppress` (POST /api/v1/privacy/erasures), so an SDK that keeps
 * sending for an erased id does not bring the person back. Dropped, not refused: accepted and not stored, the
 * reply says so (status `dropped`, reason `suppressed`). The ids come from the suppression list the service
 * fills at start from the privacy jobs and keeps current (core/suppressions.ts); a tenant without suppressed ids
 * costs one Map lookup per batch.
 */
import { z } from 'zod';
import type { Processor, ProcessorFactory } from '../core/components.ts';
import { type Batch, type DroppedOutcome, dropEvent } from '../core/event.ts';
import { isSuppressed, type SuppressionList } from '../core/suppressions.ts';

const configSchema = z.strictObject({ enabled: z.boolean().default(true) });
export type SuppressConfig = z.infer<typeof configSchema>;

const DROPPED: DroppedOutcome = { status: 'dropped', code: 'suppressed', reason: 'dropped: this id was erased and its events are suppressed' };

export function createSuppress(config: SuppressConfig, name = 'suppress'): Processor {
  let list: SuppressionList | undefined;
  return {
    name,
    async start(ctx) {
      list = ctx.suppressions;
    },
    process(batch: Batch): Batch {
      const ids = config.enabled ? list?.of(batch.tenantId) : undefined;
      if (!ids) return batch;
      const events = batch.events as ReadonlyArray<{ userId: string; anonymousId: string }>;
      let i = 0;
      while (i < events.length && !isSuppressed(ids, events[i].userId, events[i].anonymousId)) i++;
      if (i === events.length) return batch; // nothing to drop: no copy
      const kept = events.slice(0, i);
      for (; i < events.length; i++) {
        if (isSuppressed(ids, events[i].userId, events[i].anonymousId)) dropEvent(batch, events[i], DROPPED);
        else kept.push(events[i]);
      }
      return { ...batch, events: kept } as Batch;
    },
  };
}

export const suppressFactory: ProcessorFactory<typeof configSchema> = {
  type: 'suppress',
  signals: ['logs', 'traces'],
  configSchema,
  create: createSuppress,
};
