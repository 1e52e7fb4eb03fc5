/**
 * Feature flags: the tenant's flags with their state and rollout, and one flag's variants, targeting and change
 * history (read with the read token), with the two changes made most often (turn on or off, change the rollout).
 * Changes are an admin token's job: the screen asks for one at the first change and keeps it for this tab beside
 * the read token; a token the server refuses is dropped and asked for again.
 */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { ApiError, adminRequest, currentAdminToken, type Flag, type FlagCondition, type FlagVersion, get, keepAdminToken } from '../api.ts';
import { Empty, ErrorBox, Loading, useData } from '../components.ts';
import { formatTime } from '../format.ts';
import { link } from '../state.ts';

/** The admin token, asked for where a change is about to be made. */
function AdminToken({ onKept }: { onKept: () => void }) {
  const [text, setText] = useState('');
  const submit = (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    keepAdminToken(text.trim());
    onKept();
  };
  return html`<form class="toolbar" onSubmit=${submit} data-testid="admin-token">
    <label for="admin-token">Admin token</label>
    <input id="admin-token" type="password" autocomplete="off" value=${text} onInput=${(e: Event) => setText((e.target as HTMLInputElement).value)} />
    <button type="submit">Use to change flags</button>
    <span class="muted small">Changes need an admin token (tenants[].admin_tokens); it is kept for this browser tab only.</span>
  </form>`;
}

/** Why a change failed, saying what to do when it was the token. */
function changeError(err: Error): Error {
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    return new ApiError(
      err.status,
      err.code,
      `this token was refused: ${err.message}. Changes need an admin token (tenants[].admin_tokens in signalhouse.yaml)`,
    );
  }
  return err;
}

const rolloutOf = (f: Flag) => (f.type === 'multivariate' ? f.variants.map((v) => `${v.key} ${v.rolloutPercentage}%`).join(' · ') : `${f.rolloutPercentage}%`);

function FlagList({ flags }: { flags: Flag[] }) {
  if (flags.length === 0) {
    return html`<${Empty}>No flags yet. Create one with <code>POST /api/feature-flags/flags</code> (an admin token) or declare it under
      <code>flags</code> in signalhouse.yaml; posthog-js, posthog-node and the evaluate API then see it.<//>`;
  }
  return html`<table class="flags" data-testid="flags">
    <thead><tr><th scope="col">Flag</th><th scope="col">State</th><th scope="col">Rollout</th><th scope="col" class="num">Version</th><th scope="col">Changed</th></tr></thead>
    <tbody>
      ${flags.map(
        (f) => html`<tr data-testid="flag" data-key=${f.key} data-enabled=${String(f.isEnabled)} data-rollout=${f.rolloutPercentage}>
          <th scope="row"><a href=${link('flags', { key: f.key })}>${f.name || f.key}</a> <span class="muted small mono">${f.key}</span></th>
          <td><span class=${f.isEnabled ? 'slo' : 'slo bad'}>${f.isEnabled ? 'on' : 'off'}</span>${f.source === 'config' ? html` <span class="muted small">(config)</span>` : ''}</td>
          <td>${rolloutOf(f)}</td>
          <td class="num">${f.version}</td>
          <td class="small">${formatTime(f.updatedAt)} by ${f.updatedBy}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}

const conditionText = (c: FlagCondition) =>
  `${c.properties.length ? c.properties.map((p) => `${p.key} ${p.operator ?? 'exact'} ${JSON.stringify(p.value ?? null)}`).join(' and ') : 'everyone'}` +
  `${c.rolloutPercentage === null || c.rolloutPercentage === undefined ? '' : ` · ${c.rolloutPercentage}%`}${c.variant ? ` → ${c.variant}` : ''}`;

/** What a version changed against the one before it, in words (state, rollout, variants, targeting). */
function changeText(v: FlagVersion, before: FlagVersion | undefined): string {
  if (v.deleted) return 'deleted';
  if (!before) return 'created';
  const a = before.definition;
  const b = v.definition;
  const changes: string[] = [];
  if (a.isEnabled !== b.isEnabled) changes.push(b.isEnabled ? 'turned on' : 'turned off');
  if (a.rolloutPercentage !== b.rolloutPercentage) changes.push(`rollout ${a.rolloutPercentage}% → ${b.rolloutPercentage}%`);
  if (JSON.stringify(a.variants) !== JSON.stringify(b.variants)) changes.push('variants changed');
  if (JSON.stringify(a.conditions) !== JSON.stringify(b.conditions)) changes.push('targeting changed');
  return changes.join(', ') || 'other fields changed';
}

function FlagDetail({ flagKey }: { flagKey: string }) {
  const [revision, setRevision] = useState(0);
  const [problem, setProblem] = useState<Error | null>(null);
  const [hasAdmin, setHasAdmin] = useState(currentAdminToken() !== null);
  const data = useData(
    (signal) =>
      Promise.all([
        get<{ flag: Flag }>(`/api/feature-flags/flags/${encodeURIComponent(flagKey)}`, signal),
        get<{ versions: FlagVersion[] }>(`/api/feature-flags/flags/${encodeURIComponent(flagKey)}/history`, signal),
      ]),
    [flagKey, revision],
  );
  const [rollout, setRollout] = useState('');
  if (data.error) return html`<${ErrorBox} error=${data.error} what=${`flag ${flagKey}`} />`;
  if (!data.data) return html`<${Loading} what=${`flag ${flagKey}`} />`;
  const [{ flag }, { versions }] = data.data;
  const change = async (patch: Partial<Flag>) => {
    try {
      await adminRequest('PATCH', `/api/feature-flags/flags/${encodeURIComponent(flagKey)}`, patch);
      setProblem(null);
      setRevision((n) => n + 1);
    } catch (err) {
      setProblem(changeError(err as Error));
      setHasAdmin(currentAdminToken() !== null);
    }
  };
  const saveRollout = (e: Event) => {
    e.preventDefault();
    const value = Number(rollout);
    if (rollout.trim() === '' || !Number.isFinite(value) || value < 0 || value > 100)
      return setProblem(new Error('The rollout is a percentage from 0 to 100.'));
    void change({ rolloutPercentage: value });
  };
  const editable = flag.source !== 'config';
  // History comes newest first; each version is compared with the one before it.
  const ordered = [...versions].sort((a, b) => a.version - b.version);
  return html`<p><a href=${link('flags')}>All flags</a></p>
    <section class="panel" data-testid="flag-detail" data-key=${flag.key} data-enabled=${String(flag.isEnabled)} data-rollout=${flag.rolloutPercentage} data-version=${flag.version}>
      <h2>${flag.name || flag.key} <span class="muted small mono">${flag.key}</span></h2>
      <dl>
        <dt>State</dt><dd data-testid="flag-state">${flag.isEnabled ? 'on' : 'off'}</dd>
        <dt>Type</dt><dd>${flag.type}</dd>
        <dt>Rollout</dt><dd data-testid="flag-rollout">${rolloutOf(flag)}</dd>
        <dt>Targeting</dt>
        <dd>${flag.conditions.length === 0 ? 'everyone' : html`<ul>${flag.conditions.map((c) => html`<li class="small mono">${conditionText(c)}</li>`)}</ul>`}</dd>
        <dt>Version</dt><dd>${flag.version}, changed ${formatTime(flag.updatedAt)} by ${flag.updatedBy}</dd>
      </dl>
      ${
        editable && !hasAdmin
          ? html`<${AdminToken} onKept=${() => setHasAdmin(true)} />`
          : editable
            ? html`<div class="toolbar">
              <button type="button" data-testid="flag-toggle" onClick=${() => change({ isEnabled: !flag.isEnabled })}>${flag.isEnabled ? 'Turn off' : 'Turn on'}</button>
              ${
                flag.type === 'boolean' &&
                html`<form class="row" onSubmit=${saveRollout}>
                  <label for="flag-rollout-input">Rollout %</label>
                  <input id="flag-rollout-input" type="number" min="0" max="100" step="any" value=${rollout} placeholder=${String(flag.rolloutPercentage)}
                    onInput=${(e: Event) => setRollout((e.target as HTMLInputElement).value)} />
                  <button type="submit">Save rollout</button>
                </form>`
              }
            </div>`
            : html`<p class="muted">Declared in signalhouse.yaml: change it there.</p>`
      }
      ${
        problem &&
        html`<div class="state error" role="alert" data-testid="error">
          <strong>The change was not made:</strong> ${problem.message}${problem instanceof ApiError ? ` (${problem.code}, HTTP ${problem.status})` : ''}
        </div>`
      }
      <h3>Change history</h3>
      <table class="history" data-testid="flag-history">
        <thead><tr><th scope="col" class="num">Version</th><th scope="col">When</th><th scope="col">Who</th><th scope="col">Change</th></tr></thead>
        <tbody>
          ${ordered
            .map((v, i) => ({ v, text: changeText(v, ordered[i - 1]) }))
            .reverse()
            .map(
              ({ v, text }) => html`<tr data-testid="flag-version" data-version=${v.version} data-by=${v.changedBy}>
                <td class="num">${v.version}</td><td class="small">${formatTime(v.changedAt)}</td><td>${v.changedBy}</td><td>${text}</td>
              </tr>`,
            )}
        </tbody>
      </table>
    </section>`;
}

export function Flags({ params }: { params: URLSearchParams }) {
  const key = params.get('key') ?? '';
  const flags = useData((signal) => (key ? Promise.resolve(null) : get<{ flags: Flag[] }>('/api/feature-flags/flags', signal)), [key]);
  if (key) return html`<${FlagDetail} flagKey=${key} />`;
  if (flags.error) return html`<${ErrorBox} error=${flags.error} what="the flags" />`;
  if (!flags.data) return html`<${Loading} what="the flags" />`;
  return html`<${FlagList} flags=${flags.data.flags} />`;
}
