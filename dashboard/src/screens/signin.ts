/** Sign-in: a read token, checked against the API before it is kept for this browser tab. */
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { ApiError, signIn } from '../api.ts';

export function SignIn({ notice, onSignedIn }: { notice: string; onSignedIn: () => void }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const candidate = token.trim();
    if (!candidate) return setError('Enter a read token.');
    setBusy(true);
    setError('');
    try {
      await signIn(candidate);
      onSignedIn();
    } catch (err) {
      setError(
        err instanceof ApiError && (err.status === 401 || err.status === 403)
          ? `This token was refused: ${err.message}. Use a read token from signalhouse.yaml (tenants[].read_tokens); write keys cannot read.`
          : `Could not sign in: ${(err as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin" id="main">
    <form class="panel" onSubmit=${submit} data-testid="signin">
      <h1>Signalhouse</h1>
      <p>Sign in with a read token. It is kept for this browser tab only and sent to this server alone.</p>
      ${notice && html`<p class="state" role="status">${notice}</p>`}
      <label for="token">Read token</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="off"
        spellcheck=${false}
        value=${token}
        onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)}
        aria-describedby=${error ? 'signin-error' : undefined}
        aria-invalid=${error ? 'true' : undefined}
        autofocus
      />
      ${error && html`<p class="state error" id="signin-error" role="alert" data-testid="signin-error">${error}</p>`}
      <button type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
      <p class="muted small">After <code>npm start</code>, the demo tenant's read token is printed in the terminal.</p>
    </form>
  </main>`;
}
