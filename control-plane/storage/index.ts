// How the control plane gets its store: embedded SQLite in a data dir (the default), or
// etcd for HA. Callers see only the Store interface.
import { EtcdStore } from './etcd.js';
import { SqliteStore } from './sqlite.js';
import type { CompactionOptions } from './compactor.js';
import type { Store } from './store.js';

export { StoreError } from './store.js';
export type { KeyValue, ListOptions, ListResult, Store, StoreErrorCode, WatchEvent, Watcher } from './store.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
export { EtcdStore, type EtcdStoreOptions } from './etcd.js';
export { DEFAULT_COMPACT_INTERVAL_MS, DEFAULT_COMPACT_RETAIN, type CompactionOptions } from './compactor.js';

interface CommonOpenOptions {
  /**
   * Background compaction (every 5 minutes, keeping the last 1000 revisions, unless
   * overridden). On by default here, as the apiserver does for etcd; `false` turns it off.
   */
  compaction?: CompactionOptions | false;
}

export type OpenStoreOptions =
  | ({ dataDir: string } & CommonOpenOptions)
  | ({ etcdServers: string[]; prefix?: string } & CommonOpenOptions);

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const compaction = opts.compaction === false ? undefined : (opts.compaction ?? {});
  if ('etcdServers' in opts) {
    if (opts.etcdServers.length === 0) throw new Error('openStore: etcdServers is empty');
    const store = new EtcdStore({
      endpoints: opts.etcdServers,
      ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
      ...(compaction ? { compaction } : {}),
    });
    // Fail at startup, not on the first request, when etcd is unreachable.
    try {
      await store.currentRevision();
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }
  return new SqliteStore({ dataDir: opts.dataDir, ...(compaction ? { compaction } : {}) });
}
