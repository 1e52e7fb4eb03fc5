/** People: look up a user id or an anonymous id — who it is, linked ids, traits and the latest events in the range. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { ApiError, type Person, post } from '../api.ts';
import { Empty, ErrorBox, Loading, Scope, useData } from '../components.ts';
import { formatTime } from '../format.ts';
import { link, type Query } from '../state.ts';
import { rangeBody } from './overview.ts';

export function People({ query, params }: { query: Query; params: URLSearchParams }) {
  const id = params.get('id') ?? '';
  const [text, setText] = useState(id);
  const person = useData<Person | null>(
    (signal) => (id ? post<Person>('/api/v1/analytics/people', { ...rangeBody(query), id, limit: 100 }, signal) : Promise.resolve(null)),
    [id, query.from, query.to, query.site],
  );
  const submit = (e: Event) => {
    e.preventDefault();
    if (text.trim()) location.hash = link('people', { id: text.trim() });
  };
  const form = html`<form class="toolbar" onSubmit=${submit} role="search">
    <label for="person-id">User id or anonymous id</label>
    <input id="person-id" data-testid="person-id" value=${text} onInput=${(e: Event) => setText((e.target as HTMLInputElement).value)} />
    <button type="submit">Look up</button>
  </form>`;
  if (!id) {
    return html`${form}
      <${Empty}>Enter the id of a user (<code>user_id</code>, Segment's <code>userId</code>, PostHog's <code>distinct_id</code>) or of an anonymous
        visitor. Identify calls link anonymous ids to users and carry their traits.<//>`;
  }
  if (person.error instanceof ApiError && person.error.status === 404) {
    return html`${form}<${Scope} query=${query} />
      <${Empty}>No person <code>${id}</code>: no event names it as a user id, and no event in this range carries it as an anonymous id. Send an
        identify call (with its traits) or events with this id, or pick a longer range.<//>`;
  }
  if (person.error) return html`${form}<${Scope} query=${query} /><${ErrorBox} error=${person.error} what="this person" />`;
  if (!person.data) return html`${form}<${Scope} query=${query} busy /><${Loading} what="this person" />`;
  const p = person.data;
  return html`${form}
    <${Scope} query=${query} busy=${person.loading} extra="identity over all time, events in the range" />
    <section class="panel person" data-testid="person">
      <h2>${p.user_id ? html`User <span data-testid="person-user">${p.user_id}</span>` : html`Anonymous visitor <span data-testid="person-user"></span>`}</h2>
      <dl>
        <dt>Anonymous ids</dt>
        <dd data-testid="person-anonymous-ids">${p.anonymous_ids.length ? p.anonymous_ids.join(', ') : 'none linked'}</dd>
        <dt>Identified</dt>
        <dd>${p.identify_calls ? `${p.identify_calls} identify call${p.identify_calls === 1 ? '' : 's'}, first ${formatTime(p.first_identified!)}, last ${formatTime(p.last_identified!)}` : 'never'}</dd>
      </dl>
      <h3>Traits</h3>
      ${
        p.traits.length === 0
          ? html`<p class="muted">No traits: identify calls carry them (<code>traits</code>, PostHog's <code>$set</code>).</p>`
          : html`<table class="attrs">
              <tbody>
                ${p.traits.map((t) => html`<tr data-testid="trait" data-key=${t.key} data-value=${t.value}><th scope="row">${t.key}</th><td>${t.value}</td><td class="muted small">${formatTime(t.updated_at)}</td></tr>`)}
              </tbody>
            </table>`
      }
      <h3>Latest events (${p.events.length})</h3>
      ${
        p.events.length === 0
          ? html`<p class="muted">No events in this range.</p>`
          : html`<table class="events">
              <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Ids</th><th scope="col">Attributes</th></tr></thead>
              <tbody>
                ${p.events.map(
                  (e) => html`<tr data-testid="person-event" data-event-name=${e.event_name} data-event-id=${e.event_id}>
                    <td>${formatTime(e.time)}</td>
                    <td>${e.event_name}</td>
                    <td class="small">${[e.user_id && `user ${e.user_id}`, e.anonymous_id && `anon ${e.anonymous_id}`, e.site_id && `site ${e.site_id}`].filter(Boolean).join(' · ')}</td>
                    <td class="small mono">${Object.entries(e.attributes)
                      .slice(0, 6)
                      .map(([k, v]) => `${k}=${v}`)
                      .join('  ')}${Object.keys(e.attributes).length > 6 ? ' …' : ''}</td>
                  </tr>`,
                )}
              </tbody>
            </table>`
      }
    </section>`;
}
