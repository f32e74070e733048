import { describe, expect, it } from 'vitest';
import { findResource } from '../../api/resources.js';
import type { ResourceDef } from '../../api/registry.js';
import { strategyFor } from '../../control-plane/apiserver/registry/index.js';
import { ClusterIPAllocator, NodePortAllocator } from '../../control-plane/apiserver/allocators.js';
import { defaultImagePullPolicy, podQOSClass } from '../../api/defaults.js';
import type { JsonValue } from '../../api/object.js';

const res = (g: string, p: string) => findResource(g, 'v1', p)!;
// The apiserver's create-time preparation (its registry strategy), as a create runs it.
const prepareForCreate = (d: ResourceDef, obj: Record<string, unknown>) =>
  strategyFor(d, { clusterIPs: new ClusterIPAllocator(), nodePorts: new NodePortAllocator(30000, 32767) }).prepareForCreate(obj, undefined);

describe('defaulting', () => {
  it('old-style RC without selector takes template labels for selector and metadata.labels', () => {
    const rc: JsonValue = {
      apiVersion: 'v1',
      kind: 'ReplicationController',
      metadata: { name: 'redis-master' },
      spec: { template: { metadata: { labels: { name: 'redis-master' } }, spec: { containers: [{ name: 'master', image: 'redis', ports: [{ containerPort: 6379 }] }] } } },
    };
    res('', 'replicationcontrollers').defaults(rc);
    expect(rc.spec.selector).toEqual({ name: 'redis-master' });
    expect(rc.metadata.labels).toEqual({ name: 'redis-master' });
    expect(rc.spec.replicas).toBe(1);
    const c = rc.spec.template.spec.containers[0];
    expect(c).toMatchObject({ imagePullPolicy: 'Always', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File' });
    expect(c.ports[0].protocol).toBe('TCP');
    expect(rc.spec.template.spec).toMatchObject({
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      terminationGracePeriodSeconds: 30,
      schedulerName: 'default-scheduler',
      securityContext: {},
    });
    // Template pods do not get pod-only admission defaults.
    expect(rc.spec.template.spec.tolerations).toBeUndefined();
  });

  it('does not overwrite an explicit selector or labels', () => {
    const rc: JsonValue = { metadata: { name: 'x', labels: { a: 'b' } }, spec: { selector: { s: '1' }, replicas: 0, template: { metadata: { labels: { s: '1', t: '2' } } } } };
    res('', 'replicationcontrollers').defaults(rc);
    expect(rc.spec.selector).toEqual({ s: '1' });
    expect(rc.metadata.labels).toEqual({ a: 'b' });
    expect(rc.spec.replicas).toBe(0);
  });

  it('image pull policy', () => {
    expect(defaultImagePullPolicy('redis')).toBe('Always');
    expect(defaultImagePullPolicy('redis:latest')).toBe('Always');
    expect(defaultImagePullPolicy('redis:7')).toBe('IfNotPresent');
    expect(defaultImagePullPolicy('localhost:5000/redis')).toBe('Always');
    expect(defaultImagePullPolicy('localhost:5000/redis:7')).toBe('IfNotPresent');
    expect(defaultImagePullPolicy('redis@sha256:abcd')).toBe('IfNotPresent');
  });

  it('pod defaults, admission tolerations, probes, status on create', () => {
    const d = res('', 'pods');
    const pod: JsonValue = {
      metadata: { name: 'p', namespace: 'default' },
      spec: {
        containers: [
          { name: 'c', image: 'nginx:1.25', readinessProbe: { httpGet: { port: 80 } }, resources: { limits: { cpu: '1', memory: '1Gi' } } },
        ],
      },
    };
    prepareForCreate(d, pod); // as a create runs them: the strategy, then defaults
    d.defaults(pod);
    expect(pod.spec).toMatchObject({
      restartPolicy: 'Always',
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      enableServiceLinks: true,
      priority: 0,
      schedulerName: 'default-scheduler',
      terminationGracePeriodSeconds: 30,
    });
    expect(pod.spec.tolerations).toEqual([
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ]);
    const c = pod.spec.containers[0];
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.readinessProbe).toEqual({
      httpGet: { port: 80, path: '/', scheme: 'HTTP' },
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    });
    expect(c.resources.requests).toEqual({ cpu: '1', memory: '1Gi' });
    expect(pod.status).toEqual({ phase: 'Pending', qosClass: 'Guaranteed' });
    // Defaulting twice is a no-op (update path runs it again).
    const again = JSON.parse(JSON.stringify(pod));
    d.defaults(again);
    expect(again).toEqual(pod);
  });

  it('qos classes', () => {
    expect(podQOSClass({ spec: { containers: [{ name: 'a' }] } })).toBe('BestEffort');
    expect(podQOSClass({ spec: { containers: [{ name: 'a', resources: { requests: { cpu: '100m' } } }] } })).toBe('Burstable');
    expect(podQOSClass({ spec: { containers: [{ name: 'a', resources: { requests: { cpu: '1000m', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } } }] } })).toBe('Guaranteed');
  });

  it('deployment, replicaset and daemonset defaults', () => {
    const dep: JsonValue = { spec: { template: { spec: { containers: [{ name: 'c', image: 'x' }] } } } };
    res('apps', 'deployments').defaults(dep);
    expect(dep.spec).toMatchObject({
      replicas: 1,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } },
    });
    const rs: JsonValue = { spec: {} };
    res('apps', 'replicasets').defaults(rs);
    expect(rs.spec.replicas).toBe(1);
    const ds: JsonValue = { spec: { template: { spec: { containers: [] } } } };
    res('apps', 'daemonsets').defaults(ds);
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    const recreate: JsonValue = { spec: { strategy: { type: 'Recreate' } } };
    res('apps', 'deployments').defaults(recreate);
    expect(recreate.spec.strategy).toEqual({ type: 'Recreate' });
  });

  it('service defaults', () => {
    const svc: JsonValue = { spec: { ports: [{ port: 80 }, { port: 443, targetPort: 8443, protocol: 'UDP' }], selector: { app: 'web' } } };
    res('', 'services').defaults(svc);
    expect(svc.spec).toEqual({
      type: 'ClusterIP',
      sessionAffinity: 'None',
      ports: [
        { port: 80, protocol: 'TCP', targetPort: 80 },
        { port: 443, targetPort: 8443, protocol: 'UDP' },
      ],
      selector: { app: 'web' },
      internalTrafficPolicy: 'Cluster',
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv4'],
    });
    const np: JsonValue = { spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 30001 }] } };
    res('', 'services').defaults(np);
    expect(np.spec.externalTrafficPolicy).toBe('Cluster');
    const ext: JsonValue = { spec: { type: 'ExternalName', externalName: 'example.com' } };
    res('', 'services').defaults(ext);
    expect(ext.spec.ipFamilies).toBeUndefined();
  });

  it('namespace gets Active and the kubernetes finalizer', () => {
    const d = res('', 'namespaces');
    const ns: JsonValue = { metadata: { name: 'dev' } };
    d.defaults(ns);
    prepareForCreate(d, ns);
    expect(ns.status).toEqual({ phase: 'Active' });
    expect(ns.spec.finalizers).toEqual(['kubernetes']);
    expect(ns.metadata.labels['kubernetes.io/metadata.name']).toBe('dev');
    const other: JsonValue = { metadata: { name: 'other' }, spec: { finalizers: ['example.com/x'] } };
    prepareForCreate(d, other);
    expect(other.spec.finalizers).toEqual(['example.com/x', 'kubernetes']);
  });

  it('stringData folds into data as base64 and is dropped', () => {
    const s: JsonValue = { metadata: { name: 's' }, data: { a: 'YQ==' }, stringData: { b: 'hello', a: 'override' } };
    findResource('', 'v1', 'secrets')!.defaults(s);
    expect(s).toEqual({ metadata: { name: 's' }, type: 'Opaque', data: { a: 'b3ZlcnJpZGU=', b: 'aGVsbG8=' } });
  });
});
