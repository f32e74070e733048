// startProxy() against the real control plane: Services and EndpointSlices created with
// kubectl turn into rules inside a scratch "node" namespace; after the control plane is
// killed and restarted, the proxy's watches come back by themselves and keep following.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, credentialsFromKubeconfig } from '../../agent/kubelet/client.js';
import { Registry } from 'prom-client';
import { startProxy, cleanup, type ProxyHandle } from '../../agent/proxy/index.js';
import { portProtoHash } from '../../agent/proxy/iptables.js';
import { NetLab, canUseNetns } from '../helpers/netns.js';
import { startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { waitFor } from '../helpers/wait.js';

const usable = await canUseNetns();
if (!usable) console.log('proxy-apiserver: skipped: needs root and `ip netns` (network namespaces)');

const lab = new NetLab('pa');
let cp: TestControlPlane | undefined;
let node = '';
let proxy: ProxyHandle | undefined;

function manifests(name: string, ip: string): string {
  // No selector: the endpoint controllers leave this Service's slices to us.
  return `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: web, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}-1
  namespace: default
  labels: {kubernetes.io/service-name: ${name}}
addressType: IPv4
endpoints:
- addresses: ["${ip}"]
  nodeName: node-1
  conditions: {ready: true}
ports: [{name: http, port: 8080, protocol: TCP}]
`;
}

async function natRules(): Promise<string> {
  return lab.exec(node, 'iptables-save', ['-t', 'nat']);
}

describe.skipIf(!usable)('startProxy with the real apiserver', () => {
  beforeAll(async () => {
    node = await lab.netns('node');
    cp = await startTestControlPlane();
    proxy = await startProxy({
      client: new KubeClient(await credentialsFromKubeconfig(cp.kubeconfigPath)),
      nodeName: 'node-1',
      mode: 'iptables',
      minSyncPeriodMs: 0,
      clusterCIDR: '10.244.0.0/16',
      registry: new Registry(),
      runner: lab.runner(node),
    });
    await proxy.ready;
  });
  afterAll(async () => {
    try {
      await proxy?.stop();
      if (node) await cleanup(undefined, lab.runner(node)).catch(() => undefined);
      await cp?.stop();
    } finally {
      await lab.cleanup();
    }
  });

  it('a Service and its EndpointSlice become KUBE-SVC/KUBE-SEP chains with the DNAT', async () => {
    const r = await cp!.kubectl(['apply', '-f', '-'], { input: manifests('web', '10.244.1.7') });
    expect(r.exitCode, r.stderr).toBe(0);
    const svcChain = `KUBE-SVC-${portProtoHash('default/web:http', 'TCP')}`;
    await waitFor('web rules', async () => (await natRules()).includes(`-j ${svcChain}`));
    const nat = await natRules();
    expect(nat).toContain('-j DNAT --to-destination 10.244.1.7:8080');
    expect(nat).toMatch(/-A PREROUTING .*-j KUBE-SERVICES/);
  });

  it('follows changes after the control plane was killed and restarted (watches restart)', async () => {
    await cp!.kill9();
    await new Promise((r) => setTimeout(r, 1000));
    await cp!.restart();
    const r = await cp!.kubectl(['apply', '-f', '-'], { input: manifests('after', '10.244.1.8') });
    expect(r.exitCode, r.stderr).toBe(0);
    await waitFor('rules of a Service created after the restart', async () =>
      (await natRules()).includes('--to-destination 10.244.1.8:8080'),
    );
    const d = await cp!.kubectl(['delete', 'service', 'web']);
    expect(d.exitCode, d.stderr).toBe(0);
    const svcChain = `KUBE-SVC-${portProtoHash('default/web:http', 'TCP')}`;
    await waitFor('web rules gone', async () => !(await natRules()).includes(svcChain));
    expect(await proxy!.metrics.rules.get()).toBeTruthy();
  });
});
