import type { Command } from 'commander';
import { setLogLevel, logger } from '../api/log.js';
import { exitOnSignal } from './shutdown.js';
import { DurationError, parseDuration } from '../api/duration.js';

function badFlag(msg: string): never {
  process.stderr.write(`k8ts control-plane: ${msg}\n`);
  process.exit(2);
}

function nonNegativeInt(v: string, flag: string): number {
  if (!/^\d+$/.test(v)) badFlag(`invalid argument ${JSON.stringify(v)} for ${flag}: must be a non-negative integer`);
  return Number(v);
}

function durationFlag(v: string, flag: string): number {
  try {
    const ms = parseDuration(v);
    if (ms < 0) badFlag(`invalid argument ${JSON.stringify(v)} for ${flag}: must not be negative`);
    return ms;
  } catch (err) {
    if (err instanceof DurationError) badFlag(`invalid argument ${JSON.stringify(v)} for ${flag}: ${err.message}`);
    throw err;
  }
}

export function register(program: Command): void {
  program
    .command('control-plane')
    .description('Run the control plane (Kubernetes-compatible apiserver over HTTPS)')
    .requiredOption('--data-dir <dir>', 'state directory (PKI, embedded store, tokens)')
    .option('--etcd-servers <urls>', 'comma-separated etcd URLs (default: embedded SQLite store in the data dir)')
    .option('--etcd-prefix <prefix>', 'prefix of every key in etcd (store keys /registry/... go below it)', '/k8ts')
    .option('--bind-address <ip>', 'address to listen on', '0.0.0.0')
    .option('--advertise-address <ip>', 'address other nodes reach the apiserver at', '127.0.0.1')
    .option('--secure-port <port>', 'HTTPS port (0 = any free port)', '6443')
    .option('--service-cluster-ip-range <cidr>', 'ClusterIP range', '10.96.0.0/12')
    .option('--service-node-port-range <range>', 'NodePort range', '30000-32767')
    .option('--tls-san <names>', 'extra serving certificate SANs (comma-separated)', '')
    .option('--cluster-cidr <cidr>', 'pod CIDR of the cluster; a /24 per node is allocated from it', '10.244.0.0/16')
    .option('--node-monitor-grace-period <seconds>', 'a node whose Lease is older than this goes Ready=Unknown', '40')
    .option('--pod-eviction-timeout <seconds>', 'default NoExecute toleration of pods on unreachable nodes', '300')
    .option('--max-requests-inflight <n>', 'read-only requests served at once before 429 (0 = no limit)', '400')
    .option('--max-mutating-requests-inflight <n>', 'mutating requests served at once before 429 (0 = no limit)', '200')
    .option('--request-timeout <duration>', 'non-long-running requests taking longer get a 504 (Go duration)', '1m0s')
    .option('--no-scheduler', 'do not run the scheduler in this process (run `k8ts scheduler`)')
    .option('--no-controllers', 'do not run the controllers in this process (run `k8ts controller-manager`)')
    .option('--log-level <level>', 'log level', process.env.K8TS_LOG_LEVEL ?? 'info')
    .action(async (o) => {
      setLogLevel(o.logLevel);
      const { startControlPlane } = await import('../control-plane/apiserver/index.js');
      // client-node (~30 MB resident with its generated API classes) only when an in-process
      // component needs a client: not for an apiserver run alone.
      const adminKubeConfig = async (path: string) => {
        const { KubeConfig } = await import('@kubernetes/client-node');
        const kc = new KubeConfig();
        kc.loadFromFile(path);
        return kc;
      };
      // Scheduler and controllers are ordinary API clients of the apiserver (admin identity),
      // started in-process by default, with leader election so several control planes can run.
      const components: NonNullable<Parameters<typeof startControlPlane>[0]['components']> = [];
      if (o.scheduler) {
        components.push(async (cp) => {
          const { startScheduler } = await import('../control-plane/scheduler/index.js');
          return startScheduler({ kubeConfig: await adminKubeConfig(cp.adminKubeconfig), leaderElect: true });
        });
      }
      if (o.controllers) {
        components.push(async (cp) => {
          const { startControllerManager } = await import('../control-plane/controllers/index.js');
          return startControllerManager({
            kubeConfig: await adminKubeConfig(cp.adminKubeconfig),
            leaderElect: true,
            clusterCIDR: o.clusterCidr,
            nodeMonitorGracePeriodMs: Number(o.nodeMonitorGracePeriod) * 1000,
            podEvictionTimeoutMs: Number(o.podEvictionTimeout) * 1000,
          });
        });
      }
      const cp = await startControlPlane({
        dataDir: o.dataDir,
        etcdServers: o.etcdServers ? String(o.etcdServers).split(',').filter(Boolean) : undefined,
        etcdPrefix: o.etcdPrefix || undefined,
        bindAddress: o.bindAddress,
        advertiseAddress: o.advertiseAddress,
        securePort: Number(o.securePort),
        serviceClusterIPRange: o.serviceClusterIpRange,
        serviceNodePortRange: o.serviceNodePortRange,
        tlsSans: String(o.tlsSan).split(',').filter(Boolean),
        maxRequestsInflight: nonNegativeInt(o.maxRequestsInflight, '--max-requests-inflight'),
        maxMutatingRequestsInflight: nonNegativeInt(o.maxMutatingRequestsInflight, '--max-mutating-requests-inflight'),
        requestTimeoutMs: durationFlag(o.requestTimeout, '--request-timeout'),
        components,
      });
      await cp.ready;
      // One line on stdout that scripts and tests wait for.
      process.stdout.write(`k8ts control plane ready at ${cp.url} (kubeconfig: ${cp.adminKubeconfig})\n`);
      exitOnSignal(logger('control-plane'), () => cp.stop());
    });
}
