// The Kubernetes remote-command and port-forward WebSocket protocols, server side.
// Remote command (exec/attach), after upstream's wsstream + remotecommand:
//   channel.k8s.io           binary frames, first byte = channel; errors as plain text
//   base64.channel.k8s.io    text frames, first char = channel digit, payload base64
//   v4.channel.k8s.io        as channel.k8s.io, error channel carries a metav1.Status JSON
//   v4.base64.channel.k8s.io base64 framing with v4 semantics
//   v5.channel.k8s.io        v4 plus channel 255 "close stream" (payload: the channel id),
//                            which is how kubectl signals stdin EOF
// Channels: 0 stdin, 1 stdout, 2 stderr, 3 error/status, 4 resize ({"Width","Height"}).
// Port-forward over WebSocket (v4.channel.k8s.io / portforward.k8s.io): ports from the query,
// channel 2i = data of the i-th port, 2i+1 = its errors; the server's first frame on every
// channel is the port number as uint16 little-endian.
import { PassThrough, Writable, type Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { StreamSession } from '../runtime/types.js';

export const REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'base64.channel.k8s.io', 'channel.k8s.io'];
export const PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'portforward.k8s.io', 'v4.base64.channel.k8s.io', 'base64.channel.k8s.io', 'channel.k8s.io'];

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
export const CLOSE = 255;

/** Pick the protocol: the first of the client's offers we support (client preference). */
export function selectProtocol(offered: Set<string> | string[], supported: string[]): string | false {
  const list = [...offered];
  for (const p of list) if (supported.includes(p)) return p;
  return false;
}

export function isBase64(proto: string): boolean {
  return proto.includes('base64');
}

export function encodeFrame(proto: string, channel: number, data: Buffer): Buffer | string {
  if (isBase64(proto)) return String.fromCharCode(48 + channel) + data.toString('base64');
  const out = Buffer.allocUnsafe(data.length + 1);
  out[0] = channel;
  data.copy(out, 1);
  return out;
}

export function decodeFrame(proto: string, msg: Buffer, isBinary: boolean): { channel: number; data: Buffer } | undefined {
  if (isBase64(proto) && !isBinary) {
    const s = msg.toString('utf8');
    if (s.length === 0) return undefined;
    return { channel: s.charCodeAt(0) - 48, data: Buffer.from(s.slice(1), 'base64') };
  }
  if (msg.length === 0) return undefined;
  return { channel: msg[0]!, data: msg.subarray(1) };
}

/** metav1.Status for the error channel, as upstream's remotecommand server writes it. */
export function exitStatus(code: number, err?: string): Record<string, unknown> {
  if (err) return { metadata: {}, status: 'Failure', message: err, reason: 'InternalError', details: { causes: [{ message: err }] }, code: 500 };
  if (code === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command: exit status ${code}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
  };
}

export interface RemoteCommandOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Parse ?stdin=1&stdout=1&stderr=1&tty=1 (also "true"), as kubectl sends them. */
export function remoteCommandOptions(q: URLSearchParams): RemoteCommandOptions {
  const b = (k: string) => {
    const v = q.get(k);
    return v === '1' || v === 'true';
  };
  return { stdin: b('stdin'), stdout: b('stdout'), stderr: b('stderr'), tty: b('tty') };
}

/**
 * Serve one exec/attach over an accepted WebSocket: frames in -> stdin/resize, process
 * output -> frames, exit status on channel 3, then close.
 */
export async function serveRemoteCommand(
  ws: WebSocket,
  opts: RemoteCommandOptions,
  start: (io: { stdin?: PassThrough; stdout?: Writable; stderr?: Writable; tty: boolean }) => Promise<StreamSession>,
): Promise<void> {
  const proto = ws.protocol || 'channel.k8s.io';
  const v4 = proto.startsWith('v4') || proto.startsWith('v5');
  const send = (ch: number, data: Buffer) => {
    if (ws.readyState === 1) ws.send(encodeFrame(proto, ch, data));
  };
  const sink = (ch: number) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        send(ch, Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
        cb();
      },
    });
  const stdin = opts.stdin ? new PassThrough() : undefined;
  const stdout = opts.stdout ? sink(STDOUT) : undefined;
  const stderr = opts.stderr && !opts.tty ? sink(STDERR) : undefined;
  let session: StreamSession | undefined;
  const pendingResize: { cols: number; rows: number }[] = [];
  ws.on('message', (msg: Buffer, isBinary: boolean) => {
    const f = decodeFrame(proto, Buffer.isBuffer(msg) ? msg : Buffer.from(msg as unknown as ArrayBuffer), isBinary);
    if (!f) return;
    if (f.channel === STDIN) {
      if (f.data.length) stdin?.write(f.data);
    } else if (f.channel === RESIZE) {
      try {
        const r = JSON.parse(f.data.toString()) as { Width: number; Height: number };
        if (session) session.resize(r.Width, r.Height);
        else pendingResize.push({ cols: r.Width, rows: r.Height });
      } catch {
        /* ignore bad resize */
      }
    } else if (f.channel === CLOSE && proto.startsWith('v5')) {
      if (f.data[0] === STDIN) stdin?.end();
    }
  });
  ws.on('close', () => {
    stdin?.end();
    session?.close();
  });
  let code = 0;
  let err: string | undefined;
  try {
    session = await start({ stdin, stdout, stderr, tty: opts.tty });
    for (const r of pendingResize) session.resize(r.cols, r.rows);
    code = await session.done;
  } catch (e) {
    err = (e as Error).message;
  }
  // Let output written just before exit go out before the status frame.
  await new Promise((r) => setImmediate(r));
  if (v4) send(ERROR, Buffer.from(JSON.stringify(exitStatus(code, err))));
  else if (err || code !== 0) send(ERROR, Buffer.from(err ?? `command terminated with non-zero exit code: ${code}`));
  ws.close(1000);
}

/** Serve port-forward over a WebSocket: one runtime stream per requested port. */
export async function servePortForwardWs(ws: WebSocket, ports: number[], dial: (port: number) => Promise<Duplex>): Promise<void> {
  const proto = ws.protocol || 'v4.channel.k8s.io';
  const send = (ch: number, data: Buffer) => {
    if (ws.readyState === 1) ws.send(encodeFrame(proto, ch, data));
  };
  const streams: (Duplex | undefined)[] = [];
  const queued: Buffer[][] = ports.map(() => []);
  ports.forEach((p, i) => {
    const pb = Buffer.alloc(2);
    pb.writeUInt16LE(p);
    send(2 * i, pb);
    send(2 * i + 1, pb);
  });
  ws.on('message', (msg: Buffer, isBinary: boolean) => {
    const f = decodeFrame(proto, msg, isBinary);
    if (!f || f.channel % 2 !== 0) return;
    const i = f.channel / 2;
    if (i >= ports.length || !f.data.length) return;
    const s = streams[i];
    if (s) s.write(f.data);
    else queued[i]!.push(f.data);
  });
  ws.on('close', () => {
    for (const s of streams) s?.destroy();
  });
  await Promise.all(
    ports.map(async (p, i) => {
      try {
        const s = await dial(p);
        streams[i] = s;
        for (const d of queued[i]!) s.write(d);
        s.on('data', (d: Buffer) => send(2 * i, d));
        s.on('error', (e) => send(2 * i + 1, Buffer.from(`error forwarding port ${p}: ${e.message}`)));
        s.on('close', () => {
          if (streams.every((x) => !x || x.destroyed)) ws.close(1000);
        });
      } catch (e) {
        send(2 * i + 1, Buffer.from(`error forwarding port ${p} to pod: ${(e as Error).message}`));
      }
    }),
  );
}
