import { Command } from 'commander';

const program = new Command();
program.name('k8ts').description('A small, real Kubernetes in TypeScript').version('0.1.0');

// Each subcommand lives in its own cli/<name>.ts exporting `register(program)`.
// Add one import + one call per line (edit in place; several engineers touch this list).
const modules: Array<Promise<{ register: (p: Command) => void }>> = [
  import('./agent.js'),
  import('./images.js'),
  import('./control-plane.js'),
  import('./kubeconfig.js'),
  import('./proxy.js'),
  import('./scheduler.js'),
  import('./controller-manager.js'),
  import('./up.js'),
  import('./node.js'),
];
for (const m of await Promise.all(modules)) m.register(program);

await program.parseAsync(process.argv);
