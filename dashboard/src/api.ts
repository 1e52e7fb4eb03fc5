/**
 * The dashboard's only way to the server: the public HTTP API on the page's own origin, with the read token the
 * user signed in with in an Authorization header. The token lives in sessionStorage (this tab, until it closes),
 * never in a URL. Errors carry the API's code and message, so screens can say what went wrong.
 */

const TOKEN_KEY = 'signalhouse.read_token';
/** Flags are changed with an admin token (each token does one job), kept beside the read token for this tab. */
const ADMIN_TOKEN_KEY = 'signalhouse.admin_token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let token: string | null = sessionStorage.getItem(TOKEN_KEY);
const signedOutListeners = new Set<(reason: string) => void>();

export const currentToken = () => token;

let admin: string | null = sessionStorage.getItem(ADMIN_TOKEN_KEY);

export const currentAdminToken = () => admin;

export function signOut(reason = ''): void {
  token = null;
  admin = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(ADMIN_TOKEN_KEY);
  for (const l of signedOutListeners) l(reason);
}

/** Called when the server stops accepting the token (e.g. removed from the config while signed in). */
export function onSignedOut(listener: (reason: string) => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

async function errorOf(res: Response): Promise<ApiError> {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || 'request failed';
  try {
    const body = (await res.json()) as { error?: string; message?: string };
    if (body.error) code = body.error;
    if (body.message) message = body.message;
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 503 && res.headers.get('retry-after')) message += ` (retry in ${res.headers.get('retry-after')} s)`;
  return new ApiError(res.status, code, message);
}

type Method = 'GET' | 'POST' | 'PATCH';

async function request<T>(method: Method, path: string, body: unknown, withToken: string | null, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (withToken) headers.authorization = `Bearer ${withToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NETWORK', `the server did not answer (${(err as Error).message}); is Signalhouse running?`);
  }
  if (!res.ok) {
    const err = await errorOf(res);
    if (res.status === 401 && withToken === token && token !== null) signOut(`Signed out: ${err.message}.`);
    // An admin token the server refuses (unknown, or not an admin's) is dropped: the screen asks again.
    if ((res.status === 401 || res.status === 403) && withToken === admin && admin !== null) forgetAdminToken();
    throw err;
  }
  return (await res.json()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, undefined, token, signal);
export const post = <T>(path: string, body: unknown, signal?: AbortSignal) => request<T>('POST', path, body, token, signal);

/** A request with the admin token (changes to flags). */
export const adminRequest = <T>(method: Method, path: string, body?: unknown, signal?: AbortSignal) => request<T>(method, path, body, admin, signal);

/** Keeps an admin token for this tab; the first change made with it tells whether the server accepts it. */
export function keepAdminToken(candidate: string): void {
  admin = candidate;
  sessionStorage.setItem(ADMIN_TOKEN_KEY, candidate);
}

export function forgetAdminToken(): void {
  admin = null;
  sessionStorage.removeItem(ADMIN_TOKEN_KEY);
}

/** Checks `candidate` against the API (the metric catalog is any read token's); keeps it when accepted. */
export async function signIn(candidate: string): Promise<void> {
  await request('GET', '/api/v1/analytics/metrics', undefined, candidate);
  token = candidate;
  sessionStorage.setItem(TOKEN_KEY, candidate);
}

export interface SseFrame {
  event: string;
  data: string;
}

/**
 * Reads a Server-Sent Events stream with fetch (EventSource cannot send the Authorization header), calling
 * `onFrame` per frame until `signal` aborts or the stream ends; rejects with an ApiError when refused.
 */
export async function readEventStream(path: string, onFrame: (f: SseFrame) => void, signal: AbortSignal): Promise<void> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token ?? ''}`, accept: 'text/event-stream' }, signal, cache: 'no-store' });
  if (!res.ok || !res.body) {
    const err = await errorOf(res);
    if (res.status === 401) signOut(`Signed out: ${err.message}.`);
    throw err;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    text += value;
    for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
      const frame: SseFrame = { event: 'message', data: '' };
      for (const line of text.slice(0, end).split('\n')) {
        if (line.startsWith('event: ')) frame.event = line.slice(7);
        else if (line.startsWith('data: ')) frame.data += line.slice(6);
      }
      text = text.slice(end + 2);
      if (frame.data !== '') onFrame(frame);
    }
  }
}

// The API's shapes, as the screens use them (docs/api.md).
export type Unit = 'ms' | 'count' | 'ratio' | 'number';
export interface CatalogMetric {
  name: string;
  description: string;
  unit: Unit;
  better: 'lower' | 'higher';
  group: string;
  events: string[];
  spans: string | null;
}
export interface Catalog {
  metrics: CatalogMetric[];
  groups: Array<{ id: string; title: string }>;
}
export interface Point {
  t: string;
  value: number | null;
}
export interface FunnelStep {
  name: string;
  count: number;
  conversion_rate: number | null;
  median_time_to_convert_s: number | null;
}
export interface FunnelResult {
  steps: FunnelStep[];
  breakdown?: Array<{ value: string; steps: FunnelStep[] }>;
}
export interface BreakdownRow {
  value: string;
  events: number;
  people: number;
}
export interface BreakdownResult {
  total: { events: number; people: number };
  breakdowns: Array<{ field: string; rows: BreakdownRow[] }>;
}
export interface PersonEvent {
  time: string;
  event_name: string;
  event_id: string;
  user_id: string;
  anonymous_id: string;
  session_id: string;
  site_id: string;
  attributes: Record<string, string>;
}
export interface Person {
  id: string;
  user_id: string | null;
  anonymous_ids: string[];
  traits: Array<{ key: string; value: string; updated_at: string }>;
  first_identified: string | null;
  last_identified: string | null;
  identify_calls: number;
  events: PersonEvent[];
}
export interface FlagCondition {
  properties: Array<{ key: string; operator?: string; value?: unknown; type?: string }>;
  rolloutPercentage?: number | null;
  variant?: string | null;
}
export interface FlagVariant {
  key: string;
  name?: string;
  rolloutPercentage: number;
  payload?: unknown;
}
export interface Flag {
  key: string;
  name: string;
  type: 'boolean' | 'multivariate';
  isEnabled: boolean;
  value?: unknown;
  rolloutPercentage: number;
  conditions: FlagCondition[];
  variants: FlagVariant[];
  version: number;
  createdAt: string;
  createdBy: string;
  updatedAt: string;
  updatedBy: string;
  source: 'api' | 'config';
}
export interface FlagVersion {
  version: number;
  changedBy: string;
  changedAt: string;
  requestId: string;
  deleted: boolean;
  definition: Partial<Flag>;
}
export interface AbTest {
  id: string;
  name: string;
  status: string;
  flagKey: string;
  variants: Array<{ id: string; name: string; allocation: number; isControl?: boolean }>;
  metrics: Array<{ id: string; name: string; type: string; isPrimary?: boolean }>;
}
/** Bounds that cannot be computed are null. */
export type Interval = [number | null, number | null];
/** Numbers that cannot be computed (no exposures, no variance) are null. */
export interface VariantResult {
  id: string;
  name: string;
  isControl: boolean;
  exposures: number;
  conversions?: number | null;
  rate?: number | null;
  rateCi95?: Interval | null;
  mean?: number | null;
  stddev?: number | null;
  lift?: {
    relative: number | null;
    ci95: Interval;
    sequentialCi95: Interval;
    pValue: number | null;
    chanceToBeatControl: number | null;
    cuped?: { relative: number | null; ci95: Interval; varianceReduction: number | null } | null;
  } | null;
}
export interface ExperimentResults {
  id: string;
  name: string;
  status: string;
  flagKey: string;
  exposures: number;
  srm: { observed: Record<string, number>; expected: Record<string, number>; chiSquare: number | null; pValue: number | null; mismatch: boolean };
  metrics: Array<{ id: string; name: string; type: string; isPrimary: boolean; variants: VariantResult[] }>;
}
