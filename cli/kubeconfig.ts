import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { durationFlag } from './flags.js';

/**
 * The server of the current context of a kubeconfig: the apiserver writes its admin.kubeconfig
 * on every start with the URL it actually serves (its --secure-port, or the port it got for 0).
 */
export async function serverOf(kubeconfigPath: string): Promise<string> {
  const { loadClientConfig } = await import('../client/config.js');
  return loadClientConfig({ kubeconfig: kubeconfigPath }).server;
}

export function register(program: Command): void {
  program
    .command('kubeconfig')
    .description('Print a kubeconfig (embedded certificates) for a control plane data dir: the admin\'s, or with --user a new user\'s (as kubeadm kubeconfig user)')
    .requiredOption('--data-dir <dir>', 'the control plane data dir')
    .option('--server <url>', 'apiserver URL (default: where that control plane listens, from the admin.kubeconfig it wrote)')
    .option('--user <name>', 'mint a client certificate for this user (its CN), signed by the cluster CA')
    .option('--group <group>', 'a group of the user (its certificate\'s O); repeatable', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .addOption(durationFlag('--expiration <duration>', 'lifetime of the user\'s certificate', '8760h0m0s'))
    .action(async (o: { dataDir: string; server?: string; user?: string; group: string[]; expiration: number }) => {
      const { renderKubeconfig } = await import('../control-plane/apiserver/kubeconfig.js');
      const pki = join(o.dataDir, 'pki');
      const read = (f: string) => readFile(join(pki, f), 'utf8');
      const fail = (msg: string, code = 1) => {
        process.stderr.write(`k8ts kubeconfig: ${msg}\n`);
        process.exit(code);
      };
      if (o.user === undefined && o.group.length) fail('--group needs --user', 2);
      if (o.user !== undefined && o.user.trim() === '') fail('--user must not be empty', 2);
      if (o.user !== undefined && !(o.expiration > 0)) fail('--expiration must be greater than 0', 2);
      let server = o.server;
      try {
        server ??= await serverOf(join(o.dataDir, 'admin.kubeconfig'));
      } catch (err) {
        fail(`cannot tell where the control plane of ${o.dataDir} listens (start it once first, or give --server): ${(err as Error).message}`);
        return;
      }
      if (o.user !== undefined) {
        const { issueFromDataDir } = await import('../control-plane/apiserver/pki.js');
        try {
          const { caPem, ...client } = await issueFromDataDir(o.dataDir, { cn: o.user, orgs: o.group, client: true, validityMs: o.expiration });
          process.stdout.write(renderKubeconfig({ server, caPem, user: o.user, client }));
        } catch (err) {
          fail((err as Error).message);
        }
        return;
      }
      try {
        const [caPem, certPem, keyPem] = await Promise.all([read('ca.crt'), read('admin.crt'), read('admin.key')]);
        process.stdout.write(renderKubeconfig({ server, caPem, user: 'kubernetes-admin', client: { certPem, keyPem } }));
      } catch (err) {
        fail(`no PKI in ${pki} (start the control plane once first): ${(err as Error).message}`);
      }
    });
}
