/**
 * Per-record limits, a building block of every receiver's config schema (`limits:` under each receiver), so
 * hostile payloads are refused record by record.
 */
import { z } from 'zod';
import { intLike } from '../../core/units.ts';

export const limitsSchema = z
  .strictObject({
    max_attributes_per_record: intLike(1, 100_000).default(512),
    max_attribute_key_length: intLike(1, 65_536).default(256),
    max_attribute_value_length: intLike(1, 16 * 1024 * 1024).default(64 * 1024),
    max_body_length: intLike(1, 16 * 1024 * 1024).default(1024 * 1024),
    max_value_depth: intLike(1, 256).default(16),
    /** Event names, span and span-event names, scope names. */
    max_name_length: intLike(1, 65_536).default(1024),
    /** Event, session, user and anonymous ids (their own columns). */
    max_id_length: intLike(1, 65_536).default(256),
    /** Other short text: severity text, scope version, schema URLs, trace state. */
    max_field_length: intLike(1, 1024 * 1024).default(4096),
  })
  .prefault({});
export type RecordLimits = z.infer<typeof limitsSchema>;
