import type { Command } from 'commander';
import { logger, setLogLevel } from '../api/log.js';
import { boolFlag, intFlag, logLevelFlag } from './flags.js';
import { exitOnSignal } from './shutdown.js';

export function register(program: Command): void {
  program
    .command('scheduler')
    .description('Run the scheduler as its own process against an apiserver')
    .option('--context <name>', 'the kubeconfig context to use (default: its current-context)')
    .requiredOption('--kubeconfig <file>', 'kubeconfig of the apiserver to schedule for')
    .addOption(boolFlag('--leader-elect <bool>', 'hold kube-system/kube-scheduler before scheduling', 'true'))
    .option('--scheduler-name <name>', 'pods with this spec.schedulerName are ours', 'default-scheduler')
    .addOption(intFlag('--bind-concurrency <n>', 'binds in flight at once', '64', 1))
    .addOption(intFlag('--percentage-of-nodes-to-score <n>', '0 = adaptive, as upstream', '0', 0, 100))
    .addOption(logLevelFlag())
    .action(async (o) => {
      setLogLevel(o.logLevel);
      const { Client, ConfigError, loadClientConfig } = await import('../client/index.js');
      const { startScheduler } = await import('../control-plane/scheduler/index.js');
      let client;
      try {
        client = new Client({ ...loadClientConfig({ kubeconfig: o.kubeconfig, context: o.context }), userAgent: 'k8ts-scheduler/v1.32.0' });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`k8ts scheduler: --kubeconfig: ${err.message}\n`);
        process.exit(1);
      }
      const s = startScheduler({
        client,
        leaderElect: o.leaderElect,
        schedulerName: o.schedulerName,
        bindConcurrency: o.bindConcurrency,
        percentageOfNodesToScore: o.percentageOfNodesToScore,
      });
      exitOnSignal(logger('scheduler'), () => s.stop());
    });
}
