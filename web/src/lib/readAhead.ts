// A request started by the entry module before the app has loaded, kept for the page that asks for
// exactly it: once, and only while fresh (an old answer would show stale runs).

export interface ReadAhead<T> {
  /** Keep `value` as the answer to the request `key`, replacing any other. */
  start(key: string, value: Promise<T>): void;
  /** The answer kept for `key` if it is fresh, once; otherwise null (the caller asks itself). */
  take(key: string): Promise<T> | null;
}

export function readAhead<T>(maxAgeMs: number): ReadAhead<T> {
  let held: { key: string; at: number; value: Promise<T> } | null = null;
  return {
    start(key, value) {
      held = { key, at: performance.now(), value };
    },
    take(key) {
      const kept = held;
      held = null;
      if (!kept || kept.key !== key || performance.now() - kept.at > maxAgeMs) return null;
      return kept.value;
    },
  };
}
