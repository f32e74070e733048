// Starts the apiserver: PKI, store, ApiCore (allocators, default objects), HTTPS listener.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SqliteStore } from '../storage/sqlite.js';
import type { Store } from '../storage/store.js';
import { logger } from '../../api/log.js';
import { Authenticator } from './auth.js';
import { BootstrapTokenAuthenticator, FailedTokenLimiter, ensureJoinTokenSecret } from './bootstrap-tokens.js';
import { ApiCore } from './core.js';
import { buildDiscovery } from './discovery.js';
import { createHandler } from './http.js';
import { ApiServerMetrics } from './metrics.js';
import { ensurePki, type ClusterPki } from './pki.js';
import { adminKubeconfig } from './kubeconfig.js';

const log = logger('apiserver');

export const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;

export interface ApiServerOptions {
  dataDir: string;
  etcdServers?: string[];
  /** Prefix of every key in etcd (upstream's --etcd-prefix); store keys are /registry/... below it. */
  etcdPrefix?: string;
  bindAddress?: string; // default 0.0.0.0
  advertiseAddress?: string; // default 127.0.0.1
  securePort?: number; // default 6443; 0 = any free port
  serviceClusterIPRange?: string; // default 10.96.0.0/12
  serviceNodePortRange?: string; // default 30000-32767
  tlsSans?: string[];
  /** Lifetime of the data dir's join token (kubeadm init's --token-ttl, 24h); 0: it never expires. */
  tokenTtlMs?: number;
  /** A ready store (tests, benchmarks); otherwise opened from dataDir / etcdServers. */
  store?: Store;
}

export interface ApiServer {
  /** https://<advertise or 127.0.0.1>:<port> */
  url: string;
  port: number;
  caPem: string;
  pki: ClusterPki;
  core: ApiCore;
  store: Store;
  /** Path of the admin kubeconfig written into the data dir. */
  adminKubeconfigPath: string;
  /** The data dir's join token, a bootstrap token (see bootstrap-tokens.ts). */
  joinToken: string;
  stop(): Promise<void>;
}

/** Static tokens from <data-dir>/tokens.csv: token,user,uid,"group1,group2" (upstream's --token-auth-file). */
async function loadTokenFile(dataDir: string, authn: Authenticator): Promise<void> {
  const p = join(dataDir, 'tokens.csv');
  if (!existsSync(p)) return;
  for (const line of (await readFile(p, 'utf8')).split('\n')) {
    const m = line.trim().match(/^([^,]+),([^,]+),([^,]*)(?:,"?([^"]*)"?)?$/);
    if (!m) continue;
    authn.addToken(m[1], { name: m[2], groups: [...(m[4] ? m[4].split(',') : []), 'system:authenticated'] });
  }
}

/**
 * The embedded store is imported directly; the etcd client (grpc, ~25 MB resident) only
 * when --etcd-servers asks for it.
 */
async function openConfiguredStore(opts: ApiServerOptions): Promise<Store> {
  if (opts.etcdServers?.length) {
    const { openStore } = await import('../storage/index.js');
    return openStore({ etcdServers: opts.etcdServers, ...(opts.etcdPrefix ? { prefix: opts.etcdPrefix } : {}) });
  }
  return new SqliteStore({ dataDir: opts.dataDir, compaction: {} });
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const dataDir = opts.dataDir;
  await mkdir(dataDir, { recursive: true });
  const advertise = opts.advertiseAddress ?? '127.0.0.1';
  const pki = await ensurePki({ dataDir, advertiseAddress: advertise, extraSans: opts.tlsSans });
  const metrics = new ApiServerMetrics();
  const store = metrics.instrument(opts.store ?? (await openConfiguredStore(opts)));
  const authn = new Authenticator(new FailedTokenLimiter());
  await loadTokenFile(dataDir, authn);

  const wantedPort = opts.securePort ?? 6443;
  // The port must be known before the default objects (kubernetes Endpoints) are written.
  const server = https.createServer({
    key: pki.serving.keyPem,
    // The CA goes along in the handshake: a joining node learns it there and checks it
    // against its --discovery-token-ca-cert-hash before trusting this server.
    cert: `${pki.serving.certPem.trimEnd()}\n${pki.ca.certPem}`,
    ca: pki.ca.certPem,
    requestCert: true,
    rejectUnauthorized: false, // anonymous TLS is allowed; requests without identity get 401
    ALPNProtocols: ['http/1.1'],
    keepAlive: true,
    keepAliveTimeout: 120_000,
    headersTimeout: 130_000,
    requestTimeout: 0, // watches are long-lived
  });
  server.maxHeadersCount = 200;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(wantedPort, opts.bindAddress ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const core = new ApiCore({
    store,
    serviceCIDR: opts.serviceClusterIPRange,
    nodePortRange: opts.serviceNodePortRange,
    advertiseAddress: advertise,
    securePort: port,
  });
  let ready = false;
  const serverAddress = `${advertise}:${port}`;
  const discovery = buildDiscovery(core.defs, serverAddress);
  const { handle, handleUpgrade } = createHandler({
    core,
    authn,
    discovery,
    pki,
    metrics,
    isReady: () => ready,
  });
  server.on('request', (req, res) => {
    void handle(req, res);
  });
  server.on('upgrade', (req, socket, head) => {
    void handleUpgrade(req, socket, head);
  });
  server.on('tlsClientError', () => {
    /* scanners and aborted handshakes: nothing to do */
  });
  let joinToken: string;
  try {
    await core.init();
    authn.addTokenAuthenticator(BootstrapTokenAuthenticator.forCore(core));
    joinToken = await ensureJoinTokenSecret(core, dataDir, opts.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS);
    // Bootstrap tokens are looked up in the Secrets watch cache: it must be filled first.
    await core.cache(core.find('', 'v1', 'secrets')!).ready();
  } catch (err) {
    server.close();
    if (!opts.store) await store.close();
    throw err;
  }
  ready = true;
  const url = `https://${advertise === '0.0.0.0' ? '127.0.0.1' : advertise}:${port}`;
  const adminKubeconfigPath = join(dataDir, 'admin.kubeconfig');
  await writeFile(adminKubeconfigPath, adminKubeconfig(pki, url), { mode: 0o600 });
  log.info({ url, store: opts.etcdServers?.length ? 'etcd' : 'sqlite' }, 'apiserver ready');

  let stopped = false;
  return {
    url,
    port,
    caPem: pki.ca.certPem,
    pki,
    core,
    store,
    adminKubeconfigPath,
    joinToken,
    async stop() {
      if (stopped) return;
      stopped = true;
      core.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (!opts.store) await store.close();
    },
  };
}
