/**
 * Product analytics: events and unique people over the range, events by name, and the attributes the enrich
 * processor derives — top pages, referrers and UTM campaigns (over page views), countries, browsers, operating
 * systems and devices (over every event). Two breakdown requests; each scans the range once.
 */
import { html } from 'htm/preact';
import { type BreakdownResult, post } from '../api.ts';
import { BarTable, Empty, ErrorBox, Loading, Scope, useData } from '../components.ts';
import { formatCount } from '../format.ts';
import type { Query } from '../state.ts';
import { rangeBody } from './overview.ts';

/** Page views as the Segment API, posthog-js and our tracker name them. */
export const PAGE_VIEW_EVENTS = ['page', '$pageview', 'page_view'];

const PAGE_FIELDS = [
  ['url.path', 'Top pages', 'Page'],
  ['referrer.domain', 'Referrers', 'Referrer'],
  ['campaign.name', 'UTM campaigns', 'Campaign'],
  ['campaign.source', 'UTM sources', 'Source'],
  ['campaign.medium', 'UTM media', 'Medium'],
] as const;
const EVENT_FIELDS = [
  ['event_name', 'Events by name', 'Event'],
  ['geo.country.iso_code', 'Countries', 'Country'],
  ['user_agent.name', 'Browsers', 'Browser'],
  ['user_agent.os.name', 'Operating systems', 'OS'],
  ['user_agent.device.type', 'Devices', 'Device'],
] as const;

export function Product({ query }: { query: Query }) {
  const data = useData(
    (signal) =>
      Promise.all([
        post<BreakdownResult>('/api/v1/analytics/reports/breakdown', { ...rangeBody(query), fields: EVENT_FIELDS.map((f) => f[0]), limit: 10 }, signal),
        post<BreakdownResult>(
          '/api/v1/analytics/reports/breakdown',
          { ...rangeBody(query), fields: PAGE_FIELDS.map((f) => f[0]), event_names: PAGE_VIEW_EVENTS, limit: 10 },
          signal,
        ),
      ]),
    [query.from, query.to, query.site],
  );
  if (data.error) return html`<${Scope} query=${query} /><${ErrorBox} error=${data.error} what="product analytics" />`;
  if (!data.data) return html`<${Scope} query=${query} busy /><${Loading} what="product analytics" />`;
  const [events, pages] = data.data;
  const table = (result: BreakdownResult, [field, title, label]: readonly [string, string, string]) =>
    html`<${BarTable} title=${title} field=${field} rows=${result.breakdowns.find((b) => b.field === field)?.rows ?? []} total=${result.total.events} valueLabel=${label} />`;
  return html`<${Scope} query=${query} busy=${data.loading} />
    <div class="totals">
      <p><span class="value" data-testid="total-events" data-value=${events.total.events}>${formatCount(events.total.events)}</span> events</p>
      <p><span class="value" data-testid="total-people" data-value=${events.total.people}>${formatCount(events.total.people)}</span> unique people</p>
      <p><span class="value" data-testid="total-pageviews" data-value=${pages.total.events}>${formatCount(pages.total.events)}</span> page views</p>
    </div>
    ${
      events.total.events === 0
        ? html`<${Empty}>No events in this range. Send events with any API (OTLP, the Segment or PostHog APIs, the envelope API, our tracker at
            <code>/sdk/signalhouse.js</code>); page views (<code>page</code>, <code>$pageview</code>) with a URL, referrer, user agent and IP fill the tables
            below.<//>`
        : html`<div class="tables">
            ${table(events, EVENT_FIELDS[0])}
            ${PAGE_FIELDS.map((f) => table(pages, f))}
            ${EVENT_FIELDS.slice(1).map((f) => table(events, f))}
          </div>
          <p class="muted small">
            Pages, referrers and campaigns count page views (${PAGE_VIEW_EVENTS.join(', ')}); countries, browsers, OS and devices count every event, as
            enriched from its IP address and user agent. People are user ids, with anonymous ids linked by identify calls.
          </p>`
    }`;
}
