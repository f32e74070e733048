import type { Command } from 'commander';
import { up, down, DEFAULT_STATE_DIR, DEFAULT_RUN_DIR } from './cluster/local.js';
import { topology } from './cluster/topology.js';
import { intFlag } from './flags.js';
import { requireRoot } from './preflight.js';

export function register(program: Command): void {
  program
    .command('up')
    .description('bring up a local cluster: a control plane and workers in network namespaces (the Vagrantfile topology)')
    .addOption(intFlag('--workers <n>', 'number of worker nodes', '2', 0))
    .option('--runtime <kind>', 'container runtime on the workers: cri (containerd) or docker', 'cri')
    .option('--proxy-mode <mode>', 'kube-proxy mode: iptables, nftables or ipvs', 'iptables')
    .option('--state-dir <dir>', 'where the cluster keeps its files', DEFAULT_STATE_DIR)
    .option('--run-dir <dir>', 'sockets and runtime state', DEFAULT_RUN_DIR)
    .action(async (o) => {
      const runtime = o.runtime as string;
      if (runtime !== 'cri' && runtime !== 'docker') fail(`--runtime must be cri or docker (got ${runtime})`);
      if (!['iptables', 'nftables', 'ipvs'].includes(o.proxyMode)) fail(`--proxy-mode must be iptables, nftables or ipvs (got ${o.proxyMode})`);
      requireRoot('k8ts up', 'it creates network namespaces, links and iptables rules');
      try {
        const workers: number = o.workers;
        topology(workers);
        const state = await up({ workers, runtime: runtime as 'cri' | 'docker', proxyMode: o.proxyMode, stateDir: o.stateDir, runDir: o.runDir });
        console.log(`
The cluster is up. Next:
  export KUBECONFIG=${state.kubeconfig}
  kubectl get nodes -o wide
  kubectl create -f examples/guestbook/
  curl http://192.168.56.11:30001/
  npx k8ts down          # removes everything k8ts up made`);
      } catch (err) {
        fail((err as Error).message + '\n(logs: ' + o.stateDir + '/logs; `npx k8ts down` cleans up)');
      }
    });
  program
    .command('down')
    .description('remove every namespace, link, rule, mount, process and file `k8ts up` made')
    .option('--state-dir <dir>', 'the cluster state dir', DEFAULT_STATE_DIR)
    .option('--run-dir <dir>', 'sockets and runtime state', DEFAULT_RUN_DIR)
    .action(async (o) => {
      requireRoot('k8ts down', 'it removes network namespaces, links, mounts and iptables rules');
      try {
        await down(o.stateDir, o.runDir);
      } catch (err) {
        fail((err as Error).message);
      }
    });
}

function fail(msg: string): never {
  console.error(`k8ts: ${msg}`);
  process.exit(1);
}
