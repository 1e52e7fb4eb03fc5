/** Sessions: a new one after 30 minutes without an event, or once a session is 24 hours old. */
import { uuidv7 } from './uuid.ts';

export const SESSION_IDLE_MS = 30 * 60_000;
export const SESSION_MAX_MS = 24 * 3_600_000;

/** A session as stored: id, start and last event time (ms). */
export interface Session {
  i: string;
  s: number;
  l: number;
}

/** The session an event at `now` belongs to, given the stored one. */
export function touchSession(prev: Session | null | undefined, now: number): Session {
  if (!prev || now - prev.l > SESSION_IDLE_MS || now - prev.s >= SESSION_MAX_MS || now < prev.s) return { i: uuidv7(now), s: now, l: now };
  return { i: prev.i, s: prev.s, l: Math.max(prev.l, now) };
}
