/** Sessions (30 minutes idle, 24 hours at most) and their UUIDv7 ids, checked against the `uuidv7` package's parser. */
import { UUID } from 'uuidv7';
import { describe, expect, it } from 'vitest';
import { SESSION_IDLE_MS, SESSION_MAX_MS, touchSession } from '../src/session.ts';
import { uuidv7 } from '../src/uuid.ts';

const T0 = 1_750_000_000_000;

describe('sessions', () => {
  it('start with the first event and continue while events come within 30 minutes', () => {
    const s = touchSession(undefined, T0);
    expect(s).toEqual({ i: expect.any(String), s: T0, l: T0 });
    const later = touchSession(s, T0 + SESSION_IDLE_MS);
    expect(later).toEqual({ i: s.i, s: T0, l: T0 + SESSION_IDLE_MS });
  });

  it('roll over after 30 minutes without an event', () => {
    const s = touchSession(undefined, T0);
    const next = touchSession(s, T0 + SESSION_IDLE_MS + 1);
    expect(next.i).not.toBe(s.i);
    expect(next).toMatchObject({ s: T0 + SESSION_IDLE_MS + 1, l: T0 + SESSION_IDLE_MS + 1 });
  });

  it('roll over once 24 hours old, however busy', () => {
    let s = touchSession(undefined, T0);
    const first = s.i;
    for (let t = T0; t < T0 + SESSION_MAX_MS; t += 20 * 60_000) s = touchSession(s, t);
    expect(s.i).toBe(first);
    const next = touchSession(s, T0 + SESSION_MAX_MS);
    expect(next.i).not.toBe(first);
    expect(next.s).toBe(T0 + SESSION_MAX_MS);
  });

  it('start anew when the clock went back before the session began', () => {
    const s = touchSession(undefined, T0);
    expect(touchSession(s, T0 - 1000).i).not.toBe(s.i);
  });

  it('have UUIDv7 ids carrying the time of their first event', () => {
    const { i } = touchSession(undefined, T0);
    const parsed = UUID.parse(i);
    expect([parsed.getVersion(), parsed.getVariant()]).toEqual([7, 'VAR_10']);
    const ms = parsed.bytes.slice(0, 6).reduce((acc, b) => acc * 256 + b, 0);
    expect(ms).toBe(T0);
  });
});

describe('uuidv7', () => {
  it('is a version 7, RFC 9562 variant UUID with the millisecond time in its first 48 bits, and random otherwise', () => {
    const seen = new Set<string>();
    for (let t = 0; t < 2 ** 48; t = t * 3 + 1) {
      const id = uuidv7(t);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(
        UUID.parse(id)
          .bytes.slice(0, 6)
          .reduce((acc, b) => acc * 256 + b, 0),
      ).toBe(t);
      seen.add(id);
    }
    for (let n = 0; n < 1000; n++) seen.add(uuidv7(T0));
    expect(seen.size).toBe(1000 + 31);
  });

  it('sorts by time', () => {
    const ids = [T0 + 5, T0, T0 + 1000, T0 + 1].map((t) => uuidv7(t));
    expect([...ids].sort()).toEqual([ids[1], ids[3], ids[0], ids[2]]);
  });
});
