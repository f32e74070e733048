// Node registration, the heartbeat Lease (kube-node-lease, every 10 s) and node status
// (on change, and at least every 5 minutes as upstream's nodeStatusReportFrequency), plus
// the node's spec.podCIDR for the network setup.
import type { Logger } from 'pino';
import type { ContainerRuntime } from '../runtime/types.js';
import { ApiError, type KubeClient } from './client.js';
import { canonical } from './labels.js';
import { buildNodeStatus, machineInfo, nodeConditions, pressure, type MachineInfo, type NodeCondition } from './nodestatus.js';

export interface NodeManagerOptions {
  client: KubeClient;
  nodeName: string;
  nodeIP: string;
  runtime: ContainerRuntime;
  kubeletVersion: string;
  kubeletPort: number;
  rootDir: string;
  labels?: Record<string, string>;
  /** Whether pod networking is configured (CNI conf written). */
  networkReady: () => boolean;
  leaseDurationSeconds?: number;
  renewIntervalMs?: number;
  log: Logger;
}

interface NodeObj {
  metadata: { name: string; uid?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: { podCIDR?: string; podCIDRs?: string[]; unschedulable?: boolean };
  status?: { conditions?: NodeCondition[] };
}

export class NodeManager {
  private machine?: MachineInfo;
  private runtimeVersion = '';
  private lastStatusKey = '';
  private lastStatusAt = 0;
  private conditions?: NodeCondition[];
  private timers: NodeJS.Timeout[] = [];
  private stopWatch?: () => void;
  private podCIDRWaiters: ((cidr: string) => void)[] = [];
  podCIDR?: string;
  uid?: string;

  constructor(private o: NodeManagerOptions) {}

  async start(): Promise<void> {
    this.machine = await machineInfo(this.o.rootDir);
    const v = await this.o.runtime.version().catch(() => ({ runtimeName: this.o.runtime.name, runtimeVersion: 'unknown' }));
    this.runtimeVersion = `${v.runtimeName === 'docker' || this.o.runtime.name === 'docker' ? 'docker' : v.runtimeName || 'containerd'}://${v.runtimeVersion}`;
    await this.register();
    await this.renewLease().catch((e) => this.o.log.warn({ err: (e as Error).message }, 'lease renew failed'));
    await this.updateStatus(true).catch((e) => this.o.log.warn({ err: (e as Error).message }, 'node status update failed'));
    this.timers.push(setInterval(() => void this.renewLease().catch((e) => this.o.log.warn({ err: (e as Error).message }, 'lease renew failed')), this.o.renewIntervalMs ?? 10_000));
    // Cheap checks every 10 s; a PATCH only on change or every 5 minutes.
    this.timers.push(setInterval(() => void this.updateStatus(false).catch((e) => this.o.log.warn({ err: (e as Error).message }, 'node status update failed')), 10_000));
    this.stopWatch = this.o.client.listWatch<NodeObj>('/api/v1/nodes', { fieldSelector: `metadata.name=${this.o.nodeName}` }, {
      onList: (items) => items.forEach((n) => this.observe(n)),
      onEvent: (e) => {
        if (e.type === 'DELETED') {
          // Someone deleted our Node: register again, like the kubelet does on restart.
          void this.register().catch(() => undefined);
          return;
        }
        this.observe(e.object);
      },
    }, this.o.log);
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.stopWatch?.();
  }

  /** Resolves with spec.podCIDR once the node IPAM controller has set it. */
  waitForPodCIDR(): Promise<string> {
    if (this.podCIDR) return Promise.resolve(this.podCIDR);
    return new Promise((r) => this.podCIDRWaiters.push(r));
  }

  private observe(n: NodeObj): void {
    this.uid = n.metadata.uid;
    const cidr = n.spec?.podCIDR ?? n.spec?.podCIDRs?.[0];
    if (cidr && !this.podCIDR) {
      this.podCIDR = cidr;
      for (const w of this.podCIDRWaiters.splice(0)) w(cidr);
      void this.updateStatus(true).catch(() => undefined);
    }
  }

  private async register(): Promise<void> {
    const labels = {
      'kubernetes.io/hostname': this.o.nodeName,
      'kubernetes.io/os': 'linux',
      'kubernetes.io/arch': this.machine!.architecture,
      'beta.kubernetes.io/os': 'linux',
      'beta.kubernetes.io/arch': this.machine!.architecture,
      ...(this.o.labels ?? {}),
    };
    const body = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: this.o.nodeName, labels, annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' } },
      spec: {},
    };
    for (let delay = 200; ; delay = Math.min(delay * 2, 7000)) {
      try {
        const n = await this.o.client.request<NodeObj>('POST', '/api/v1/nodes', body);
        this.observe(n);
        this.o.log.info({ node: this.o.nodeName }, 'Successfully registered node');
        return;
      } catch (e) {
        if (e instanceof ApiError && e.code === 409) {
          const n = await this.o.client.get<NodeObj>(`/api/v1/nodes/${this.o.nodeName}`);
          this.observe(n);
          // Keep labels we own up to date on an existing Node.
          const missing = Object.entries(labels).some(([k, v]) => n.metadata.labels?.[k] !== v);
          if (missing) {
            await this.o.client.request('PATCH', `/api/v1/nodes/${this.o.nodeName}`, { metadata: { labels } }, 'application/merge-patch+json').catch(() => undefined);
          }
          return;
        }
        this.o.log.warn({ err: (e as Error).message }, 'node registration failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async renewLease(): Promise<void> {
    const c = this.o.client;
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.o.nodeName}`;
    const now = new Date().toISOString().replace('Z', '000Z');
    const spec = { holderIdentity: this.o.nodeName, leaseDurationSeconds: this.o.leaseDurationSeconds ?? 40, renewTime: now };
    try {
      const cur = await c.get<{ metadata: Record<string, unknown>; spec: Record<string, unknown> }>(path);
      await c.request('PUT', path, { ...cur, spec: { ...cur.spec, ...spec } });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
      const owner = this.uid ? [{ apiVersion: 'v1', kind: 'Node', name: this.o.nodeName, uid: this.uid }] : undefined;
      await c.request('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.nodeName, namespace: 'kube-node-lease', ...(owner ? { ownerReferences: owner } : {}) },
        spec,
      });
    }
  }

  async updateStatus(force: boolean): Promise<void> {
    const rs = await this.o.runtime.status().catch((e: Error) => ({ runtimeReady: false, networkReady: false, message: e.message }));
    const p = await pressure(this.o.rootDir);
    const now = new Date();
    const conds = nodeConditions(
      {
        runtimeReady: rs.runtimeReady,
        networkReady: this.o.networkReady(),
        runtimeMessage: rs.message,
        memoryPressure: p.memory,
        diskPressure: p.disk,
        pidPressure: p.pid,
      },
      this.conditions,
      now,
    );
    const key = canonical(conds.map((c) => [c.type, c.status, c.reason, c.message]));
    if (!force && key === this.lastStatusKey && Date.now() - this.lastStatusAt < 5 * 60_000) return;
    const images = await this.o.runtime.listImages().catch(() => []);
    const status = buildNodeStatus({
      machine: this.machine!,
      nodeIP: this.o.nodeIP,
      runtimeVersion: this.runtimeVersion,
      kubeletVersion: this.o.kubeletVersion,
      kubeletPort: this.o.kubeletPort,
      conditions: conds,
      images: images
        .filter((i) => i.repoTags.length || i.repoDigests.length)
        .slice(0, 50)
        .map((i) => ({ names: [...i.repoDigests, ...i.repoTags], sizeBytes: i.size })),
    });
    await this.o.client.request('PATCH', `/api/v1/nodes/${this.o.nodeName}/status`, { status }, 'application/merge-patch+json');
    this.conditions = conds;
    this.lastStatusKey = key;
    this.lastStatusAt = Date.now();
  }
}
