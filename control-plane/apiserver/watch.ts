// Serving one watch request: initial events or replay from the watch cache (or from the
// store for a resourceVersion older than the cache's ring), then live events, as a chunked
// stream of {"type":...,"object":...} lines.
//
// The fan-out is what a busy apiserver spends its CPU on: every pod event goes to every pod
// watcher, each over its own TLS connection. A TLS socket write costs ~17 µs however small
// (syscall, TLS record, the loopback peer's wakeup) against ~0.1 µs per KB of payload, so
// the cost is set by the number of writes, not the bytes. Hence:
//  - each event's line is serialized and UTF-8 encoded once (watchcache eventLine), shared
//    by every watcher that sends it unchanged;
//  - one flusher for all watches writes each watcher's pending lines as one chunk; watchers
//    with the same pending lines (the common case: same resource, no selector) share one
//    framed buffer, written straight to the socket (no per-watcher concatenation, chunk
//    header and copy in the HTTP layer);
//  - the flush period adapts: right away when idle, and under load no more often than
//    FLUSH_COST_FACTOR times the last flush took, so writing stays a bounded share of the
//    CPU and each write carries more events as the event rate grows (bounded latency:
//    MAX_FLUSH_INTERVAL_MS).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { KObject, ResourceDef } from '../../api/registry.js';
import { expired, internalError } from '../../api/status.js';
import { StoreError } from '../storage/store.js';
import type { ApiCore, Selectors } from './core.js';
import { keyPrefix, selectorMatches } from './core.js';
import { eventLine, type CacheEvent, type EventType } from './watchcache.js';

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
const MIN_FLUSH_INTERVAL_MS = 2;
const MAX_FLUSH_INTERVAL_MS = 20;
const FLUSH_COST_FACTOR = 4;
const BOOKMARK_INTERVAL_MS = 5_000;

/** One watch response as the flusher sees it. */
interface WatchStream {
  /** Encoded lines not yet written. */
  pending: Buffer[];
  /** Writes one chunk made of `pending` (`framed` is the same bytes with chunked framing). */
  write(data: Buffer, framed: () => Buffer): void;
  /** Ends the stream after a failed write. */
  fail(err: unknown): void;
}

interface SharedChunk {
  parts: Buffer[];
  data: Buffer;
  framed?: Buffer;
}

function sameParts(a: Buffer[], b: Buffer[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function frameChunk(data: Buffer): Buffer {
  const head = data.length.toString(16) + '\r\n';
  const out = Buffer.allocUnsafe(head.length + data.length + 2);
  out.write(head, 0, 'latin1');
  data.copy(out, head.length);
  out.write('\r\n', head.length + data.length, 'latin1');
  return out;
}

/** Fan-out counters since start (exported as k8ts_watch_* metrics). */
export const watchStats = { flushes: 0, writes: 0, lines: 0, bytes: 0, sharedChunks: 0, intervalMs: MIN_FLUSH_INTERVAL_MS };

/** Flushes every watch stream with pending lines in one pass (see the header comment). */
class WatchFlusher {
  private dirty = new Set<WatchStream>();
  private scheduled = false;
  private lastStart = -Infinity;
  private interval = MIN_FLUSH_INTERVAL_MS;

  mark(s: WatchStream): void {
    this.dirty.add(s);
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.lastStart + this.interval - performance.now();
    if (wait <= 0) setImmediate(() => this.run());
    else setTimeout(() => this.run(), wait);
  }

  forget(s: WatchStream): void {
    this.dirty.delete(s);
  }

  private run(): void {
    this.scheduled = false;
    const t0 = performance.now();
    this.lastStart = t0;
    const dirty = this.dirty;
    this.dirty = new Set();
    // Keyed by the first pending line: streams fed the same events share one chunk.
    const shared = new Map<Buffer, SharedChunk[]>();
    for (const s of dirty) {
      const parts = s.pending;
      if (parts.length === 0) continue;
      s.pending = [];
      let chunk: SharedChunk | undefined;
      const candidates = shared.get(parts[0]);
      if (candidates) chunk = candidates.find((c) => sameParts(c.parts, parts));
      if (!chunk) {
        chunk = { parts, data: parts.length === 1 ? parts[0] : Buffer.concat(parts) };
        if (candidates) candidates.push(chunk);
        else shared.set(parts[0], [chunk]);
        watchStats.sharedChunks++;
      }
      const c = chunk;
      try {
        s.write(c.data, () => (c.framed ??= frameChunk(c.data)));
      } catch (err) {
        s.fail(err); // this stream only: the others in the pass still get their chunks
        continue;
      }
      watchStats.writes++;
      watchStats.lines += parts.length;
      watchStats.bytes += c.data.length;
    }
    const took = performance.now() - t0;
    this.interval = Math.min(MAX_FLUSH_INTERVAL_MS, Math.max(MIN_FLUSH_INTERVAL_MS, FLUSH_COST_FACTOR * took));
    watchStats.flushes++;
    watchStats.intervalMs = this.interval;
  }
}

const flusher = new WatchFlusher();

/**
 * Whether bytes may go straight to the socket: a chunked response whose headers are on the
 * wire and with nothing queued in the response itself (that queue would be written later,
 * out of order). Node-internal fields are probed defensively; anything unexpected falls
 * back to res.write.
 */
function rawSocketOf(res: ServerResponse): Socket | undefined {
  const r = res as unknown as { chunkedEncoding?: boolean; outputData?: unknown[]; _headerSent?: boolean };
  if (r.chunkedEncoding !== true || r._headerSent !== true || !Array.isArray(r.outputData) || r.outputData.length > 0) return undefined;
  const sock = res.socket;
  return sock && !sock.destroyed ? sock : undefined;
}

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
  let lastRev = 0;
  let first = true;
  const cleanups: Array<() => void> = [];

  const stream: WatchStream = {
    pending: [],
    write(data, framed) {
      if (closed) return;
      const sock = rawSocketOf(res);
      if (sock) sock.write(framed());
      else res.write(data);
      if (res.writableLength > MAX_BUFFERED) finish(); // a consumer this slow would only fall further behind
    },
    fail() {
      closed = true;
      for (const c of cleanups) c();
      res.destroy();
    },
  };
  const flushNow = () => {
    if (stream.pending.length === 0) return;
    const parts = stream.pending;
    stream.pending = [];
    flusher.forget(stream);
    const data = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    stream.write(data, () => frameChunk(data));
  };
  const sendLine = (line: Buffer) => {
    if (closed) return;
    stream.pending.push(line);
    flusher.mark(stream);
  };
  const send = (type: EventType | 'BOOKMARK' | 'ERROR', objJson: string) => {
    sendLine(Buffer.from(`{"type":"${type}","object":${objJson}}\n`));
  };
  const sendObj = (type: EventType, ev: { obj: KObject; json?: string; lines?: Partial<Record<string, Buffer>> }) => {
    if (p.table) {
      send(type, JSON.stringify(p.table(ev.obj, first)));
      first = false;
    } else sendLine(eventLine(ev, type));
  };
  const bookmark = (rev: number, extra?: Record<string, string>) => {
    const md: Record<string, unknown> = { resourceVersion: String(rev) };
    if (extra) md.annotations = extra;
    send('BOOKMARK', JSON.stringify({ kind: def.kind, apiVersion: def.group ? `${def.group}/${def.version}` : def.version, metadata: md }));
  };
  const finish = () => {
    if (closed) return;
    flushNow();
    closed = true;
    flusher.forget(stream);
    for (const c of cleanups) c();
    res.end();
  };
  req.on('close', finish);
  res.on('error', finish);

  // Delivers one event after namespace and selector filtering, turning selector transitions
  // into ADDED/DELETED as upstream does. A failure (rendering a Table row of an odd object)
  // ends this watch with an ERROR event; other watchers and the process go on.
  const onEvent = (ev: CacheEvent) => {
    try {
      deliver(ev);
    } catch (err) {
      if (closed) return;
      send('ERROR', JSON.stringify(internalError(err).body));
      finish();
    }
  };
  const deliver = (ev: CacheEvent) => {
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
          let obj: KObject;
          let prevObj: KObject | undefined;
          try {
            obj = core.decode(def, e.kv.value, e.kv.modRevision);
            prevObj = e.prevKv ? core.decode(def, e.prevKv.value, e.prevKv.modRevision) : prevs.get(e.kv.key);
          } catch (err) {
            send('ERROR', JSON.stringify(internalError(err).body));
            finish();
            return;
          }
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
  // setTimeout fires at once for delays past 2^31-1 ms: a timeoutSeconds that large means "as long as possible".
  const wanted = p.timeoutSeconds !== undefined && p.timeoutSeconds > 0 ? p.timeoutSeconds * 1000 : (1800 + Math.random() * 1800) * 1000;
  const timeoutMs = Math.min(wanted, 2 ** 31 - 1);
  const t = setTimeout(() => {
    if (p.allowBookmarks && lastRev > 0) bookmark(lastRev);
    finish();
  }, timeoutMs);
  cleanups.push(() => clearTimeout(t));
}
