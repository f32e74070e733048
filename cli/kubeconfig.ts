import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export function register(program: Command): void {
  program
    .command('kubeconfig')
    .description('Print an admin kubeconfig (embedded certificates) for a control plane data dir')
    .requiredOption('--data-dir <dir>', 'the control plane data dir')
    .option('--server <url>', 'apiserver URL', 'https://127.0.0.1:6443')
    .action(async (o) => {
      const { renderKubeconfig } = await import('../control-plane/apiserver/kubeconfig.js');
      const pki = join(o.dataDir, 'pki');
      const read = (f: string) => readFile(join(pki, f), 'utf8');
      try {
        const [caPem, certPem, keyPem] = await Promise.all([read('ca.crt'), read('admin.crt'), read('admin.key')]);
        process.stdout.write(renderKubeconfig({ server: o.server, caPem, user: 'kubernetes-admin', client: { certPem, keyPem } }));
      } catch (err) {
        process.stderr.write(`k8ts kubeconfig: no PKI in ${pki} (start the control plane once first): ${(err as Error).message}\n`);
        process.exit(1);
      }
    });
}
