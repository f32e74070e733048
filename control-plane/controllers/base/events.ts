// Events from controllers (what `kubectl describe` shows under Events), written
// fire-and-forget: an event that can't be written must never fail a sync.
import type { KubeConfig } from '@kubernetes/client-node';
import { rawRequest } from './clients.js';

// deno-lint-ignore no-explicit-any
type Obj = any;

export function recordEvent(kc: KubeConfig, component: string, obj: Obj, type: 'Normal' | 'Warning', reason: string, message: string): void {
  const ns = obj.metadata?.namespace ?? 'default';
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const body = {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${obj.metadata?.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: ns },
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      name: obj.metadata?.name,
      namespace: obj.metadata?.namespace,
      uid: obj.metadata?.uid,
      resourceVersion: obj.metadata?.resourceVersion,
    },
    reason,
    message,
    type,
    source: { component },
    reportingComponent: component,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  void rawRequest(kc, 'POST', `/api/v1/namespaces/${ns}/events`, body).catch(() => {});
}
