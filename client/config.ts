// Where a client connects and how it authenticates, and how that is found the way kubectl
// and client-go's clientcmd find it: an explicit --kubeconfig file alone, else every file of
// the colon-separated KUBECONFIG merged (the first file to name a cluster, user or context,
// or to set current-context, wins; missing files are skipped), else ~/.kube/config; then
// --context (or current-context) picks the cluster and user. In a pod with none of these,
// the service account mounted at /var/run/secrets/kubernetes.io/serviceaccount is used.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';

// The YAML parser only when a kubeconfig is read: an agent started with a token and a CA
// never pays for it.
const yaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml') as typeof import('yaml');

export interface ClientConfig {
  /** https://host:port (or http:// for a plain listener) */
  server: string;
  caPem?: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
  /** re-read periodically: projected service account tokens rotate */
  tokenFile?: string;
  insecureSkipVerify?: boolean;
  tlsServerName?: string;
  userAgent?: string;
  /** per request (not for watches); default 60 s */
  timeoutMs?: number;
  /** requests in flight to the apiserver at most (watches not counted); default 64 */
  maxSockets?: number;
  /** act as this user (Impersonate-User, Impersonate-Group), as client-go's ImpersonationConfig */
  impersonate?: { user: string; groups?: string[] };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadOptions {
  /** --kubeconfig: this file only (it must exist) */
  kubeconfig?: string;
  /** --context */
  context?: string;
  /** --cluster, --user: override what the context names */
  cluster?: string;
  user?: string;
  /** --server: override the cluster's server */
  server?: string;
  /** defaults to process.env */
  env?: Record<string, string | undefined>;
  /** defaults to os.homedir() */
  home?: string;
  /** defaults to SERVICE_ACCOUNT_DIR */
  serviceAccountDir?: string;
}

type Named<T> = { name: string; value: T };
interface ClusterEntry {
  server?: string;
  'certificate-authority'?: string;
  'certificate-authority-data'?: string;
  'insecure-skip-tls-verify'?: boolean | string;
  'tls-server-name'?: string;
}
interface UserEntry {
  'client-certificate'?: string;
  'client-certificate-data'?: string;
  'client-key'?: string;
  'client-key-data'?: string;
  token?: string;
  tokenFile?: string;
  username?: string;
  password?: string;
  exec?: unknown;
  'auth-provider'?: unknown;
}
interface ContextEntry {
  cluster?: string;
  user?: string;
  namespace?: string;
}

/** A kubeconfig after merging: each entry remembers the file it came from (relative paths). */
export interface MergedKubeconfig {
  currentContext?: string;
  clusters: Map<string, { file: string; cluster: ClusterEntry }>;
  users: Map<string, { file: string; user: UserEntry }>;
  contexts: Map<string, ContextEntry>;
  files: string[];
}

function entries<T>(file: string, doc: Record<string, unknown>, list: string, field: string): Named<T>[] {
  const v = doc[list];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ConfigError(`${file}: ${list} must be a list`);
  return v.map((e: unknown, i) => {
    const o = e as Record<string, unknown> | null;
    if (!o || typeof o.name !== 'string') throw new ConfigError(`${file}: ${list}[${i}] has no name`);
    return { name: o.name, value: (o[field] ?? {}) as T };
  });
}

/** The files kubectl would read, in merge order. */
export function kubeconfigFiles(o: Pick<LoadOptions, 'kubeconfig' | 'env' | 'home'> = {}): string[] {
  if (o.kubeconfig) return [o.kubeconfig];
  const env = o.env ?? process.env;
  const list = env.KUBECONFIG;
  if (list) {
    const seen = new Set<string>();
    return list.split(delimiter).filter((f) => f !== '' && !seen.has(f) && seen.add(f));
  }
  return [join(o.home ?? homedir(), '.kube', 'config')];
}

export function mergeKubeconfigs(files: string[], mustExist: boolean): MergedKubeconfig {
  const out: MergedKubeconfig = { clusters: new Map(), users: new Map(), contexts: new Map(), files: [] };
  for (const file of files) {
    if (!existsSync(file)) {
      if (mustExist) throw new ConfigError(`stat ${file}: no such file or directory`);
      continue;
    }
    let doc: Record<string, unknown>;
    try {
      doc = (yaml().parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`error loading config file "${file}": ${(err as Error).message}`);
    }
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`error loading config file "${file}": not a kubeconfig`);
    out.files.push(file);
    const cc = doc['current-context'];
    if (out.currentContext === undefined && typeof cc === 'string' && cc !== '') out.currentContext = cc;
    for (const e of entries<ClusterEntry>(file, doc, 'clusters', 'cluster')) if (!out.clusters.has(e.name)) out.clusters.set(e.name, { file, cluster: e.value });
    for (const e of entries<UserEntry>(file, doc, 'users', 'user')) if (!out.users.has(e.name)) out.users.set(e.name, { file, user: e.value });
    for (const e of entries<ContextEntry>(file, doc, 'contexts', 'context')) if (!out.contexts.has(e.name)) out.contexts.set(e.name, e.value);
  }
  return out;
}

function fileRelative(base: string, p: string): string {
  return isAbsolute(p) ? p : resolve(dirname(base), p);
}

function pem(base: string, data: string | undefined, path: string | undefined, what: string): string | undefined {
  if (data) return Buffer.from(data, 'base64').toString('utf8');
  if (!path) return undefined;
  const f = fileRelative(base, path);
  try {
    return readFileSync(f, 'utf8');
  } catch (err) {
    throw new ConfigError(`unable to read ${what} ${f}: ${(err as Error).message}`);
  }
}

export interface LoadedConfig extends ClientConfig {
  /** the context's namespace, "default" when it names none */
  namespace: string;
  contextName?: string;
}

/** Client configuration as kubectl resolves it (see the file comment). */
export function loadClientConfig(o: LoadOptions = {}): LoadedConfig {
  const env = o.env ?? process.env;
  const files = kubeconfigFiles(o);
  const merged = mergeKubeconfigs(files, !!o.kubeconfig);
  if (merged.files.length === 0 && !o.server) {
    const inCluster = tryInClusterConfig(env, o.serviceAccountDir);
    if (inCluster) return inCluster;
    throw new ConfigError(`no configuration has been provided: none of ${files.join(', ')} exists and not running in a pod`);
  }
  return fromMerged(merged, o);
}

export function fromMerged(merged: MergedKubeconfig, o: Omit<LoadOptions, 'kubeconfig' | 'env' | 'home'> = {}): LoadedConfig {
  const contextName = o.context || merged.currentContext;
  let ctx: ContextEntry = {};
  if (contextName) {
    const c = merged.contexts.get(contextName);
    if (!c) throw new ConfigError(`context "${contextName}" does not exist`);
    ctx = c;
  } else if (!o.server) {
    throw new ConfigError('no current-context is set and no --context given');
  }
  const clusterName = o.cluster || ctx.cluster;
  const userName = o.user || ctx.user;
  const c = clusterName ? merged.clusters.get(clusterName) : undefined;
  if (clusterName && !c) throw new ConfigError(`cluster "${clusterName}" does not exist`);
  const u = userName ? merged.users.get(userName) : undefined;
  if (userName && !u) throw new ConfigError(`user "${userName}" does not exist`);
  const cluster = c?.cluster ?? {};
  const user = u?.user ?? {};
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    throw new ConfigError(`user "${userName}": exec and auth-provider credentials are not supported; use a client certificate or a token`);
  }
  const server = o.server || cluster.server;
  if (!server) throw new ConfigError(clusterName ? `cluster "${clusterName}" has no server` : 'no server found for the context');
  const cfg: LoadedConfig = { server, namespace: ctx.namespace || 'default' };
  if (contextName) cfg.contextName = contextName;
  const set = <K extends keyof LoadedConfig>(k: K, v: LoadedConfig[K] | undefined) => {
    if (v !== undefined && v !== '') cfg[k] = v;
  };
  if (c) set('caPem', pem(c.file, cluster['certificate-authority-data'], cluster['certificate-authority'], 'certificate authority'));
  if (u) {
    set('certPem', pem(u.file, user['client-certificate-data'], user['client-certificate'], 'client certificate'));
    set('keyPem', pem(u.file, user['client-key-data'], user['client-key'], 'client key'));
    set('token', user.token);
    if (user.tokenFile) set('tokenFile', fileRelative(u.file, user.tokenFile));
  }
  if (String(cluster['insecure-skip-tls-verify']) === 'true') cfg.insecureSkipVerify = true;
  set('tlsServerName', cluster['tls-server-name']);
  return cfg;
}

/** rest.InClusterConfig: KUBERNETES_SERVICE_HOST/PORT and the mounted service account. */
export function tryInClusterConfig(env: Record<string, string | undefined> = process.env, dir = SERVICE_ACCOUNT_DIR): LoadedConfig | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = join(dir, 'token');
  if (!host || !port || !existsSync(tokenFile)) return undefined;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const cfg: LoadedConfig = { server: `https://${hostPart}:${port}`, tokenFile, namespace: 'default' };
  const ca = join(dir, 'ca.crt');
  if (existsSync(ca)) cfg.caPem = readFileSync(ca, 'utf8');
  const ns = join(dir, 'namespace');
  if (existsSync(ns)) cfg.namespace = readFileSync(ns, 'utf8').trim() || 'default';
  return cfg;
}
