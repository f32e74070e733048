import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { logger, setLogLevel } from '../api/log.js';
import { boolFlag, durationFlag, flag, intFlag, logLevelFlag, parseCIDRFlag } from './flags.js';
import { exitOnSignal } from './shutdown.js';

export function register(program: Command): void {
  program
    .command('controller-manager')
    .description('Run the controllers (replication, deployment, endpoints, node lifecycle, IPAM, namespace, GC...) as their own process')
    .option('--context <name>', 'the kubeconfig context to use (default: its current-context)')
    .requiredOption('--kubeconfig <file>', 'kubeconfig of the apiserver')
    .addOption(boolFlag('--leader-elect <bool>', 'hold kube-system/kube-controller-manager before acting', 'true'))
    .addOption(flag('--cluster-cidr <cidr>', 'pod CIDR to give each node a /24 of ("" disables node IPAM)', (v) => (v === '' ? '' : parseCIDRFlag(v)), '10.244.0.0/16'))
    .addOption(intFlag('--node-cidr-mask-size <n>', 'prefix length of each node pod CIDR', '24', 1, 32))
    .addOption(durationFlag('--node-monitor-grace-period <duration>', 'lease age after which a node is unreachable', '40s'))
    .addOption(durationFlag('--pod-eviction-timeout <duration>', 'eviction delay for pods on unreachable nodes (caps tolerationSeconds when given)'))
    .addOption(intFlag('--terminated-pod-gc-threshold <n>', 'finished pods kept before the oldest are deleted (0 or less: never)', '12500'))
    .option('--root-ca-file <file>', 'CA published as kube-root-ca.crt in every namespace (default: the kubeconfig\'s CA)')
    .option('--controllers <list>', 'comma-separated subset to run (default all)')
    .addOption(boolFlag('--use-service-account-credentials <bool>', "each controller acts as its service account in kube-system (false: as the kubeconfig's user)", 'true'))
    .option('--cluster-signing-cert-file <file>', 'PEM CA certificate the CSR signer issues kubelet and client certificates with')
    .option('--cluster-signing-key-file <file>', 'PEM private key of that CA')
    .addOption(durationFlag('--cluster-signing-duration <duration>', 'lifetime of the certificates it issues', '8760h0m0s'))
    .addOption(flag('--service-cluster-ip-range <cidr>', 'Service ClusterIP range (no kubelet serving certificate may name its addresses)', parseCIDRFlag, '10.96.0.0/12'))
    .addOption(durationFlag('--resource-quota-sync-period <duration>', 'how often every ResourceQuota\'s usage is recounted', '5m0s'))
    .addOption(logLevelFlag())
    .action(async (o) => {
      setLogLevel(o.logLevel);
      const { Client, ConfigError, loadClientConfig } = await import('../client/index.js');
      const { startControllerManager, ALL_CONTROLLERS } = await import('../control-plane/controllers/index.js');
      let client;
      try {
        client = new Client({ ...loadClientConfig({ kubeconfig: o.kubeconfig, context: o.context }), userAgent: 'k8ts-controller-manager/v1.32.0' });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`k8ts controller-manager: --kubeconfig: ${err.message}\n`);
        process.exit(1);
      }
      const controllers = o.controllers ? String(o.controllers).split(',').filter(Boolean) : undefined;
      for (const c of controllers ?? []) {
        if (!(ALL_CONTROLLERS as readonly string[]).includes(c)) {
          process.stderr.write(`k8ts: --controllers: unknown controller ${c}; known: ${ALL_CONTROLLERS.join(', ')}\n`);
          process.exit(2);
        }
      }
      const m = startControllerManager({
        client,
        leaderElect: o.leaderElect,
        clusterCIDR: o.clusterCidr,
        nodeCIDRMaskSize: o.nodeCidrMaskSize,
        nodeMonitorGracePeriodMs: o.nodeMonitorGracePeriod,
        podEvictionTimeoutMs: o.podEvictionTimeout,
        terminatedPodGCThreshold: o.terminatedPodGcThreshold,
        rootCA: o.rootCaFile ? readFileSync(o.rootCaFile, 'utf8') : undefined,
        controllers: controllers as never,
        useServiceAccountCredentials: o.useServiceAccountCredentials,
        clusterSigningCertFile: o.clusterSigningCertFile,
        clusterSigningKeyFile: o.clusterSigningKeyFile,
        clusterSigningDurationMs: o.clusterSigningDuration,
        serviceClusterIPRange: o.serviceClusterIpRange,
        resourceQuotaSyncPeriodMs: o.resourceQuotaSyncPeriod,
      });
      exitOnSignal(logger('controller-manager'), () => m.stop());
    });
}
