/**
 * Where the tracker keeps its state: localStorage (the default), first-party cookies for the ids (so that
 * subdomains can share them), or memory only (the cookieless mode: nothing outlives the page). Storage that
 * throws (disabled, full, a sandboxed frame) is replaced by memory rather than failing the page or losing events.
 */
export interface KV {
  get(key: string): string | null;
  set(key: string, value: string): void;
  del(key: string): void;
}

export function memoryKV(): KV {
  const m = new Map<string, string>();
  return { get: (k) => m.get(k) ?? null, set: (k, v) => void m.set(k, v), del: (k) => void m.delete(k) };
}

/** localStorage; a value it cannot take (full, private mode) is kept in memory instead, for this page. */
export function localKV(): KV {
  try {
    const s = localStorage;
    s.setItem('sh_t', '1');
    s.removeItem('sh_t');
    const spill = memoryKV();
    return {
      get: (k) => spill.get(k) ?? s.getItem(k),
      set(k, v) {
        try {
          s.setItem(k, v);
          spill.del(k);
        } catch {
          spill.set(k, v);
        }
      },
      del(k) {
        spill.del(k);
        s.removeItem(k);
      },
    };
  } catch {
    return memoryKV();
  }
}

export function cookieKV(domain?: string): KV {
  const attrs = `; path=/; samesite=lax${domain ? `; domain=${domain}` : ''}${location.protocol === 'https:' ? '; secure' : ''}`;
  return {
    get(k) {
      const m = document.cookie.match(new RegExp(`(?:^|; )${k}=([^;]*)`));
      return m ? decodeURIComponent(m[1]) : null;
    },
    // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is asynchronous and missing from some browsers; ids are read synchronously.
    set: (k, v) => void (document.cookie = `${k}=${encodeURIComponent(v)}; max-age=31536000${attrs}`),
    // biome-ignore lint/suspicious/noDocumentCookie: as above.
    del: (k) => void (document.cookie = `${k}=; max-age=0${attrs}`),
  };
}

/** A stored JSON value, or undefined when absent or unreadable. */
export function readJson<T>(kv: KV, key: string): T | undefined {
  try {
    return JSON.parse(kv.get(key) ?? 'null') ?? undefined;
  } catch {
    return undefined;
  }
}
