import { Command } from 'commander';

const program = new Command();
program.name('k8ts').description('A small, real Kubernetes in TypeScript').version('0.1.0');

await program.parseAsync(process.argv);
