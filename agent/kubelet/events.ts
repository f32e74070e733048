// core/v1 Events from the kubelet with upstream's aggregation: a repeat of the same
// (object, field, reason, message) within 10 minutes bumps count/lastTimestamp of the
// existing Event instead of creating another one. Fire and forget: events never block a sync.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { KubeClient } from './client.js';
import type { Pod } from './types.js';

export type EventType = 'Normal' | 'Warning';

export interface RecordedEvent {
  namespace: string;
  involved: { kind: string; name: string; namespace?: string; uid?: string; apiVersion: string; fieldPath?: string; resourceVersion?: string };
  type: EventType;
  reason: string;
  message: string;
}

export interface EventSink {
  record(e: RecordedEvent): void;
}

export function podRef(pod: Pod, containerName?: string, init = false): RecordedEvent['involved'] {
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    name: pod.metadata.name ?? '',
    namespace: pod.metadata.namespace ?? 'default',
    uid: pod.metadata.uid,
    ...(containerName ? { fieldPath: `spec.${init ? 'initContainers' : 'containers'}{${containerName}}` } : {}),
  };
}

export class EventRecorder implements EventSink {
  private seen = new Map<string, { name: string; count: number; first: string; at: number }>();
  /** Kept in memory for tests and for `k8ts node` debugging. */
  readonly recent: RecordedEvent[] = [];
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private client: KubeClient | undefined,
    private nodeName: string,
    private log: Logger,
  ) {}

  record(e: RecordedEvent): void {
    this.recent.push(e);
    if (this.recent.length > 500) this.recent.splice(0, this.recent.length - 500);
    this.log.info({ pod: `${e.involved.namespace}/${e.involved.name}`, reason: e.reason, type: e.type }, e.message);
    if (!this.client) return;
    // Serialize so a burst of repeats aggregates instead of racing to create several Events.
    this.queue = this.queue.then(() => this.send(e)).catch((err) => this.log.debug({ err: (err as Error).message }, 'event not recorded'));
  }

  private async send(e: RecordedEvent): Promise<void> {
    const client = this.client!;
    const key = [e.involved.uid, e.involved.fieldPath, e.type, e.reason, e.message].join('\u0000');
    const now = new Date();
    const ts = now.toISOString().replace(/\.\d+Z$/, 'Z');
    const prev = this.seen.get(key);
    if (prev && now.getTime() - prev.at < 10 * 60_000) {
      prev.count++;
      prev.at = now.getTime();
      try {
        await client.request('PATCH', `/api/v1/namespaces/${e.namespace}/events/${prev.name}`, { count: prev.count, lastTimestamp: ts }, 'application/merge-patch+json');
        return;
      } catch {
        /* fall through: create a fresh one */
      }
    }
    const name = `${e.involved.name}.${(BigInt(now.getTime()) * 1_000_000n + BigInt(randomBytes(2).readUInt16BE())).toString(16)}`;
    const ev = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: e.namespace },
      involvedObject: e.involved,
      reason: e.reason,
      message: e.message,
      type: e.type,
      source: { component: 'kubelet', host: this.nodeName },
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
      reportingComponent: 'kubelet',
      reportingInstance: this.nodeName,
    };
    await client.request('POST', `/api/v1/namespaces/${e.namespace}/events`, ev);
    this.seen.set(key, { name, count: 1, first: ts, at: now.getTime() });
    if (this.seen.size > 4096) {
      for (const [k, v] of this.seen) if (now.getTime() - v.at > 10 * 60_000) this.seen.delete(k);
    }
  }

  async flush(): Promise<void> {
    await this.queue;
  }
}
