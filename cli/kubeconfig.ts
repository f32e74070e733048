import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The server of the current context of a kubeconfig: the apiserver writes its admin.kubeconfig
 * on every start with the URL it actually serves (its --secure-port, or the port it got for 0).
 */
export async function serverOf(kubeconfigPath: string): Promise<string> {
  const { parse } = await import('yaml');
  const kc = parse(await readFile(kubeconfigPath, 'utf8')) as {
    'current-context'?: string;
    contexts?: Array<{ name?: string; context?: { cluster?: string } }>;
    clusters?: Array<{ name?: string; cluster?: { server?: string } }>;
  };
  const ctx = kc.contexts?.find((c) => c.name === kc['current-context']);
  const server = kc.clusters?.find((c) => c.name === ctx?.context?.cluster)?.cluster?.server;
  if (typeof server !== 'string' || server === '') throw new Error(`${kubeconfigPath} names no server`);
  return server;
}

export function register(program: Command): void {
  program
    .command('kubeconfig')
    .description('Print an admin kubeconfig (embedded certificates) for a control plane data dir')
    .requiredOption('--data-dir <dir>', 'the control plane data dir')
    .option('--server <url>', 'apiserver URL (default: where that control plane listens, from the admin.kubeconfig it wrote)')
    .action(async (o: { dataDir: string; server?: string }) => {
      const { renderKubeconfig } = await import('../control-plane/apiserver/kubeconfig.js');
      const pki = join(o.dataDir, 'pki');
      const read = (f: string) => readFile(join(pki, f), 'utf8');
      let server = o.server;
      try {
        server ??= await serverOf(join(o.dataDir, 'admin.kubeconfig'));
      } catch (err) {
        process.stderr.write(`k8ts kubeconfig: cannot tell where the control plane of ${o.dataDir} listens (start it once first, or give --server): ${(err as Error).message}\n`);
        process.exit(1);
      }
      try {
        const [caPem, certPem, keyPem] = await Promise.all([read('ca.crt'), read('admin.crt'), read('admin.key')]);
        process.stdout.write(renderKubeconfig({ server, caPem, user: 'kubernetes-admin', client: { certPem, keyPem } }));
      } catch (err) {
        process.stderr.write(`k8ts kubeconfig: no PKI in ${pki} (start the control plane once first): ${(err as Error).message}\n`);
        process.exit(1);
      }
    });
}
