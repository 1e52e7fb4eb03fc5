/**
 * The experiments API's tests: tenants with all three kinds of credential, a client for the API and for the PostHog
 * capture route, PostHog exposure events and an experiment definition to vary.
 */
import { expect } from 'vitest';

export const ACME = { write: 'wk_acme_exp', read: 'rt_acme_exp', admin: 'at_acme_exp' };
export const GLOBEX = { write: 'wk_globex_exp', read: 'rt_globex_exp', admin: 'at_globex_exp' };
export const EXPERIMENT_TENANTS = [
  { id: 'acme', write_keys: [ACME.write], read_tokens: [ACME.read], admin_tokens: [ACME.admin] },
  { id: 'globex', write_keys: [GLOBEX.write], read_tokens: [GLOBEX.read], admin_tokens: [GLOBEX.admin] },
];
export const AB_TESTS = '/api/feature-flags/ab-tests';
export const HOUR = 3_600_000;
/** The experiments' start, in the past so that every planted event has a time of its own. */
export const T0 = Date.now() - 6 * HOUR;
export const at = (ms: number) => new Date(ms).toISOString();

export interface ApiReply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the replies' shapes are what the assertions check.
  body: Record<string, any>;
  requestId: string | null;
}

/** Calls the service at `url` with `token` as bearer; a string payload is sent as it is. */
export async function callApi(url: string, method: string, path: string, token: string | undefined, payload?: unknown): Promise<ApiReply> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: payload === undefined ? undefined : typeof payload === 'string' ? payload : JSON.stringify(payload),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {}, requestId: res.headers.get('x-request-id') };
}

export type PosthogEvent = { event: string; distinct_id: string; timestamp: string; properties?: Record<string, unknown> };

/** Sends events through the PostHog API's batch route, 500 at a time, each batch acknowledged. */
export async function capture(url: string, writeKey: string, events: PosthogEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    const res = await fetch(`${url}/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ api_key: writeKey, batch: events.slice(i, i + 500) }),
    });
    expect(res.status).toBe(200);
  }
}

/** A `$feature_flag_called` event as posthog-js sends it when the flag is read. */
export const exposure = (flag: string, person: string, variant: string, ms: number): PosthogEvent => ({
  event: '$feature_flag_called',
  distinct_id: person,
  timestamp: at(ms),
  properties: { $feature_flag: flag, $feature_flag_response: variant },
});

/** A running two-variant experiment on flag `checkout-button` with a conversion, a sum, a mean and a catalog metric. */
export const definition = (overrides: Record<string, unknown> = {}) => ({
  name: 'Checkout button',
  status: 'running',
  flagKey: 'checkout-button',
  startAt: at(T0),
  variants: [
    { id: 'control', name: 'Control', allocation: 50, config: { color: 'grey' }, isControl: true },
    { id: 'treatment', name: 'Green button', allocation: 50, config: { color: 'green' } },
  ],
  metrics: [
    { id: 'purchase', name: 'Purchase', type: 'conversion', event: 'purchase', aggregation: 'rate', isPrimary: true },
    { id: 'revenue', name: 'Revenue per person', type: 'mean', attribute: 'order.value', event: 'purchase', aggregation: 'sum' },
    { id: 'order', name: 'Order value', type: 'mean', attribute: 'order.value', event: 'purchase', aggregation: 'mean' },
    { id: 'barge-ins', name: 'Barge-ins per person', type: 'catalog', metric: 'voice.barge_in_count' },
  ],
  createdBy: 'admin',
  ...overrides,
});
