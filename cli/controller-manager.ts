import type { Command } from 'commander';
import { parseDuration } from '../api/duration.js';
import { logger, setLogLevel } from '../api/log.js';
import { exitOnSignal } from './shutdown.js';

function duration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(s).trim());
  if (!m) throw new Error(`invalid duration ${s} (use e.g. 40s, 500ms, 5m)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

export function register(program: Command): void {
  program
    .command('controller-manager')
    .description('Run the controllers (replication, deployment, endpoints, node lifecycle, IPAM, namespace, GC...) as their own process')
    .requiredOption('--kubeconfig <file>', 'kubeconfig of the apiserver')
    .option('--leader-elect <bool>', 'hold kube-system/kube-controller-manager before acting', 'true')
    .option('--cluster-cidr <cidr>', 'pod CIDR to give each node a /24 of ("" disables node IPAM)', '10.244.0.0/16')
    .option('--node-cidr-mask-size <n>', 'prefix length of each node pod CIDR', '24')
    .option('--node-monitor-grace-period <d>', 'lease age after which a node is unreachable', '40s')
    .option('--pod-eviction-timeout <d>', 'eviction delay for pods on unreachable nodes (caps tolerationSeconds when given)')
    .option('--terminated-pod-gc-threshold <n>', 'finished pods kept before the oldest are deleted', '12500')
    .option('--controllers <list>', 'comma-separated subset to run (default all)')
    .option('--cluster-signing-cert-file <file>', 'PEM CA certificate the CSR signer issues kubelet and client certificates with')
    .option('--cluster-signing-key-file <file>', 'PEM private key of that CA')
    .option('--cluster-signing-duration <duration>', 'lifetime of the certificates it issues', '8760h0m0s')
    .option('--service-cluster-ip-range <cidr>', 'Service ClusterIP range (no kubelet serving certificate may name its addresses)', '10.96.0.0/12')
    .option('--log-level <level>', 'log level', process.env.K8TS_LOG_LEVEL ?? 'info')
    .action(async (o) => {
      setLogLevel(o.logLevel);
      const { KubeConfig } = await import('@kubernetes/client-node');
      const { startControllerManager, ALL_CONTROLLERS } = await import('../control-plane/controllers/index.js');
      const kc = new KubeConfig();
      kc.loadFromFile(o.kubeconfig);
      const controllers = o.controllers ? String(o.controllers).split(',').filter(Boolean) : undefined;
      for (const c of controllers ?? []) {
        if (!(ALL_CONTROLLERS as readonly string[]).includes(c)) throw new Error(`unknown controller ${c}; known: ${ALL_CONTROLLERS.join(', ')}`);
      }
      const m = startControllerManager({
        kubeConfig: kc,
        leaderElect: o.leaderElect !== 'false',
        clusterCIDR: o.clusterCidr,
        nodeCIDRMaskSize: Number(o.nodeCidrMaskSize),
        nodeMonitorGracePeriodMs: duration(o.nodeMonitorGracePeriod),
        podEvictionTimeoutMs: o.podEvictionTimeout ? duration(o.podEvictionTimeout) : undefined,
        terminatedPodGCThreshold: Number(o.terminatedPodGcThreshold),
        controllers: controllers as never,
        clusterSigningCertFile: o.clusterSigningCertFile,
        clusterSigningKeyFile: o.clusterSigningKeyFile,
        clusterSigningDurationMs: parseDuration(o.clusterSigningDuration),
        serviceClusterIPRange: o.serviceClusterIpRange,
      });
      exitOnSignal(logger('controller-manager'), () => m.stop());
    });
}
