/**
 * Request bodies for `bench:ingest`, serialized by the official OTel serializers (OTLP protobuf and JSON):
 * AI tool-call events (no URL or user agent), and web events as a browser tracker sends them (page views,
 * clicks, product views on a handful of hosts: `url.full` with UTM parameters and sometimes an email in the
 * query, `user_agent.original`, `client.address`, `page.referrer`, `page.title`, session and user ids).
 *
 * Every event id holds REQ_MARKER, which `uniqueBodies` overwrites with a request counter for each request, so
 * dedupe keeps every event. Web events come as a set of templates drawn from one seeded generator (the same
 * bytes every run) and are sent in turn, so the distinct URLs, addresses and user agents seen by the server are
 * those of many requests, not of one.
 */
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { AnyValueMap } from '@opentelemetry/api-logs';
import { USER_AGENTS } from './user-agents.ts';
import { seededRandom } from '../test/helpers/random.ts';

/** Placeholder in every event id; same length as the request counter written over it. */
export const REQ_MARKER = 'R000000000';

export interface Payload {
  proto: Buffer;
  json: Buffer;
  events: number;
}

let requestCounter = 0;

/**
 * Hands `count` request numbers to another process (a steady scenario's generator, steady-client.ts): this
 * process's counter skips them, so no two processes send the same event ids (dedupe would drop the repeats).
 */
export function reserveRequests(count: number): number {
  const first = requestCounter;
  requestCounter += count;
  return first;
}

/** Numbers this process's requests after `first` (the start of a reservation it was handed). */
export function numberRequestsFrom(first: number): void {
  requestCounter = first;
}

/** A body factory: each call returns the next template with a fresh request number in every event id. */
export function uniqueBodies(templates: Buffer | readonly Buffer[]): () => Buffer {
  const list = Buffer.isBuffer(templates) ? [templates] : templates;
  const marker = Buffer.from(REQ_MARKER);
  const offsets = list.map((t) => {
    const found: number[] = [];
    for (let i = t.indexOf(marker); i >= 0; i = t.indexOf(marker, i + 1)) found.push(i);
    return found;
  });
  let next = 0;
  return () => {
    const k = next++ % list.length;
    const body = Buffer.from(list[k]);
    const stamp = Buffer.from(`R${String(++requestCounter).padStart(9, '0')}`);
    for (const o of offsets[k]) stamp.copy(body, o);
    return body;
  };
}

type Emit = (attributes: AnyValueMap, eventName: string, body: string, timestamp: number) => void;

/** Emits through the OTel SDK and serializes what it recorded. */
function serialize(resource: Record<string, string>, fill: (emit: Emit) => void): Payload {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource: resourceFromAttributes(resource), processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = provider.getLogger('signalhouse.bench', '1.0.0');
  fill((attributes, eventName, body, timestamp) => logger.emit({ eventName, timestamp, severityText: 'INFO', body, attributes }));
  const records: ReadableLogRecord[] = exporter.getFinishedLogRecords();
  return {
    proto: Buffer.from(ProtobufLogsSerializer.serializeRequest(records)!),
    json: Buffer.from(JsonLogsSerializer.serializeRequest(records)!),
    events: records.length,
  };
}

/** `n` AI tool-call events with 9 attributes. */
export function aiPayload(n: number): Payload {
  const now = Date.now();
  return serialize({ 'service.name': 'bench-app', 'service.version': '1.4.2', 'deployment.environment': 'prod' }, (emit) => {
    for (let i = 0; i < n; i++) {
      emit(
        {
          'log.record.uid': `${REQ_MARKER}-${String(i).padStart(4, '0')}`,
          'gen_ai.tool.name': ['lookup_order', 'search_kb', 'book_slot'][i % 3],
          'ai.tool.category': 'navigation',
          'ai.tool.duration_ms': 80 + (i % 200),
          'ai.tool.success': i % 11 !== 0,
          'gen_ai.conversation.id': `conv-${i % 97}`,
          'session.id': `sess-${i % 211}`,
          'user.id': `user-${i % 1009}`,
          'site.id': 'site-main',
        },
        'ai.tool_call_completed',
        'tool call completed',
        now + i,
      );
    }
  });
}

// ---- web events -----------------------------------------------------------------------------------------------

const HOSTS = ['www.shop.example.com', 'shop.example.com', 'm.shop.example.com', 'blog.example.com', 'help.example.com'];
const CATEGORIES = ['tents', 'sleeping-bags', 'backpacks', 'jackets', 'boots', 'stoves', 'lamps', 'kids', 'sale', 'new-in'];
const WORDS = ['ultralight', 'alpine', 'trail', 'summit', 'river', 'storm', 'compact', 'family', 'trek', 'basecamp', 'nordic', 'desert'];
const FIRST = ['jane', 'john', 'maria', 'li', 'ahmed', 'sofia', 'lukas', 'emma', 'noah', 'yuki', 'olga', 'pierre', 'fatima', 'diego'];
const LAST = ['doe', 'smith', 'garcia', 'wang', 'khan', 'rossi', 'muller', 'jones', 'tanaka', 'ivanova', 'martin', 'silva'];
const MAIL_DOMAINS = ['example.com', 'mail.example.org', 'example.net', 'corp.example.com'];
const CAMPAIGNS = [
  ['google', 'cpc', 'spring_sale_2026'],
  ['google', 'cpc', 'brand_terms'],
  ['newsletter', 'email', 'weekly_2026_48'],
  ['newsletter', 'email', 'black_friday'],
  ['facebook', 'social', 'retargeting_q4'],
  ['instagram', 'social', 'winter_launch'],
  ['bing', 'cpc', 'brand_terms'],
  ['partner_blog', 'referral', 'gear_guide'],
  ['tiktok', 'paid_social', 'winter_launch'],
] as const;
const EXTERNAL_REFERRERS = [
  'https://www.google.com/',
  'https://t.co/',
  'https://www.bing.com/',
  'https://duckduckgo.com/',
  'https://l.facebook.com/',
  'https://www.reddit.com/',
];
const LANGUAGES = ['en-US', 'en-GB', 'de-DE', 'fr-FR', 'es-ES', 'ja-JP', 'pt-BR', 'nl-NL'];
const CLICK_TARGETS = [
  'button#add-to-cart',
  'a.nav-link',
  'button.filter-apply',
  'a.product-card',
  'button#newsletter-signup',
  'a.breadcrumb',
  'button.size-select',
];

/** A few hundred distinct paths over the hosts, each with its page title. */
function sitePages(rand: () => number): Array<{ host: string; path: string; title: string }> {
  const pages: Array<{ host: string; path: string; title: string }> = [];
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const shop = HOSTS.slice(0, 3);
  for (const c of CATEGORIES) pages.push({ host: pick(shop), path: `/c/${c}`, title: `${c.replace('-', ' ')} | Example Outdoor` });
  for (let i = 0; i < 220; i++) {
    const slug = `${pick(WORDS)}-${pick(WORDS)}-${pick(CATEGORIES).replace(/s$/, '')}`;
    pages.push({ host: pick(shop), path: `/p/${slug}-${10_000 + i * 37}`, title: `${slug.replace(/-/g, ' ')} – Example Outdoor` });
  }
  for (let i = 0; i < 50; i++)
    pages.push({
      host: HOSTS[3],
      path: `/2026/${String(1 + (i % 12)).padStart(2, '0')}/${pick(WORDS)}-guide-${i}`,
      title: `How to choose: ${pick(WORDS)} gear`,
    });
  for (let i = 0; i < 30; i++)
    pages.push({ host: HOSTS[4], path: `/articles/${400 + i}-${pick(['returns', 'shipping', 'sizing', 'warranty', 'payment'])}`, title: 'Help centre' });
  for (const p of ['/', '/cart', '/checkout/shipping', '/checkout/payment', '/checkout/confirmation', '/account', '/account/orders', '/search'])
    pages.push({ host: HOSTS[0], path: p, title: 'Example Outdoor' });
  return pages;
}

interface Visitor {
  ip: string;
  ua: string;
  sessionId: string;
  userId: string;
  anonymousId: string;
  language: string;
  email: string;
}

/** Visitors of the site: many distinct addresses (IPv4, some IPv6), a realistic user-agent mix, some logged in. */
function visitors(rand: () => number, count: number): Visitor[] {
  const hex = (bits: number) => Math.floor(rand() * 2 ** bits).toString(16);
  const octet = () => 1 + Math.floor(rand() * 254);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const out: Visitor[] = [];
  for (let i = 0; i < count; i++) {
    const ip =
      rand() < 0.15
        ? `2a02:${hex(16)}:${hex(16)}:${hex(16)}:${hex(16)}:${hex(16)}:${hex(16)}:${hex(16)}`
        : `${pick([81, 86, 92, 109, 145, 178, 185, 188, 194, 212, 24, 73, 98, 174])}.${octet()}.${octet()}.${octet()}`;
    const loggedIn = rand() < 0.35;
    const uuid = `${hex(32).padStart(8, '0')}-${hex(16).padStart(4, '0')}-4${hex(12).padStart(3, '0')}-${hex(16).padStart(4, '0')}-${hex(32).padStart(8, '0')}${hex(16).padStart(4, '0')}`;
    out.push({
      ip,
      ua: pick(USER_AGENTS),
      sessionId: `${hex(32)}${hex(32)}`,
      userId: loggedIn ? `u_${100_000 + Math.floor(rand() * 900_000)}` : '',
      anonymousId: uuid,
      language: pick(LANGUAGES),
      email: `${pick(FIRST)}.${pick(LAST)}${rand() < 0.5 ? Math.floor(rand() * 100) : ''}@${pick(MAIL_DOMAINS)}`,
    });
  }
  return out;
}

/** The page URL a tracker reports: UTM parameters on a third of the views, an email (PII) in some, click ids. */
function pageUrl(rand: () => number, page: { host: string; path: string }, v: Visitor): string {
  const params: string[] = [];
  if (page.path === '/search') params.push(`q=${WORDS[Math.floor(rand() * WORDS.length)]}+${CATEGORIES[Math.floor(rand() * CATEGORIES.length)]}`);
  const r = rand();
  if (r < 0.33) {
    const [source, medium, campaign] = CAMPAIGNS[Math.floor(rand() * CAMPAIGNS.length)];
    params.push(`utm_source=${source}`, `utm_medium=${medium}`, `utm_campaign=${campaign}`);
    if (medium === 'cpc' && rand() < 0.5) params.push(`gclid=${Math.floor(rand() * 2 ** 52).toString(36)}${Math.floor(rand() * 2 ** 52).toString(36)}`);
    // Newsletter links often carry the recipient's address; some percent-encode the '@'.
    if (medium === 'email' && rand() < 0.6) params.push(`email=${rand() < 0.7 ? v.email : v.email.replace('@', '%40')}`);
  } else if (r < 0.36) {
    params.push(`email=${v.email}`);
  }
  return `https://${page.host}${page.path}${params.length ? `?${params.join('&')}` : ''}`;
}

/** Templates of web events, `perRequest` each, from one seeded generator; `count` of them, sent in turn. */
export function webPayloads(perRequest: number, count: number, seed = 1): Payload[] {
  const rand = seededRandom(seed);
  const pages = sitePages(seededRandom(7));
  const people = visitors(seededRandom(11), 20_000);
  const now = Date.now();
  const out: Payload[] = [];
  for (let t = 0; t < count; t++) {
    out.push(
      serialize(
        {
          'service.name': 'shop-web',
          'service.version': '2026.11.3',
          'deployment.environment': 'prod',
          'telemetry.sdk.language': 'webjs',
          'telemetry.sdk.name': 'signalhouse-tracker',
        },
        (emit) => {
          for (let i = 0; i < perRequest; i++) {
            const v = people[Math.floor(rand() * people.length)];
            const page = pages[Math.floor(rand() * pages.length)];
            const r = rand();
            const prev = pages[Math.floor(rand() * pages.length)];
            const referrer = r < 0.3 ? '' : r < 0.6 ? EXTERNAL_REFERRERS[Math.floor(rand() * EXTERNAL_REFERRERS.length)] : `https://${prev.host}${prev.path}`;
            const kind = rand();
            const eventName = kind < 0.6 ? 'page.viewed' : kind < 0.85 ? 'ui.click' : kind < 0.95 ? 'commerce.view' : 'commerce.add_to_cart';
            const attributes: AnyValueMap = {
              'log.record.uid': `${REQ_MARKER}-${String(i).padStart(5, '0')}`,
              'url.full': pageUrl(rand, page, v),
              'page.title': page.title,
              'page.referrer': referrer,
              'user_agent.original': v.ua,
              'client.address': v.ip,
              'session.id': v.sessionId,
              'anonymous.id': v.anonymousId,
              'browser.language': v.language,
              'screen.width': [390, 414, 768, 1280, 1440, 1920][Math.floor(rand() * 6)],
            };
            if (v.userId) attributes['user.id'] = v.userId;
            if (eventName === 'ui.click') attributes['ui.target'] = CLICK_TARGETS[Math.floor(rand() * CLICK_TARGETS.length)];
            if (eventName.startsWith('commerce.')) {
              attributes['commerce.product_id'] = page.path.startsWith('/p/')
                ? page.path.slice(page.path.lastIndexOf('-') + 1)
                : String(10_000 + Math.floor(rand() * 220) * 37);
              attributes['commerce.value'] = Math.round(rand() * 40_000) / 100;
            }
            emit(attributes, eventName, '', now + t * perRequest + i);
          }
        },
      ),
    );
  }
  return out;
}

/** Web-event bodies of at most `maxBytes` of OTLP/JSON each (a few percent under it), `count` of them. */
export function largeWebPayloads(maxBytes: number, count: number): Payload[] {
  const probe = webPayloads(500, 1, 99)[0];
  const perRequest = Math.floor((maxBytes / probe.json.length) * 500 * 0.97);
  return webPayloads(perRequest, count, 99);
}
