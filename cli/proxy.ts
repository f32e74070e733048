import type { Command } from 'commander';
import { hostname } from 'node:os';
import { durationFlag, flag, parseCIDRFlag, portFlag } from './flags.js';
import { requireRoot } from './preflight.js';

export function register(program: Command): void {
  program
    .command('proxy')
    .description('Run kube-proxy alone: Services and NodePorts in iptables, nftables or IPVS')
    .option('--kubeconfig <file>', 'kubeconfig to reach the apiserver', process.env.KUBECONFIG)
    .option('--node-name <name>', 'this node', hostname())
    .option('--proxy-mode <mode>', 'iptables | nftables | ipvs', 'iptables')
    .addOption(flag('--cluster-cidr <cidr>', 'pod CIDR of the cluster (traffic from outside it to a ClusterIP is masqueraded)', parseCIDRFlag, '10.244.0.0/16'))
    .addOption(durationFlag('--min-sync-period <duration>', 'shortest time between two syncs', '1s'))
    .addOption(portFlag('--metrics-port <port>', 'serve Prometheus metrics on 127.0.0.1:<port> (0 = off)', '0', true))
    .option('--cleanup', 'remove every rule, chain, table, ipset and IPVS service the proxy wrote, then exit')
    .action(async (o) => {
      const mode = String(o.proxyMode);
      if (!['iptables', 'nftables', 'ipvs'].includes(mode)) {
        process.stderr.write(`k8ts proxy: --proxy-mode must be iptables, nftables or ipvs, not "${mode}"\n`);
        process.exit(2);
      }
      requireRoot('k8ts proxy', 'it writes iptables, nftables and IPVS rules');
      const { startProxy, cleanup } = await import('../agent/proxy/index.js');
      if (o.cleanup) {
        await cleanup();
        process.stdout.write('k8ts proxy: removed all proxy rules (iptables, nftables, ipvs)\n');
        return;
      }
      if (!o.kubeconfig) {
        process.stderr.write('k8ts proxy: --kubeconfig (or KUBECONFIG) is required\n');
        process.exit(2);
      }
      const { KubeClient, credentialsFromKubeconfig } = await import('../agent/kubelet/client.js');
      const h = await startProxy({
        client: new KubeClient(await credentialsFromKubeconfig(o.kubeconfig)),
        nodeName: o.nodeName,
        mode: mode as 'iptables' | 'nftables' | 'ipvs',
        clusterCIDR: o.clusterCidr,
        minSyncPeriodMs: o.minSyncPeriod,
      });
      const port: number = o.metricsPort;
      if (port > 0) {
        const { createServer } = await import('node:http');
        const { register } = await import('prom-client');
        createServer(async (_req, res) => {
          res.setHeader('content-type', register.contentType);
          res.end(await register.metrics());
        }).listen(port, '127.0.0.1');
      }
      const stop = async () => {
        await h.stop();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}
