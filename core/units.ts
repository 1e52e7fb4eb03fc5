import { z } from 'zod';

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** "250ms", "5s", "10m", "2h", "90d", or a bare number of milliseconds, as milliseconds. */
export function parseDurationMs(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * DURATION_UNITS_MS[m[2] ?? 'ms'];
}

/** "16MiB", "512KB", "1024", or a bare number of bytes, as bytes. */
export function parseBytes(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)?\s*$/.exec(value);
  if (!m) return undefined;
  const unit = BYTE_UNITS[(m[2] ?? 'b').toLowerCase()];
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit);
}

/** zod schema: a duration string or number of milliseconds, parsed to milliseconds. */
export const durationMs = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDurationMs(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (use e.g. "250ms", "5s", "2h", "90d")` });
    return z.NEVER;
  }
  return ms;
});

/** zod schema: a byte size string or number of bytes, parsed to bytes. */
export const byteSize = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseBytes(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid byte size ${JSON.stringify(v)} (use e.g. "512KiB", "16MiB")` });
    return z.NEVER;
  }
  return bytes;
});

/** zod schema: an integer given as a number or a numeric string (env substitution yields strings). */
export const intLike = (min: number, max: number) =>
  z
    .union([z.number(), z.string().regex(/^\s*-?\d+\s*$/, 'expected an integer')])
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** A listen address: host and port (0: any free port). */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * `host:port`, `[v6]:port` or `:port` (every interface), as the Collector writes endpoints; undefined when it is
 * none of those.
 */
export function splitHostPort(endpoint: string): HostPort | undefined {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(endpoint.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65_535) return undefined;
  const host = m[1] ?? m[2];
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** `host:port`, with an IPv6 host in brackets. */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** zod schema: an endpoint `host:port` (see splitHostPort), parsed to host and port. */
export const endpoint = z.string().transform((v, ctx) => {
  const hp = splitHostPort(v);
  if (hp === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid endpoint ${JSON.stringify(v)} (use host:port, e.g. "127.0.0.1:4317", "[::]:4317" or ":4317")` });
    return z.NEVER;
  }
  return hp;
});
