import { describe, expect, it } from 'vitest';
import { buildEnv, expand, expandCommand, serviceEnv, type EnvContext } from '../../agent/kubelet/env.js';
import type { Pod, Service } from '../../agent/kubelet/types.js';

const svc = (name: string, ns: string, ip: string, ports: Service['spec']['ports']): Service => ({ metadata: { name, namespace: ns }, spec: { clusterIP: ip, ports } });

describe('env', () => {
  it('builds Service and docker-link variables like upstream', () => {
    const env = Object.fromEntries(serviceEnv(svc('redis-master', 'default', '10.96.0.10', [{ port: 6379, name: 'redis', protocol: 'TCP' }])).map((e) => [e.name, e.value]));
    expect(env).toEqual({
      REDIS_MASTER_SERVICE_HOST: '10.96.0.10',
      REDIS_MASTER_SERVICE_PORT: '6379',
      REDIS_MASTER_SERVICE_PORT_REDIS: '6379',
      REDIS_MASTER_PORT: 'tcp://10.96.0.10:6379',
      REDIS_MASTER_PORT_6379_TCP: 'tcp://10.96.0.10:6379',
      REDIS_MASTER_PORT_6379_TCP_PROTO: 'tcp',
      REDIS_MASTER_PORT_6379_TCP_PORT: '6379',
      REDIS_MASTER_PORT_6379_TCP_ADDR: '10.96.0.10',
    });
    expect(serviceEnv(svc('headless', 'default', 'None', [{ port: 80 }]))).toEqual([]);
  });

  it('expands $(VAR) with $$ escapes and leaves unknown references', () => {
    const m = new Map([['A', 'x'], ['B', 'y']]);
    expect(expand('$(A)-$(B)-$(C)-$$(A)-$(', (n) => m.get(n))).toBe('x-y-$(C)-$(A)-$(');
  });

  it('merges envFrom (with prefix), env, fieldRef, configMap/secret refs and service links', () => {
    const pod: Pod = {
      metadata: { name: 'web', namespace: 'ns1', uid: 'u', labels: { app: 'web' } },
      spec: {
        nodeName: 'n1',
        containers: [
          {
            name: 'c',
            image: 'x',
            resources: { limits: { memory: '64Mi' } },
            envFrom: [{ prefix: 'CM_', configMapRef: { name: 'cm' } }],
            env: [
              { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
              { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
              { name: 'PASS', valueFrom: { secretKeyRef: { name: 's', key: 'pw' } } },
              { name: 'K', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } },
              { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
              { name: 'COMBO', value: '$(POD)@$(FRONTEND_SERVICE_HOST)' },
              { name: 'FRONTEND_SERVICE_PORT', value: 'overridden' },
            ],
          },
        ],
      },
    };
    const ctx: EnvContext = {
      podIP: '10.244.1.5',
      podIPs: ['10.244.1.5'],
      hostIP: '192.168.56.11',
      nodeName: 'n1',
      services: [svc('frontend', 'ns1', '10.96.0.20', [{ port: 80 }]), svc('kubernetes', 'default', '10.96.0.1', [{ port: 443, name: 'https' }]), svc('other', 'default', '10.96.0.30', [{ port: 1 }])],
      refs: {
        configMap: (ns, n) => (ns === 'ns1' && n === 'cm' ? { k: 'v', x: 'y' } : undefined),
        secret: (ns, n) => (ns === 'ns1' && n === 's' ? { pw: 'hunter2' } : undefined),
      },
    };
    const env = Object.fromEntries(buildEnv(pod, pod.spec.containers[0]!, ctx).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      CM_k: 'v',
      CM_x: 'y',
      POD: 'web',
      IP: '10.244.1.5',
      APP: 'web',
      PASS: 'hunter2',
      K: 'v',
      MEM: '64',
      COMBO: 'web@10.96.0.20',
      FRONTEND_SERVICE_HOST: '10.96.0.20',
      FRONTEND_SERVICE_PORT: 'overridden',
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
    });
    expect(env.OTHER_SERVICE_HOST).toBeUndefined();
    expect(expandCommand(['echo', '$(POD)'], buildEnv(pod, pod.spec.containers[0]!, ctx))).toEqual(['echo', 'web']);

    pod.spec.enableServiceLinks = false;
    const env2 = Object.fromEntries(buildEnv(pod, pod.spec.containers[0]!, ctx).map((e) => [e.name, e.value]));
    expect(env2.FRONTEND_SERVICE_HOST).toBeUndefined();
    expect(env2.KUBERNETES_SERVICE_HOST).toBe('10.96.0.1');
  });

  it('fails with a clear error for a missing non-optional secret', () => {
    const pod: Pod = { metadata: { name: 'p', namespace: 'd', uid: 'u' }, spec: { containers: [{ name: 'c', image: 'x', env: [{ name: 'A', valueFrom: { secretKeyRef: { name: 'nope', key: 'k' } } }] }] } };
    const ctx: EnvContext = { podIP: '', podIPs: [], hostIP: '', nodeName: '', services: [], refs: { configMap: () => undefined, secret: () => undefined } };
    expect(() => buildEnv(pod, pod.spec.containers[0]!, ctx)).toThrow('secret "nope" not found');
  });
});
