// The one way to the apiserver: JSON requests and streaming watches over one keep-alive
// connection pool, authenticated by a client certificate or a bearer token. Lean on purpose
// (no per-request credential loading, no serializer): the kubelet, kube-proxy and the
// scheduler's binds run hundreds of calls a second through it.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { ClientConfig } from './config.js';
import { ApiError, type Status } from './errors.js';

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface RequestOptions {
  body?: unknown;
  /** Content-Type of the body (merge patch, JSON patch ...); default application/json */
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
}

/** A running watch: done resolves when the server ends the stream, rejects with an ApiError. */
export interface WatchStream {
  stop(): void;
  readonly done: Promise<void>;
}

export function queryString(q: RequestOptions['query']): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

const TOKEN_FILE_REREAD_MS = 60_000;

export class Transport {
  private readonly agent: http.Agent;
  /** watches hold their connection for minutes: their own pool, so they never starve requests */
  private readonly watchAgent: http.Agent;
  private readonly mod: typeof http | typeof https;
  private readonly base: { protocol: string; hostname: string; port: string };
  private readonly userAgent: string;
  private readonly timeoutMs: number;
  private token?: string;
  private tokenReadAt = 0;

  constructor(readonly config: ClientConfig) {
    const url = new URL(config.server);
    const secure = url.protocol === 'https:';
    this.mod = secure ? https : http;
    // The base path of a server URL (behind a proxy) is kept by prefixing every path.
    this.prefix = url.pathname.replace(/\/+$/, '');
    this.base = { protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ''), port: url.port || (secure ? '443' : '80') };
    const tlsOpts = {
      ca: config.caPem,
      cert: config.certPem,
      key: config.keyPem,
      rejectUnauthorized: !config.insecureSkipVerify,
      ...(config.tlsServerName ? { servername: config.tlsServerName } : {}),
    };
    const agent = (o: http.AgentOptions) => (secure ? new https.Agent({ ...o, ...tlsOpts }) : new http.Agent(o));
    const max = config.maxSockets ?? 64;
    this.agent = agent({ keepAlive: true, maxSockets: max, maxFreeSockets: max });
    this.watchAgent = agent({ keepAlive: true, maxFreeSockets: 4 });
    this.userAgent = config.userAgent ?? 'k8ts/v1.32.0';
    this.timeoutMs = config.timeoutMs ?? 60_000;
    this.token = config.token;
  }

  private readonly prefix: string;

  private bearer(): string | undefined {
    const f = this.config.tokenFile;
    if (f && Date.now() - this.tokenReadAt > TOKEN_FILE_REREAD_MS) {
      try {
        this.token = readFileSync(f, 'utf8').trim();
        this.tokenReadAt = Date.now();
      } catch {
        /* keep the last token; the apiserver will say 401 if it is stale */
      }
    }
    return this.token;
  }

  private options(method: string, path: string, headers: Record<string, string | string[]>, agent = this.agent): http.RequestOptions {
    headers['Accept'] ??= 'application/json';
    headers['User-Agent'] = this.userAgent;
    const t = this.bearer();
    if (t) headers['Authorization'] = `Bearer ${t}`;
    const as = this.config.impersonate;
    if (as) {
      headers['Impersonate-User'] = as.user;
      // An array goes out as one header line per group.
      if (as.groups?.length) headers['Impersonate-Group'] = as.groups;
    }
    return { protocol: this.base.protocol, hostname: this.base.hostname, port: this.base.port, path: this.prefix + path, method, agent, headers };
  }

  /** One JSON request; resolves with the parsed 2xx body, rejects with an ApiError. */
  request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const full = path + queryString(o.query);
    const data = o.body === undefined ? undefined : Buffer.from(typeof o.body === 'string' ? o.body : JSON.stringify(o.body));
    const headers: Record<string, string> = {};
    if (data) {
      headers['Content-Type'] = o.contentType ?? 'application/json';
      headers['Content-Length'] = String(data.length);
    }
    return new Promise<T>((resolve, reject) => {
      const req = this.mod.request(this.options(method, full, headers), (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(connectionError(method, full, err)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          if (code >= 200 && code < 300) {
            if (parsed === undefined && text) reject(new ApiError(code, undefined, `${method} ${full}: response is not JSON: ${text.slice(0, 200)}`));
            else resolve(parsed as T);
            return;
          }
          reject(httpError(method, full, code, parsed, text));
        });
      });
      req.setTimeout(o.timeoutMs ?? this.timeoutMs, () => req.destroy(new Error('request timed out')));
      req.on('error', (err) => reject(connectionError(method, full, err)));
      req.end(data);
    });
  }

  /**
   * A streaming watch of `path` (already with ?watch=1...): one JSON event per line. ERROR
   * events end the stream with their Status as the ApiError (410 for an expired version).
   */
  watch<T>(path: string, onEvent: (e: WatchEvent<T>) => void): WatchStream {
    let req: http.ClientRequest | undefined;
    let stopped = false;
    const done = new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        if (err && !stopped) reject(err);
        else resolve();
      };
      req = this.mod.request(this.options('GET', path, {}, this.watchAgent), (res) => {
        const code = res.statusCode ?? 0;
        if (code !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            finish(httpError('GET', path, code, parsed, text));
          });
          res.on('error', (err) => finish(connectionError('GET', path, err)));
          return;
        }
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          buf = buf ? buf + chunk : chunk;
          let start = 0;
          let nl: number;
          while ((nl = buf.indexOf('\n', start)) >= 0) {
            const line = buf.slice(start, nl);
            start = nl + 1;
            if (line.length === 0 || line === '\r') continue;
            let ev: WatchEvent<T>;
            try {
              ev = JSON.parse(line) as WatchEvent<T>;
            } catch {
              finish(new ApiError(0, undefined, `GET ${path}: malformed watch event: ${line.slice(0, 200)}`));
              req?.destroy();
              return;
            }
            if (ev.type === 'ERROR') {
              const st = ev.object as unknown as Status;
              finish(new ApiError(st?.code ?? 500, st, `GET ${path}: ${st?.message ?? 'watch error'}`));
              req?.destroy();
              return;
            }
            if (stopped || settled) return;
            onEvent(ev);
          }
          buf = start < buf.length ? buf.slice(start) : '';
        });
        res.on('end', () => finish());
        res.on('error', (err) => finish(connectionError('GET', path, err)));
        res.on('close', () => finish(res.complete ? undefined : new ApiError(0, undefined, `GET ${path}: watch connection closed`)));
      });
      req.on('error', (err) => finish(connectionError('GET', path, err)));
      req.end();
    });
    return {
      done,
      stop() {
        stopped = true;
        req?.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }
}

function httpError(method: string, path: string, code: number, parsed: unknown, text: string): ApiError {
  const st = parsed && typeof parsed === 'object' && (parsed as Status).kind === 'Status' ? (parsed as Status) : undefined;
  const msg = st?.message ?? (text.slice(0, 300) || `HTTP ${code}`);
  return new ApiError(code, st, `${method} ${path}: ${code} ${msg}`);
}

function connectionError(method: string, path: string, err: Error): ApiError {
  return new ApiError(0, undefined, `${method} ${path}: ${err.message}`, { cause: err });
}
