/**
 * Request fields shared by the query endpoints, checked against what the store can take, so that every value the
 * schemas accept runs as SQL: times within what the event columns hold, given as strict ISO 8601 or as
 * milliseconds since the epoch.
 */
import { z } from 'zod';

/**
 * The span of the event time columns (`Timestamp`, DateTime64(9): nanoseconds in an Int64): from ClickHouse's
 * documented lower bound to the last whole millisecond an Int64 of nanoseconds reaches. ClickHouse cannot compare
 * the column with a time outside it (DECIMAL_OVERFLOW), so such times are refused here. The coarse `TimestampTime`
 * (DateTime) bound needs no check of its own: `toDateTime` of an Int64 saturates at 1970 and 2106.
 */
export const MIN_TIME_MS = Date.UTC(1900, 0, 1);
export const MAX_TIME_MS = 9_223_372_036_854;
const SPAN = `between ${new Date(MIN_TIME_MS).toISOString()} and ${new Date(MAX_TIME_MS).toISOString()}`;

/**
 * ISO 8601 as the API takes it: a date, or a date and time (`T` or a space between, seconds and fraction optional)
 * with `Z`, an offset or neither (UTC). Nothing else: `Date.parse` alone also reads "1" as 2001 and 2025-02-30 as
 * March 2nd, in the server's time zone.
 */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** Milliseconds since the epoch of an ISO 8601 time, or NaN when it is not a real one. */
export function parseIsoTime(text: string): number {
  const m = ISO_TIME.exec(text);
  if (!m) return Number.NaN;
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1, 7).map((p) => (p === undefined ? undefined : Number(p))) as number[];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  // Date.UTC reads years 0–99 as 1900–1999; setUTCFullYear takes the year as written.
  const date = new Date(Date.UTC(2000, month - 1, day, hour, minute, second));
  date.setUTCFullYear(year);
  if (date.getUTCDate() !== day) return Number.NaN; // day past the end of its month
  const ms = Number((m[7] ?? '').slice(0, 3).padEnd(3, '0'));
  return date.getTime() + ms - offsetMs(m[8]);
}

function offsetMs(offset: string | undefined): number {
  if (offset === undefined || offset === 'Z' || offset === 'z') return 0;
  const digits = offset.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || '0');
  if (hours > 23 || minutes > 59) return Number.NaN;
  return (offset[0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

/**
 * A time as ISO 8601 text or milliseconds since the epoch, parsed to whole milliseconds: the API's precision, so
 * finer digits (a fraction of a millisecond, microseconds in the text) are dropped, for numbers and text alike.
 */
export const timeField = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = Math.floor(typeof v === 'number' ? v : parseIsoTime(v));
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 time (2025-11-30, 2025-11-30T10:00:00Z) or milliseconds since the epoch' });
    return z.NEVER;
  }
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) {
    ctx.addIssue({ code: 'custom', message: `must be ${SPAN}` });
    return z.NEVER;
  }
  return ms;
});

/** The exclusive end of a range given as a plain date (the whole day), within what the columns hold. */
export function endOfDay(ms: number): number {
  return Math.min(ms + 86_400_000, MAX_TIME_MS);
}
