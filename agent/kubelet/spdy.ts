// A minimal SPDY/3.1 server: the framing and streams that port-forward and exec/attach need
// (spdy-remotecommand.ts has the latter). kubectl 1.32 port-forward speaks SPDY, either
// tunnelled inside WebSocket binary messages (subprotocol "SPDY/3.1+portforward.k8s.io",
// tried first) or after a plain "Upgrade: SPDY/3.1"; kubectl up to 1.29 (and 1.32 with
// KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false) runs exec/attach over the plain upgrade.
// Per forwarded connection the client opens two streams with headers streamType=error|data,
// port, requestID; we answer SYN_REPLY, dial the port in the pod and pipe the data stream;
// failures go as text on the error stream. Header blocks are zlib-compressed with one context
// per direction, seeded with the SPDY/3 dictionary (a protocol constant). A header block may
// inflate to at most MAX_HEADER_BLOCK bytes: zlib turns a few hundred KB into gigabytes, so a
// bigger one resets the stream and ends the session (the shared zlib context is then out of
// step), and a control frame too big to hold such a block is refused before it is buffered.
// Flow control is not enforced (the Go client, moby/spdystream, does not need WINDOW_UPDATEs).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import zlib from 'node:zlib';
import type { WebSocketServer } from 'ws';

export const SPDY_PORTFORWARD_WS_PROTOCOL = 'SPDY/3.1+portforward.k8s.io';
export const SPDY_DICTIONARY = Buffer.from(
  'AAAAB29wdGlvbnMAAAAEaGVhZAAAAARwb3N0AAAAA3B1dAAAAAZkZWxldGUAAAAFdHJhY2UAAAAGYWNjZXB0AAAADmFjY2VwdC1jaGFyc2V0AAAAD2FjY2VwdC1lbmNvZGluZwAAAA9hY2NlcHQtbGFuZ3VhZ2UAAAANYWNjZXB0LXJhbmdlcwAAAANhZ2UAAAAFYWxsb3cAAAANYXV0aG9yaXphdGlvbgAAAA1jYWNoZS1jb250cm9sAAAACmNvbm5lY3Rpb24AAAAMY29udGVudC1iYXNlAAAAEGNvbnRlbnQtZW5jb2RpbmcAAAAQY29udGVudC1sYW5ndWFnZQAAAA5jb250ZW50LWxlbmd0aAAAABBjb250ZW50LWxvY2F0aW9uAAAAC2NvbnRlbnQtbWQ1AAAADWNvbnRlbnQtcmFuZ2UAAAAMY29udGVudC10eXBlAAAABGRhdGUAAAAEZXRhZwAAAAZleHBlY3QAAAAHZXhwaXJlcwAAAARmcm9tAAAABGhvc3QAAAAIaWYtbWF0Y2gAAAARaWYtbW9kaWZpZWQtc2luY2UAAAANaWYtbm9uZS1tYXRjaAAAAAhpZi1yYW5nZQAAABNpZi11bm1vZGlmaWVkLXNpbmNlAAAADWxhc3QtbW9kaWZpZWQAAAAIbG9jYXRpb24AAAAMbWF4LWZvcndhcmRzAAAABnByYWdtYQAAABJwcm94eS1hdXRoZW50aWNhdGUAAAATcHJveHktYXV0aG9yaXphdGlvbgAAAAVyYW5nZQAAAAdyZWZlcmVyAAAAC3JldHJ5LWFmdGVyAAAABnNlcnZlcgAAAAJ0ZQAAAAd0cmFpbGVyAAAAEXRyYW5zZmVyLWVuY29kaW5nAAAAB3VwZ3JhZGUAAAAKdXNlci1hZ2VudAAAAAR2YXJ5AAAAA3ZpYQAAAAd3YXJuaW5nAAAAEHd3dy1hdXRoZW50aWNhdGUAAAAGbWV0aG9kAAAAA2dldAAAAAZzdGF0dXMAAAAGMjAwIE9LAAAAB3ZlcnNpb24AAAAISFRUUC8xLjEAAAADdXJsAAAABnB1YmxpYwAAAApzZXQtY29va2llAAAACmtlZXAtYWxpdmUAAAAGb3JpZ2luMTAwMTAxMjAxMjAyMjA1MjA2MzAwMzAyMzAzMzA0MzA1MzA2MzA3NDAyNDA1NDA2NDA3NDA4NDA5NDEwNDExNDEyNDEzNDE0NDE1NDE2NDE3NTAyNTA0NTA1MjAzIE5vbi1BdXRob3JpdGF0aXZlIEluZm9ybWF0aW9uMjA0IE5vIENvbnRlbnQzMDEgTW92ZWQgUGVybWFuZW50bHk0MDAgQmFkIFJlcXVlc3Q0MDEgVW5hdXRob3JpemVkNDAzIEZvcmJpZGRlbjQwNCBOb3QgRm91bmQ1MDAgSW50ZXJuYWwgU2VydmVyIEVycm9yNTAxIE5vdCBJbXBsZW1lbnRlZDUwMyBTZXJ2aWNlIFVuYXZhaWxhYmxlSmFuIEZlYiBNYXIgQXByIE1heSBKdW4gSnVsIEF1ZyBTZXB0IE9jdCBOb3YgRGVjIDAwOjAwOjAwIE1vbiwgVHVlLCBXZWQsIFRodSwgRnJpLCBTYXQsIFN1biwgR01UY2h1bmtlZCx0ZXh0L2h0bWwsaW1hZ2UvcG5nLGltYWdlL2pwZyxpbWFnZS9naWYsYXBwbGljYXRpb24veG1sLGFwcGxpY2F0aW9uL3hodG1sK3htbCx0ZXh0L3BsYWluLHRleHQvamF2YXNjcmlwdCxwdWJsaWNwcml2YXRlbWF4LWFnZT1nemlwLGRlZmxhdGUsc2RjaGNoYXJzZXQ9dXRmLThjaGFyc2V0PWlzby04ODU5LTEsdXRmLSwqLGVucT0wLg==',
  'base64',
);

/** Inflated header block cap; a real exec or port-forward block is a few hundred bytes. */
export const MAX_HEADER_BLOCK = 1 << 20;
/** A control frame holds one header block (compressed, so slightly bigger at worst) plus ids. */
const MAX_CONTROL_FRAME = MAX_HEADER_BLOCK + 1024;

const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const HEADERS = 8;
const FLAG_FIN = 0x01;
const STATUS_PROTOCOL_ERROR = 1;
const STATUS_CANCEL = 5;
const STATUS_FRAME_TOO_LARGE = 11;

export class HeaderBlockTooLarge extends Error {
  constructor() {
    super(`SPDY header block larger than ${MAX_HEADER_BLOCK} bytes`);
  }
}

export function isSpdyUpgrade(req: IncomingMessage): boolean {
  return /^spdy\//i.test(req.headers.upgrade ?? '');
}

/**
 * Streaming zlib with a persistent context: each block is flushed with Z_SYNC_FLUSH. With
 * `maxOut`, output beyond it destroys the context and rejects with HeaderBlockTooLarge.
 */
class ZContext {
  private q: Promise<unknown> = Promise.resolve();
  constructor(private z: zlib.Inflate | zlib.Deflate) {
    z.on('error', () => undefined);
  }
  run(input: Buffer, maxOut = Infinity): Promise<Buffer> {
    const p = this.q.then(
      () =>
        new Promise<Buffer>((resolve, reject) => {
          if (this.z.destroyed) return reject(new Error('zlib context closed'));
          const chunks: Buffer[] = [];
          let size = 0;
          const done = (err?: Error) => {
            this.z.off('data', onData);
            this.z.off('error', done);
            if (err) reject(err);
            else resolve(Buffer.concat(chunks));
          };
          const onData = (d: Buffer) => {
            size += d.length;
            if (size > maxOut) {
              chunks.length = 0;
              this.z.destroy();
              done(new HeaderBlockTooLarge());
              return;
            }
            chunks.push(d);
          };
          this.z.on('data', onData);
          this.z.once('error', done);
          this.z.write(input);
          this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
            if (!this.z.destroyed) done();
          });
        }),
    );
    this.q = p.catch(() => undefined);
    return p;
  }
  close(): void {
    this.z.destroy();
  }
}

export function encodeHeaderBlock(h: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeUInt32BE(Object.keys(h).length);
  parts.push(n);
  for (const [k, v] of Object.entries(h)) {
    for (const s of [k.toLowerCase(), v]) {
      const b = Buffer.from(s);
      const l = Buffer.alloc(4);
      l.writeUInt32BE(b.length);
      parts.push(l, b);
    }
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(b: Buffer): Record<string, string> {
  // Null-prototype: header names come from the client and may be "__proto__".
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let o = 0;
  const take = (): Buffer => {
    if (o + 4 > b.length) throw new Error('truncated SPDY header block');
    const l = b.readUInt32BE(o);
    o += 4;
    if (o + l > b.length) throw new Error('truncated SPDY header block');
    const v = b.subarray(o, o + l);
    o += l;
    return v;
  };
  if (b.length < 4) throw new Error('truncated SPDY header block');
  const n = b.readUInt32BE(o);
  o += 4;
  for (let i = 0; i < n; i++) {
    const k = take().toString();
    out[k] = take().toString().split('\0')[0]!;
  }
  return out;
}

function controlFrame(type: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | 3, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(data.length, 4);
  h[4] = flags;
  return Buffer.concat([h, data]);
}

function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(data.length, 4);
  h[4] = flags;
  return Buffer.concat([h, data]);
}

export interface SpdyStream {
  id: number;
  headers: Record<string, string>;
  onData?: (d: Buffer) => void;
  /** The client half-closed the stream (FIN). */
  onEnd?: () => void;
  /** The stream was reset, or the whole session went away. */
  onReset?: () => void;
  write(d: Buffer): void;
  /** Our half-close (FIN). */
  end(): void;
  reset(): void;
}

/** The server side of one SPDY connection over any byte transport. */
export class SpdyServerSession {
  private buf: Buffer = Buffer.alloc(0);
  private inflate = new ZContext(zlib.createInflate({ dictionary: SPDY_DICTIONARY }));
  private deflate = new ZContext(zlib.createDeflate({ dictionary: SPDY_DICTIONARY }));
  private streams = new Map<number, SpdyStream>();
  private queue: Promise<void> = Promise.resolve();
  private lastStreamId = 0;
  closed = false;

  /**
   * `send` writes to the transport; `onStream` gets each stream the client opens; `onClose`
   * ends the transport when the session ends on its own (GOAWAY, protocol error).
   */
  constructor(
    private send: (b: Buffer) => void,
    private onStream: (s: SpdyStream) => void,
    private onClose: () => void = () => undefined,
  ) {}

  feed(chunk: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if ((this.buf[0]! & 0x80) !== 0 && len > MAX_CONTROL_FRAME) {
        // Refused from its length alone: its header block cannot be within the cap.
        const id = this.buf.length >= 12 && this.buf.readUInt16BE(2) === SYN_STREAM ? this.buf.readUInt32BE(8) & 0x7fffffff : 0;
        this.buf = Buffer.alloc(0);
        this.fail(id, STATUS_FRAME_TOO_LARGE);
        return;
      }
      if (this.buf.length < 8 + len) break;
      const frame = this.buf.subarray(0, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      // Frames are handled in order (header decompression is stateful and async).
      this.queue = this.queue.then(() => (this.closed ? undefined : this.handle(Buffer.from(frame)))).catch(() => this.fail(0));
    }
  }

  private async handle(f: Buffer): Promise<void> {
    const control = (f[0]! & 0x80) !== 0;
    const flags = f[4]!;
    const data = f.subarray(8);
    if (!control) {
      const id = f.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (!s) return;
      if (data.length) s.onData?.(Buffer.from(data));
      if (flags & FLAG_FIN) s.onEnd?.();
      return;
    }
    const type = f.readUInt16BE(2);
    if (type === SYN_STREAM) {
      if (data.length < 10) throw new Error('short SYN_STREAM');
      const id = data.readUInt32BE(0) & 0x7fffffff;
      let headers: Record<string, string>;
      try {
        headers = decodeHeaderBlock(await this.inflate.run(data.subarray(10), MAX_HEADER_BLOCK));
      } catch (e) {
        if (e instanceof HeaderBlockTooLarge) this.rst(id, STATUS_FRAME_TOO_LARGE);
        throw e;
      }
      this.lastStreamId = Math.max(this.lastStreamId, id);
      const reply = Buffer.alloc(4);
      reply.writeUInt32BE(id);
      const block = await this.deflate.run(encodeHeaderBlock({}));
      this.send(controlFrame(SYN_REPLY, 0, Buffer.concat([reply, block])));
      const s: SpdyStream = {
        id,
        headers,
        write: (d) => {
          if (this.closed) return;
          for (let o = 0; o < d.length; o += 32 * 1024) this.send(dataFrame(id, 0, d.subarray(o, o + 32 * 1024)));
        },
        end: () => {
          if (!this.closed) this.send(dataFrame(id, FLAG_FIN, Buffer.alloc(0)));
        },
        reset: () => {
          this.rst(id, STATUS_CANCEL);
          this.streams.delete(id);
        },
      };
      this.streams.set(id, s);
      this.onStream(s);
      if (flags & FLAG_FIN) s.onEnd?.();
    } else if (type === HEADERS) {
      // Keep the zlib context in step; the headers themselves mean nothing to us.
      await this.inflate.run(data.subarray(4), MAX_HEADER_BLOCK);
    } else if (type === RST_STREAM) {
      const id = data.readUInt32BE(0) & 0x7fffffff;
      const s = this.streams.get(id);
      this.streams.delete(id);
      s?.onReset?.();
    } else if (type === PING) {
      this.send(controlFrame(PING, 0, Buffer.from(data)));
    } else if (type === GOAWAY) {
      this.close();
    }
    // SETTINGS and WINDOW_UPDATE need no answer.
  }

  private rst(id: number, status: number): void {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(id & 0x7fffffff, 0);
    b.writeUInt32BE(status, 4);
    try {
      this.send(controlFrame(RST_STREAM, 0, b));
    } catch {
      /* transport gone */
    }
  }

  /** A session-level error: reset the offending stream, GOAWAY, end the transport. */
  private fail(streamId: number, status = STATUS_PROTOCOL_ERROR): void {
    if (this.closed) return;
    if (streamId) this.rst(streamId, status);
    this.goaway(STATUS_PROTOCOL_ERROR);
    this.close();
  }

  /** Ends the session: every stream sees onReset, the transport is ended. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buf = Buffer.alloc(0);
    for (const s of this.streams.values()) s.onReset?.();
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
    this.onClose();
  }

  goaway(status = 0): void {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(this.lastStreamId, 0);
    b.writeUInt32BE(status, 4);
    try {
      this.send(controlFrame(GOAWAY, 0, b));
    } catch {
      /* transport gone */
    }
  }
}

/** Pair error+data streams by requestID and forward each pair to a port in the pod. */
export function portForwardHandler(dial: (port: number) => Promise<Duplex>): (s: SpdyStream) => void {
  const pairs = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
  return (s) => {
    const type = s.headers['streamtype'];
    const req = s.headers['requestid'] ?? s.headers['port'] ?? '';
    const pair = pairs.get(req) ?? {};
    if (type === 'error') pair.error = s;
    else if (type === 'data') pair.data = s;
    else return s.reset();
    pairs.set(req, pair);
    s.onEnd = () => undefined;
    if (!pair.error || !pair.data) return;
    pairs.delete(req);
    const { error, data } = pair as { error: SpdyStream; data: SpdyStream };
    const port = Number(data.headers['port']);
    const pending: Buffer[] = [];
    let ended = false;
    data.onData = (d) => pending.push(d);
    data.onEnd = () => (ended = true);
    dial(port).then(
      (conn) => {
        for (const d of pending) conn.write(d);
        if (ended) conn.end();
        data.onData = (d) => conn.write(d);
        data.onEnd = () => conn.end();
        data.onReset = () => conn.destroy();
        conn.on('data', (d: Buffer) => data.write(d));
        conn.on('end', () => {
          data.end();
          error.end();
        });
        conn.on('error', (e) => {
          error.write(Buffer.from(`error forwarding port ${port} to pod: ${e.message}`));
          error.end();
          data.end();
        });
      },
      (e: Error) => {
        error.write(Buffer.from(`error forwarding port ${port} to pod, uid : ${e.message}`));
        error.end();
        data.end();
      },
    );
  };
}

/** Accept either transport and run port-forward over it. */
export function handleSpdyPortForward(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  dial: (port: number) => Promise<Duplex>,
  wss: WebSocketServer,
): void {
  const upgrade = (req.headers.upgrade ?? '').toLowerCase();
  if (upgrade === 'websocket') {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const session = new SpdyServerSession((b) => ws.readyState === 1 && ws.send(b, { binary: true }), portForwardHandler(dial), () => ws.close());
      ws.on('message', (m: Buffer) => session.feed(Buffer.from(m)));
      ws.on('close', () => session.close());
    });
    return;
  }
  serveSpdyUpgrade(socket, head, 'portforward.k8s.io', portForwardHandler(dial));
}

/**
 * Answers a plain "Upgrade: SPDY/3.1" request with 101 and runs a session on the socket;
 * the session ending ends the socket and the other way round.
 */
export function serveSpdyUpgrade(socket: Duplex, head: Buffer, protocol: string, onStream: (s: SpdyStream) => void): SpdyServerSession {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n${protocol ? `X-Stream-Protocol-Version: ${protocol}\r\n` : ''}\r\n`);
  const session = new SpdyServerSession((b) => !socket.destroyed && socket.write(b), onStream, () => socket.end());
  if (head.length) session.feed(head);
  socket.on('data', (d: Buffer) => session.feed(d));
  socket.on('close', () => session.close());
  socket.on('error', () => session.close());
  return session;
}
