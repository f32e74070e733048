// Encryption at rest as a Store around the backend: values are encrypted on their way down
// and decrypted on every way up (get, list, the values a delete returns, watch events and
// their previous values), so the apiserver, its watch cache and every watcher only ever see
// plaintext. The store key names the resource, which picks the transformer.
import { ENCRYPTED_PREFIX } from '../keys.js';
import type { KeyValue, ListOptions, ListResult, Store, WatchEvent, Watcher } from '../store.js';
import { identity, type Transformer } from './transformers.js';

export interface TransformerLookup {
  forKey(key: string): Transformer;
}

function readError(key: string, err: unknown): Error {
  return new Error(`unable to transform the value of ${key} from storage: ${(err as Error).message}`);
}

export function encryptingStore(store: Store, lookup: TransformerLookup): Store {
  const read = (kv: KeyValue): KeyValue => {
    const t = lookup.forKey(kv.key);
    // The common case, a resource stored as is: no copy.
    if (t === identity && !kv.value.startsWith(ENCRYPTED_PREFIX)) return kv;
    // A DELETE event from etcd whose previous value is gone carries no value at all.
    if (kv.value === '') return kv;
    let r;
    try {
      r = t.fromStorage(kv.value, kv.key);
    } catch (err) {
      throw readError(kv.key, err);
    }
    return r.stale ? { ...kv, value: r.value, stale: true } : { ...kv, value: r.value };
  };
  const write = (key: string, value: string): string => {
    const t = lookup.forKey(key);
    return t === identity ? value : t.toStorage(value, key);
  };
  return {
    async get(key: string): Promise<KeyValue | null> {
      const kv = await store.get(key);
      return kv && read(kv);
    },
    async list(prefix: string, opts?: ListOptions): Promise<ListResult> {
      const res = await store.list(prefix, opts);
      let items: KeyValue[] | undefined;
      for (let i = 0; i < res.items.length; i++) {
        const kv = res.items[i]!;
        const out = read(kv);
        if (out !== kv) (items ??= res.items.slice())[i] = out;
      }
      return items ? { ...res, items } : res;
    },
    count: (prefix) => store.count(prefix),
    async create(key: string, value: string): Promise<KeyValue> {
      const kv = await store.create(key, write(key, value));
      return { ...kv, value };
    },
    async update(key: string, value: string, expectedModRevision?: number): Promise<KeyValue> {
      const kv = await store.update(key, write(key, value), expectedModRevision);
      return { ...kv, value };
    },
    async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
      return read(await store.delete(key, expectedModRevision));
    },
    watch(prefix: string, fromRevision: number, onEvent: (e: WatchEvent) => void, onError?: (err: Error) => void): Watcher {
      let over = false;
      const w: Watcher = store.watch(
        prefix,
        fromRevision,
        (e) => {
          if (over) return;
          let out: WatchEvent;
          try {
            const kv = read(e.kv);
            const prevKv = e.prevKv && read(e.prevKv);
            out = kv === e.kv && prevKv === e.prevKv ? e : { type: e.type, kv, ...(prevKv ? { prevKv } : {}) };
          } catch (err) {
            // Undecryptable data ends the watch as a broken store watch would (the watch
            // cache relists; a client sees its watch end), instead of skipping an event.
            over = true;
            w.stop();
            onError?.(err as Error);
            return;
          }
          onEvent(out);
        },
        (err) => {
          if (!over) onError?.(err);
        },
      );
      return {
        stop() {
          over = true;
          w.stop();
        },
      };
    },
    currentRevision: () => store.currentRevision(),
    compact: (revision) => store.compact(revision),
    compactedRevision: () => store.compactedRevision(),
    close: () => store.close(),
  };
}
