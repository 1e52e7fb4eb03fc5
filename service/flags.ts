/**
 * What the service plugs into the flags and experiments components: the recorder of `$feature_flag_called` events
 * for the evaluate API, and the flag store behind the experiments' flags. The event goes the way a posthog-node capture of it goes: mapped by the PostHog API's mapping,
 * through the logs pipeline that API feeds (its processors, then the exporters), counted as that receiver's.
 * Without a PostHog receiver in a logs pipeline, the first logs pipeline takes it, with the PostHog API's
 * default limits; without any logs pipeline, no event is stored.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Pipelines } from '../core/components.ts';
import type { SignalhouseConfig } from '../core/config.ts';
import type { FlagCalledRecorder } from '../core/flags.ts';
import type { Telemetry } from '../core/telemetry.ts';
import type { ExperimentFlags } from '../experiments/ab-tests/flags.ts';
import type { FlagStore } from '../experiments/flags/store.ts';
import { type PosthogReceiverConfig, posthogReceiverSchema } from '../receiver/posthog/config.ts';
import { posthogEvent } from '../receiver/posthog/map.ts';
import { ingestProductEvents } from '../receiver/product/ingest.ts';
import { requestContext } from '../receiver/product/common.ts';
import { receiverCounters } from '../receiver/receiverhelper/counters.ts';
import { parseReceivers } from '../receiver/receiverhelper/factory.ts';
import { RECEIVER_FACTORIES } from '../receiver/registry.ts';

export function flagCalledRecorder(config: SignalhouseConfig, pipelines: Pipelines, telemetry: Telemetry, logger: Logger): FlagCalledRecorder | undefined {
  const posthog = parseReceivers(RECEIVER_FACTORIES, config.receivers).find((r) => r.factory.type === 'posthog' && pipelines.find(r.name, 'logs'));
  const pipeline = posthog ? pipelines.find(posthog.name, 'logs') : pipelines.all.find((p) => p.signal === 'logs');
  if (!pipeline) return undefined;
  const options = (posthog?.config as PosthogReceiverConfig | undefined) ?? posthogReceiverSchema.parse({});
  const records = receiverCounters(telemetry, posthog?.name ?? 'posthog').signal('logs');
  return async (tenantId, distinctId, flagKey, response) => {
    const ctx = requestContext('posthog', options, undefined, 'sent_at');
    const event = {
      event: '$feature_flag_called',
      distinct_id: distinctId,
      uuid: randomUUID(),
      properties: { $feature_flag: flagKey, $feature_flag_response: response, $lib: 'signalhouse-flags' },
    };
    const outcome = await ingestProductEvents(records, pipeline, tenantId, [event], (e) => posthogEvent(e, ctx));
    if (outcome.accepted !== 1) logger.warn({ tenant: tenantId, flag: flagKey, results: outcome.results }, '$feature_flag_called event not stored');
  };
}

/**
 * The flag store as experiments use it: an experiment's multivariate flag, created or replaced (`put`) with the
 * experiment's variants and allocations, on for everyone while it runs, recorded as the experiment change's actor.
 */
export function experimentFlags(flags: FlagStore): ExperimentFlags {
  return {
    async upsert(tenantId, flag, actor, requestId) {
      await flags.put(
        tenantId,
        { key: flag.key, name: flag.name, type: 'multivariate', isEnabled: flag.isEnabled, rolloutPercentage: 100, variants: flag.variants },
        { keyId: actor, role: 'admin' },
        requestId,
      );
    },
  };
}
