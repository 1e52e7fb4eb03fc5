/**
 * What every screen shares: the range and site it queries (picked in the header, shown on every screen), and the
 * screen itself, from the URL's hash (`#/explorer?metric=…`), so screens can be linked and the browser's back
 * button works. The read token is never part of it.
 */
import { useEffect, useState } from 'preact/hooks';

export interface Preset {
  id: string;
  label: string;
  ms: number;
}

export const PRESETS: readonly Preset[] = [
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
  { id: '90d', label: 'Last 90 days', ms: 90 * 86_400_000 },
];

export interface Query {
  /** A preset's id, or `custom`. */
  preset: string;
  /** Epoch ms, [from, to). */
  from: number;
  to: number;
  /** A site id, or '' for every site. */
  site: string;
}

const MINUTE = 60_000;

/** A preset's range ending at the next whole minute, so that screens opened together query the same range. */
export function presetQuery(id: string, site: string): Query {
  const preset = PRESETS.find((p) => p.id === id) ?? PRESETS[1];
  const to = Math.ceil(Date.now() / MINUTE) * MINUTE;
  return { preset: preset.id, from: to - preset.ms, to, site };
}

type Listener = () => void;

/** A value screens read and the header changes; every reader re-renders on change. */
export function createStore<T>(initial: T) {
  let value = initial;
  const listeners = new Set<Listener>();
  return {
    get: () => value,
    set(next: T) {
      value = next;
      for (const l of listeners) l();
    },
    use(): T {
      const [, rerender] = useState(0);
      useEffect(() => {
        const l = () => rerender((n) => n + 1);
        listeners.add(l);
        return () => {
          listeners.delete(l);
        };
      }, []);
      return value;
    },
  };
}

export const queryStore = createStore<Query>(presetQuery('24h', ''));

export interface Route {
  screen: string;
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, '');
  const [screen, search = ''] = hash.split('?');
  return { screen: screen || 'overview', params: new URLSearchParams(search) };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const l = () => setRoute(currentRoute());
    addEventListener('hashchange', l);
    return () => removeEventListener('hashchange', l);
  }, []);
  return route;
}

export const link = (screen: string, params: Record<string, string> = {}) => {
  const search = new URLSearchParams(params).toString();
  return `#/${screen}${search ? `?${search}` : ''}`;
};
