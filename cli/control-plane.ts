import type { Command } from 'commander';
import { join } from 'node:path';
import { setLogLevel, logger } from '../api/log.js';
import { durationFlag, flag, FlagError, formatPortRange, intFlag, logLevelFlag, parseCIDRFlag, parseIPFlag, parsePortRange, portFlag } from './flags.js';
import { parseAuthorizationModes } from '../control-plane/apiserver/authz/modes.js';

function authorizationModesFlag(v: string) {
  try {
    return parseAuthorizationModes(v);
  } catch (err) {
    throw new FlagError((err as Error).message);
  }
}
import { exitOnSignal } from './shutdown.js';

export function register(program: Command): void {
  program
    .command('control-plane')
    .description('Run the control plane (Kubernetes-compatible apiserver over HTTPS)')
    .requiredOption('--data-dir <dir>', 'state directory (PKI, embedded store, tokens)')
    .option('--etcd-servers <urls>', 'comma-separated etcd URLs (default: embedded SQLite store in the data dir)')
    .option('--etcd-prefix <prefix>', 'prefix of every key in etcd (store keys /registry/... go below it)', '/k8ts')
    .addOption(flag('--bind-address <ip>', 'address to listen on', parseIPFlag, '0.0.0.0'))
    .addOption(flag('--advertise-address <ip>', 'address other nodes reach the apiserver at', parseIPFlag, '127.0.0.1'))
    .addOption(portFlag('--secure-port <port>', 'HTTPS port (0 = any free port)', '6443', true))
    .addOption(flag('--service-cluster-ip-range <cidr>', 'ClusterIP range', parseCIDRFlag, '10.96.0.0/12'))
    .addOption(flag('--service-node-port-range <range>', 'NodePort range', (v) => formatPortRange(parsePortRange(v)), '30000-32767'))
    .option('--tls-san <names>', 'extra serving certificate SANs (comma-separated)', '')
    .option('--encryption-provider-config <file>', 'EncryptionConfiguration (apiserver.config.k8s.io/v1) saying how resources are encrypted in the store')
    .option('--encryption-provider-config-automatic-reload', 'reload --encryption-provider-config when the file changes (default: read once at start)')
    .addOption(flag('--cluster-cidr <cidr>', 'pod CIDR of the cluster; a /24 per node is allocated from it', parseCIDRFlag, '10.244.0.0/16'))
    .addOption(durationFlag('--node-monitor-grace-period <duration>', 'a node whose Lease is older than this goes Ready=Unknown', '40s'))
    .addOption(durationFlag('--pod-eviction-timeout <duration>', 'default NoExecute toleration of pods on unreachable nodes', '5m0s'))
    .addOption(intFlag('--max-requests-inflight <n>', 'read-only requests served at once before 429 (0 = no limit)', '400', 0))
    .addOption(intFlag('--max-mutating-requests-inflight <n>', 'mutating requests served at once before 429 (0 = no limit)', '200', 0))
    .addOption(durationFlag('--request-timeout <duration>', 'non-long-running requests taking longer get a 504', '1m0s'))
    .addOption(flag('--authorization-mode <modes>', 'ordered list of authorizers: AlwaysAllow, AlwaysDeny, Node, RBAC (system:masters is always allowed)', authorizationModesFlag, 'Node,RBAC'))
    .addOption(durationFlag('--cluster-signing-duration <duration>', 'lifetime of the certificates the CSR signer issues', '8760h0m0s'))
    .option('--enable-admission-plugins <names>', 'admission plugins to enable besides the default ones (comma-separated; all of NamespaceLifecycle, LimitRanger, ServiceAccount, NodeRestriction, PodSecurity, ResourceQuota are on by default; they run in that order)', '')
    .option('--disable-admission-plugins <names>', 'admission plugins to turn off (comma-separated)', '')
    .option('--admission-control-config-file <file>', 'AdmissionConfiguration (apiserver.config.k8s.io/v1) with the plugins\' configuration (PodSecurity defaults and exemptions)')
    .addOption(durationFlag('--token-ttl <duration>', "lifetime of the data dir's join token (0: it never expires)", '24h0m0s'))
    .addOption(durationFlag('--resource-quota-sync-period <duration>', 'how often every ResourceQuota\'s usage is recounted', '5m0s'))
    .option('--no-scheduler', 'do not run the scheduler in this process (run `k8ts scheduler`)')
    .option('--no-controllers', 'do not run the controllers in this process (run `k8ts controller-manager`)')
    .addOption(logLevelFlag())
    .action(async (o) => {
      setLogLevel(o.logLevel);
      const { startControlPlane } = await import('../control-plane/apiserver/index.js');
      // The client only when an in-process component needs one: not for an apiserver run alone.
      const clientOf = async (path: string, userAgent: string) => {
        const { Client, loadClientConfig } = await import('../client/index.js');
        return new Client({ ...loadClientConfig({ kubeconfig: path }), userAgent });
      };
      // Scheduler and controllers are ordinary API clients of the apiserver, each with its own
      // identity (system:kube-scheduler, system:kube-controller-manager: the kubeconfigs the
      // apiserver writes into the data dir, as kubeadm does) and its bootstrap RBAC roles;
      // started in-process by default, with leader election so several control planes can run.
      const components: NonNullable<Parameters<typeof startControlPlane>[0]['components']> = [];
      if (o.scheduler) {
        components.push(async (cp) => {
          const { startScheduler } = await import('../control-plane/scheduler/index.js');
          return startScheduler({ client: await clientOf(cp.schedulerKubeconfig, 'k8ts-scheduler/v1.32.0'), leaderElect: true });
        });
      }
      if (o.controllers) {
        components.push(async (cp) => {
          const { startControllerManager } = await import('../control-plane/controllers/index.js');
          return startControllerManager({
            client: await clientOf(cp.controllerManagerKubeconfig, 'k8ts-controller-manager/v1.32.0'),
            leaderElect: true,
            clusterCIDR: o.clusterCidr,
            nodeMonitorGracePeriodMs: o.nodeMonitorGracePeriod,
            podEvictionTimeoutMs: o.podEvictionTimeout,
            clusterSigningCertFile: join(cp.pkiDir, 'ca.crt'),
            clusterSigningKeyFile: join(cp.pkiDir, 'ca.key'),
            clusterSigningDurationMs: o.clusterSigningDuration,
            serviceClusterIPRange: o.serviceClusterIpRange,
            resourceQuotaSyncPeriodMs: o.resourceQuotaSyncPeriod,
          });
        });
      }
      const { EncryptionConfigError } = await import('../control-plane/storage/encryption/config.js');
      const { AdmissionConfigError } = await import('../control-plane/apiserver/admission/chain.js');
      const cp = await startControlPlane({
        dataDir: o.dataDir,
        etcdServers: o.etcdServers ? String(o.etcdServers).split(',').filter(Boolean) : undefined,
        etcdPrefix: o.etcdPrefix || undefined,
        bindAddress: o.bindAddress,
        advertiseAddress: o.advertiseAddress,
        securePort: o.securePort,
        serviceClusterIPRange: o.serviceClusterIpRange,
        serviceNodePortRange: o.serviceNodePortRange,
        tlsSans: String(o.tlsSan).split(',').filter(Boolean),
        encryptionProviderConfig: o.encryptionProviderConfig,
        encryptionProviderConfigAutomaticReload: !!o.encryptionProviderConfigAutomaticReload,
        maxRequestsInflight: o.maxRequestsInflight,
        maxMutatingRequestsInflight: o.maxMutatingRequestsInflight,
        requestTimeoutMs: o.requestTimeout,
        authorizationModes: o.authorizationMode,
        tokenTtlMs: o.tokenTtl,
        enableAdmissionPlugins: String(o.enableAdmissionPlugins).split(',').filter(Boolean),
        disableAdmissionPlugins: String(o.disableAdmissionPlugins).split(',').filter(Boolean),
        admissionControlConfigFile: o.admissionControlConfigFile,
        components,
      }).catch((err: unknown) => {
        // As kube-apiserver: the configuration's own message, and no start.
        if (err instanceof EncryptionConfigError) process.stderr.write(`k8ts control-plane: --encryption-provider-config: ${err.message}\n`);
        else if (err instanceof AdmissionConfigError) process.stderr.write(`k8ts control-plane: ${err.message}\n`);
        else throw err;
        process.exit(1);
      });
      await cp.ready;
      // One line on stdout that scripts and tests wait for.
      process.stdout.write(`k8ts control plane ready at ${cp.url} (kubeconfig: ${cp.adminKubeconfig})\n`);
      exitOnSignal(logger('control-plane'), () => cp.stop());
    });
}
