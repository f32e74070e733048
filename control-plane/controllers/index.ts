// The controller manager: every controller on one shared set of informers, started when
// this instance holds the kube-system/kube-controller-manager Lease (or at once without
// leader election). The informers and the leader election run with the manager's own
// identity (system:kube-controller-manager); each controller acts as its service account
// in kube-system (upstream's --use-service-account-credentials), authorized by its
// system:controller:* role. Upstream gets those accounts' tokens; k8ts impersonates them,
// which the bootstrap policy lets the manager do for exactly these accounts.
import { join } from 'node:path';
import { logger } from '../../api/log.js';
import { serviceAccountUsername } from '../../api/rbac.js';
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
import { ClusterRoleAggregationController } from './clusterroleaggregation.js';

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
  'clusterrole-aggregation',
] as const;
export type ControllerName = (typeof ALL_CONTROLLERS)[number];

/** The service account (in kube-system) each controller acts as: upstream's names. */
export const CONTROLLER_SERVICE_ACCOUNTS: Record<ControllerName, string> = {
  replicationcontroller: 'replication-controller',
  replicaset: 'replicaset-controller',
  deployment: 'deployment-controller',
  daemonset: 'daemon-set-controller',
  endpoints: 'endpoint-controller',
  endpointslicemirroring: 'endpointslicemirroring-controller',
  nodelifecycle: 'node-controller',
  nodeipam: 'node-controller',
  namespace: 'namespace-controller',
  garbagecollector: 'generic-garbage-collector',
  podgc: 'pod-garbage-collector',
  resourcequota: 'resourcequota-controller',
  'root-ca-cert-publisher': 'root-ca-cert-publisher',
  serviceaccount: 'service-account-controller',
  csrapproving: 'certificate-controller',
  csrsigning: 'certificate-controller',
  csrcleaner: 'certificate-controller',
  tokencleaner: 'token-cleaner',
  'clusterrole-aggregation': 'clusterrole-aggregation-controller',
};

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
  /**
   * upstream --use-service-account-credentials (default true here, as kubeadm runs it): each
   * controller acts as its service account; false: every controller acts as `client` itself,
   * which then needs every controller's rights.
   */
  useServiceAccountCredentials?: boolean;
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
  clients: Client[];
}

async function runControllers(o: ControllerManagerOptions): Promise<Running> {
  const informers = new InformerFactory(o.client);
  const recorders = new Map<string, EventRecorder>();
  const clients = new Map<string, Client>();
  const clientOf = (sa: string): Client => {
    if (o.useServiceAccountCredentials === false) return o.client;
    let c = clients.get(sa);
    if (!c) clients.set(sa, (c = new Client({ ...o.client.config, impersonate: { user: serviceAccountUsername('kube-system', sa) } })));
    return c;
  };
  const ctxOf = (name: ControllerName): ControllerContext => {
    const client = clientOf(CONTROLLER_SERVICE_ACCOUNTS[name]);
    const recorder = (component: string) => {
      const key = `${CONTROLLER_SERVICE_ACCOUNTS[name]}/${component}`;
      let r = recorders.get(key);
      if (!r) recorders.set(key, (r = new EventRecorder(client, { component })));
      return r;
    };
    return { client, informers, recorder, rootClient: o.client, clientAs: clientOf };
  };
  const want = new Set<ControllerName>(o.controllers ?? ALL_CONTROLLERS);
  const controllers: Controller[] = [];
  if (want.has('replicationcontroller')) controllers.push(new ReplicaSetController(ctxOf('replicationcontroller'), REPLICATION_CONTROLLER));
  if (want.has('replicaset')) controllers.push(new ReplicaSetController(ctxOf('replicaset'), REPLICA_SET));
  if (want.has('deployment')) controllers.push(new DeploymentController(ctxOf('deployment')));
  if (want.has('daemonset')) controllers.push(new DaemonSetController(ctxOf('daemonset')));
  if (want.has('endpoints')) controllers.push(new EndpointsController(ctxOf('endpoints')));
  if (want.has('endpointslicemirroring')) controllers.push(new EndpointSliceMirroringController(ctxOf('endpointslicemirroring')));
  if (want.has('nodelifecycle')) {
    controllers.push(
      new NodeLifecycleController(ctxOf('nodelifecycle'), {
        gracePeriodMs: o.nodeMonitorGracePeriodMs,
        monitorPeriodMs: o.nodeMonitorPeriodMs,
        podEvictionTimeoutMs: o.podEvictionTimeoutMs,
      }),
    );
  }
  if (want.has('nodeipam') && o.clusterCIDR) controllers.push(new NodeIpamController(ctxOf('nodeipam'), o.clusterCIDR, o.nodeCIDRMaskSize ?? 24));
  if (want.has('namespace')) controllers.push(new NamespaceController(ctxOf('namespace')));
  if (want.has('garbagecollector')) controllers.push(new GarbageCollector(ctxOf('garbagecollector')));
  if (want.has('resourcequota')) controllers.push(new ResourceQuotaController(ctxOf('resourcequota'), { syncPeriodMs: o.resourceQuotaSyncPeriodMs }));
  if (want.has('root-ca-cert-publisher')) {
    const rootCA = o.rootCA ?? o.client.config.caPem;
    if (rootCA) controllers.push(new RootCACertPublisher(ctxOf('root-ca-cert-publisher'), rootCA));
    else logger('controller-manager').warn('no root CA (neither --root-ca-file nor a CA in the kubeconfig): kube-root-ca.crt is not published');
  }
  if (want.has('serviceaccount')) controllers.push(new ServiceAccountsController(ctxOf('serviceaccount')));
  if (want.has('csrapproving')) controllers.push(new CSRApprovingController(ctxOf('csrapproving'), { serviceClusterIPRange: o.serviceClusterIPRange }));
  if (want.has('csrsigning')) {
    if (o.clusterSigningCertFile && o.clusterSigningKeyFile) {
      controllers.push(new CSRSigningController(ctxOf('csrsigning'), { certFile: o.clusterSigningCertFile, keyFile: o.clusterSigningKeyFile, durationMs: o.clusterSigningDurationMs }));
    } else {
      logger('controller-manager').warn('skipping the CSR signer: no --cluster-signing-cert-file and --cluster-signing-key-file');
    }
  }
  if (want.has('tokencleaner')) controllers.push(new TokenCleaner(ctxOf('tokencleaner')));
  let csrCleaner: CSRCleaner | undefined;
  if (want.has('csrcleaner')) {
    csrCleaner = new CSRCleaner(ctxOf('csrcleaner'));
    csrCleaner.register();
  }
  let podgc: PodGCController | undefined;
  if (want.has('podgc')) {
    podgc = new PodGCController(ctxOf('podgc'), { terminatedPodThreshold: o.terminatedPodGCThreshold, periodMs: o.podGCPeriodMs });
    podgc.register();
  }
  if (want.has('clusterrole-aggregation')) controllers.push(new ClusterRoleAggregationController(ctxOf('clusterrole-aggregation')));
  for (const c of controllers) c.register();
  informers.start();
  // act only on a complete picture: a controller acting on a half-listed cache would
  // create pods that already exist
  await informers.waitForSync();
  for (const c of controllers) c.run();
  podgc?.run();
  csrCleaner?.run();
  return { informers, controllers, podgc, csrCleaner, recorders: [...recorders.values()], clients: [...clients.values()] };
}

async function stopControllers(r: Running): Promise<void> {
  r.informers.stop();
  await r.podgc?.stop();
  await r.csrCleaner?.stop();
  await Promise.all(r.controllers.map((c) => c.stop()));
  await Promise.all(r.recorders.map((e) => e.flush()));
  for (const c of r.clients) c.close();
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
