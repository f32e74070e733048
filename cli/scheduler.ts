import type { Command } from 'commander';
import { logger, setLogLevel } from '../api/log.js';
import { boolFlag, intFlag, logLevelFlag } from './flags.js';
import { exitOnSignal } from './shutdown.js';

export function register(program: Command): void {
  program
    .command('scheduler')
    .description('Run the scheduler as its own process against an apiserver')
    .requiredOption('--kubeconfig <file>', 'kubeconfig of the apiserver to schedule for')
    .addOption(boolFlag('--leader-elect <bool>', 'hold kube-system/kube-scheduler before scheduling', 'true'))
    .option('--scheduler-name <name>', 'pods with this spec.schedulerName are ours', 'default-scheduler')
    .addOption(intFlag('--bind-concurrency <n>', 'binds in flight at once', '64', 1))
    .addOption(intFlag('--percentage-of-nodes-to-score <n>', '0 = adaptive, as upstream', '0', 0, 100))
    .addOption(logLevelFlag())
    .action(async (o) => {
      setLogLevel(o.logLevel);
      const { KubeConfig } = await import('@kubernetes/client-node');
      const { startScheduler } = await import('../control-plane/scheduler/index.js');
      const kc = new KubeConfig();
      kc.loadFromFile(o.kubeconfig);
      const s = startScheduler({
        kubeConfig: kc,
        leaderElect: o.leaderElect,
        schedulerName: o.schedulerName,
        bindConcurrency: o.bindConcurrency,
        percentageOfNodesToScore: o.percentageOfNodesToScore,
      });
      exitOnSignal(logger('scheduler'), () => s.stop());
    });
}
