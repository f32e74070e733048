// The event recorder of client-go's tools/record: what `kubectl describe` lists under Events.
// Before an event is written, the correlator (EventCorrelator) sees it:
//  - a spam filter: a token bucket per source and object (25 at once, then one per 5 min);
//  - aggregation: more than 10 events with the same source, object, type and reason but
//    different messages within 10 minutes become one event, "(combined from similar events): ";
//  - deduplication: an event equal to one already written (message included) becomes a PATCH
//    of that event, count+1 and a new lastTimestamp, instead of a new object; from the second
//    occurrence on it also carries series {count, lastObservedTime}, the form events.k8s.io/v1
//    readers (kubectl describe's "x5 over 2m") show.
// Writing is fire-and-forget: an event that cannot be written never fails the caller.
import type { Event, ObjectReference } from 'kubernetes-types/core/v1.js';
import { logger } from '../api/log.js';
import { microTime, rfc3339 } from '../api/time.js';
import type { Client } from './client.js';
import { errorMessage, isNotFound } from './errors.js';
import type { KubeObject } from './kinds.js';

export type EventType = 'Normal' | 'Warning';

export interface EventSource {
  /** source.component and reportingComponent: kubelet, default-scheduler, replicaset-controller */
  component: string;
  /** source.host and reportingInstance: the node name for a kubelet */
  host?: string;
}

export interface CorrelatorOptions {
  /** events with the same aggregate key and distinct messages before they are combined (10) */
  maxEvents?: number;
  /** window of that count, seconds (600) */
  maxIntervalSeconds?: number;
  /** spam filter bucket size (25) and refill rate per second (1/300) */
  burst?: number;
  qps?: number;
  /** entries kept in each cache (4096) */
  cacheSize?: number;
  now?: () => number;
}

/** What the correlator decides for one event. */
export type Correlation =
  | { action: 'drop' }
  | { action: 'create'; key: string; event: Event }
  | { action: 'patch'; key: string; name: string; namespace: string; event: Event; patch: EventPatch };

/** What a repeat changes on the stored event: the legacy count, and the series the events.k8s.io view shows. */
export interface EventPatch {
  count: number;
  lastTimestamp: string;
  message: string;
  series: { count: number; lastObservedTime: string };
}

const COMBINED_PREFIX = '(combined from similar events): ';

/** A Map that forgets its least recently used entries past a size (groupcache/lru). */
class LRU<V> {
  private m = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value!);
  }
  delete(k: string): void {
    this.m.delete(k);
  }
}

const join = (...p: Array<string | number | undefined>) => p.map((x) => x ?? '').join('\u0000');

function objectKeyOf(e: Event): string {
  const io = e.involvedObject;
  return join(e.source?.component, e.source?.host, io.kind, io.namespace, io.name, io.uid, io.apiVersion);
}

/** Pure (given the clock): unit-tested without an apiserver. */
export class EventCorrelator {
  private readonly maxEvents: number;
  private readonly intervalMs: number;
  private readonly burst: number;
  private readonly qps: number;
  private readonly now: () => number;
  private readonly spam: LRU<{ tokens: number; at: number }>;
  private readonly aggregate: LRU<{ messages: Set<string>; at: number }>;
  private readonly seen: LRU<{ count: number; firstTimestamp: string; name: string; namespace: string }>;

  constructor(o: CorrelatorOptions = {}) {
    this.maxEvents = o.maxEvents ?? 10;
    this.intervalMs = (o.maxIntervalSeconds ?? 600) * 1000;
    this.burst = o.burst ?? 25;
    this.qps = o.qps ?? 1 / 300;
    this.now = o.now ?? Date.now;
    const size = o.cacheSize ?? 4096;
    this.spam = new LRU(size);
    this.aggregate = new LRU(size);
    this.seen = new LRU(size);
  }

  correlate(event: Event): Correlation {
    const now = this.now();
    // spam filter
    const sk = objectKeyOf(event);
    let bucket = this.spam.get(sk);
    if (!bucket) bucket = { tokens: this.burst, at: now };
    else bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.qps);
    bucket.at = now;
    this.spam.set(sk, bucket);
    if (bucket.tokens < 1) return { action: 'drop' };
    bucket.tokens -= 1;

    // aggregation of similar events
    const aggKey = join(sk, event.type, event.reason, event.reportingComponent, event.reportingInstance);
    let agg = this.aggregate.get(aggKey);
    if (!agg || now - agg.at > this.intervalMs) agg = { messages: new Set(), at: now };
    agg.messages.add(event.message ?? '');
    agg.at = now;
    this.aggregate.set(aggKey, agg);
    let key = join(aggKey, event.message);
    let ev = event;
    if (agg.messages.size >= this.maxEvents) {
      key = aggKey;
      ev = { ...event, message: COMBINED_PREFIX + (event.message ?? '') };
    }

    // deduplication of identical events
    const prev = this.seen.get(key);
    const ts = ev.lastTimestamp ?? rfc3339(now);
    if (prev) {
      prev.count++;
      this.seen.set(key, prev);
      const series = { count: prev.count, lastObservedTime: microTime(now) };
      const merged: Event = { ...ev, count: prev.count, series, firstTimestamp: prev.firstTimestamp, metadata: { ...ev.metadata, name: prev.name, namespace: prev.namespace } };
      return { action: 'patch', key, name: prev.name, namespace: prev.namespace, event: merged, patch: { count: prev.count, lastTimestamp: ts, message: ev.message ?? '', series } };
    }
    this.seen.set(key, { count: 1, firstTimestamp: ev.firstTimestamp ?? ts, name: ev.metadata?.name ?? '', namespace: ev.metadata?.namespace ?? '' });
    return { action: 'create', key, event: { ...ev, count: 1 } };
  }

  /** After a write: the name the event was stored under (a create may have been renamed). */
  written(key: string, name: string, namespace: string, count: number): void {
    const prev = this.seen.get(key);
    if (prev) {
      prev.name = name;
      prev.namespace = namespace;
      prev.count = Math.max(prev.count, count);
    }
  }

  /** The stored event vanished (TTL, namespace deleted): the next one starts anew. */
  forget(key: string): void {
    this.seen.delete(key);
  }
}

/** An ObjectReference to obj for involvedObject (kind and apiVersion must be set on obj or given). */
export function referenceTo(obj: KubeObject, gvk?: { apiVersion: string; kind: string }): ObjectReference {
  const ref: ObjectReference = {
    apiVersion: obj.apiVersion ?? gvk?.apiVersion,
    kind: obj.kind ?? gvk?.kind,
    name: obj.metadata?.name,
    uid: obj.metadata?.uid,
    resourceVersion: obj.metadata?.resourceVersion,
  };
  if (obj.metadata?.namespace) ref.namespace = obj.metadata.namespace;
  return ref;
}

export class EventRecorder {
  private readonly correlator: EventCorrelator;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly log = logger('events');
  private readonly now: () => number;
  private sequence = 0;

  constructor(
    private readonly client: Client,
    readonly source: EventSource,
    o: CorrelatorOptions = {},
  ) {
    this.correlator = new EventCorrelator(o);
    this.now = o.now ?? Date.now;
  }

  /**
   * Records an event about obj. `gvk` names the object's kind when obj (from an informer's
   * cache, say) carries no apiVersion/kind. Returns at once; flush() waits for the write.
   */
  event(obj: KubeObject, type: EventType, reason: string, message: string, gvk?: { apiVersion: string; kind: string }): void {
    const ref = referenceTo(obj, gvk);
    const now = this.now();
    const ts = rfc3339(now);
    // Events of cluster-scoped objects live in "default", as upstream's recorder puts them.
    const namespace = ref.namespace || 'default';
    const unique = (BigInt(now) * 1_000_000n + BigInt(this.sequence++ % 1_000_000)).toString(16);
    const ev: Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${ref.name}.${unique}`, namespace },
      involvedObject: ref,
      reason,
      message,
      type,
      source: { component: this.source.component, ...(this.source.host ? { host: this.source.host } : {}) },
      reportingComponent: this.source.component,
      reportingInstance: this.source.host ?? '',
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    const c = this.correlator.correlate(ev);
    if (c.action === 'drop') return;
    // Writes of one event key go one after another, so a patch never overtakes its create.
    const prev = this.inflight.get(c.key) ?? Promise.resolve();
    const next = prev.then(() => this.write(c)).finally(() => {
      if (this.inflight.get(c.key) === next) this.inflight.delete(c.key);
    });
    this.inflight.set(c.key, next);
  }

  private async write(c: Exclude<Correlation, { action: 'drop' }>): Promise<void> {
    const events = this.client.events;
    try {
      if (c.action === 'patch') {
        try {
          await events.namespace(c.namespace).patch(c.name, c.patch);
          return;
        } catch (err) {
          if (!isNotFound(err)) throw err;
          // gone meanwhile: write it anew, with the count it has reached
        }
      }
      const { resourceVersion: _rv, ...meta } = c.event.metadata ?? {};
      const created = await events.create({ ...c.event, metadata: meta });
      this.correlator.written(c.key, created.metadata?.name ?? '', created.metadata?.namespace ?? '', created.count ?? 1);
    } catch (err) {
      if (c.action === 'patch' || isNotFound(err)) this.correlator.forget(c.key);
      this.log.debug({ err: errorMessage(err), reason: c.event.reason }, 'event not written');
    }
  }

  /** Waits for the writes issued so far. */
  async flush(): Promise<void> {
    while (this.inflight.size) await Promise.all([...this.inflight.values()]);
  }
}
