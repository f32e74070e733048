import './harden.js';
import { Command } from 'commander';

const program = new Command();
program.name('k8ts').description('A small, real Kubernetes in TypeScript').version('0.1.0');

// Each subcommand lives in its own cli/<name>.ts exporting `register(program)`. Only the
// module of the command being run is loaded: a long-running control plane or agent should
// not carry every other command's dependencies in its resident memory.
type Module = Promise<{ register: (p: Command) => void }>;
const MODULES: Record<string, () => Module> = {
  'control-plane': () => import('./control-plane.js'),
  kubeconfig: () => import('./kubeconfig.js'),
  token: () => import('./kubeconfig.js'),
  agent: () => import('./agent.js'),
  proxy: () => import('./proxy.js'),
  scheduler: () => import('./scheduler.js'),
  'controller-manager': () => import('./controller-manager.js'),
  images: () => import('./images.js'),
  up: () => import('./up.js'),
  down: () => import('./up.js'),
  node: () => import('./node.js'),
};

const wanted = process.argv[2];
const load = wanted && Object.prototype.hasOwnProperty.call(MODULES, wanted) ? [MODULES[wanted]!] : [...new Set(Object.values(MODULES))];
const loaded = new Set<unknown>();
for (const m of await Promise.all(load.map((f) => f()))) {
  if (loaded.has(m)) continue; // kubeconfig/token and up/down share a module
  loaded.add(m);
  m.register(program);
}

await program.parseAsync(process.argv);
