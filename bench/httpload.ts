// A lean HTTPS load client for the benchmarks, as wrk is for HTTP servers: one TLS socket per
// concurrent client, keep-alive, requests written from prebuilt bytes, responses parsed only
// as far as the status line and the body's framing (Content-Length or chunked). It exists
// because the benchmarks run their load on the same 2 cores as the server under test, and
// node's https.request costs about as much CPU per request as the apiserver's whole create.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';

export interface LoadTarget {
  host: string;
  port: number;
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
}

/** One keep-alive connection that sends one request at a time and resolves its status. */
export class LeanConnection {
  private sock: tls.TLSSocket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (code: number) => void; reject: (e: Error) => void } | undefined;
  private ready: Promise<void>;

  constructor(private readonly t: LoadTarget) {
    this.sock = tls.connect({ host: t.host, port: t.port, ca: t.ca, cert: t.cert, key: t.key });
    this.sock.setNoDelay(true);
    this.ready = new Promise((res, rej) => {
      this.sock.once('secureConnect', () => res());
      this.sock.once('error', rej);
    });
    this.sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      this.parse();
    });
    const fail = (e: Error) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(e);
    };
    this.sock.on('error', fail);
    this.sock.on('close', () => fail(new Error('connection closed')));
  }

  /** Resolves once the TLS handshake is done. */
  connected(): Promise<void> {
    return this.ready;
  }

  /** Sends one request (Content-Length added) and resolves the response's status code. */
  async request(method: string, path: string, body: string, contentType = 'application/json'): Promise<number> {
    await this.ready;
    return new Promise<number>((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.sock.write(
        `${method} ${path} HTTP/1.1\r\nHost: ${this.t.host}:${this.t.port}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  /** Completes the waiting request once its whole response is in the buffer. */
  private parse(): void {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0 || !this.waiting) return;
    const head = this.buf.toString('latin1', 0, end);
    const code = Number(head.slice(9, 12));
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
    let total: number;
    if (cl) {
      total = end + 4 + Number(cl[1]);
      if (this.buf.length < total) return;
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      // chunks: size CRLF data CRLF ... 0 CRLF CRLF
      let p = end + 4;
      for (;;) {
        const le = this.buf.indexOf('\r\n', p);
        if (le < 0) return;
        const size = parseInt(this.buf.toString('latin1', p, le), 16);
        p = le + 2 + size + 2;
        if (p > this.buf.length) return;
        if (size === 0) break;
      }
      total = p;
    } else {
      total = end + 4;
    }
    this.buf = this.buf.subarray(total);
    const w = this.waiting;
    this.waiting = undefined;
    w.resolve(code);
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Where lean clients connect to a control plane started by the test helper, as its admin user. */
export function adminTarget(cp: { url: string; caPem: string; dataDir: string }): LoadTarget {
  const u = new URL(cp.url);
  return {
    host: u.hostname,
    port: Number(u.port),
    ca: cp.caPem,
    cert: readFileSync(join(cp.dataDir, 'pki', 'admin.crt')),
    key: readFileSync(join(cp.dataDir, 'pki', 'admin.key')),
  };
}

/**
 * POSTs every body once to `path` from `concurrency` connections (each request waits for
 * its answer) and returns the creates per second and the non-201 count. `pace`: requests
 * per second offered (open loop) instead of as fast as the server answers; `onSend(i)` is
 * called as body i goes out.
 */
export async function postAll(
  target: LoadTarget,
  path: string,
  bodies: string[],
  concurrency: number,
  opts: { pace?: number; onSend?: (i: number) => void } = {},
): Promise<{ rate: number; failed: number }> {
  const conns = Array.from({ length: concurrency }, () => new LeanConnection(target));
  let next = 0;
  let failed = 0;
  let t0 = 0;
  const worker = async (c: LeanConnection) => {
    for (;;) {
      const i = next++;
      if (i >= bodies.length) return;
      if (opts.pace) {
        const wait = t0 + (i * 1000) / opts.pace - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      opts.onSend?.(i);
      const code = await c.request('POST', path, bodies[i]!);
      if (code !== 201) failed++;
    }
  };
  // Connected before the clock starts: 32 TLS handshakes with client certificates would
  // otherwise hold up the first requests (and their watch events) by up to ~250 ms.
  await Promise.all(conns.map((c) => c.connected()));
  t0 = performance.now();
  await Promise.all(conns.map(worker));
  const secs = (performance.now() - t0) / 1000;
  for (const c of conns) c.close();
  return { rate: bodies.length / secs, failed };
}

/** CPU seconds (user+system) the process has used: a load-independent cost measure. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ=100)
}
