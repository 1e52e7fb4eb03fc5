/**
 * The tracker: captures events with the ids of the person and session, keeps them in the delivery queue and
 * sends them to Signalhouse's tracker API in batches (20 events, 5 s or 48 KB; a page's first event at once),
 * as `text/plain` so that browsers send no preflight. Replies decide what leaves the queue: stored or refused
 * for good; 408, 429, 5xx and network errors are retried after `Retry-After`, else with jittered backoff, and
 * at once when the browser comes back online. When the page is hidden the queue goes out with
 * `fetch(keepalive)`, or `sendBeacon` where that fails. Nothing is captured without consent.
 */
import { BATCH_MAX_CHARS, createQueue, type Queue, type WireEvent } from './queue.ts';
import { type Session, touchSession } from './session.ts';
import { cookieKV, type KV, localKV, memoryKV, readJson } from './storage.ts';
import { backoffMs, INGEST_PATH, type Outcome, outcomeOf, retryAfterMs } from './transport.ts';
import type { Ids, InstallModule, ModuleName, Properties, Signalhouse, TrackerOptions } from './types.ts';
import { uuidv7 } from './uuid.ts';

declare const __VERSION__: string;

const LIBRARY = { name: '@signalhouse/browser', version: __VERSION__ };
const QUEUE_KEY = 'sh_q:';
const IDS_KEY = 'sh_id';
const SESSION_KEY = 'sh_s';
const CONSENT_KEY = 'sh_c';
const BATCH_DELAY_MS = 5000;
/** Keepalive request bodies in flight are capped at 64 KB per page. */
const HIDDEN_BUDGET_CHARS = 60_000;
const HELD_MAX = 100;

type Fields = Partial<WireEvent>;
interface StoredIds {
  a?: string;
  u?: string;
}

/** A tracker; `loadModule` fetches an optional module's code, `defaultHost` is used when `init` names none. */
export function createTracker(
  loadModule: (name: ModuleName) => Promise<InstallModule>,
  defaultHost = '',
): Signalhouse & {
  /** Runs a call queued by the snippet before the script loaded, with the time it was made. */
  replay(method: string, args: ArrayLike<unknown>, at?: number): void;
} {
  let key = '';
  let url = '';
  let kv: KV = memoryKV();
  let queue: Queue;
  let blocked = false;
  /** undefined: not decided yet (opt-in waits for it). */
  let granted: boolean | undefined;
  let choice: boolean | undefined;
  let held: Array<[Fields, number]> = [];
  let lastUrl = '';
  let at: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<boolean> | undefined;
  let attempt = 0;
  let notBefore = 0;
  let serverWait = false;
  let first = true;
  const tab = uuidv7();
  const now = () => Date.now();
  const on = (target: EventTarget, type: string, fn: () => void) => target.addEventListener(type, fn);
  const sending = () => granted && !blocked;

  function ids(create: boolean): StoredIds {
    const v = readJson<StoredIds>(kv, IDS_KEY) ?? {};
    if (create && !v.a) {
      v.a = uuidv7();
      kv.set(IDS_KEY, JSON.stringify(v));
    }
    return v;
  }

  function capture(fields: Fields) {
    if (!key || blocked || granted === false) return;
    const t = at ?? now();
    const event: Fields = { url: location.href, title: document.title, ...fields };
    try {
      if (granted) enqueue(event, t);
      else if (held.length < HELD_MAX) held.push([JSON.parse(JSON.stringify(event)), t]);
    } catch (err) {
      // Properties JSON cannot hold (a cycle, a BigInt): that event is dropped, the page goes on.
      console.warn('signalhouse: event not captured:', err);
    }
  }

  function enqueue(fields: Fields, t: number) {
    const v = ids(true);
    if (fields.type === 'identify' && fields.userId) {
      v.u = fields.userId as string;
      kv.set(IDS_KEY, JSON.stringify(v));
    }
    if (fields.type === 'alias') fields.previousId ??= v.u ?? v.a;
    const s = touchSession(readJson<Session>(kv, SESSION_KEY), t);
    kv.set(SESSION_KEY, JSON.stringify(s));
    queue.add({ messageId: uuidv7(t), timestamp: new Date(t).toISOString(), anonymousId: v.a, userId: v.u, sessionId: s.i, ...fields } as WireEvent, now());
    if (first) {
      // At the end of the current script: calls made with it (the snippet's queue) share the request.
      first = false;
      queueMicrotask(send);
    } else {
      const { n, chars } = queue.sendable(now());
      if (n >= 20 || chars >= BATCH_MAX_CHARS) void send();
      else later(BATCH_DELAY_MS);
    }
    // Captured while hidden (web vitals report then): out at once, the page may not come back.
    if (document.visibilityState === 'hidden') sendHidden();
  }

  function later(ms: number, replace?: boolean) {
    if (timer !== undefined && !replace) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      void send();
    }, ms);
  }

  const body = (events: WireEvent[]) =>
    JSON.stringify({ writeKey: key, sentAt: new Date().toISOString(), library: LIBRARY, locale: navigator.language, events });

  function settle(events: WireEvent[], outcome: Outcome, wait: number): boolean {
    queue.settle(
      events.map((e) => e.messageId),
      outcome !== 'retry',
      now(),
    );
    if (outcome !== 'retry') {
      attempt = 0;
      return true;
    }
    serverWait = wait > 0;
    const delay = serverWait ? wait + Math.random() * 1000 : backoffMs(attempt);
    attempt++;
    notBefore = now() + delay;
    later(delay, true);
    return false;
  }

  function post(events: WireEvent[], text: string, keepalive: boolean, failed: () => unknown): Promise<unknown> {
    return fetch(url, { method: 'POST', body: text, keepalive, credentials: 'omit' }).then(
      (r) => settle(events, outcomeOf(r.status), retryAfterMs(r.headers.get('retry-after'), now())),
      failed,
    );
  }

  async function send(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    while (sending()) {
      if (inFlight) {
        await inFlight;
        continue;
      }
      const t = now();
      if (t < notBefore) return later(notBefore - t, true);
      if (navigator.onLine === false) return;
      const events = queue.take(t, false, BATCH_MAX_CHARS);
      if (!events.length) return;
      inFlight = post(events, body(events), false, () => settle(events, 'retry', 0)) as Promise<boolean>;
      const ok = await inFlight;
      inFlight = undefined;
      if (!ok) return;
    }
  }

  /** Page hidden or unloading: everything this page holds goes now, within the keepalive budget. */
  function sendHidden() {
    if (!sending() || navigator.onLine === false) return;
    let budget = HIDDEN_BUDGET_CHARS;
    for (;;) {
      const events = queue.take(now(), true, Math.min(BATCH_MAX_CHARS, budget - 300));
      if (!events.length) return;
      const text = body(events);
      budget -= text.length;
      // Where keepalive fails (not supported, over its budget), sendBeacon; events it takes stay marked as sent.
      const beacon = () => navigator.sendBeacon?.(url, text) || settle(events, 'retry', 0);
      try {
        post(events, text, true, beacon);
      } catch {
        beacon();
      }
    }
  }

  function setConsent(yes: boolean) {
    granted = yes;
    kv.set(CONSENT_KEY, yes ? '1' : '0');
    if (yes) {
      for (const [fields, t] of held) enqueue(fields, t);
    } else {
      queue.clear();
      kv.del(IDS_KEY);
      kv.del(SESSION_KEY);
      clearTimeout(timer);
    }
    held = [];
  }

  const navigated = () => location.href !== lastUrl && api.page();

  const api = {
    init(writeKey: string, o: TrackerOptions = {}) {
      if (key || !writeKey) return;
      key = writeKey;
      url = (o.host ?? defaultHost).replace(/\/+$/, '') + INGEST_PATH;
      const nav = navigator as Navigator & { globalPrivacyControl?: boolean };
      blocked = (o.respectDnt !== false && nav.doNotTrack === '1') || (o.respectGpc !== false && nav.globalPrivacyControl === true);
      const store = o.persistence === 'memory' ? kv : localKV();
      kv = o.persistence === 'cookie' ? cookieKV(o.cookieDomain) : store;
      // One queue per write key: a batch goes out with the key its events were captured for.
      queue = createQueue(store, QUEUE_KEY + writeKey, tab);
      const stored = kv.get(CONSENT_KEY);
      granted = stored ? stored === '1' : o.consent === 'opt-in' ? undefined : true;
      if (choice !== undefined) setConsent(choice);
      on(document, 'visibilitychange', () => document.visibilityState === 'hidden' && sendHidden());
      on(window, 'pagehide', sendHidden);
      on(window, 'online', () => {
        attempt = 0;
        if (!serverWait) notBefore = 0;
        void send();
      });
      if (o.pageviews !== false) {
        api.page();
        for (const m of ['pushState', 'replaceState'] as const) {
          const original = history[m];
          history[m] = function (this: History, ...args: Parameters<History['pushState']>) {
            original.apply(this, args);
            navigated();
          };
        }
        on(window, 'popstate', navigated);
        on(window, 'hashchange', navigated);
      }
      if (!blocked && granted !== false) {
        const host = { track: api.track };
        for (const [name, enabled] of [
          ['autocapture', o.autocapture],
          ['vitals', o.webVitals],
          ['errors', o.errors],
        ] as const) {
          if (enabled)
            loadModule(name).then(
              (install) => install(host),
              () => console.warn('signalhouse: module not loaded:', name),
            );
        }
      }
      // What earlier pages left in the queue goes now.
      if (sending()) queueMicrotask(send);
    },
    track(event: string, properties?: Properties) {
      if (event) capture({ type: 'track', event, properties });
    },
    identify(userId?: string | Properties | null, traits?: Properties) {
      if (typeof userId === 'object' && userId) {
        traits = userId;
        userId = undefined;
      }
      capture({ type: 'identify', userId: userId ? String(userId) : undefined, traits });
    },
    page(name?: string | Properties, properties?: Properties) {
      if (typeof name === 'object') {
        properties = name;
        name = undefined;
      }
      const referrer = lastUrl || document.referrer;
      lastUrl = location.href;
      capture({ type: 'page', name, properties, referrer });
    },
    alias(userId: string, previousId?: string) {
      if (userId) capture({ type: 'alias', userId: String(userId), previousId, anonymousId: undefined });
    },
    reset() {
      kv.del(IDS_KEY);
      kv.del(SESSION_KEY);
    },
    consent(yes: boolean) {
      if (key) setConsent(!!yes);
      else choice = !!yes;
    },
    flush: send,
    ids(): Ids {
      if (!key || !sending()) return {};
      const v = ids(false);
      return { anonymousId: v.a, userId: v.u, sessionId: readJson<Session>(kv, SESSION_KEY)?.i };
    },
    replay(method: string, args: ArrayLike<unknown>, t?: number) {
      const fn = (api as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
      if (typeof fn !== 'function' || method === 'replay') return;
      at = t;
      try {
        fn(...Array.from(args));
      } finally {
        at = undefined;
      }
    },
  };
  return api;
}
