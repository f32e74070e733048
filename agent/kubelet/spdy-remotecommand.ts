// exec and attach over SPDY/3.1, the server side of upstream's remotecommand protocols
// v4/v3/v2.channel.k8s.io (and channel.k8s.io, served as v2): the client upgrades with
// X-Stream-Protocol-Version headers, we pick the first of its offers we serve, then it opens
// one SPDY stream per channel, named by the streamType header: error, stdin, stdout, stderr
// (not with a tty) and resize (v3+, with a tty; a sequence of JSON {"Width","Height"}).
// The command starts once every expected stream is there; when it ends, the exit status goes
// on the error stream (v4: a metav1.Status, earlier versions: the message of a failure only),
// every stream is half-closed and the connection ends.
import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable, type Duplex } from 'node:stream';
import type { StreamSession } from '../runtime/types.js';
import { serveSpdyUpgrade, type SpdyStream } from './spdy.js';
import { exitStatus, type RemoteCommandOptions } from './streaming.js';

export const SPDY_REMOTE_COMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

/** Upstream's DefaultStreamCreationTimeout: how long the client may take to open its streams. */
export const STREAM_CREATION_TIMEOUT_MS = 30_000;
/** A resize message is a few dozen bytes; more without a complete object is garbage. */
const MAX_RESIZE_BUFFER = 4096;

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/** The client's X-Stream-Protocol-Version offers, in its order (repeated or comma-joined). */
export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headersDistinct?.['x-stream-protocol-version'] ?? [];
  return raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

/**
 * httpstream.Handshake: the protocol to serve, or the refusal to answer with. A client that
 * offers none gets the original protocol (channel.k8s.io) and no header back, as upstream.
 */
export function negotiate(offered: string[]): { protocol: string } | { code: 403; message: string } {
  if (offered.length === 0) return { protocol: '' };
  const p = offered.find((x) => SPDY_REMOTE_COMMAND_PROTOCOLS.includes(x));
  if (!p) {
    return { code: 403, message: `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${SPDY_REMOTE_COMMAND_PROTOCOLS.join(' ')}]` };
  }
  return { protocol: p };
}

function expectedStreams(protocol: string, o: RemoteCommandOptions): Set<StreamType> {
  const want = new Set<StreamType>(['error']);
  if (o.stdin) want.add('stdin');
  if (o.stdout) want.add('stdout');
  if (o.stderr && !o.tty) want.add('stderr');
  if (o.tty && (protocol.startsWith('v3') || protocol.startsWith('v4'))) want.add('resize');
  return want;
}

/** Splits a byte stream of concatenated JSON objects ({"Width":80,"Height":24}{...}). */
export class JsonObjectSplitter {
  private buf = '';
  /** Complete objects so far; throws when the input cannot be a sequence of small objects. */
  push(chunk: Buffer): unknown[] {
    this.buf += chunk.toString('utf8');
    const out: unknown[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    let consumed = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const ch = this.buf[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (ch === '\\') escaped = true;
        else if (ch === '"') inString = false;
        continue;
      }
      if (ch === '"') inString = true;
      else if (ch === '{') {
        if (depth === 0) start = i;
        depth++;
      } else if (ch === '}') {
        depth--;
        if (depth < 0) throw new Error('bad resize stream');
        if (depth === 0) {
          out.push(JSON.parse(this.buf.slice(start, i + 1)));
          consumed = i + 1;
        }
      } else if (depth === 0 && !/\s/.test(ch)) throw new Error('bad resize stream');
    }
    this.buf = this.buf.slice(consumed);
    if (this.buf.length > MAX_RESIZE_BUFFER) throw new Error('resize message too large');
    return out;
  }
}

export type StartCommand = (io: { stdin?: PassThrough; stdout?: Writable; stderr?: Writable; tty: boolean }) => Promise<StreamSession>;

/**
 * Serve one exec/attach over a plain SPDY upgrade. `protocol` comes from negotiate(); the
 * caller has checked the request (authentication, the container) already.
 */
export function serveSpdyRemoteCommand(socket: Duplex, head: Buffer, protocol: string, opts: RemoteCommandOptions, start: StartCommand): void {
  const want = expectedStreams(protocol, opts);
  const got = new Map<StreamType, SpdyStream>();
  const stdin = opts.stdin ? new PassThrough() : undefined;
  const resize = new JsonObjectSplitter();
  const pendingResize: { cols: number; rows: number }[] = [];
  let session: StreamSession | undefined;
  let started = false;
  let finished = false;

  const spdy = serveSpdyUpgrade(socket, head, protocol, (s) => {
    const type = s.headers['streamtype'] as StreamType | undefined;
    if (!type || !['error', 'stdin', 'stdout', 'stderr', 'resize'].includes(type) || got.has(type) || started) {
      s.reset();
      return;
    }
    got.set(type, s);
    s.onReset = () => {
      if (type === 'stdin') stdin?.end();
    };
    if (type === 'stdin') {
      s.onData = (d) => stdin?.write(d);
      s.onEnd = () => stdin?.end();
    } else if (type === 'resize') {
      s.onData = (d) => {
        try {
          for (const r of resize.push(d) as { Width?: unknown; Height?: unknown }[]) {
            const cols = Number(r?.Width);
            const rows = Number(r?.Height);
            if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 0 || rows < 0 || cols > 0xffff || rows > 0xffff) continue;
            if (session) session.resize(cols, rows);
            else pendingResize.push({ cols, rows });
          }
        } catch {
          s.reset();
        }
      };
    }
    if ([...want].every((t) => got.has(t))) void run();
  });
  const timer = setTimeout(() => {
    if (!started) spdy.close();
  }, STREAM_CREATION_TIMEOUT_MS);
  timer.unref();
  socket.on('close', () => {
    clearTimeout(timer);
    stdin?.end();
    if (!finished) session?.close();
  });

  const sink = (type: 'stdout' | 'stderr') =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        got.get(type)?.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        cb();
      },
    });

  const run = async () => {
    started = true;
    clearTimeout(timer);
    let code = 0;
    let err: string | undefined;
    try {
      session = await start({ stdin, stdout: got.has('stdout') ? sink('stdout') : undefined, stderr: got.has('stderr') ? sink('stderr') : undefined, tty: opts.tty });
      for (const r of pendingResize) session.resize(r.cols, r.rows);
      code = await session.done;
    } catch (e) {
      err = (e as Error).message;
    }
    finished = true;
    // Let output written just before the exit go out before the status.
    await new Promise((r) => setImmediate(r));
    const error = got.get('error')!;
    if (protocol.startsWith('v4')) error.write(Buffer.from(JSON.stringify(exitStatus(code, err))));
    else if (err || code !== 0) error.write(Buffer.from(err ?? String(exitStatus(code).message)));
    for (const s of got.values()) s.end();
    spdy.close();
  };
}
