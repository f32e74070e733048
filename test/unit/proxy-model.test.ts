import { describe, expect, it } from 'vitest';
import { ChangeTracker, clusterEndpoints, externalEndpoints } from '../../agent/proxy/model.js';

const svc = (over: Record<string, unknown> = {}) => ({
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    type: 'NodePort',
    clusterIP: '10.96.0.10',
    ports: [
      { name: 'http', port: 80, protocol: 'TCP', targetPort: 'web', nodePort: 30001 },
      { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
    ],
    sessionAffinity: 'ClientIP',
    sessionAffinityConfig: { clientIP: { timeoutSeconds: 30 } },
    externalTrafficPolicy: 'Local',
    ...over,
  },
});

const slice = (name: string, port: number, eps: Array<[string, string, boolean?]>) => ({
  metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: eps.map(([ip, node, ready]) => ({ addresses: [ip], nodeName: node, conditions: { ready: ready ?? true } })),
  ports: [
    { name: 'http', port, protocol: 'TCP' },
    { name: 'dns', port: 5353, protocol: 'UDP' },
  ],
});

describe('ChangeTracker', () => {
  it('builds one ServicePort per port with the Service settings', () => {
    const t = new ChangeTracker('node-1', '10.244.0.0/16');
    t.onService(svc());
    const { model, changed } = t.apply();
    expect([...changed].sort()).toEqual(['default/web:dns', 'default/web:http']);
    const http = model.services.get('default/web:http')!;
    expect(http).toMatchObject({
      protocol: 'TCP', clusterIP: '10.96.0.10', port: 80, nodePort: 30001, sessionAffinity: 'ClientIP',
      affinityTimeoutSeconds: 30, externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Cluster', endpoints: [],
    });
    expect(model.services.get('default/web:dns')!.protocol).toBe('UDP');
  });

  it('resolves named targetPorts per endpoint from the slices (pods may differ)', () => {
    const t = new ChangeTracker('node-1', '');
    t.onService(svc());
    t.onEndpointSlice(slice('web-a', 8080, [['10.244.1.2', 'node-1']]));
    t.onEndpointSlice(slice('web-b', 9090, [['10.244.2.2', 'node-2', false]]));
    const http = t.apply().model.services.get('default/web:http')!;
    expect(http.endpoints.map((e) => [e.ip, e.port, e.ready, e.isLocal])).toEqual([
      ['10.244.1.2', 8080, true, true],
      ['10.244.2.2', 9090, false, false],
    ]);
    expect(clusterEndpoints(http).map((e) => e.ip)).toEqual(['10.244.1.2']);
    expect(externalEndpoints(http).map((e) => e.ip)).toEqual(['10.244.1.2']);
  });

  it('records only changes: an untouched Service is not reported again', () => {
    const t = new ChangeTracker('node-1', '');
    t.onService(svc());
    t.onService({ metadata: { name: 'other', namespace: 'default' }, spec: { clusterIP: '10.96.0.20', ports: [{ port: 80 }] } });
    t.apply();
    expect(t.pending).toBe(false);
    t.onEndpointSlice(slice('web-a', 8080, [['10.244.1.2', 'node-1']]));
    expect([...t.apply().changed].sort()).toEqual(['default/web:dns', 'default/web:http']);
  });

  it('removes the ports of a deleted Service and reports them as changed', () => {
    const t = new ChangeTracker('node-1', '');
    t.onService(svc());
    t.apply();
    t.onService(svc(), true);
    const r = t.apply();
    expect(r.model.services.size).toBe(0);
    expect(r.changed.has('default/web:http')).toBe(true);
  });

  it('falls back to legacy Endpoints while a Service has no slices', () => {
    const t = new ChangeTracker('node-1', '');
    t.onService(svc());
    t.onEndpoints({
      metadata: { name: 'web', namespace: 'default' },
      subsets: [{ addresses: [{ ip: '10.244.1.7', nodeName: 'node-1' }], notReadyAddresses: [{ ip: '10.244.1.8' }], ports: [{ name: 'http', port: 8080 }] }],
    });
    let http = t.apply().model.services.get('default/web:http')!;
    expect(http.endpoints.map((e) => [e.ip, e.ready])).toEqual([['10.244.1.7', true], ['10.244.1.8', false]]);
    t.onEndpointSlice(slice('web-a', 8080, [['10.244.1.2', 'node-1']]));
    http = t.apply().model.services.get('default/web:http')!;
    expect(http.endpoints.map((e) => e.ip)).toEqual(['10.244.1.2']);
  });

  it('ignores headless and ExternalName Services; picks up the local node addresses', () => {
    const t = new ChangeTracker('node-1', '');
    t.onService({ metadata: { name: 'h', namespace: 'x' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } });
    t.onService({ metadata: { name: 'e', namespace: 'x' }, spec: { type: 'ExternalName', ports: [{ port: 80 }] } });
    t.onNode({ metadata: { name: 'node-2' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.56.12' }] } });
    t.onNode({ metadata: { name: 'node-1' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.56.11' }, { type: 'Hostname', address: 'node-1' }] } });
    const r = t.apply();
    expect(r.model.services.size).toBe(0);
    expect(r.model.nodeIPs).toEqual(['192.168.56.11']);
    expect(r.nodeChanged).toBe(true);
  });
});
