// Simulated nodes for scheduler/controller tests: Node objects with capacity, a Ready
// condition and an InternalIP, Leases in kube-node-lease renewed every few seconds, and an
// optional fake kubelet that only writes status (bound pods become Running with a pod IP
// and a Ready condition; terminating pods are confirmed deleted). `stop(name)` makes a node
// fall silent, as a dead kubelet would.
import type { Pod } from 'kubernetes-types/core/v1.js';
import { microTime, rfc3339 } from '../../api/time.js';
import { type Client, InformerFactory, isAlreadyExists } from '../../client/index.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

export interface SimNodesOptions {
  client: Client;
  count?: number;
  prefix?: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  /** lease renewal period; 0 = no leases (benchmarks with many nodes) */
  leaseIntervalMs?: number;
  /** act as each node's kubelet for pod status (default true) */
  fakeKubelet?: boolean;
  /** parallel node creations */
  concurrency?: number;
}

export interface SimNodes {
  names: string[];
  /** the node stops renewing its lease and its fake kubelet goes quiet */
  stop(name: string): void;
  /** the node comes back */
  revive(name: string): void;
  /** sets a pod's Ready condition as a readiness probe would (fake kubelet) */
  setPodReady(namespace: string, name: string, ready: boolean): Promise<void>;
  /** default readiness for pods that start from now on */
  defaultReady: boolean;
  close(opts?: { deleteNodes?: boolean }): Promise<void>;
}

function nodeBody(name: string, i: number, o: SimNodesOptions): Obj {
  const ip = `192.168.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', ...(o.labels ?? {}) } },
    spec: {},
    status: nodeStatus(name, ip, o),
  };
}

function nodeStatus(name: string, ip: string, o: SimNodesOptions): Obj {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const res = { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' };
  const cond = (type: string, status: string, reason: string, message: string) => ({ type, status, reason, message, lastHeartbeatTime: now, lastTransitionTime: now });
  return {
    capacity: res,
    allocatable: res,
    conditions: [
      cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ],
    addresses: [
      { type: 'InternalIP', address: ip },
      { type: 'Hostname', address: name },
    ],
    nodeInfo: {
      machineID: name, systemUUID: name, bootID: name, kernelVersion: 'sim', osImage: 'simulated', containerRuntimeVersion: 'sim://0',
      kubeletVersion: 'v1.32.0', kubeProxyVersion: 'v1.32.0', operatingSystem: 'linux', architecture: 'amd64',
    },
  };
}

async function pool<T>(items: T[], n: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

export async function startSimNodes(o: SimNodesOptions): Promise<SimNodes> {
  const client = o.client;
  const count = o.count ?? 3;
  const prefix = o.prefix ?? 'sim-node';
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i + 1}`);
  const ips = new Map<string, string>();
  const nodeIndex = new Map<string, number>();
  const dead = new Set<string>();
  const leaseInterval = o.leaseIntervalMs ?? 2000;
  const podIPs = new Map<string, number>();

  await pool(names, o.concurrency ?? 16, async (name, i) => {
    const body = nodeBody(name, i, o);
    ips.set(name, body.status.addresses[0].address);
    nodeIndex.set(name, i);
    let created: Obj | undefined;
    try {
      created = await client.nodes.create(body);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    // an apiserver may drop status on create: then write it through the status subresource
    if (!created?.status?.conditions?.length || !created?.status?.allocatable) {
      await client.nodes.patchStatus(name, { status: body.status });
    }
  });

  const renew = async (name: string, create = false) => {
    const leases = client.leases.namespace('kube-node-lease');
    if (create) {
      try {
        await leases.create({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace: 'kube-node-lease' },
          spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: microTime() },
        });
        return;
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }
    await leases.patch(name, { spec: { renewTime: microTime() } });
  };

  let leaseTimer: NodeJS.Timeout | undefined;
  if (leaseInterval > 0) {
    // kube-node-lease may not exist yet on a fresh apiserver
    await client.namespaces.create({ metadata: { name: 'kube-node-lease' } }).catch(() => {});
    await pool(names, o.concurrency ?? 16, (n) => renew(n, true));
    leaseTimer = setInterval(() => {
      for (const n of names) if (!dead.has(n)) void renew(n).catch(() => {});
    }, leaseInterval);
    leaseTimer.unref?.();
  }

  const readiness = new Map<string, boolean>();
  let informers: InformerFactory | undefined;
  const sim: SimNodes = {
    names,
    defaultReady: true,
    stop: (name) => void dead.add(name),
    revive: (name) => {
      dead.delete(name);
      void renew(name).catch(() => {});
    },
    async setPodReady(namespace, name, ready) {
      readiness.set(`${namespace}/${name}`, ready);
      const pod = informers?.get('pods').get(`${namespace}/${name}`);
      if (pod) await syncPod(pod, true);
    },
    async close(opts = {}) {
      if (leaseTimer) clearInterval(leaseTimer);
      informers?.stop();
      if (opts.deleteNodes) await pool(names, 16, (n) => client.nodes.delete(n).then(() => {}, () => {}));
    },
  };

  const mine = new Set(names);
  const inflight = new Set<string>();
  async function syncPod(p: Pod, force = false): Promise<void> {
    const node = p.spec?.nodeName;
    if (!node || !mine.has(node) || dead.has(node)) return;
    const key = `${p.metadata!.namespace}/${p.metadata!.name}`;
    const pods = client.pods.namespace(p.metadata!.namespace!);
    if (p.metadata?.deletionTimestamp) {
      if (inflight.has(`del:${key}`)) return;
      inflight.add(`del:${key}`);
      // the kubelet confirms termination of a pod it no longer runs
      await pods
        .delete(p.metadata!.name!, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } })
        .catch(() => {})
        .finally(() => inflight.delete(`del:${key}`));
      return;
    }
    const ready = readiness.get(key) ?? sim.defaultReady;
    const curReady = p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (!force && p.status?.phase === 'Running' && curReady === ready && p.status.podIP) return;
    const now = rfc3339();
    let podIP = p.status?.podIP;
    if (!podIP) {
      const idx = nodeIndex.get(node)!;
      const n = (podIPs.get(node) ?? 1) + 1;
      podIPs.set(node, n);
      podIP = `10.${200 + Math.floor(idx / 256)}.${idx % 256}.${n % 254}`;
    }
    const st = ready ? 'True' : 'False';
    const status = {
      phase: 'Running',
      hostIP: ips.get(node),
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: p.status?.startTime ?? now,
      conditions: [
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: st, lastTransitionTime: now },
        { type: 'Ready', status: st, lastTransitionTime: now },
      ],
      containerStatuses: (p.spec?.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image,
        imageID: '',
        ready,
        started: true,
        restartCount: 0,
        state: { running: { startedAt: now } },
      })),
    };
    if (inflight.has(key) && !force) return;
    inflight.add(key);
    try {
      await pods.patchStatus(p.metadata!.name!, { status });
    } catch {
      /* gone or conflicting: the next event retries */
    } finally {
      inflight.delete(key);
    }
  }

  if (o.fakeKubelet ?? true) {
    informers = new InformerFactory(client);
    const pods = informers.get('pods');
    const nodes = informers.get('nodes');
    pods.addEventHandler({ add: (p) => void syncPod(p), update: (_o, p) => void syncPod(p) });
    // a kubelet re-posts Ready=True when the node controller marked it Unknown while it was away
    nodes.addEventHandler({
      update: (_o, n) => {
        const name = n.metadata!.name!;
        if (!mine.has(name) || dead.has(name)) return;
        const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
        if (ready?.status === 'True') return;
        void client.nodes.patchStatus(name, { status: { conditions: nodeStatus(name, ips.get(name)!, o).conditions } }).catch(() => {});
      },
    });
    // pods whose node revives get their status again
    const periodic = setInterval(() => {
      for (const p of pods.list()) if (p.spec?.nodeName && !dead.has(p.spec.nodeName)) void syncPod(p);
    }, 2000);
    periodic.unref?.();
    const origClose = sim.close;
    sim.close = async (opts) => {
      clearInterval(periodic);
      await origClose(opts);
    };
    informers.start();
    await informers.waitForSync();
  }
  return sim;
}
