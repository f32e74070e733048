// Prometheus metrics of the apiserver, with upstream's names where they exist: request
// latency by verb/resource/code, long-running (watch) requests, and store latency.
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../storage/store.js';
import { watchStats } from './watch.js';

/** A counter whose value is read from `get` at scrape time. */
function liveCounter(registry: Registry, name: string, help: string, get: () => number): Counter {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(get());
    },
  });
}

export class ApiServerMetrics {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: 'apiserver_request_duration_seconds',
    help: 'Response latency distribution in seconds for each verb, resource, subresource and code (watches excluded).',
    labelNames: ['verb', 'resource', 'subresource', 'code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly requestTotal = new Counter({
    name: 'apiserver_request_total',
    help: 'Counter of apiserver requests broken out by verb, resource and HTTP response code.',
    labelNames: ['verb', 'resource', 'subresource', 'code'],
    registers: [this.registry],
  });
  readonly longRunning = new Gauge({
    name: 'apiserver_longrunning_requests',
    help: 'Number of open long-running requests (watches, exec, logs -f) by verb and resource.',
    labelNames: ['verb', 'resource'],
    registers: [this.registry],
  });
  readonly storeDuration = new Histogram({
    name: 'k8ts_store_request_duration_seconds',
    help: 'Latency of store operations in seconds by operation.',
    labelNames: ['operation'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  // The watch fan-out: lines per write is what its CPU cost depends on (see watch.ts).
  readonly watchWrites = liveCounter(this.registry, 'k8ts_watch_writes_total', 'Socket writes to watch streams.', () => watchStats.writes);
  readonly watchLines = liveCounter(this.registry, 'k8ts_watch_events_sent_total', 'Watch events (lines) sent, all streams.', () => watchStats.lines);
  readonly watchBytes = liveCounter(this.registry, 'k8ts_watch_sent_bytes_total', 'Bytes of watch events sent, all streams.', () => watchStats.bytes);
  readonly watchFlushes = liveCounter(this.registry, 'k8ts_watch_flushes_total', 'Fan-out passes over all watch streams.', () => watchStats.flushes);
  readonly watchEncodes = liveCounter(this.registry, 'k8ts_watch_chunks_encoded_total', 'Distinct chunks built (shared by streams with the same pending events).', () => watchStats.sharedChunks);

  // Stalls of the event loop delay every request and every watch event at once: how long
  // the loop was late (p99 and max since the last scrape) and the garbage collector's pauses.
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private gcMax = 0;
  readonly eventLoopDelay = new Gauge({
    name: 'k8ts_event_loop_delay_seconds',
    help: 'Event loop delay since the previous scrape (10 ms resolution), by quantile (0.99, 1 = max).',
    labelNames: ['quantile'],
    registers: [this.registry],
    collect: () => {
      const h = this.loopDelay;
      this.eventLoopDelay.set({ quantile: '0.99' }, h.count ? h.percentile(99) / 1e9 : 0);
      this.eventLoopDelay.set({ quantile: '1' }, h.count ? h.max / 1e9 : 0);
      h.reset();
    },
  });
  readonly gcPauses = new Counter({
    name: 'k8ts_gc_pause_seconds_total',
    help: 'Time the garbage collector paused the process, in seconds.',
    registers: [this.registry],
  });
  readonly gcMaxPause = new Gauge({
    name: 'k8ts_gc_pause_max_seconds',
    help: 'Longest garbage collector pause since the previous scrape, in seconds.',
    registers: [this.registry],
    collect: () => {
      this.gcMaxPause.set(this.gcMax);
      this.gcMax = 0;
    },
  });

  constructor() {
    this.loopDelay.enable();
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        this.gcPauses.inc(e.duration / 1000);
        this.gcMax = Math.max(this.gcMax, e.duration / 1000);
      }
    }).observe({ entryTypes: ['gc'] });
  }

  /** Wraps a store so every operation is timed. */
  instrument(store: Store): Store {
    const timed = <A extends unknown[], R>(op: string, fn: (...a: A) => Promise<R>) =>
      async (...a: A): Promise<R> => {
        const end = this.storeDuration.startTimer({ operation: op });
        try {
          return await fn(...a);
        } finally {
          end();
        }
      };
    return {
      get: timed('get', store.get.bind(store)),
      list: timed('list', store.list.bind(store)),
      count: timed('count', store.count.bind(store)),
      create: timed('create', store.create.bind(store)),
      update: timed('update', store.update.bind(store)),
      delete: timed('delete', store.delete.bind(store)),
      watch: store.watch.bind(store),
      currentRevision: store.currentRevision.bind(store),
      compact: timed('compact', store.compact.bind(store)),
      compactedRevision: store.compactedRevision.bind(store),
      close: store.close.bind(store),
    };
  }
}

/** Upstream's verb for a request: get/list/watch/create/update/patch/delete/deletecollection. */
export function requestVerb(method: string, hasName: boolean, watch: boolean): string {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return watch ? 'WATCH' : hasName ? 'GET' : 'LIST';
    case 'POST':
      return 'POST';
    case 'PUT':
      return 'PUT';
    case 'PATCH':
      return 'PATCH';
    case 'DELETE':
      return hasName ? 'DELETE' : 'DELETECOLLECTION';
    default:
      return method;
  }
}
