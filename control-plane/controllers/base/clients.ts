// The typed @kubernetes/client-node clients every controller and the scheduler share,
// plus the few request shapes they need that the generated clients make awkward.
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';

export interface Clients {
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  coord: CoordinationV1Api;
  discovery: DiscoveryV1Api;
  objects: KubernetesObjectApi;
}

/**
 * client-node builds a fresh https.Agent for every request, i.e. a TCP connect and a TLS
 * handshake per API call. At hundreds of binds per second that dominates, so give this
 * KubeConfig one keep-alive agent per option set (proxies keep the library's behaviour).
 */
export function shareAgents(kc: KubeConfig): KubeConfig {
  const k = kc as unknown as { createAgent: (c: unknown, o: Record<string, unknown>) => unknown; __shared?: boolean };
  if (k.__shared) return kc;
  const orig = k.createAgent.bind(kc);
  const agents = new Map<string, unknown>();
  k.createAgent = (cluster: unknown, opts: Record<string, unknown>) => {
    const c = cluster as { proxyUrl?: string; server?: string } | null;
    if (c?.proxyUrl) return orig(cluster, opts);
    const id = JSON.stringify([c?.server, opts.ca, opts.cert, opts.key, opts.rejectUnauthorized, opts.servername]);
    let a = agents.get(id);
    if (!a) {
      const o = { ...opts, keepAlive: true, maxFreeSockets: 64 };
      for (const key of Object.keys(o)) if ((o as Record<string, unknown>)[key] === undefined) delete (o as Record<string, unknown>)[key];
      a = c?.server?.startsWith('http:') ? new http.Agent(o) : new https.Agent(o);
      agents.set(id, a);
    }
    return a;
  };
  k.__shared = true;
  return kc;
}

export function makeClients(kc: KubeConfig): Clients {
  shareAgents(kc);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    coord: kc.makeApiClient(CoordinationV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
    objects: KubernetesObjectApi.makeApiClient(kc),
  };
}

/** Options for a JSON merge patch (the generated clients default to JSON patch). */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
export const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

/** HTTP status of a client error (ApiException.code, or a watch error's statusCode). */
export function errorCode(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  if (typeof e?.response?.statusCode === 'number') return e.response.statusCode;
  return undefined;
}

export const isNotFound = (err: unknown) => errorCode(err) === 404;
export const isConflict = (err: unknown) => errorCode(err) === 409;
export const isAlreadyExists = (err: unknown) => errorCode(err) === 409;

export function errorMessage(err: unknown): string {
  const e = err as { body?: unknown; message?: string };
  if (e?.body && typeof e.body === 'object' && typeof (e.body as { message?: unknown }).message === 'string') {
    return (e.body as { message: string }).message;
  }
  if (typeof e?.body === 'string') {
    try {
      const parsed = JSON.parse(e.body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      /* not JSON */
    }
    return e.body.slice(0, 300);
  }
  return e?.message ?? String(err);
}

const optionCache = new WeakMap<KubeConfig, { at: number; opts: https.RequestOptions }>();

/** applyToHTTPSOptions costs ~1 ms (it re-reads credentials); reuse it for a few seconds. */
async function httpsOptions(kc: KubeConfig): Promise<https.RequestOptions> {
  const hit = optionCache.get(kc);
  if (hit && Date.now() - hit.at < 10_000) return hit.opts;
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  optionCache.set(kc, { at: Date.now(), opts });
  return opts;
}

export class RawApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
    this.name = 'RawApiError';
  }
}

/**
 * A JSON request authenticated by the KubeConfig (same CA, client cert, token and shared
 * agent as the typed clients). Used where the generated clients' ObjectSerializer gets in
 * the way: lists must give the same plain JSON objects the watch gives (the serializer turns
 * timestamps into Dates and drops fields it doesn't know), and generic paths (discovery,
 * any resource by URL) have no typed client.
 */
export async function rawRequest<T = unknown>(
  kc: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('No currently active cluster');
  const url = new URL(cluster.server + path);
  const opts = await httpsOptions(kc);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = { ...(opts.headers as Record<string, string>), accept: 'application/json' };
  if (payload) {
    headers['content-type'] = contentType;
    headers['content-length'] = payload.length;
  }
  const mod = url.protocol === 'http:' ? http : https;
  return await new Promise<T>((resolve, reject) => {
    const req = mod.request(
      url,
      { ...opts, method, headers, timeout: 60_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            /* keep text */
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(parsed as T);
          else {
            const msg = (parsed as { message?: string })?.message ?? `HTTP ${code}`;
            reject(new RawApiError(code, parsed, msg));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request timed out: ${method} ${path}`)));
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}
