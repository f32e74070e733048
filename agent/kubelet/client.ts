// A small Kubernetes API client for the agent: JSON requests and watches over HTTPS with the
// node's client certificate. We use it instead of @kubernetes/client-node's ListWatch because
// that one stops for good on errors other than 410/timeout; here every watch restarts itself
// (relist on 410, backoff on errors), so the kubelet can't silently go deaf.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { dirname, resolve } from 'node:path';
import { URL } from 'node:url';
import type { Logger } from 'pino';

export interface KubeCredentials {
  server: string;
  caPem?: string;
  clientCertPem?: string;
  clientKeyPem?: string;
  token?: string;
  /** A kubeconfig's insecure-skip-tls-verify. */
  insecureSkipVerify?: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeClient {
  private agent: https.Agent;
  private retired = new Set<https.Agent>();
  private url: URL;
  constructor(readonly creds: KubeCredentials) {
    this.url = new URL(creds.server);
    this.agent = this.makeAgent();
  }

  private makeAgent(): https.Agent {
    return new https.Agent({
      keepAlive: true,
      maxSockets: 32,
      ca: this.creds.caPem,
      cert: this.creds.clientCertPem,
      key: this.creds.clientKeyPem,
      rejectUnauthorized: !this.creds.insecureSkipVerify,
    });
  }

  /**
   * A rotated client certificate: new requests use it at once; the connections of the old
   * one (watches included, which then restart) are closed a little later, once the requests
   * in flight on them are done, so nothing goes on as the old identity for long (client-go
   * closes them at once).
   */
  setClientCertificate(certPem: string, keyPem: string): void {
    this.creds.clientCertPem = certPem;
    this.creds.clientKeyPem = keyPem;
    const old = this.agent;
    this.agent = this.makeAgent();
    this.retired.add(old);
    setTimeout(() => {
      old.destroy();
      this.retired.delete(old);
    }, 35_000).unref();
  }

  close(): void {
    this.agent.destroy();
    for (const a of this.retired) a.destroy();
    this.retired.clear();
  }

  private options(method: string, path: string, headers: Record<string, string>): https.RequestOptions {
    const h: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'k8ts-kubelet/v1.32.0', ...headers };
    if (this.creds.token) h.Authorization = `Bearer ${this.creds.token}`;
    return {
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port || 443,
      path,
      method,
      agent: this.agent,
      headers: h,
    };
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json', timeoutMs = 30_000): Promise<T> {
    const data = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const headers: Record<string, string> = {};
    if (data) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = String(data.length);
    }
    return new Promise<T>((resolve, reject) => {
      const req = https.request(this.options(method, path, headers), (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = undefined;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = text;
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(parsed as T);
          else {
            const p = parsed as { reason?: string; message?: string } | undefined;
            reject(new ApiError(code, p?.reason ?? String(code), `${method} ${path}: ${code} ${p?.message ?? text}`, parsed));
          }
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.on('error', reject);
      if (data) req.write(data);
      req.end();
    });
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /**
   * List+watch `path` (a collection URL, with optional query already in `query`), forever:
   * `onList` gets the full list after every (re)list, `onEvent` each watch event. Returns stop().
   */
  listWatch<T extends { metadata?: { resourceVersion?: string } }>(
    path: string,
    query: Record<string, string>,
    handlers: { onList(items: T[]): void; onEvent(e: WatchEvent<T>): void },
    log?: Logger,
  ): () => void {
    let stopped = false;
    let current: import('node:http').ClientRequest | undefined;
    let delay = 200;
    const qs = (extra: Record<string, string>) => '?' + new URLSearchParams({ ...query, ...extra }).toString();
    const loop = async () => {
      while (!stopped) {
        try {
          const list = await this.get<{ items: T[]; metadata: { resourceVersion: string } }>(path + qs({}));
          if (stopped) return;
          handlers.onList(list.items ?? []);
          let rv = list.metadata.resourceVersion;
          delay = 200;
          // Watch until it ends; a clean end re-watches from the last rv, 410 relists.
          for (;;) {
            if (stopped) return;
            const res = await this.watchOnce<T>(path + qs({ watch: '1', resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: '300' }), (e) => {
              if (e.object?.metadata?.resourceVersion) rv = e.object.metadata.resourceVersion;
              if (e.type !== 'BOOKMARK') handlers.onEvent(e);
            }, (r) => (current = r));
            if (res === 'gone') break;
            if (res === 'error') throw new Error('watch failed');
          }
        } catch (e) {
          if (stopped) return;
          log?.warn({ err: (e as Error).message, path }, 'list/watch failed; retrying');
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 10_000);
        }
      }
    };
    void loop();
    return () => {
      stopped = true;
      current?.destroy();
    };
  }

  private watchOnce<T>(path: string, onEvent: (e: WatchEvent<T>) => void, onReq: (r: import('node:http').ClientRequest) => void): Promise<'ended' | 'gone' | 'error'> {
    return new Promise((resolve) => {
      const req = https.request(this.options('GET', path, {}), (res) => {
        if (res.statusCode === 410) {
          res.resume();
          return resolve('gone');
        }
        if (res.statusCode !== 200) {
          res.resume();
          return resolve('error');
        }
        let buf = '';
        let result: 'ended' | 'gone' | 'error' = 'ended';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
              const ev = JSON.parse(line) as WatchEvent<T>;
              if (ev.type === 'ERROR') {
                const code = (ev.object as { code?: number }).code;
                result = code === 410 ? 'gone' : 'error';
                req.destroy();
                return;
              }
              onEvent(ev);
            } catch {
              /* ignore a malformed line */
            }
          }
        });
        res.on('end', () => resolve(result));
        res.on('error', () => resolve(result === 'ended' ? 'error' : result));
        res.on('close', () => resolve(result));
      });
      onReq(req);
      req.on('error', () => resolve('error'));
      req.end();
    });
  }
}

/**
 * Credentials from a kubeconfig file (its current context): server, CA, client certificate
 * and key (inline *-data or file paths, relative to the file), or a bearer token. For
 * `k8ts proxy --kubeconfig`, without loading client-node.
 */
export async function credentialsFromKubeconfig(file: string): Promise<KubeCredentials> {
  const { parse } = await import('yaml');
  // deno-lint-ignore no-explicit-any
  const kc = parse(readFileSync(file, 'utf8')) as any;
  const named = (list: unknown, name: string, what: string) => {
    const e = ((list as Array<{ name: string }>) ?? []).find((x) => x.name === name);
    if (!e) throw new Error(`kubeconfig ${file}: no ${what} "${name}"`);
    return e as unknown as Record<string, Record<string, string>>;
  };
  const ctx = named(kc?.contexts, kc?.['current-context'], 'context').context;
  const cluster = named(kc.clusters, ctx.cluster, 'cluster').cluster;
  const user = ctx.user ? named(kc.users, ctx.user, 'user').user : {};
  const pem = (o: Record<string, string>, field: string) => {
    if (o[`${field}-data`]) return Buffer.from(o[`${field}-data`], 'base64').toString();
    return o[field] ? readFileSync(resolve(dirname(file), o[field]), 'utf8') : undefined;
  };
  return {
    server: cluster.server,
    caPem: pem(cluster, 'certificate-authority'),
    clientCertPem: pem(user, 'client-certificate'),
    clientKeyPem: pem(user, 'client-key'),
    token: user.token,
    insecureSkipVerify: String(cluster['insecure-skip-tls-verify']) === 'true',
  };
}
