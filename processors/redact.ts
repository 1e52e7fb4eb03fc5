/**
 * redact: removes personal data and secrets before storage (the product's privacy rules and more).
 * - Values of blocked keys (passwords, tokens, cookies…) are replaced whole; with `allowed_keys`, every other
 *   key is deleted.
 * - Emails, phone numbers, card numbers (Luhn-checked), national ids (US SSN, UK NINO) and secrets (bearer
 *   tokens, JWTs, common API key formats) inside attribute values and bodies are masked, or hashed with SHA-256
 *   and a per-tenant salt so equal values stay joinable.
 * - The client IP is coarsened to its /24 (IPv4) or /48 (IPv6) network; run it after enrichment so geo lookup
 *   sees the full address.
 * - Full URLs (the URL attributes, and keys ending in `url` or `referrer`) are reduced to their path; query
 *   parameters are dropped unless allow-listed.
 * - `kb.query` (and any configured key) is truncated.
 * Like the Collector's redaction processor, it adds summary attributes: `redaction.masked.keys` /
 * `redaction.masked.count` and `redaction.redacted.keys` / `redaction.redacted.count`.
 */
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { Attributes, Batch } from '../core/event.ts';
import type { Processor, ProcessorFactory } from '../core/components.ts';
import { memo } from './memo.ts';

const PATTERN_NAMES = ['email', 'phone', 'card', 'national_id', 'secret'] as const;

const configSchema = z.strictObject({
  mode: z.enum(['mask', 'hash']).default('mask'),
  /** Mixed with the tenant id into every hash; set it from a secret (`${env:…}`). */
  salt: z.string().default(''),
  patterns: z.array(z.enum(PATTERN_NAMES)).default([...PATTERN_NAMES]),
  blocked_keys: z
    .array(z.string())
    .default([
      'password',
      'passwd',
      'secret',
      'token',
      'api_key',
      'apikey',
      'authorization',
      'cookie',
      'set-cookie',
      'session_token',
      'access_token',
      'refresh_token',
      'card_number',
      'credit_card',
      'cvv',
      'ssn',
    ]),
  /** When set, only these keys (and the summary attributes) are kept. */
  allowed_keys: z.array(z.string()).default([]),
  /**
   * Keys (or prefixes ending in `*`, e.g. `traits.*`) whose values are kept as they are: the attributes the
   * encrypt processor seals, which are to be stored whole (encrypted) rather than masked.
   */
  exempt_keys: z
    .array(
      z
        .string()
        .min(1)
        .regex(/^[^*]+\*?$/, 'a key, or a prefix ending in "*"'),
    )
    .default([]),
  ip_attributes: z.array(z.string()).default(['client.address']),
  ipv4_prefix: z.number().int().min(0).max(32).default(24),
  ipv6_prefix: z.number().int().min(0).max(128).default(48),
  url_attributes: z.array(z.string()).default(['url.full', 'page.referrer']),
  /**
   * Keys ending so (any letter case) are URLs too: SDKs send more than the page's own, e.g. posthog-js'
   * `$initial_current_url`, `$session_entry_url` and `$initial_referrer`, each with its query string.
   */
  url_attribute_suffixes: z.array(z.string().min(1)).default(['url', 'referrer']),
  allowed_query_params: z.array(z.string()).default([]),
  truncate: z.record(z.string(), z.number().int().min(0)).default({ 'kb.query': 500 }),
  redact_body: z.boolean().default(true),
  summary: z.boolean().default(true),
});
export type RedactConfig = z.infer<typeof configSchema>;

export const PATTERN_SOURCES: Record<(typeof PATTERN_NAMES)[number], string> = {
  email: String.raw`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`,
  secret: String.raw`\bBearer\s+[A-Za-z0-9\-._~+/]{8,}=*|\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]{5,}|\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}|\bxox[abprs]-[A-Za-z0-9-]{10,}`,
  national_id: String.raw`\b\d{3}-\d{2}-\d{4}\b|\b[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]\b`,
  card: String.raw`\b[2-6](?:[ -]?\d){12,18}\b`,
  phone: String.raw`(?:\+\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b|\+\d{8,15}\b`,
};

/**
 * For each kind, a part that every match of its pattern contains (read case-insensitively, as the patterns
 * are): a value without it cannot hold that kind. Cheaper to look for than the patterns themselves.
 */
const NEEDS: Record<(typeof PATTERN_NAMES)[number], string> = {
  email: '@',
  secret: String.raw`bearer\s|eyj|[spr]k_(?:live|test)_|akia|gh[pousr]_|xox[abprs]-`,
  national_id: String.raw`\d{3}-\d{2}-\d{4}|[A-CEGHJ-PR-TW-Z]{2}\d{6}[A-D]`,
  card: String.raw`[2-6](?:[ -]?\d){12}`,
  phone: String.raw`\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}|\+\d{8}`,
};

/** Luhn checksum: tells card numbers from other long digit runs (ids, timestamps). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export function coarsenIp(ip: string, v4Prefix: number, v6Prefix: number): string {
  if (isIPv4(ip)) {
    const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const masked = v4Prefix === 0 ? 0 : Math.floor(n / 2 ** (32 - v4Prefix)) * 2 ** (32 - v4Prefix);
    return [24, 16, 8, 0].map((s) => Math.floor(masked / 2 ** s) % 256).join('.');
  }
  if (isIPv6(ip)) {
    const [head, tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((g) => parseInt(g || '0', 16));
    const out = groups.map((g, i) => {
      const bits = Math.max(0, Math.min(16, v6Prefix - i * 16));
      return bits === 16 ? g : bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff;
    });
    return out
      .map((g) => g.toString(16))
      .join(':')
      .replace(/(^|:)0(:0)+(:|$)/, '::');
  }
  return '';
}

export function createRedact(config: RedactConfig, name = 'redact'): Processor {
  const enabled = PATTERN_NAMES.filter((p) => config.patterns.includes(p));
  // One scan per value: a single alternation with a named group per kind, of the kinds the value can hold.
  const scanners: Array<RegExp | undefined> = [];
  const scanner = (kinds: number) =>
    (scanners[kinds] ??= new RegExp(enabled.flatMap((p, i) => (kinds & (1 << i) ? [`(?<${p}>${PATTERN_SOURCES[p]})`] : [])).join('|'), 'gi'));
  const needs = enabled.map((p) => new RegExp(NEEDS[p], 'i'));
  const mayHold = enabled.length > 0 ? new RegExp(enabled.map((p) => NEEDS[p]).join('|'), 'i') : undefined;
  const blocked = new Set(config.blocked_keys.map((k) => k.toLowerCase()));
  const allowed = config.allowed_keys.length > 0 ? new Set(config.allowed_keys) : undefined;
  const ipKeys = new Set(config.ip_attributes);
  const urlKeys = new Set(config.url_attributes);
  const urlSuffixes = config.url_attribute_suffixes.map((suffix) => suffix.toLowerCase());
  const allowedParams = new Set(config.allowed_query_params);
  const truncate = new Map(Object.entries(config.truncate));

  const replacement = (value: string, kind: string, tenantId: string) =>
    config.mode === 'hash' ? `${kind}:${createHash('sha256').update(`${config.salt}\0${tenantId}\0${value}`).digest('hex').slice(0, 16)}` : '****';

  /**
   * Masks what the patterns find; returns the value unchanged when nothing matched. A first scan for what every
   * match of some kind contains (NEEDS) lets most values skip the full alternation; the full scan then tries only
   * the kinds whose necessary part is there. A kind left out could not have matched anywhere in the value, so
   * the result is the same as with every kind.
   */
  function scrub(value: string, tenantId: string): string {
    if (!mayHold || value.length < 6 || !mayHold.test(value)) return value;
    let kinds = 0;
    for (let i = 0; i < needs.length; i++) if (needs[i].test(value)) kinds |= 1 << i;
    return value.replace(scanner(kinds), (match, ...args) => {
      const groups = args[args.length - 1] as Record<string, string | undefined>;
      const kind = enabled.find((p) => groups[p] !== undefined) ?? 'secret';
      if (kind === 'card' && !luhnValid(match.replace(/[ -]/g, ''))) return match;
      return replacement(match, kind, tenantId);
    });
  }

  function reduceUrl(value: string): string {
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      return value.split('?')[0];
    }
    const kept = [...u.searchParams].filter(([k]) => allowedParams.has(k));
    return kept.length > 0 ? `${u.pathname}?${new URLSearchParams(kept).toString()}` : u.pathname;
  }

  const coarsened = memo(10_000, (ip: string) => coarsenIp(ip, config.ipv4_prefix, config.ipv6_prefix));
  const reducedUrl = memo(10_000, reduceUrl);

  /** What to do with a key, decided once per distinct key. */
  type KeyRule = 'drop' | 'exempt' | 'blocked' | 'ip' | 'url' | 'scan';
  const exemptExact = new Set(config.exempt_keys.filter((k) => !k.endsWith('*')));
  const exemptPrefixes = config.exempt_keys.filter((k) => k.endsWith('*')).map((k) => k.slice(0, -1));
  const keyRule = memo(10_000, (key: string): KeyRule => {
    if (allowed && !allowed.has(key)) return 'drop';
    if (exemptExact.has(key) || exemptPrefixes.some((p) => key.startsWith(p))) return 'exempt';
    const lower = key.toLowerCase();
    if (blocked.has(lower) || blocked.has(lower.slice(lower.lastIndexOf('.') + 1))) return 'blocked';
    if (ipKeys.has(key)) return 'ip';
    return urlKeys.has(key) || urlSuffixes.some((suffix) => lower.endsWith(suffix)) ? 'url' : 'scan';
  });

  function redactAttributes(attrs: Attributes, tenantId: string): void {
    let masked: string[] | undefined;
    let removed: string[] | undefined;
    for (const key in attrs) {
      const value = attrs[key];
      const rule = keyRule(key);
      if (rule === 'drop') {
        delete attrs[key];
        (removed ??= []).push(key);
        continue;
      }
      if (rule === 'exempt') continue;
      let next: string;
      if (rule === 'blocked') next = replacement(value, 'blocked', tenantId);
      else if (rule === 'ip') next = coarsened(value);
      else {
        next = scrub(rule === 'url' ? reducedUrl(value) : value, tenantId);
        const max = truncate.get(key);
        if (max !== undefined && next.length > max) next = next.slice(0, max);
      }
      if (next !== value) {
        attrs[key] = next;
        (masked ??= []).push(key);
      }
    }
    if (config.summary && masked) {
      attrs['redaction.masked.keys'] = masked.sort().join(',');
      attrs['redaction.masked.count'] = String(masked.length);
    }
    if (config.summary && removed) {
      attrs['redaction.redacted.keys'] = removed.sort().join(',');
      attrs['redaction.redacted.count'] = String(removed.length);
    }
  }

  return {
    name,
    process(batch: Batch): Batch {
      const tenantId = batch.tenantId;
      for (const e of batch.events as Array<{ attributes: Attributes; body?: string }>) {
        redactAttributes(e.attributes, tenantId);
        if (config.redact_body && e.body) e.body = scrub(e.body, tenantId);
      }
      return batch;
    },
  };
}

export const redactFactory: ProcessorFactory<typeof configSchema> = {
  type: 'redact',
  signals: ['logs', 'traces'],
  configSchema,
  create: createRedact,
};
