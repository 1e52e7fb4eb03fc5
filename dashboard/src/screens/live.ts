/**
 * Live events: the server's stream of committed events (Server-Sent Events, read with fetch so that the token
 * travels in a header), optionally only some event names, newest first, each as stored — redaction included.
 * Keeps the latest 200; a pause holds the list still while events keep arriving. Reconnects after a dropped
 * connection; says when the server skipped events because this page fell behind.
 */
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, readEventStream } from '../api.ts';
import { Empty } from '../components.ts';
import { formatCount, formatTime } from '../format.ts';
import type { Query } from '../state.ts';

const KEEP = 200;
const RECONNECT_MS = 3000;

interface LiveEvent {
  time: string;
  event_name: string;
  event_id: string;
  user_id: string;
  anonymous_id: string;
  session_id: string;
  site_id: string;
  service_name: string;
  body: string;
  attributes: Record<string, string>;
}
type Item = { kind: 'event'; key: number; event: LiveEvent } | { kind: 'dropped'; key: number; dropped: number };
/** `filter`: the event names the server confirmed for this connection (comma-joined; '' for all). */
type Status = { state: 'connecting' | 'live' | 'error'; message?: string; filter?: string };

let keys = 0;

export function Live({ query }: { query: Query }) {
  const [filterText, setFilterText] = useState('');
  const [names, setNames] = useState<string[]>([]);
  const [items, setItems] = useState<Item[]>([]);
  const [status, setStatus] = useState<Status>({ state: 'connecting' });
  const [paused, setPaused] = useState(false);
  const held = useRef<Item[]>([]);
  const [heldCount, setHeldCount] = useState(0);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const add = (item: Item) => {
      if (pausedRef.current) {
        held.current = [item, ...held.current].slice(0, KEEP);
        setHeldCount(held.current.length);
      } else setItems((list) => [item, ...list].slice(0, KEEP));
    };
    const connect = () => {
      setStatus({ state: 'connecting' });
      const path = `/api/v1/analytics/live${names.length ? `?${names.map((n) => `event_name=${encodeURIComponent(n)}`).join('&')}` : ''}`;
      readEventStream(
        path,
        (frame) => {
          if (frame.event === 'ready')
            setStatus({ state: 'live', filter: ((JSON.parse(frame.data) as { event_names: string[] | null }).event_names ?? []).join(',') });
          else if (frame.event === 'event') add({ kind: 'event', key: ++keys, event: JSON.parse(frame.data) as LiveEvent });
          else if (frame.event === 'dropped') add({ kind: 'dropped', key: ++keys, dropped: (JSON.parse(frame.data) as { dropped: number }).dropped });
        },
        abort.signal,
      ).then(
        () => {
          if (abort.signal.aborted) return;
          setStatus({ state: 'error', message: 'The server ended the stream (restarting?); reconnecting…' });
          timer = setTimeout(connect, RECONNECT_MS);
        },
        (err: Error) => {
          if (abort.signal.aborted) return;
          const refused = err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429;
          setStatus({ state: 'error', message: `${err.message}${refused ? '' : '; reconnecting…'}` });
          if (!refused) timer = setTimeout(connect, RECONNECT_MS);
        },
      );
    };
    connect();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [names.join('\u0000')]);

  const resume = () => {
    setItems((list) => [...held.current, ...list].slice(0, KEEP));
    held.current = [];
    setHeldCount(0);
    setPaused(false);
  };
  const apply = (e: Event) => {
    e.preventDefault();
    setNames(
      filterText
        .split(/[\s,]+/)
        .map((n) => n.trim())
        .filter(Boolean),
    );
    setItems([]);
  };

  return html`<form class="toolbar" onSubmit=${apply}>
      <label for="live-filter">Event names (comma-separated; empty: all)</label>
      <input id="live-filter" data-testid="live-filter" value=${filterText} onInput=${(e: Event) => setFilterText((e.target as HTMLInputElement).value)} />
      <button type="submit">Apply</button>
      <button type="button" data-testid="live-pause" aria-pressed=${paused} onClick=${() => (paused ? resume() : setPaused(true))}>
        ${paused ? `Resume${heldCount ? ` (${heldCount} new)` : ''}` : 'Pause'}
      </button>
      <button type="button" class="quiet" onClick=${() => setItems([])}>Clear</button>
    </form>
    <p class="scope" data-testid="scope" data-site=${query.site}>
      From now on, as committed · ${names.length ? `only ${names.join(', ')}` : 'every event'} · all sites (the stream is not filtered by the site picker)
    </p>
    <p class="live-status" role="status" data-testid="live-status" data-state=${status.state} data-filter=${status.filter}>
      <span class=${`dot ${status.state}`} aria-hidden="true"></span>
      ${status.state === 'live' ? 'Live: showing events as they are committed' : status.state === 'connecting' ? 'Connecting…' : status.message}
    </p>
    ${
      items.length === 0
        ? html`<${Empty}>Waiting for events${names.length ? ` named ${names.join(', ')}` : ''}. Send one, e.g.
            <code>curl -X POST ${location.origin}/api/v1/analytics/events -H 'Authorization: Bearer &lt;write key&gt;' -H 'Content-Type: application/json' -d '{"event_name":"hello"}'</code><//>`
        : html`<ol class="live" data-testid="live-list">
            ${items.map((item) =>
              item.kind === 'dropped'
                ? html`<li class="dropped" data-testid="live-dropped">${formatCount(item.dropped)} events were not shown: they arrived faster than this page read them.</li>`
                : html`<li data-testid="live-event" data-event-name=${item.event.event_name} data-event-id=${item.event.event_id}>
                    <details>
                      <summary>
                        <time datetime=${item.event.time}>${formatTime(item.event.time)}</time>
                        <strong>${item.event.event_name}</strong>
                        <span class="muted small"
                          >${[
                            item.event.user_id && `user ${item.event.user_id}`,
                            item.event.anonymous_id && `anon ${item.event.anonymous_id}`,
                            item.event.site_id && `site ${item.event.site_id}`,
                          ]
                            .filter(Boolean)
                            .join(' · ')}</span
                        >
                      </summary>
                      <table class="attrs">
                        <tbody>
                          ${Object.entries(item.event.attributes).map(
                            ([k, v]) => html`<tr data-testid="live-attribute" data-key=${k} data-value=${v}><th scope="row">${k}</th><td>${v}</td></tr>`,
                          )}
                        </tbody>
                      </table>
                    </details>
                  </li>`,
            )}
          </ol>`
    }`;
}
