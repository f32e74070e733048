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
