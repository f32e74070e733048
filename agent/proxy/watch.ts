// List+watch with restarts. client-node's ListWatch stops for good on any error other than
// 410/timeout; a proxy whose watch died silently keeps stale rules forever. So every error
// schedules a restart with exponential backoff (reset once a list succeeds).
import { ADD, CONNECT, DELETE, ERROR, UPDATE, makeInformer, type KubeConfig, type KubernetesObject, type ListPromise } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface WatchHandle {
  /** Resolves after the first successful list was delivered. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

export interface WatchHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

export function watchResource<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  list: ListPromise<T>,
  h: WatchHandlers<T>,
  log: Logger,
  opts: { minBackoffMs?: number; maxBackoffMs?: number } = {},
): WatchHandle {
  const minB = opts.minBackoffMs ?? 500;
  const maxB = opts.maxBackoffMs ?? 30_000;
  let backoff = minB;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => (markSynced = r));
  // Wrap the list so we learn when a (re)list succeeded: that is when the cache is whole.
  const informer = makeInformer<T>(kc, path, async () => {
    const res = await list();
    backoff = minB;
    setImmediate(markSynced);
    return res;
  });
  informer.on(ADD, (o) => h.upsert(o));
  informer.on(UPDATE, (o) => h.upsert(o));
  informer.on(DELETE, (o) => h.remove(o));
  informer.on(CONNECT, () => log.debug({ path }, 'watch connected'));
  const restart = (err: unknown) => {
    if (stopped || timer) return;
    log.warn({ path, err: String((err as Error)?.message ?? err), retryInMs: backoff }, 'watch failed; restarting');
    timer = setTimeout(() => {
      timer = undefined;
      if (stopped) return;
      informer.start().catch(restart);
    }, backoff);
    backoff = Math.min(backoff * 2, maxB);
  };
  informer.on(ERROR, restart);
  informer.start().catch(restart);
  return {
    synced,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop().catch(() => undefined);
    },
  };
}
