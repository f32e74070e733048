// kube-proxy entry points: startProxy() watches Services, EndpointSlices (or Endpoints) and
// the Nodes through the apiserver and keeps the chosen backend in sync; cleanup() removes
// everything any backend ever wrote.
import type { Registry } from 'prom-client';
import { logger } from '../../api/log.js';
import { ApiError, type KubeClient } from '../kubelet/client.js';
import { type Runner, execRunner } from '../netfilter/exec.js';
import { IptablesCmd } from '../netfilter/iptables.js';
import type { ProxyBackend } from './backend.js';
import { IptablesBackend, cleanupIptables } from './iptables.js';
import { NFT_TABLE, NftablesBackend, cleanupNftables } from './nftables.js';
import { NftCmd } from '../netfilter/nftables.js';
import { IpvsBackend, cleanupIpvs, ipvsSupported } from './ipvs.js';
import { ChangeTracker, type EndpointSliceObj, type EndpointsObj, type NodeObj, type ServiceObj } from './model.js';
import { Proxier, type ProxyMetrics } from './proxier.js';
import { type WatchHandle, watchResource } from './watch.js';

export type ProxyMode = 'iptables' | 'nftables' | 'ipvs';

export interface StartProxyOptions {
  /** the agent's client (node credentials) or one made from a kubeconfig (kubeClientFromKubeconfig) */
  client: KubeClient;
  nodeName: string;
  mode?: ProxyMode; // default iptables
  /** default 1000 ms; 0 in tests */
  minSyncPeriodMs?: number;
  /** default 60 s */
  fullSyncPeriodMs?: number;
  /** Pod CIDR of the whole cluster (e.g. 10.244.0.0/16): decides what is masqueraded. */
  clusterCIDR?: string;
  registry?: Registry;
  /** Where the kernel tools run (default: this host). */
  runner?: Runner;
}

export interface ProxyHandle {
  mode: ProxyMode;
  /** Resolves once every watch has listed and the first sync is applied. */
  ready: Promise<void>;
  syncNow(): Promise<void>;
  stop(): Promise<void>;
  metrics: ProxyMetrics;
  /** For tests and debugging: the tracker holding the current model. */
  tracker: ChangeTracker;
}

export function makeBackend(mode: ProxyMode, run: Runner): ProxyBackend {
  if (mode === 'nftables') return new NftablesBackend(new NftCmd(run, NFT_TABLE));
  if (mode === 'ipvs') {
    if (!ipvsSupported()) throw new Error('proxy-mode ipvs: this kernel has no IPVS (/proc/net/ip_vs is missing)');
    return new IpvsBackend(run, new IptablesCmd(run));
  }
  return new IptablesBackend(new IptablesCmd(run));
}

export async function startProxy(o: StartProxyOptions): Promise<ProxyHandle> {
  const mode = o.mode ?? 'iptables';
  const log = logger('kube-proxy', { node: o.nodeName, mode });
  const run = o.runner ?? execRunner();
  const backend = makeBackend(mode, run);
  // Switching modes must not leave the other backends' rules behind.
  for (const other of ['iptables', 'nftables'] as const)
    if (other !== mode) await cleanup(other, run).catch((err) => log.warn({ err: String(err) }, 'cleanup of other mode failed'));
  const tracker = new ChangeTracker(o.nodeName, o.clusterCIDR ?? '');
  const proxier = new Proxier({
    backend,
    tracker,
    minSyncPeriodMs: o.minSyncPeriodMs,
    fullSyncPeriodMs: o.fullSyncPeriodMs,
    registry: o.registry,
    log,
    conntrack: run,
  });
  // Like upstream, no sync before every watch has listed once: a half-known state would
  // briefly reject Services whose endpoints were not listed yet.
  let listed = false;
  const on = <T>(up: (x: T, del?: boolean) => void) => ({
    upsert: (x: T) => {
      up(x);
      if (listed) proxier.requestSync();
    },
    remove: (x: T) => {
      up(x, true);
      if (listed) proxier.requestSync();
    },
  });
  const watch = <T extends object>(path: string, up: (x: T, del?: boolean) => void) => watchResource<T>(o.client, path, on<T>(up), log);
  const watches: WatchHandle[] = [
    watch<ServiceObj>('/api/v1/services', (s, d) => tracker.onService(s, d)),
    // Endpoints are always watched: a Service without slices uses them (older controllers).
    watch<EndpointsObj>('/api/v1/endpoints', (e, d) => tracker.onEndpoints(e, d)),
    watch<NodeObj>('/api/v1/nodes', (n, d) => tracker.onNode(n, d)),
  ];
  const slices = '/apis/discovery.k8s.io/v1/endpointslices';
  const served = await o.client.get(`${slices}?limit=1`).then(
    () => true,
    (err) => !(err instanceof ApiError && err.code === 404),
  );
  if (served) watches.push(watch<EndpointSliceObj>(slices, (s, d) => tracker.onEndpointSlice(s, d)));
  else log.info('discovery.k8s.io/v1 EndpointSlices not served; using Endpoints only');
  const ready = (async () => {
    await Promise.all(watches.map((w) => w.synced));
    listed = true;
    // Retry until the first sync lands (a failing sync already schedules its own retries).
    for (;;) {
      try {
        await proxier.syncNow();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    log.info({ services: tracker.current.services.size }, 'proxy rules in place');
  })();
  ready.catch(() => undefined);
  return {
    mode,
    ready,
    syncNow: () => proxier.syncNow(),
    metrics: proxier.metrics,
    tracker,
    async stop() {
      await Promise.all(watches.map((w) => w.stop()));
      await proxier.stop();
    },
  };
}

/**
 * Removes everything the proxy wrote: our iptables chains and jumps (filter and nat), the
 * nftables table, IPVS services, ipsets and the dummy interface. `mode` limits it to one
 * backend; without it, all of them.
 */
export async function cleanup(mode?: ProxyMode, run: Runner = execRunner()): Promise<void> {
  const ipt = new IptablesCmd(run);
  if (!mode || mode === 'iptables') await cleanupIptables(ipt);
  if (!mode || mode === 'nftables') await cleanupNftables(new NftCmd(run, NFT_TABLE));
  if (!mode || mode === 'ipvs') await cleanupIpvs(run, ipt);
}

export { ChangeTracker } from './model.js';
export { Proxier } from './proxier.js';
export type { ProxyBackend, SyncStats } from './backend.js';
