// The node agent: bootstrap credentials, then start in order (k3s style, each step held back
// by the readiness it needs): the container runtime client, Node registration + Lease, the
// pod network once the node has a podCIDR (CNI conf, host-gw routes), the kubelet and its
// HTTPS server, and kube-proxy.
import path from 'node:path';
import type { Logger } from 'pino';
import { logger } from '../api/log.js';
import { createRuntime } from './runtime/index.js';
import type { ContainerRuntime } from './runtime/types.js';
import { writeBridgeConf } from './network/cni.js';
import { bootstrapClient, servingCertificate, type NodeCredentials } from './kubelet/bootstrap.js';
import { Kubelet } from './kubelet/kubelet.js';
import { NodeManager } from './kubelet/node.js';
import { KubeletServer } from './kubelet/server.js';
import type { LogRotatePolicy } from './kubelet/logrotate.js';

export interface AgentOptions {
  nodeName: string;
  server: string;
  /** bootstrap token for the first start (from --token-file or K8TS_JOIN_TOKEN, never argv) */
  token?: string;
  /** --discovery-token-ca-cert-hash pins */
  caCertHashes?: string[];
  unsafeSkipCAVerification?: boolean;
  runtime: 'cri' | 'docker';
  runtimeEndpoint: string;
  nodeIP: string;
  proxyMode?: 'iptables' | 'nftables' | 'ipvs' | 'none';
  dataDir: string;
  rootDir?: string;
  logDir?: string;
  podManifestPath?: string;
  manifestURL?: string;
  clusterCIDR?: string;
  clusterDNS?: string[];
  kubeletPort?: number;
  kubeletAddress?: string;
  cniConfDir?: string;
  cniBinDir?: string;
  /** Bridge and host-local state dir of the pod network (tests use unique ones). */
  cniBridge?: string;
  cniIpamDir?: string;
  /** Skip host-gw routes (single-node tests). */
  hostGw?: boolean;
  crashLoopBackoffMs?: number;
  /** Container log rotation (validated by logRotatePolicy); upstream's defaults when unset. */
  containerLogs?: { policy: LogRotatePolicy; monitorIntervalMs: number };
  log?: Logger;
}

export interface AgentHandle {
  kubelet: Kubelet;
  node: NodeManager;
  server: KubeletServer;
  runtime: ContainerRuntime;
  kubeletPort: number;
  credentials: NodeCredentials;
  stop(): Promise<void>;
}

export async function startAgent(o: AgentOptions): Promise<AgentHandle> {
  const log = o.log ?? logger('agent', { node: o.nodeName });
  const rootDir = o.rootDir ?? path.join(o.dataDir, 'kubelet');
  const logDir = o.logDir ?? '/var/log/pods';
  const cniConfDir = o.cniConfDir ?? '/etc/cni/net.d';
  const kubeletPort = o.kubeletPort ?? 10250;
  const clusterCIDR = o.clusterCIDR ?? '10.244.0.0/16';

  const { credentials: creds, manager: clientCerts, client } = await bootstrapClient({
    dataDir: o.dataDir,
    server: o.server,
    nodeName: o.nodeName,
    token: o.token,
    caCertHashes: o.caCertHashes,
    unsafeSkipCAVerification: o.unsafeSkipCAVerification,
    log: log.child({ sub: 'certificates' }),
  });
  const runtime = createRuntime({
    kind: o.runtime,
    endpoint: o.runtimeEndpoint,
    docker: {
      cniConfDir,
      cniBinDir: o.cniBinDir,
      stateDir: path.join(o.dataDir, 'docker-net'),
      cniCacheDir: path.join(o.dataDir, 'cni-cache'),
      logMaxSizeBytes: o.containerLogs?.policy.maxSize,
      logMaxFiles: o.containerLogs?.policy.maxFiles,
    },
  });

  let networkOk = false;
  let resolveNetwork!: () => void;
  const networkReady = new Promise<void>((r) => (resolveNetwork = r));
  // Pods start only once host-gw has its routes and kube-proxy its first rules (as flannel
  // writes the CNI conf only after its routes): a pod started earlier sends its first SYN
  // into a missing route or Service VIP, where it is dropped, and a client like a redis
  // replica then hangs in connect() for its 60 s timeout.
  let resolveNetDeps!: (deps: Promise<unknown>[]) => void;
  const netDeps = new Promise<Promise<unknown>[]>((r) => (resolveNetDeps = r));
  const kubelet = new Kubelet({
    nodeName: o.nodeName,
    nodeIP: o.nodeIP,
    runtime,
    client,
    rootDir,
    logDir,
    podManifestPath: o.podManifestPath,
    manifestURL: o.manifestURL,
    networkReady,
    clusterDNS: o.clusterDNS,
    crashLoopBackoffMs: o.crashLoopBackoffMs,
    containerLogs: o.containerLogs,
  });
  const node = new NodeManager({
    client,
    nodeName: o.nodeName,
    nodeIP: o.nodeIP,
    runtime,
    kubeletVersion: kubelet.version,
    kubeletPort,
    rootDir,
    networkReady: () => networkOk,
    log: log.child({ sub: 'node' }),
  });
  await node.start();
  kubelet.nodeUid = node.uid;

  // Networking: the CNI conf follows the podCIDR the node IPAM controller assigns.
  void node.waitForPodCIDR().then(async (podCIDR) => {
    for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
      try {
        await writeBridgeConf(cniConfDir, { podCIDR, name: 'k8ts', bridge: o.cniBridge ?? 'cni0', ipamDataDir: o.cniIpamDir });
        const synced = Promise.all(await netDeps).then(() => true);
        const inTime = await Promise.race([synced, new Promise<boolean>((r) => setTimeout(() => r(false), 30_000).unref())]);
        if (!inTime) log.warn('host-gw/kube-proxy not synced after 30 s; starting pods anyway');
        networkOk = true;
        log.info({ podCIDR, cniConfDir }, 'pod network configured');
        resolveNetwork();
        await node.updateStatus(true).catch(() => undefined);
        return;
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'writing the CNI conf failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  });

  await kubelet.start();
  // The serving certificate names the registered Node's name and address: asked for once the Node exists.
  let server: KubeletServer | undefined;
  const serving = await servingCertificate({
    dataDir: o.dataDir,
    nodeName: o.nodeName,
    nodeIP: o.nodeIP,
    client,
    onRotate: (certPem, keyPem) => server?.setCertificate(certPem, keyPem),
    log: log.child({ sub: 'certificates' }),
  });
  server = new KubeletServer({ kubelet, caPem: creds.caPem, certPem: serving.certPem, keyPem: serving.keyPem, port: kubeletPort, address: o.kubeletAddress });
  const port = await server.listen();
  const kubeletServer = server;

  const stops: (() => Promise<void>)[] = [];
  // host-gw and kube-proxy share the kubelet's client (its node identity and connections)
  const deps: Promise<unknown>[] = [];
  if (o.hostGw !== false) {
    try {
      const { startHostGw } = await import('./network/hostgw.js');
      const h = await startHostGw({ client, nodeName: o.nodeName, clusterCIDR });
      stops.push(() => h.stop());
      deps.push(h.ready);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'host-gw routes not started');
    }
  }
  if (o.proxyMode && o.proxyMode !== 'none') {
    try {
      const { startProxy } = await import('./proxy/index.js');
      // Its sync metrics join the kubelet's /metrics on :10250.
      const p = await startProxy({ client, nodeName: o.nodeName, mode: o.proxyMode, clusterCIDR, registry: kubelet.metrics.registry });
      stops.push(() => p.stop());
      deps.push(p.ready);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'kube-proxy not started');
    }
  }
  resolveNetDeps(deps);
  log.info({ kubeletPort: port, runtime: o.runtime }, 'agent started');
  return {
    kubelet,
    node,
    server: kubeletServer,
    runtime,
    kubeletPort: port,
    credentials: creds,
    async stop() {
      clientCerts.stop();
      serving.manager.stop();
      // Pods keep running: stopping the agent never stops containers (restart safety).
      for (const s of stops) await s().catch(() => undefined);
      await kubelet.stop();
      node.stop();
      await kubeletServer.close();
      await runtime.close().catch(() => undefined);
      client.close();
    },
  };
}
