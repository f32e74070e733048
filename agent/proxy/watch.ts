// List+watch for kube-proxy and host-gw on the agent's own KubeClient (agent/kubelet/client.ts),
// which relists on 410 and retries every other error with backoff, so a proxy never keeps
// stale rules behind a silently dead watch. (client-node's informer stops for good on such
// errors, and importing client-node alone costs the agent ~70 MB.) A relist is diffed against
// what we knew, so objects deleted while the watch was down are removed.
import type { Logger } from 'pino';
import type { KubeClient } from '../kubelet/client.js';

export interface WatchHandle {
  /** Resolves after the first successful list was delivered. */
  synced: Promise<void>;
  stop(): Promise<void>;
}

export interface WatchHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

interface Named {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export function watchResource<T extends Named>(client: KubeClient, path: string, h: WatchHandlers<T>, log: Logger): WatchHandle {
  const known = new Map<string, T>();
  const key = (o: T) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
  let markSynced!: () => void;
  const synced = new Promise<void>((r) => (markSynced = r));
  const stop = client.listWatch<T>(
    path,
    {},
    {
      onList(items) {
        const seen = new Set<string>();
        for (const o of items) {
          const k = key(o);
          seen.add(k);
          known.set(k, o);
          h.upsert(o);
        }
        for (const [k, o] of known) {
          if (seen.has(k)) continue;
          known.delete(k);
          h.remove(o);
        }
        markSynced();
      },
      onEvent(e) {
        if (e.type === 'ADDED' || e.type === 'MODIFIED') {
          known.set(key(e.object), e.object);
          h.upsert(e.object);
        } else if (e.type === 'DELETED') {
          known.delete(key(e.object));
          h.remove(e.object);
        }
      },
    },
    log,
  );
  return {
    synced,
    async stop() {
      stop();
    },
  };
}
