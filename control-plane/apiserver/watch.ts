// Serving one watch request: initial events or replay from the watch cache (or from the
// store for a resourceVersion older than the cache's ring), then live events, as a chunked
// stream of {"type":...,"object":...} lines. Writes are batched per event-loop turn so a
// burst of events costs one socket write per watcher.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KObject, ResourceDef } from '../../api/registry.js';
import { expired } from '../../api/status.js';
import { StoreError } from '../storage/store.js';
import type { ApiCore, Selectors } from './core.js';
import { keyPrefix, selectorMatches } from './core.js';
import { eventJson, type CacheEvent, type EventType } from './watchcache.js';

export interface WatchParams {
  def: ResourceDef;
  namespace?: string;
  selectors: Selectors;
  resourceVersion?: string;
  timeoutSeconds?: number;
  allowBookmarks: boolean;
  sendInitialEvents?: boolean;
  /** Row rendering for Table watches (kubectl get -w): returns the event object to send. */
  table?: (obj: KObject, first: boolean) => unknown;
}

const MAX_BUFFERED = 16 * 1024 * 1024;
// Under load, events for one watcher are coalesced into one TLS write per interval: each
// write costs a syscall and a TLS record, which with 100 watchers dominates the CPU.
const FLUSH_INTERVAL_MS = 4;
const BOOKMARK_INTERVAL_MS = 5_000;

export async function serveWatch(core: ApiCore, req: IncomingMessage, res: ServerResponse, p: WatchParams): Promise<void> {
  const { def } = p;
  const cache = core.cache(def);
  await cache.ready();
  const prefix = keyPrefix(def, p.namespace);
  const hasSel = !!(p.selectors.label || p.selectors.field);
  const match = (o: KObject | undefined) => !!o && (!hasSel || selectorMatches(def, p.selectors, o));

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();

  let closed = false;
  let pending: string[] = [];
  let flushScheduled = false;
  let lastFlush = 0;
  let lastRev = 0;
  let first = true;
  const cleanups: Array<() => void> = [];

  const flush = () => {
    flushScheduled = false;
    if (closed || pending.length === 0) return;
    lastFlush = performance.now();
    const chunk = pending.length === 1 ? pending[0] : pending.join('');
    pending = [];
    res.write(chunk);
    if (res.writableLength > MAX_BUFFERED) finish(); // a consumer this slow would only fall further behind
  };
  const send = (type: EventType | 'BOOKMARK' | 'ERROR', objJson: string) => {
    if (closed) return;
    pending.push(`{"type":"${type}","object":${objJson}}\n`);
    if (!flushScheduled) {
      flushScheduled = true;
      const wait = FLUSH_INTERVAL_MS - (performance.now() - lastFlush);
      if (wait <= 0) setImmediate(flush);
      else setTimeout(flush, wait);
    }
  };
  const sendObj = (type: EventType, ev: { obj: KObject; json?: string }) => {
    if (p.table) {
      send(type, JSON.stringify(p.table(ev.obj, first)));
      first = false;
    } else send(type, eventJson(ev));
  };
  const bookmark = (rev: number, extra?: Record<string, string>) => {
    const md: Record<string, unknown> = { resourceVersion: String(rev) };
    if (extra) md.annotations = extra;
    send('BOOKMARK', JSON.stringify({ kind: def.kind, apiVersion: def.group ? `${def.group}/${def.version}` : def.version, metadata: md }));
  };
  const finish = () => {
    if (closed) return;
    flush();
    closed = true;
    for (const c of cleanups) c();
    res.end();
  };
  req.on('close', finish);
  res.on('error', finish);

  // Delivers one event after namespace and selector filtering, turning selector transitions
  // into ADDED/DELETED as upstream does.
  const onEvent = (ev: CacheEvent) => {
    if (ev.rev <= lastRev) return;
    lastRev = ev.rev;
    if (!ev.key.startsWith(prefix)) return;
    if (!hasSel) {
      sendObj(ev.type, ev);
      return;
    }
    const now = ev.type !== 'DELETED' && match(ev.obj);
    const before = ev.type === 'ADDED' ? false : ev.type === 'DELETED' ? match(ev.prevObj ?? ev.obj) : match(ev.prevObj);
    if (now && before) sendObj('MODIFIED', ev);
    else if (now) sendObj('ADDED', ev);
    else if (before) sendObj('DELETED', ev);
  };

  const rvParam = p.resourceVersion;
  const fromRv = rvParam && rvParam !== '0' ? Number(rvParam) : undefined;
  if (fromRv !== undefined && (!Number.isInteger(fromRv) || fromRv < 0)) {
    send('ERROR', JSON.stringify(expired(rvParam!).body));
    finish();
    return;
  }

  if (fromRv === undefined) {
    // "Get state and start at most recent": synthetic ADDED events for what exists now.
    for (const [k, e] of cache.objects) if (k.startsWith(prefix) && match(e.obj)) sendObj('ADDED', e);
    lastRev = cache.rev;
    if (p.sendInitialEvents && p.allowBookmarks) bookmark(cache.rev, { 'k8s.io/initial-events-end': 'true' });
    cleanups.push(cache.addWatcher({ deliver: onEvent, terminate: finish }));
  } else if (cache.canServeFrom(fromRv)) {
    lastRev = fromRv;
    for (const ev of cache.eventsSince(fromRv)) onEvent(ev);
    lastRev = Math.max(lastRev, fromRv);
    cleanups.push(cache.addWatcher({ deliver: onEvent, terminate: finish }));
  } else {
    // Older than the ring: the store still has the history unless it was compacted.
    lastRev = fromRv;
    try {
      const prevs = new Map<string, KObject>();
      const w = core.store.watch(
        prefix,
        fromRv,
        (e) => {
          const obj = core.decode(def, e.kv.value, e.kv.modRevision);
          const prevObj = e.prevKv ? core.decode(def, e.prevKv.value, e.prevKv.modRevision) : prevs.get(e.kv.key);
          const type: EventType = e.type === 'DELETE' ? 'DELETED' : e.kv.createRevision === e.kv.modRevision ? 'ADDED' : 'MODIFIED';
          if (e.type === 'DELETE') prevs.delete(e.kv.key);
          else if (hasSel) prevs.set(e.kv.key, obj);
          onEvent({ type, rev: e.kv.modRevision, key: e.kv.key, obj, prevObj });
        },
        (err) => {
          // etcd reports a compacted start revision through the watch, not by throwing.
          if (err instanceof StoreError && err.code === 'Compacted') {
            void core.store
              .compactedRevision()
              .catch(() => undefined)
              .then((compacted) => {
                send('ERROR', JSON.stringify(expired(fromRv, compacted).body));
                finish();
              });
            return;
          }
          finish();
        },
      );
      cleanups.push(() => w.stop());
    } catch (err) {
      if (err instanceof StoreError && err.code === 'Compacted') {
        const compacted = await core.store.compactedRevision().catch(() => undefined);
        send('ERROR', JSON.stringify(expired(fromRv, compacted).body));
        finish();
        return;
      }
      throw err;
    }
  }

  if (p.allowBookmarks) {
    let lastBookmark = lastRev;
    const t = setInterval(() => {
      // Every event up to lastRev has been offered to this watcher, so resuming from
      // there misses nothing.
      if (lastRev > lastBookmark) {
        lastBookmark = lastRev;
        bookmark(lastRev);
      }
    }, BOOKMARK_INTERVAL_MS);
    cleanups.push(() => clearInterval(t));
  }
  // Upstream's default: a random 30-60 minute lifetime, so clients re-establish and spread load.
  const timeoutMs = p.timeoutSeconds !== undefined && p.timeoutSeconds > 0 ? p.timeoutSeconds * 1000 : (1800 + Math.random() * 1800) * 1000;
  const t = setTimeout(() => {
    if (p.allowBookmarks && lastRev > 0) bookmark(lastRev);
    finish();
  }, timeoutMs);
  cleanups.push(() => clearTimeout(t));
}
