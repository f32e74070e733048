// The controller manager: every controller on one shared set of informers, started when
// this instance holds the kube-system/kube-controller-manager Lease (or at once without
// leader election).
import { join } from 'node:path';
import { logger } from '../../api/log.js';
import { Client, EventRecorder, InformerFactory, loadClientConfig, runWhileLeader } from '../../client/index.js';
import type { Controller, ControllerContext } from './base/controller.js';
import { DaemonSetController } from './daemonset.js';
import { DeploymentController } from './deployment.js';
import { EndpointsController } from './endpoints.js';
import { EndpointSliceMirroringController } from './endpointslicemirroring.js';
import { GarbageCollector } from './garbagecollector.js';
import { NodeIpamController } from './ipam.js';
import { NamespaceController } from './namespace.js';
import { NodeLifecycleController } from './nodelifecycle.js';
import { PodGCController } from './podgc.js';
import { REPLICA_SET, REPLICATION_CONTROLLER, ReplicaSetController } from './replicaset.js';
import { ResourceQuotaController } from './resourcequota.js';
import { RootCACertPublisher } from './rootcacertpublisher.js';
import { ServiceAccountsController } from './serviceaccount.js';
import { CSRApprovingController } from './certificates/approver.js';
import { CSRCleaner } from './certificates/cleaner.js';
import { CSRSigningController } from './certificates/signer.js';
import { TokenCleaner } from './tokencleaner.js';

export const ALL_CONTROLLERS = [
  'replicationcontroller',
  'replicaset',
  'deployment',
  'daemonset',
  'endpoints',
  'endpointslicemirroring',
  'nodelifecycle',
  'nodeipam',
  'namespace',
  'garbagecollector',
  'podgc',
  'resourcequota',
  'root-ca-cert-publisher',
  'serviceaccount',
  'csrapproving',
  'csrsigning',
  'csrcleaner',
  'tokencleaner',
] as const;
export type ControllerName = (typeof ALL_CONTROLLERS)[number];

export interface ControllerManagerOptions {
  client: Client;
  /** run only while holding kube-system/kube-controller-manager (default false) */
  leaderElect?: boolean;
  leaderElectIdentity?: string;
  leaseDurationMs?: number;
  /** pod CIDR to carve /24s from; undefined or '' disables node IPAM */
  clusterCIDR?: string;
  nodeCIDRMaskSize?: number;
  /** upstream --node-monitor-grace-period (40 s) */
  nodeMonitorGracePeriodMs?: number;
  nodeMonitorPeriodMs?: number;
  /** eviction delay on unreachable nodes for pods without a toleration, and a cap on tolerationSeconds when set */
  podEvictionTimeoutMs?: number;
  terminatedPodGCThreshold?: number;
  podGCPeriodMs?: number;
  /** PEM published as kube-root-ca.crt in every namespace (upstream --root-ca-file); default: the kubeconfig's CA */
  rootCA?: string;
  /** subset of ALL_CONTROLLERS to run (default: all) */
  controllers?: ControllerName[];
  /** the CA that signs kubelet and client certificates (upstream --cluster-signing-{cert,key}-file); no signer without them */
  clusterSigningCertFile?: string;
  clusterSigningKeyFile?: string;
  /** upstream --cluster-signing-duration (8760h) */
  clusterSigningDurationMs?: number;
  /** Service ClusterIP range, whose addresses no kubelet serving certificate may name */
  serviceClusterIPRange?: string;
  /** upstream --resource-quota-sync-period (5m): how often every quota's usage is recounted */
  resourceQuotaSyncPeriodMs?: number;
}

export interface ControllerManager {
  stop(): Promise<void>;
  /** resolves once controllers run (immediately when not leader-electing and synced) */
  readonly started: Promise<void>;
  isLeader(): boolean;
}

interface Running {
  informers: InformerFactory;
  controllers: Controller[];
  podgc?: PodGCController;
  recorders: EventRecorder[];
  csrCleaner?: CSRCleaner;
}

async function runControllers(o: ControllerManagerOptions): Promise<Running> {
  const informers = new InformerFactory(o.client);
  const recorders = new Map<string, EventRecorder>();
  const recorder = (component: string) => {
    let r = recorders.get(component);
    if (!r) recorders.set(component, (r = new EventRecorder(o.client, { component })));
    return r;
  };
  const ctx: ControllerContext = { client: o.client, informers, recorder };
  const want = new Set<ControllerName>(o.controllers ?? ALL_CONTROLLERS);
  const controllers: Controller[] = [];
  if (want.has('replicationcontroller')) controllers.push(new ReplicaSetController(ctx, REPLICATION_CONTROLLER));
  if (want.has('replicaset')) controllers.push(new ReplicaSetController(ctx, REPLICA_SET));
  if (want.has('deployment')) controllers.push(new DeploymentController(ctx));
  if (want.has('daemonset')) controllers.push(new DaemonSetController(ctx));
  if (want.has('endpoints')) controllers.push(new EndpointsController(ctx));
  if (want.has('endpointslicemirroring')) controllers.push(new EndpointSliceMirroringController(ctx));
  if (want.has('nodelifecycle')) {
    controllers.push(
      new NodeLifecycleController(ctx, {
        gracePeriodMs: o.nodeMonitorGracePeriodMs,
        monitorPeriodMs: o.nodeMonitorPeriodMs,
        podEvictionTimeoutMs: o.podEvictionTimeoutMs,
      }),
    );
  }
  if (want.has('nodeipam') && o.clusterCIDR) controllers.push(new NodeIpamController(ctx, o.clusterCIDR, o.nodeCIDRMaskSize ?? 24));
  if (want.has('namespace')) controllers.push(new NamespaceController(ctx));
  if (want.has('garbagecollector')) controllers.push(new GarbageCollector(ctx));
  if (want.has('resourcequota')) controllers.push(new ResourceQuotaController(ctx, { syncPeriodMs: o.resourceQuotaSyncPeriodMs }));
  if (want.has('root-ca-cert-publisher')) {
    const rootCA = o.rootCA ?? o.client.config.caPem;
    if (rootCA) controllers.push(new RootCACertPublisher(ctx, rootCA));
    else logger('controller-manager').warn('no root CA (neither --root-ca-file nor a CA in the kubeconfig): kube-root-ca.crt is not published');
  }
  if (want.has('serviceaccount')) controllers.push(new ServiceAccountsController(ctx));
  if (want.has('csrapproving')) controllers.push(new CSRApprovingController(ctx, { serviceClusterIPRange: o.serviceClusterIPRange }));
  if (want.has('csrsigning')) {
    if (o.clusterSigningCertFile && o.clusterSigningKeyFile) {
      controllers.push(new CSRSigningController(ctx, { certFile: o.clusterSigningCertFile, keyFile: o.clusterSigningKeyFile, durationMs: o.clusterSigningDurationMs }));
    } else {
      logger('controller-manager').warn('skipping the CSR signer: no --cluster-signing-cert-file and --cluster-signing-key-file');
    }
  }
  if (want.has('tokencleaner')) controllers.push(new TokenCleaner(ctx));
  let csrCleaner: CSRCleaner | undefined;
  if (want.has('csrcleaner')) {
    csrCleaner = new CSRCleaner(ctx);
    csrCleaner.register();
  }
  let podgc: PodGCController | undefined;
  if (want.has('podgc')) {
    podgc = new PodGCController(ctx, { terminatedPodThreshold: o.terminatedPodGCThreshold, periodMs: o.podGCPeriodMs });
    podgc.register();
  }
  for (const c of controllers) c.register();
  informers.start();
  // act only on a complete picture: a controller acting on a half-listed cache would
  // create pods that already exist
  await informers.waitForSync();
  for (const c of controllers) c.run();
  podgc?.run();
  csrCleaner?.run();
  return { informers, controllers, podgc, csrCleaner, recorders: [...recorders.values()] };
}

async function stopControllers(r: Running): Promise<void> {
  r.informers.stop();
  await r.podgc?.stop();
  await r.csrCleaner?.stop();
  await Promise.all(r.controllers.map((c) => c.stop()));
  await Promise.all(r.recorders.map((e) => e.flush()));
}

export function startControllerManager(o: ControllerManagerOptions): ControllerManager {
  return runWhileLeader({
    client: o.client,
    name: 'kube-controller-manager',
    leaderElect: o.leaderElect,
    identity: o.leaderElectIdentity,
    leaseDurationMs: o.leaseDurationMs,
    start: async () => {
      const r = await runControllers(o);
      logger('controller-manager').info({ controllers: r.controllers.map((c) => c.name) }, 'controllers started');
      return r;
    },
    stop: stopControllers,
  });
}

/**
 * A `components` entry for startControlPlane (control-plane/apiserver/index.ts): runs the
 * controller manager in-process against the control plane's admin kubeconfig.
 */
export function controllerManagerComponent(
  o: Omit<ControllerManagerOptions, 'client'> = { leaderElect: true, clusterCIDR: '10.244.0.0/16' },
): (cp: { adminKubeconfig: string; pkiDir?: string }) => Promise<{ stop(): Promise<void> }> {
  return async (cp) => {
    const client = new Client(loadClientConfig({ kubeconfig: cp.adminKubeconfig }));
    // In the control plane's process the signer uses its CA, as kubeadm points kube-controller-manager at pki/ca.{crt,key}.
    const signing = cp.pkiDir ? { clusterSigningCertFile: join(cp.pkiDir, 'ca.crt'), clusterSigningKeyFile: join(cp.pkiDir, 'ca.key') } : {};
    const m = startControllerManager({ ...signing, ...o, client });
    return {
      stop: async () => {
        await m.stop();
        client.close();
      },
    };
  };
}
