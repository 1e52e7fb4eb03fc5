/** The tracker's public types. */

export type Properties = Record<string, unknown>;

export interface TrackerOptions {
  /** Signalhouse's address, e.g. `https://signalhouse.example.com`; by default where the script came from. */
  host?: string;
  /** Capture a pageview on load and on every SPA navigation (pushState, replaceState, popstate, hashchange). Default true. */
  pageviews?: boolean;
  /** `opt-out` (default): send unless consent is refused; `opt-in`: send nothing until `consent(true)`. */
  consent?: 'opt-out' | 'opt-in';
  /** Send nothing when the browser says Do-Not-Track. Default true. */
  respectDnt?: boolean;
  /** Send nothing when the browser sends Global Privacy Control. Default true. */
  respectGpc?: boolean;
  /** Where ids and the queue live: `localStorage` (default), `cookie` (ids in first-party cookies) or `memory` (nothing stored). */
  persistence?: 'localStorage' | 'cookie' | 'memory';
  /** Cookie domain for `persistence: 'cookie'`, e.g. `.example.com` to share ids across subdomains. */
  cookieDomain?: string;
  /** Load the autocapture module: clicks and form submits. */
  autocapture?: boolean;
  /** Load the web vitals module (LCP, CLS, INP, FCP, TTFB as `browser.web_vital` events). */
  webVitals?: boolean;
  /** Load the uncaught errors module (`exception` events). */
  errors?: boolean;
}

export interface Ids {
  anonymousId?: string;
  userId?: string;
  sessionId?: string;
}

export interface Signalhouse {
  init(writeKey: string, options?: TrackerOptions): void;
  track(event: string, properties?: Properties): void;
  /** Sets the user id (kept until `reset`) and records the traits; `identify(traits)` records traits only. */
  identify(userId?: string | Properties | null, traits?: Properties): void;
  /** A pageview; `page(properties)` without a name works too. */
  page(name?: string | Properties, properties?: Properties): void;
  /** Links `previousId` (by default the current user or anonymous id) to `userId`. */
  alias(userId: string, previousId?: string): void;
  /** Forgets the user: a new anonymous id and session, no user id. */
  reset(): void;
  /** Grants or refuses consent (kept in storage); refusing also deletes the queue and the ids. */
  consent(granted: boolean): void;
  /** Sends what is queued; resolves when the attempt is over. */
  flush(): Promise<void>;
  /** The ids the next event will carry (none before consent). */
  ids(): Ids;
}

/** What an optional module gets from the tracker. */
export interface ModuleHost {
  track(event: string, properties?: Properties): void;
}
export type InstallModule = (host: ModuleHost) => void;
export type ModuleName = 'autocapture' | 'vitals' | 'errors';
