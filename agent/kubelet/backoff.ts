// Per-key exponential backoff as upstream's flowcontrol.Backoff: the first failure waits
// `initial`, each further one doubles up to `max`; an entry untouched for 2*max (10 min with
// the defaults: a container that ran that long) starts over.
export class Backoff {
  private entries = new Map<string, { backoff: number; lastUpdate: number }>();
  constructor(
    readonly initialMs = 10_000,
    readonly maxMs = 300_000,
    private now: () => number = Date.now,
  ) {}

  /** Record one more failure for `key` at `at` and return the new backoff. */
  next(key: string, at = this.now()): number {
    const e = this.entries.get(key);
    if (!e || at - e.lastUpdate > 2 * this.maxMs) {
      this.entries.set(key, { backoff: this.initialMs, lastUpdate: at });
      return this.initialMs;
    }
    e.backoff = Math.min(e.backoff * 2, this.maxMs);
    e.lastUpdate = at;
    return e.backoff;
  }

  get(key: string): number {
    return this.entries.get(key)?.backoff ?? 0;
  }

  /** Still waiting since the failure at `since`? */
  isInBackOffSince(key: string, since: number, at = this.now()): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    if (at - e.lastUpdate > 2 * this.maxMs) return false;
    return at - since < e.backoff;
  }

  /** Remaining wait (ms) since `since`, 0 when not in backoff. */
  remaining(key: string, since: number, at = this.now()): number {
    const e = this.entries.get(key);
    if (!e || !this.isInBackOffSince(key, since, at)) return 0;
    return e.backoff - (at - since);
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Forget keys with a prefix (a pod's containers when the pod goes away). */
  resetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  gc(at = this.now()): void {
    for (const [k, e] of this.entries) if (at - e.lastUpdate > 2 * this.maxMs) this.entries.delete(k);
  }
}
