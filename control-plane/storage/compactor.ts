// Periodic history compaction, like the apiserver's 5-minute etcd compaction: keeps the
// last `retain` revisions so watchers that fall a little behind can still resume, and
// keeps the history (and the database) from growing without bound.
import type { Logger } from 'pino';
import type { Store } from './store.js';

export interface CompactionOptions {
  /** How often to compact, in ms. Default 5 minutes. */
  intervalMs?: number;
  /** How many most recent revisions to keep. Default 1000. */
  retain?: number;
}

export const DEFAULT_COMPACT_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_COMPACT_RETAIN = 1000;

export class Compactor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastCompacted = 0;
  private readonly intervalMs: number;
  private readonly retain: number;

  constructor(
    private readonly store: Pick<Store, 'currentRevision' | 'compact'>,
    opts: CompactionOptions,
    private readonly log: Logger,
  ) {
    this.intervalMs = opts.intervalMs ?? DEFAULT_COMPACT_INTERVAL_MS;
    this.retain = opts.retain ?? DEFAULT_COMPACT_RETAIN;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs);
    // A compactor alone must not keep the process alive.
    this.timer.unref();
  }

  /** One compaction pass; errors are logged, never thrown (the next tick retries). */
  runOnce(): Promise<void> {
    if (this.running) return this.running;
    this.running = (async () => {
      try {
        const cur = await this.store.currentRevision();
        const target = cur - this.retain;
        if (target > this.lastCompacted && target > 0) {
          await this.store.compact(target);
          this.lastCompacted = target;
          this.log.debug({ revision: target }, 'compacted');
        }
      } catch (err) {
        this.log.warn({ err }, 'compaction failed');
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.running) await this.running;
  }
}
