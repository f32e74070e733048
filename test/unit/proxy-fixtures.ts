// Shared builders for the proxy unit tests (not a test file itself).
import type { Endpoint, ServicePort } from '../../agent/proxy/model.js';

export const ep = (ip: string, port: number, node: string, extra: Partial<Endpoint> = {}): Endpoint => ({
  ip,
  port,
  ready: true,
  serving: true,
  terminating: false,
  nodeName: node,
  isLocal: node === 'node-1',
  ...extra,
});

export const svcPort = (o: Partial<ServicePort>): ServicePort => ({
  key: 'default/web:http',
  namespace: 'default',
  name: 'web',
  portName: 'http',
  protocol: 'TCP',
  clusterIP: '10.96.0.10',
  port: 80,
  externalIPs: [],
  targetPort: 8080,
  sessionAffinity: 'None',
  affinityTimeoutSeconds: 10800,
  externalTrafficPolicy: 'Cluster',
  internalTrafficPolicy: 'Cluster',
  endpoints: [],
  ...o,
});
