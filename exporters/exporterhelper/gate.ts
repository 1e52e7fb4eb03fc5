/**
 * A gate on an exporter's writes: INSERTs pass through it freely, and `hold` stops them for a moment — it waits
 * for the INSERTs under way, holds new ones until its function is done, then lets them go. Erasure uses it to
 * rebuild a rollup's minutes with no INSERT running its views meanwhile (a row a view wrote during the rebuild
 * would be counted twice). Holders take turns. Held writes wait; they are not refused.
 */
export interface WriteGate {
  /** Runs one write, once no hold is in force. */
  pass<T>(write: () => Promise<T>): Promise<T>;
  /** Waits for the writes under way, then runs `fn` while new writes wait. */
  hold<T>(fn: () => Promise<T>): Promise<T>;
}

export function createWriteGate(): WriteGate {
  let running = 0;
  let closed: Promise<void> | undefined;
  let idle: (() => void) | undefined;
  let turn: Promise<unknown> = Promise.resolve();
  return {
    async pass(write) {
      while (closed) await closed;
      running++;
      try {
        return await write();
      } finally {
        running--;
        if (running === 0) idle?.();
      }
    },
    hold(fn) {
      const mine = turn.then(async () => {
        let open!: () => void;
        closed = new Promise<void>((resolve) => {
          open = resolve;
        });
        try {
          if (running > 0)
            await new Promise<void>((resolve) => {
              idle = resolve;
            });
          idle = undefined;
          return await fn();
        } finally {
          closed = undefined;
          open();
        }
      });
      turn = mine.catch(() => undefined);
      return mine;
    },
  };
}
