import './harden.js';
import { Command, CommanderError } from 'commander';
import { exitOnKnownError } from './errors.js';

const program = new Command();
program.name('k8ts').description('A small, real Kubernetes in TypeScript').version('0.1.0');
// A bad flag (unknown, missing, or a value its parser rejects) is one line and exit 2, as a
// usage error; --help and --version exit 0. Subcommands inherit both settings.
program.configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'k8ts: ')) });
program.exitOverride((err: CommanderError) => {
  process.exit(err.exitCode === 0 ? 0 : 2);
});

// Each subcommand lives in its own cli/<name>.ts exporting `register(program)`. Only the
// module of the command being run is loaded: a long-running control plane or agent should
// not carry every other command's dependencies in its resident memory.
type Module = Promise<{ register: (p: Command) => void }>;
const MODULES: Record<string, () => Module> = {
  'control-plane': () => import('./control-plane.js'),
  kubeconfig: () => import('./kubeconfig.js'),
  token: () => import('./token.js'),
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
  if (loaded.has(m)) continue; // up/down share a module
  loaded.add(m);
  m.register(program);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  // Startup mistakes (port in use, not root, runtime or etcd down) are one line and exit 1.
  exitOnKnownError(err, wanted);
}
