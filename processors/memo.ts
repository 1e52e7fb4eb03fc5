/** Memoization for per-value work on the hot path (user agents, IPs, URLs, attribute keys repeat a lot). */

/** A bounded memo: Map insertion order evicts the oldest entry. */
export function memo<V>(size: number, compute: (key: string) => V): (key: string) => V {
  const cache = new Map<string, V>();
  return (key) => {
    let v = cache.get(key);
    if (v === undefined) {
      v = compute(key);
      if (size > 0) {
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
        cache.set(key, v);
      }
    }
    return v;
  };
}
