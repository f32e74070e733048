// Upstream's max-in-flight filter and its long-running request check: at most
// --max-requests-inflight read-only and --max-mutating-requests-inflight mutating requests are
// served at once; past that, a 429 with Retry-After (system:masters is always answered, as
// upstream). Long-running requests (watches, proxy, exec, attach, port-forward, logs) are not
// counted, and are the only ones --request-timeout does not end.
import { Gauge, Counter, type Registry } from 'prom-client';

export interface InflightLimits {
  readOnly: number; // 0 = no limit
  mutating: number;
}

export const DEFAULT_LIMITS: InflightLimits = { readOnly: 400, mutating: 200 };

const LONG_RUNNING_SUBRESOURCES = new Set(['attach', 'exec', 'proxy', 'log', 'portforward']);
const READ_ONLY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** upstream's BasicLongRunningRequestCheck(watch, proxy; attach, exec, proxy, log, portforward). */
export function isLongRunning(watch: boolean, subresource: string | undefined): boolean {
  return watch || (subresource !== undefined && LONG_RUNNING_SUBRESOURCES.has(subresource));
}

export class InflightLimiter {
  private current = { readOnly: 0, mutating: 0 };
  private readonly inflight: Gauge;
  private readonly dropped: Counter;

  constructor(
    private readonly limits: InflightLimits,
    registry: Registry,
  ) {
    this.inflight = new Gauge({
      name: 'apiserver_current_inflight_requests',
      help: 'Maximal number of currently used inflight request limit of this apiserver per request kind in last second.',
      labelNames: ['request_kind'],
      registers: [registry],
      collect: () => {
        this.inflight.set({ request_kind: 'readOnly' }, this.current.readOnly);
        this.inflight.set({ request_kind: 'mutating' }, this.current.mutating);
      },
    });
    this.dropped = new Counter({
      name: 'apiserver_dropped_requests_total',
      help: 'Number of requests dropped with a "Try again later" response.',
      labelNames: ['request_kind'],
      registers: [registry],
    });
  }

  /**
   * Takes a slot for a request; returns its release, or undefined when the request must get a
   * 429. `exempt` requests are served even when every slot is taken.
   */
  acquire(method: string, exempt: boolean): (() => void) | undefined {
    const kind = READ_ONLY_METHODS.has(method) ? 'readOnly' : 'mutating';
    const limit = this.limits[kind];
    if (limit > 0 && this.current[kind] >= limit) {
      if (exempt) return () => {};
      this.dropped.inc({ request_kind: kind });
      return undefined;
    }
    this.current[kind]++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.current[kind]--;
    };
  }
}
