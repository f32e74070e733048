// Starts the apiserver: PKI, store, ApiCore (allocators, default objects), HTTPS listener.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SqliteStore } from '../storage/sqlite.js';
import type { Store } from '../storage/store.js';
import { loadEncryptionConfig } from '../storage/encryption/config.js';
import { encryptingStore } from '../storage/encryption/store.js';
import { logger } from '../../api/log.js';
import { Authenticator, type AuthorizationMode } from './auth.js';
import { BootstrapTokenAuthenticator, FailedTokenLimiter, ensureJoinTokenSecret } from './bootstrap-tokens.js';
import { admissionChain, prepareAdmission } from './admission/chain.js';
import { Authorization } from './authz/index.js';
import { reconcileBootstrapPolicy } from './authz/reconcile.js';
import { ApiCore } from './core.js';
import { buildDiscovery } from './discovery.js';
import { createHandler } from './http.js';
import { loadDecoder } from './decode.js';
import { ApiServerMetrics } from './metrics.js';
import { DEFAULT_LIMITS, InflightLimiter } from './limits.js';
import { toStatus } from '../../api/status.js';
import { ensurePki, type ClusterPki } from './pki.js';
import { adminKubeconfig, renderKubeconfig } from './kubeconfig.js';
import { secureDataDir } from './datadir.js';

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
  /** upstream's --encryption-provider-config: an EncryptionConfiguration file. */
  encryptionProviderConfig?: string;
  /** upstream's --encryption-provider-config-automatic-reload. */
  encryptionProviderConfigAutomaticReload?: boolean;
  /** --max-requests-inflight / --max-mutating-requests-inflight (0 = no limit). */
  maxRequestsInflight?: number;
  maxMutatingRequestsInflight?: number;
  /** --request-timeout in ms for non-long-running requests (default 60 s; 0 = none). */
  requestTimeoutMs?: number;
  /** --authorization-mode (default Node,RBAC). */
  authorizationModes?: AuthorizationMode[];
  /** --enable-admission-plugins / --disable-admission-plugins: upstream names, added to or taken from the default set. */
  enableAdmissionPlugins?: string[];
  disableAdmissionPlugins?: string[];
  /** --admission-control-config-file: an AdmissionConfiguration (PodSecurity's defaults and exemptions). */
  admissionControlConfigFile?: string;
}

export interface ApiServer {
  /** https://<advertise or 127.0.0.1>:<port> */
  url: string;
  port: number;
  caPem: string;
  pki: ClusterPki;
  core: ApiCore;
  store: Store;
  metrics: ApiServerMetrics;
  /** Path of the admin kubeconfig written into the data dir. */
  adminKubeconfigPath: string;
  /** Kubeconfigs of the scheduler (system:kube-scheduler) and the controller manager (system:kube-controller-manager), as kubeadm writes them. */
  schedulerKubeconfigPath: string;
  controllerManagerKubeconfigPath: string;
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
  // An unusable encryption configuration stops the start before anything is written.
  const encryption = opts.encryptionProviderConfig
    ? loadEncryptionConfig(opts.encryptionProviderConfig, { automaticReload: opts.encryptionProviderConfigAutomaticReload, log })
    : undefined;
  const admission = prepareAdmission({ enable: opts.enableAdmissionPlugins, disable: opts.disableAdmissionPlugins, configFile: opts.admissionControlConfigFile });
  secureDataDir(dataDir, log);
  const advertise = opts.advertiseAddress ?? '127.0.0.1';
  const pki = await ensurePki({ dataDir, advertiseAddress: advertise, extraSans: opts.tlsSans });
  const metrics = new ApiServerMetrics();
  // Encryption above the metrics: the store's latency figures are the backend's own.
  const backend = metrics.instrument(opts.store ?? (await openConfiguredStore(opts)));
  const store = encryption ? encryptingStore(backend, encryption.transformers) : backend;
  const authn = new Authenticator(new FailedTokenLimiter());
  await loadTokenFile(dataDir, authn);

  await loadDecoder();
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
    // Upstream's secure serving: IdleTimeout 90 s, ReadHeaderTimeout 32 s. Bodies and whole
    // requests are bounded by --request-timeout in the handler (watches are long-lived, so
    // Node's own requestTimeout stays off).
    keepAliveTimeout: 90_000,
    headersTimeout: 32_000,
    requestTimeout: 0,
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
  core.admission.push(...admissionChain(core, admission));
  const authorization = new Authorization(core, opts.authorizationModes);
  core.authorization = authorization;
  let ready = false;
  const serverAddress = `${advertise}:${port}`;
  const discovery = buildDiscovery(core.defs, serverAddress);
  const { handle, handleUpgrade } = createHandler({
    core,
    authn,
    authorization,
    discovery,
    pki,
    metrics,
    limiter: new InflightLimiter(
      { readOnly: opts.maxRequestsInflight ?? DEFAULT_LIMITS.readOnly, mutating: opts.maxMutatingRequestsInflight ?? DEFAULT_LIMITS.mutating },
      metrics.registry,
    ),
    requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
    isReady: () => ready,
  });
  // handle() answers every error itself; this catches what escapes it (an error while writing
  // the error), so that no request can end the process.
  server.on('request', (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: err instanceof Error ? err.stack : String(err), method: req.method, url: req.url }, 'request handler failed');
      try {
        if (res.headersSent) throw err;
        const s = toStatus(err);
        res.writeHead(s.code, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(s.body));
      } catch {
        res.destroy();
      }
    });
  });
  server.on('upgrade', (req, socket, head) => {
    handleUpgrade(req, socket, head).catch((err: unknown) => {
      log.error({ err: err instanceof Error ? err.stack : String(err), url: req.url }, 'upgrade handler failed');
      socket.destroy();
    });
  });
  // A client that breaks the protocol: 400 and close, as Node does by default, never a throw.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && !socket.writableEnded) {
      const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.end(`HTTP/1.1 ${code} ${code === 431 ? 'Request Header Fields Too Large' : code === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\n\r\n`);
    } else socket.destroy();
  });
  server.on('tlsClientError', () => {
    /* scanners and aborted handshakes: nothing to do */
  });
  let joinToken: string;
  try {
    await core.init();
    await reconcileBootstrapPolicy(core);
    await authorization.synced();
    authn.addTokenAuthenticator(BootstrapTokenAuthenticator.forCore(core));
    joinToken = await ensureJoinTokenSecret(core, dataDir, opts.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS);
    // Bootstrap tokens are looked up in the Secrets watch cache: it must be filled first.
    await core.cache(core.find('', 'v1', 'secrets')!).ready();
  } catch (err) {
    server.close();
    authorization.stop();
    encryption?.stop();
    if (!opts.store) await store.close();
    throw err;
  }
  ready = true;
  const url = `https://${advertise === '0.0.0.0' ? '127.0.0.1' : advertise}:${port}`;
  const adminKubeconfigPath = join(dataDir, 'admin.kubeconfig');
  await writeFile(adminKubeconfigPath, adminKubeconfig(pki, url), { mode: 0o600 });
  const schedulerKubeconfigPath = join(dataDir, 'scheduler.kubeconfig');
  const controllerManagerKubeconfigPath = join(dataDir, 'controller-manager.kubeconfig');
  await writeFile(schedulerKubeconfigPath, renderKubeconfig({ server: url, caPem: pki.ca.certPem, user: 'system:kube-scheduler', client: pki.scheduler }), { mode: 0o600 });
  await writeFile(controllerManagerKubeconfigPath, renderKubeconfig({ server: url, caPem: pki.ca.certPem, user: 'system:kube-controller-manager', client: pki.controllerManager }), { mode: 0o600 });
  log.info({ url, store: opts.etcdServers?.length ? 'etcd' : 'sqlite', encryptionProviderConfig: opts.encryptionProviderConfig }, 'apiserver ready');

  let stopped = false;
  return {
    url,
    port,
    caPem: pki.ca.certPem,
    pki,
    core,
    metrics,
    store,
    adminKubeconfigPath,
    schedulerKubeconfigPath,
    controllerManagerKubeconfigPath,
    joinToken,
    async stop() {
      if (stopped) return;
      stopped = true;
      authorization.stop();
      encryption?.stop();
      core.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (!opts.store) await store.close();
    },
  };
}
