// A small SPDY/3.1 client for tests: the plain "Upgrade: SPDY/3.1" handshake over TLS, then
// SYN_STREAM / data frames out and every frame the server sends parsed into events. It is
// the other end of agent/kubelet/spdy.ts, written from the protocol (one zlib context per
// direction, seeded with the SPDY dictionary), so tests can also send what no real client
// would (a header block that inflates to hundreds of megabytes).
import tls from 'node:tls';
import zlib from 'node:zlib';
import { SPDY_DICTIONARY, encodeHeaderBlock, decodeHeaderBlock } from '../../agent/kubelet/spdy.js';

export interface SpdyEvents {
  replies: number[];
  data: Map<number, Buffer>;
  fin: Set<number>;
  resets: { id: number; status: number }[];
  goaway?: { lastStreamId: number; status: number };
  closed: boolean;
}

export interface SpdyClient {
  /** The HTTP response head (status line and headers) to the upgrade. */
  response: string;
  status: number;
  events: SpdyEvents;
  syn(id: number, headers: Record<string, string>, fin?: boolean): Promise<void>;
  /** A SYN_STREAM whose header block is `block` as is (already compressed by the caller). */
  synRaw(id: number, block: Buffer, fin?: boolean): void;
  data(id: number, payload: Buffer, fin?: boolean): void;
  text(id: number): string;
  waitFor(what: string, pred: () => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

function syncFlush(z: zlib.Deflate | zlib.Inflate, input: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const on = (d: Buffer) => chunks.push(d);
    z.on('data', on);
    z.write(input);
    z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      z.off('data', on);
      resolve(Buffer.concat(chunks));
    });
  });
}

function frame(control: boolean, typeOrId: number, flags: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  if (control) {
    h.writeUInt16BE(0x8003, 0);
    h.writeUInt16BE(typeOrId, 2);
  } else h.writeUInt32BE(typeOrId & 0x7fffffff, 0);
  h.writeUInt32BE(body.length & 0xffffff, 4);
  h[4] = flags;
  return Buffer.concat([h, body]);
}

export interface SpdyConnectOptions {
  host: string;
  port: number;
  path: string;
  ca: string;
  cert: string;
  key: string;
  method?: string;
  /** Extra request headers, e.g. X-Stream-Protocol-Version (repeated as separate lines). */
  headers?: [string, string][];
}

export async function spdyConnect(o: SpdyConnectOptions): Promise<SpdyClient> {
  const sock = tls.connect({ host: o.host, port: o.port, ca: o.ca, cert: o.cert, key: o.key });
  sock.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    sock.once('secureConnect', () => resolve());
    sock.once('error', reject);
  });
  let head = `${o.method ?? 'POST'} ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n`;
  for (const [k, v] of o.headers ?? []) head += `${k}: ${v}\r\n`;
  sock.write(head + '\r\n');
  const events: SpdyEvents = { replies: [], data: new Map(), fin: new Set(), resets: [], closed: false };
  const def = zlib.createDeflate({ dictionary: SPDY_DICTIONARY });
  const inf = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  let buf = Buffer.alloc(0);
  let response = '';
  let parsing = Promise.resolve();
  const parse = async () => {
    while (buf.length >= 8 && buf.length >= 8 + (buf.readUInt32BE(4) & 0xffffff)) {
      const len = buf.readUInt32BE(4) & 0xffffff;
      const f = buf.subarray(0, 8 + len);
      buf = buf.subarray(8 + len);
      const flags = f[4]!;
      if (f[0]! & 0x80) {
        const type = f.readUInt16BE(2);
        if (type === 2) {
          events.replies.push(f.readUInt32BE(8) & 0x7fffffff);
          decodeHeaderBlock(await syncFlush(inf, f.subarray(12)));
        } else if (type === 3) events.resets.push({ id: f.readUInt32BE(8) & 0x7fffffff, status: f.readUInt32BE(12) });
        else if (type === 7) events.goaway = { lastStreamId: f.readUInt32BE(8), status: f.readUInt32BE(12) };
      } else {
        const id = f.readUInt32BE(0) & 0x7fffffff;
        events.data.set(id, Buffer.concat([events.data.get(id) ?? Buffer.alloc(0), f.subarray(8)]));
        if (flags & 1) events.fin.add(id);
      }
    }
  };
  await new Promise<void>((resolve, reject) => {
    let pre = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      if (response) {
        buf = Buffer.concat([buf, d]);
        parsing = parsing.then(parse);
        return;
      }
      pre = Buffer.concat([pre, d]);
      const end = pre.indexOf('\r\n\r\n');
      if (end < 0) return;
      response = pre.subarray(0, end).toString();
      buf = pre.subarray(end + 4);
      parsing = parsing.then(parse);
      resolve();
    };
    sock.on('data', onData);
    sock.on('close', () => {
      events.closed = true;
      if (!response) reject(new Error('closed before the upgrade response'));
    });
    sock.on('error', () => undefined);
  });
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(response)?.[1] ?? 0);
  const client: SpdyClient = {
    response,
    status,
    events,
    async syn(id, headers, fin = false) {
      this.synRaw(id, await syncFlush(def, encodeHeaderBlock(headers)), fin);
    },
    synRaw(id: number, block: Buffer, fin = false) {
      const body = Buffer.alloc(10);
      body.writeUInt32BE(id, 0);
      sock.write(frame(true, 1, fin ? 1 : 0, Buffer.concat([body, block])));
    },
    data(id, payload, fin = false) {
      sock.write(frame(false, id, fin ? 1 : 0, payload));
    },
    text(id) {
      return (events.data.get(id) ?? Buffer.alloc(0)).toString();
    },
    async waitFor(what, pred, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ ...events, data: [...events.data].map(([k, v]) => [k, v.toString()]), fin: [...events.fin] })}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close() {
      sock.destroy();
    },
  };
  return client;
}

/**
 * A header block (compressed with a fresh SPDY context, as a client's first SYN_STREAM is)
 * of about `compressedBytes` that inflates to roughly a thousand times that: one header whose
 * value is zeros. Built by streaming zeros through deflate, never holding the inflated size.
 */
export async function headerBomb(compressedBytes: number): Promise<{ block: Buffer; inflatedBytes: number }> {
  const def = zlib.createDeflate({ dictionary: SPDY_DICTIONARY, level: 9 });
  const out: Buffer[] = [];
  def.on('data', (d: Buffer) => out.push(d));
  const chunk = Buffer.alloc(1 << 20);
  // Header block: 1 pair, name "x", value of `valueLen` zeros; the length is patched in below.
  const valueLen = compressedBytes * 1000;
  const prefix = Buffer.alloc(4 + 4 + 1 + 4);
  prefix.writeUInt32BE(1, 0);
  prefix.writeUInt32BE(1, 4);
  prefix.write('x', 8);
  prefix.writeUInt32BE(valueLen, 9);
  def.write(prefix);
  let written = 0;
  while (written < valueLen) {
    const n = Math.min(chunk.length, valueLen - written);
    if (!def.write(chunk.subarray(0, n))) await new Promise((r) => def.once('drain', r));
    written += n;
  }
  await new Promise<void>((r) => def.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
  return { block: Buffer.concat(out), inflatedBytes: prefix.length + valueLen };
}
