// The kubelet's HTTPS server (port 10250): health, pods, container logs, exec/attach/
// port-forward over WebSocket or SPDY/3.1, stats, metrics, and the authenticated pod-manifest source.
// Only clients with a certificate from the cluster CA that identifies the apiserver's
// kubelet client (or the system:masters group) get in; anonymous requests get 401.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import type { WebSocketServer } from 'ws';
import type { Kubelet } from './kubelet.js';
import { readLogs } from './logs.js';
import { PORT_FORWARD_PROTOCOLS, REMOTE_COMMAND_PROTOCOLS, remoteCommandOptions, selectProtocol, serveRemoteCommand, servePortForwardWs } from './streaming.js';
import { handleSpdyPortForward, isSpdyUpgrade, SPDY_PORTFORWARD_WS_PROTOCOL } from './spdy.js';
import { negotiate, offeredProtocols, serveSpdyRemoteCommand, type StartCommand } from './spdy-remotecommand.js';

export interface KubeletServerOptions {
  kubelet: Kubelet;
  caPem: string;
  certPem: string;
  keyPem: string;
  port: number;
  address?: string;
  /** Certificate CNs allowed in besides the system:masters group. */
  allowedCNs?: string[];
}

const DEFAULT_CNS = ['kube-apiserver-kubelet-client', 'apiserver-kubelet-client', 'system:kube-apiserver-kubelet-client'];

function status(res: ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }));
}

/** 'ok' | 401 | 403 for a request's TLS peer. */
export function authenticate(sock: TLSSocket, allowedCNs: string[]): { ok: true; user: string } | { ok: false; code: 401 | 403; message: string } {
  const cert = sock.getPeerCertificate?.();
  if (!cert || !cert.subject || Object.keys(cert).length === 0) return { ok: false, code: 401, message: 'Unauthorized' };
  if (!sock.authorized) return { ok: false, code: 401, message: `Unauthorized: ${sock.authorizationError ?? 'certificate not signed by the cluster CA'}` };
  const cn = String(cert.subject.CN ?? '');
  const o = cert.subject.O;
  const orgs = Array.isArray(o) ? o : o ? [o] : [];
  if (allowedCNs.includes(cn) || orgs.includes('system:masters')) return { ok: true, user: cn };
  return { ok: false, code: 403, message: `Forbidden (user=${cn}, verb=get, resource=nodes, subresource=proxy)` };
}

const requireCjs = createRequire(import.meta.url);

export class KubeletServer {
  private server: https.Server;
  private wssInstance?: WebSocketServer;
  /** Created on the first exec/attach/port-forward: an idle agent need not load `ws`. */
  private get wss(): WebSocketServer {
    const { WebSocketServer: Wss } = requireCjs('ws') as typeof import('ws');
    this.wssInstance ??= new Wss({
      noServer: true,
      perMessageDeflate: false,
      // One message is one frame of stdin or port-forward data (kubectl sends 32 KiB at most):
      // ws would otherwise buffer up to 100 MiB of a single message.
      maxPayload: 16 << 20,
      handleProtocols: (offered) => selectProtocol(offered, [...REMOTE_COMMAND_PROTOCOLS, ...PORT_FORWARD_PROTOCOLS, SPDY_PORTFORWARD_WS_PROTOCOL]),
    });
    return this.wssInstance;
  }
  private sockets = new Set<Duplex>();

  constructor(private opts: KubeletServerOptions) {
    this.server = https.createServer({
      ca: opts.caPem,
      cert: opts.certPem,
      key: opts.keyPem,
      requestCert: true,
      rejectUnauthorized: false, // we answer 401 ourselves, like the kubelet
    });
    this.server.on('request', (req, res) => void this.handle(req, res));
    this.server.on('upgrade', (req, socket, head) => void this.handleUpgrade(req, socket, head));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('secureConnection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** A rotated serving certificate: new TLS handshakes present it. */
  setCertificate(certPem: string, keyPem: string): void {
    this.server.setSecureContext({ ca: this.opts.caPem, cert: certPem, key: keyPem });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.address ?? '0.0.0.0', () => resolve());
    });
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : this.opts.port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private get kubelet(): Kubelet {
    return this.opts.kubelet;
  }

  private auth(req: IncomingMessage): ReturnType<typeof authenticate> {
    return authenticate(req.socket as TLSSocket, this.opts.allowedCNs ?? DEFAULT_CNS);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const p = url.pathname;
    try {
      const a = this.auth(req);
      if (!a.ok) {
        res.writeHead(a.code, { 'Content-Type': 'text/plain' });
        res.end(a.message);
        return;
      }
      if (p === '/healthz' || p === '/healthz/ping' || p === '/healthz/syncloop') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
        return;
      }
      if (p === '/pods' || p === '/pods/') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: this.kubelet.listPods() }));
        return;
      }
      if (p === '/metrics') {
        res.writeHead(200, { 'Content-Type': this.kubelet.metrics.registry.contentType });
        res.end(await this.kubelet.metrics.registry.metrics());
        return;
      }
      if (p === '/stats/summary' || p === '/stats/summary/') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(await this.summary()));
        return;
      }
      if (p === '/run' || p.startsWith('/run/')) {
        if (req.method !== 'POST') return status(res, 405, 'MethodNotAllowed', 'POST a pod manifest');
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        try {
          const pods = this.kubelet.addHttpPods(Buffer.concat(chunks).toString());
          res.writeHead(201, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: pods }));
        } catch (e) {
          status(res, 400, 'BadRequest', (e as Error).message);
        }
        return;
      }
      const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(p);
      if (m) return await this.containerLogs(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), decodeURIComponent(m[3]!), url.searchParams, res);
      if (/^\/(exec|attach|portForward)\//.test(p)) return status(res, 400, 'BadRequest', 'Upgrade request required');
      status(res, 404, 'NotFound', `404 page not found: ${p}`);
    } catch (e) {
      if (!res.headersSent) status(res, 500, 'InternalError', (e as Error).message);
      else res.destroy();
    }
  }

  private async containerLogs(ns: string, pod: string, container: string, q: URLSearchParams, res: ServerResponse): Promise<void> {
    const previous = q.get('previous') === 'true' || q.get('previous') === '1';
    const found = await this.kubelet.findContainer(ns, pod, container, previous);
    if (!found.status) return status(res, found.pod ? 400 : 404, found.pod ? 'BadRequest' : 'NotFound', found.error ?? 'not found');
    const cs = found.status;
    const num = (k: string) => (q.get(k) !== null && q.get(k) !== '' ? Number(q.get(k)) : undefined);
    let sinceTime: Date | undefined;
    if (q.get('sinceTime')) sinceTime = new Date(q.get('sinceTime')!);
    const sinceSeconds = num('sinceSeconds');
    if (sinceSeconds !== undefined) sinceTime = new Date(Date.now() - sinceSeconds * 1000);
    const follow = (q.get('follow') === 'true' || q.get('follow') === '1') && !previous;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    try {
      await fsp.access(cs.logPath);
    } catch {
      res.end();
      return;
    }
    await readLogs(
      cs.logPath,
      { follow, tailLines: num('tailLines'), timestamps: q.get('timestamps') === 'true' || q.get('timestamps') === '1', sinceTime, limitBytes: num('limitBytes') },
      res,
      async () => {
        const st = await this.kubelet.runtime.containerStatus(cs.id).catch(() => undefined);
        return st?.state === 'running' || st?.state === 'created';
      },
    );
    res.end();
  }

  private async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const fail = (code: number, msg: string) => {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: msg, code });
      socket.end(`HTTP/1.1 ${code} ${code === 401 ? 'Unauthorized' : code === 403 ? 'Forbidden' : code === 404 ? 'Not Found' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    try {
      const a = this.auth(req);
      if (!a.ok) return fail(a.code, a.message);
      const url = new URL(req.url ?? '/', 'https://kubelet');
      const segs = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      const kind = segs[0];
      const isWs = (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
      if (kind === 'exec' || kind === 'attach') {
        const [, ns, podName, container] = segs;
        if (!ns || !podName) return fail(400, 'missing namespace/pod');
        const found = await this.kubelet.findContainer(ns, podName, container);
        if (!found.status) return fail(found.pod ? 400 : 404, found.error ?? 'not found');
        if (found.status.state !== 'running') return fail(400, `container ${found.containerName} is not valid for pod ${podName}`);
        const opts = remoteCommandOptions(url.searchParams);
        if (!opts.stdin && !opts.stdout && !opts.stderr) return fail(400, 'you must specify at least 1 of stdin, stdout, stderr');
        const command = url.searchParams.getAll('command');
        const id = found.status.id;
        const start: StartCommand = (io) =>
          kind === 'exec'
            ? this.kubelet.runtime.exec(id, command, { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, tty: io.tty })
            : this.kubelet.runtime.attach(id, { stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, tty: io.tty });
        if (isSpdyUpgrade(req)) {
          const n = negotiate(offeredProtocols(req));
          if ('code' in n) return fail(n.code, n.message);
          return serveSpdyRemoteCommand(socket, head, n.protocol, opts, start);
        }
        if (!isWs) return fail(400, 'unsupported upgrade: use WebSocket (v5/v4.channel.k8s.io) or SPDY/3.1');
        this.wss.handleUpgrade(req, socket, head, (ws) => void serveRemoteCommand(ws, opts, start));
        return;
      }
      if (kind === 'portForward') {
        const [, ns, podName] = segs;
        const pod = ns && podName ? this.kubelet.findPod(ns, podName) : undefined;
        if (!pod) return fail(404, `pod "${podName}" not found`);
        const sb = await this.kubelet.sandboxFor(pod);
        if (!sb) return fail(400, `pod ${podName} has no running sandbox`);
        const dial = (port: number) => this.kubelet.runtime.portForward(sb.id, port);
        const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((x) => x.trim());
        if (isSpdyUpgrade(req) || (isWs && offered.includes(SPDY_PORTFORWARD_WS_PROTOCOL))) return handleSpdyPortForward(req, socket, head, dial, this.wss);
        if (!isWs) return fail(400, 'unsupported upgrade');
        const ports = url.searchParams.getAll('ports').flatMap((x) => x.split(',')).map(Number).filter((n) => n > 0 && n < 65536);
        if (!ports.length) return fail(400, 'query parameter "port" is required');
        this.wss.handleUpgrade(req, socket, head, (ws) => void servePortForwardWs(ws, ports, dial));
        return;
      }
      fail(404, 'not found');
    } catch (e) {
      fail(500, (e as Error).message);
    }
  }

  /** /stats/summary: node CPU/memory from /proc, pods with their start times. Simple by design. */
  private async summary(): Promise<Record<string, unknown>> {
    const meminfo = await fsp.readFile('/proc/meminfo', 'utf8').catch(() => '');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(meminfo)?.[1] ?? 0) * 1024;
    const stat = await fsp.readFile('/proc/stat', 'utf8').catch(() => '');
    const cpu = (stat.split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number);
    const busyJiffies = (cpu[0] ?? 0) + (cpu[1] ?? 0) + (cpu[2] ?? 0) + (cpu[5] ?? 0) + (cpu[6] ?? 0) + (cpu[7] ?? 0);
    const now = new Date().toISOString();
    const total = kb('MemTotal');
    const avail = kb('MemAvailable');
    return {
      node: {
        nodeName: this.kubelet.opts.nodeName,
        startTime: new Date(Date.now() - os.uptime() * 1000).toISOString(),
        cpu: { time: now, usageCoreNanoSeconds: Math.round((busyJiffies / 100) * 1e9) },
        memory: { time: now, availableBytes: avail, usageBytes: total - kb('MemFree'), workingSetBytes: total - avail, rssBytes: total - avail - kb('Cached') },
      },
      pods: this.kubelet.listPods().map((p) => ({
        podRef: { name: p.metadata.name, namespace: p.metadata.namespace, uid: p.metadata.uid },
        startTime: p.status?.startTime,
        containers: p.spec.containers.map((c) => ({ name: c.name, startTime: p.status?.containerStatuses?.find((s) => s.name === c.name)?.state.running?.startedAt })),
      })),
    };
  }
}
