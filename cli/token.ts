// `k8ts token create|list|delete|generate`: bootstrap tokens as `kubeadm token` manages them
// (Secrets bootstrap-token-<id> in kube-system), over an admin kubeconfig.
import type { Command } from 'commander';
import { join } from 'node:path';
import { parseDuration } from '../api/duration.js';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  DEFAULT_NODE_TOKEN_GROUP,
  DEFAULT_TOKEN_USAGES,
  bootstrapGroupError,
  bootstrapTokenFromSecret,
  bootstrapTokenSecret,
  generateBootstrapToken,
  isBootstrapTokenId,
  parseBootstrapToken,
  secretNameFor,
} from '../api/bootstraptoken.js';
import type { KObject } from '../api/registry.js';

const DEFAULT_KUBECONFIG = '/var/lib/k8ts/admin.kubeconfig';
const SECRETS = `/api/v1/namespaces/${BOOTSTRAP_TOKEN_NAMESPACE}/secrets`;

function fail(msg: string, code = 1): never {
  process.stderr.write(`k8ts token: ${msg}\n`);
  process.exit(code);
}

function kubeconfigOf(o: { kubeconfig?: string; dataDir?: string }): string {
  if (o.kubeconfig) return o.kubeconfig;
  if (o.dataDir) return join(o.dataDir, 'admin.kubeconfig');
  return process.env.KUBECONFIG?.split(':')[0] || DEFAULT_KUBECONFIG;
}

async function client(o: { kubeconfig?: string; dataDir?: string }) {
  const { KubeClient, credentialsFromKubeconfig } = await import('../agent/kubelet/client.js');
  const file = kubeconfigOf(o);
  let creds;
  try {
    creds = await credentialsFromKubeconfig(file);
  } catch (err) {
    fail(`cannot read the kubeconfig ${file}: ${(err as Error).message}`);
  }
  return { kc: new KubeClient(creds), creds };
}

/** duration.ShortHumanDuration */
export function shortHumanDuration(ms: number): string {
  const s = Math.trunc(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 60) return `${s}s`;
  const m = Math.trunc(ms / 60_000);
  if (m < 60) return `${m}m`;
  const h = Math.trunc(ms / 3_600_000);
  if (h < 24) return `${h}h`;
  if (h < 24 * 365) return `${Math.trunc(h / 24)}d`;
  return `${Math.trunc(h / 24 / 365)}y`;
}

/** Go's tabwriter with kubeadm's settings (minwidth 10, padding 3): every column but the last padded. */
export function tabulate(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, Math.max(10, c.length + 3))));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('')).join('\n') + '\n';
}

/** The `kubeadm token list` table for these Secrets at `now`. */
export function tokenTable(secrets: KObject[], now = Date.now()): { table: string; errors: string[] } {
  const rows = [['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS']];
  const errors: string[] = [];
  for (const s of secrets) {
    const t = bootstrapTokenFromSecret(s);
    if (!t) {
      errors.push(`secret ${s.metadata?.namespace}/${s.metadata?.name} is not a valid bootstrap token`);
      continue;
    }
    const exp = t.expires;
    rows.push([
      `${t.id}.${t.secret}`,
      exp === undefined ? '<forever>' : Number.isNaN(exp) ? '<invalid>' : shortHumanDuration(exp - now),
      exp === undefined ? '<never>' : Number.isNaN(exp) ? '<invalid>' : new Date(exp).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      t.usages.join(',') || '<none>',
      t.description ?? '<none>',
      t.groups.join(',') || '<none>',
    ]);
  }
  return { table: tabulate(rows), errors };
}

export function register(program: Command): void {
  const token = program.command('token').description('Manage bootstrap tokens (kubeadm token): the credentials nodes join with');
  const api = (c: Command) =>
    c
      .option('--kubeconfig <file>', `admin kubeconfig (default: $KUBECONFIG, or ${DEFAULT_KUBECONFIG})`)
      .option('--data-dir <dir>', "a control plane's data dir: use its admin.kubeconfig");

  api(
    token
      .command('create [token]')
      .description('Create a bootstrap token (a random one unless given) and print it')
      .option('--ttl <duration>', 'how long the token is valid (0: it never expires)', '24h0m0s')
      .option('--description <text>', 'a human-friendly description of how the token is used')
      .option('--usages <list>', 'comma-separated: signing, authentication', DEFAULT_TOKEN_USAGES.join(','))
      .option('--groups <list>', 'extra groups it authenticates as (system:bootstrappers:...)', DEFAULT_NODE_TOKEN_GROUP)
      .option('--print-join-command', 'print the full `k8ts agent` command that joins a node with this token'),
  ).action(async (given: string | undefined, o) => {
    let ttl: number;
    try {
      ttl = parseDuration(o.ttl);
    } catch (err) {
      fail(`invalid argument ${JSON.stringify(o.ttl)} for "--ttl" flag: ${(err as Error).message}`, 2);
    }
    const tok = given ?? generateBootstrapToken();
    const parts = parseBootstrapToken(tok);
    if (!parts) fail(`the token ${JSON.stringify(tok)} was not of form "^([a-z0-9]{6})\\.([a-z0-9]{16})$"`, 2);
    const usages = String(o.usages).split(',').filter(Boolean);
    for (const u of usages) if (!DEFAULT_TOKEN_USAGES.includes(u)) fail(`invalid bootstrap token usage string: ${u}, valid usage options: ${DEFAULT_TOKEN_USAGES.join(',')}`, 2);
    const groups = String(o.groups).split(',').filter(Boolean);
    for (const g of groups) {
      const bad = bootstrapGroupError(g);
      if (bad) fail(bad, 2);
    }
    const { kc, creds } = await client(o);
    const secret = bootstrapTokenSecret({ id: parts.id, secret: parts.secret, ...(ttl > 0 ? { expires: Date.now() + ttl } : {}), usages, groups, description: o.description });
    try {
      await kc.request('POST', SECRETS, secret);
    } catch (err) {
      const code = (err as { code?: number }).code;
      fail(code === 409 ? `a bootstrap token with id ${JSON.stringify(parts.id)} already exists` : `failed to create the bootstrap token: ${(err as Error).message}`);
    } finally {
      kc.close();
    }
    if (!o.printJoinCommand) {
      process.stdout.write(tok + '\n');
      return;
    }
    if (!creds.caPem) fail('the kubeconfig has no certificate-authority data to pin the CA with');
    const { caCertHash } = await import('../api/csr.js');
    // The token goes in the environment, never in the agent's argv (which every user of the node can read in ps).
    process.stdout.write(`K8TS_JOIN_TOKEN=${tok} k8ts agent --server ${creds.server} --discovery-token-ca-cert-hash ${caCertHash(creds.caPem)}\n`);
  });

  api(token.command('list').description('List bootstrap tokens')).action(async (o) => {
    const { kc } = await client(o);
    try {
      const list = await kc.get<{ items: KObject[] }>(`${SECRETS}?fieldSelector=${encodeURIComponent(`type=${BOOTSTRAP_TOKEN_SECRET_TYPE}`)}`);
      const { table, errors } = tokenTable(list.items ?? []);
      for (const e of errors) process.stderr.write(e + '\n');
      process.stdout.write(table);
    } catch (err) {
      fail(`failed to list bootstrap tokens: ${(err as Error).message}`);
    } finally {
      kc.close();
    }
  });

  api(token.command('delete <id-or-token...>').description('Delete bootstrap tokens (by token id or whole token)')).action(async (ids: string[], o) => {
    const { kc } = await client(o);
    try {
      for (const x of ids) {
        const id = isBootstrapTokenId(x) ? x : parseBootstrapToken(x)?.id;
        if (!id) fail(`given token ${JSON.stringify(x)} didn't match pattern "[a-z0-9]{6}" or "[a-z0-9]{6}\\.[a-z0-9]{16}"`, 2);
        try {
          await kc.request('DELETE', `${SECRETS}/${secretNameFor(id)}`);
        } catch (err) {
          fail(`failed to delete bootstrap token ${JSON.stringify(id)}: ${(err as Error).message}`);
        }
        process.stdout.write(`bootstrap token ${JSON.stringify(id)} deleted\n`);
      }
    } finally {
      kc.close();
    }
  });

  token
    .command('generate')
    .description('Print a random token of the right shape (creates nothing)')
    .action(() => {
      process.stdout.write(generateBootstrapToken() + '\n');
    });
}
