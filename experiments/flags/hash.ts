/**
 * PostHog's bucketing, so that a person gets the same answer from Signalhouse, from posthog-node's local
 * evaluation and from PostHog itself: SHA-1 of `<flag key>.<distinct id><salt>`, its first 15 hex digits (60 bits)
 * read as a number and divided by 0xFFFFFFFFFFFFFFF, giving [0, 1]. The salt is '' for the rollout and
 * 'variant' for the variant choice. The 60-bit integer is read as a double, rounding as PostHog's
 * `parseInt(hex, 16)` does, so the two agree to the last bit.
 */
import { hash } from 'node:crypto';

/** PostHog's 0xFFFFFFFFFFFFFFF as JavaScript reads it (2^60 - 1 rounds to 2^60): the same double its SDKs divide by. */
const LONG_SCALE = 2 ** 60;

export function bucket(flagKey: string, distinctId: string, salt = ''): number {
  // The one-shot `hash` (no Hash object per call): a third of createHash's cost.
  const hex = hash('sha1', `${flagKey}.${distinctId}${salt}`, 'hex');
  return Number.parseInt(hex.slice(0, 15), 16) / LONG_SCALE;
}

/** The variant whose share of [0, 1) holds the person's variant hash (PostHog's lookup table), if any. */
export function variantFor(flagKey: string, distinctId: string, variants: ReadonlyArray<{ key: string; rolloutPercentage: number }>): string | undefined {
  const h = bucket(flagKey, distinctId, 'variant');
  let min = 0;
  for (const v of variants) {
    const max = min + v.rolloutPercentage / 100;
    if (h >= min && h < max) return v.key;
    min = max;
  }
  return undefined;
}
