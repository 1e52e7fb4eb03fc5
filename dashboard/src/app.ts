/**
 * The shell: sign-in until a read token is accepted, then a header (screens, range, site, sign out) over the
 * current screen. Plain links and native controls, so everything works from the keyboard.
 */
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { type BreakdownResult, currentToken, onSignedOut, post, signOut } from './api.ts';
import { useData } from './components.ts';
import { Experiments } from './screens/experiments.ts';
import { Explorer } from './screens/explorer.ts';
import { Flags } from './screens/flags.ts';
import { Funnels } from './screens/funnels.ts';
import { Live } from './screens/live.ts';
import { Overview } from './screens/overview.ts';
import { People } from './screens/people.ts';
import { Product } from './screens/product.ts';
import { SignIn } from './screens/signin.ts';
import { link, PRESETS, presetQuery, type Query, queryStore, useRoute } from './state.ts';

const SCREENS = [
  { id: 'overview', title: 'SLA overview', view: Overview },
  { id: 'explorer', title: 'Metric explorer', view: Explorer },
  { id: 'funnels', title: 'Funnels', view: Funnels },
  { id: 'product', title: 'Product analytics', view: Product },
  { id: 'live', title: 'Live events', view: Live },
  { id: 'people', title: 'People', view: People },
  { id: 'flags', title: 'Feature flags', view: Flags },
  { id: 'experiments', title: 'Experiments', view: Experiments },
] as const;

/** `datetime-local` text in UTC for an epoch-ms time, and back. */
const toInput = (ms: number) => new Date(ms).toISOString().slice(0, 16);
const fromInput = (text: string) => Date.parse(`${text}:00Z`);

function RangePicker({ query }: { query: Query }) {
  const [from, setFrom] = useState(toInput(query.from));
  const [to, setTo] = useState(toInput(query.to));
  const [problem, setProblem] = useState('');
  useEffect(() => {
    setFrom(toInput(query.from));
    setTo(toInput(query.to));
  }, [query.from, query.to]);
  const pick = (id: string) => (id === 'custom' ? queryStore.set({ ...query, preset: 'custom' }) : queryStore.set(presetQuery(id, query.site)));
  const apply = (e: Event) => {
    e.preventDefault();
    const f = fromInput(from);
    const t = fromInput(to);
    if (!Number.isFinite(f) || !Number.isFinite(t) || t <= f) return setProblem('The end must be after the start.');
    setProblem('');
    queryStore.set({ ...query, preset: 'custom', from: f, to: t });
  };
  return html`<div class="range">
    <label for="range">Range</label>
    <select id="range" data-testid="range" value=${query.preset} onChange=${(e: Event) => pick((e.target as HTMLSelectElement).value)}>
      ${PRESETS.map((p) => html`<option value=${p.id}>${p.label}</option>`)}
      <option value="custom">Custom (UTC)…</option>
    </select>
    <button type="button" onClick=${() => pick(query.preset === 'custom' ? '24h' : query.preset)} title="Move the range to now">Refresh</button>
    ${
      query.preset === 'custom' &&
      html`<form class="custom" onSubmit=${apply}>
        <label for="range-from">From (UTC)</label>
        <input id="range-from" type="datetime-local" value=${from} onInput=${(e: Event) => setFrom((e.target as HTMLInputElement).value)} />
        <label for="range-to">To (UTC)</label>
        <input id="range-to" type="datetime-local" value=${to} onInput=${(e: Event) => setTo((e.target as HTMLInputElement).value)} />
        <button type="submit">Apply</button>
        ${problem && html`<span role="alert" class="error">${problem}</span>`}
      </form>`
    }
  </div>`;
}

function SitePicker({ query }: { query: Query }) {
  const sites = useData(
    (signal) => post<BreakdownResult>('/api/v1/analytics/reports/breakdown', { from: query.from, to: query.to, fields: ['site_id'], limit: 100 }, signal),
    [query.from, query.to],
  );
  const known = sites.data?.breakdowns[0].rows.map((r) => r.value) ?? [];
  const options = query.site && !known.includes(query.site) ? [query.site, ...known] : known;
  return html`<div class="site">
    <label for="site">Site</label>
    <select id="site" data-testid="site" value=${query.site} onChange=${(e: Event) => queryStore.set({ ...query, site: (e.target as HTMLSelectElement).value })}>
      <option value="">All sites</option>
      ${options.map((s) => html`<option value=${s}>${s}</option>`)}
    </select>
  </div>`;
}

function Shell() {
  const route = useRoute();
  const query = queryStore.use();
  const screen = SCREENS.find((s) => s.id === route.screen) ?? SCREENS[0];
  useEffect(() => {
    document.title = `${screen.title} · Signalhouse`;
  }, [screen.id]);
  const View = screen.view;
  return html`<a class="skip" href="#main" onClick=${(e: Event) => {
    e.preventDefault();
    document.getElementById('main')?.focus();
  }}>Skip to content</a>
    <header class="top">
      <span class="brand">Signalhouse</span>
      <nav aria-label="Screens">
        ${SCREENS.map((s) => html`<a href=${link(s.id)} aria-current=${s.id === screen.id ? 'page' : undefined}>${s.title}</a>`)}
      </nav>
      <div class="controls">
        <${RangePicker} query=${query} />
        <${SitePicker} query=${query} />
        <button type="button" class="quiet" data-testid="sign-out" onClick=${() => signOut('Signed out.')}>Sign out</button>
      </div>
    </header>
    <main id="main" tabindex="-1">
      <h1>${screen.title}</h1>
      <${View} query=${query} params=${route.params} />
    </main>`;
}

export function App() {
  const [signedIn, setSignedIn] = useState(currentToken() !== null);
  const [notice, setNotice] = useState('');
  useEffect(
    () =>
      onSignedOut((reason) => {
        setNotice(reason);
        setSignedIn(false);
      }),
    [],
  );
  return signedIn
    ? html`<${Shell} />`
    : html`<${SignIn}
        notice=${notice}
        onSignedIn=${() => {
          setNotice('');
          setSignedIn(true);
        }}
      />`;
}
