/** Memoization for per-value work on the hot path (user agents, IPs, URLs, attribute keys repeat a lot). */

export interface BoundedCache<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
}

/**
 * A cache of at most `size` entries, in two generations of `size / 2`: new entries go into the young one; when
 * it is full it becomes the old one and the previous old one is dropped whole. A hit in the old generation
 * moves up, so entries in steady use stay. Every operation is O(1): evicting the oldest entry of one Map
 * instead (`cache.keys().next()` after a delete) walks over the deleted entries V8 keeps at the front until it
 * rehashes, which cost ~10 µs a lookup once the distinct keys outnumbered the size.
 */
export function boundedCache<K, V>(size: number): BoundedCache<K, V> {
  const half = Math.max(1, Math.ceil(size / 2));
  let young = new Map<K, V>();
  let old = new Map<K, V>();
  const set = (key: K, value: V) => {
    if (young.size >= half) {
      old = young;
      young = new Map();
    }
    young.set(key, value);
  };
  return {
    get(key) {
      const v = young.get(key);
      if (v !== undefined) return v;
      const o = old.get(key);
      if (o !== undefined) set(key, o);
      return o;
    },
    set,
  };
}

/** A bounded memo (see boundedCache); `size` 0 computes every time. */
export function memo<V>(size: number, compute: (key: string) => V): (key: string) => V {
  if (size <= 0) return compute;
  const cache = boundedCache<string, V>(size);
  return (key) => {
    let v = cache.get(key);
    if (v === undefined) {
      v = compute(key);
      cache.set(key, v);
    }
    return v;
  };
}
