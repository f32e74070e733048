// Client side of the Kubernetes streaming protocols served by containerd's CRI streaming
// server (the URLs Exec/Attach/PortForward return), over WebSocket:
// - exec/attach: subprotocol v4.channel.k8s.io, every binary frame starts with a channel
//   byte: 0 stdin, 1 stdout, 2 stderr, 3 status (a JSON metav1.Status), 4 resize (JSON).
// - port-forward: same framing, channel 2i carries data for the i-th requested port and
//   2i+1 its errors; the first frame on each channel is the port number (uint16 LE).
import { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import type WebSocket from 'ws';
import type { ExecOptions, StreamSession } from '../types.js';
import { RuntimeError } from '../types.js';

const CHANNEL_PROTOCOL = 'v4.channel.k8s.io';

function toWs(url: string): string {
  return url.replace(/^http(s?):\/\//, 'ws$1://');
}

/** Opens the socket and hands frames to `onMessage` from the very first one: the server
 * may send frames in the same packet as the upgrade response, before `open` resolves. */
const requireCjs = createRequire(import.meta.url);
// readyState values (the WebSocket standard's), so only opening a socket loads `ws`.
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

async function openSocket(url: string, onMessage: (data: Buffer) => void): Promise<WebSocket> {
  const Ws = requireCjs('ws') as typeof WebSocket;
  const ws = new Ws(toWs(url), [CHANNEL_PROTOCOL]);
  ws.on('message', (data: Buffer, isBinary: boolean) => onMessage(isBinary ? data : Buffer.from(data)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (err) => reject(new RuntimeError('Unavailable', `streaming ${url}: ${err.message}`)));
    ws.once('unexpected-response', (_req, res) =>
      reject(new RuntimeError('Unknown', `streaming ${url}: HTTP ${res.statusCode}`)),
    );
  });
  return ws;
}

/** Exit code from the v4 status channel's metav1.Status. */
export function exitCodeFromStatus(text: string): { code: number; error?: string } {
  const st = JSON.parse(text) as {
    status?: string;
    reason?: string;
    message?: string;
    details?: { causes?: { reason?: string; message?: string }[] };
  };
  if (st.status === 'Success') return { code: 0 };
  if (st.reason === 'NonZeroExitCode') {
    const cause = st.details?.causes?.find((c) => c.reason === 'ExitCode');
    return { code: Number(cause?.message ?? 1) };
  }
  return { code: -1, error: st.message ?? text };
}

/** Runs one exec/attach session against a streaming URL. */
export async function remoteCommandSession(url: string, opts: ExecOptions, kind: 'exec' | 'attach'): Promise<StreamSession> {
  let status: { code: number; error?: string } | undefined;
  const ws = await openSocket(url, (buf) => {
    if (buf.length === 0) return;
    const ch = buf[0];
    const payload = buf.subarray(1);
    if (payload.length === 0) return; // channel-ready marker
    if (ch === 1) opts.stdout?.write(payload);
    else if (ch === 2) (opts.tty ? opts.stdout : opts.stderr)?.write(payload);
    else if (ch === 3) status = exitCodeFromStatus(payload.toString('utf8'));
  });
  const done = new Promise<number>((resolve, reject) => {
    if (ws.readyState === CLOSED) return resolve(status?.code ?? 0);
    ws.once('close', () => {
      opts.stdin?.off('data', onStdin);
      if (status?.error) reject(new RuntimeError('Unknown', `${kind}: ${status.error}`));
      else resolve(status?.code ?? 0);
    });
    ws.once('error', (err) => reject(new RuntimeError('Unknown', `${kind}: ${err.message}`)));
  });
  done.catch(() => {}); // callers may only call close(); never an unhandled rejection
  const onStdin = (chunk: Buffer | string): void => {
    if (ws.readyState !== OPEN) return;
    ws.send(Buffer.concat([Buffer.from([0]), Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)]));
  };
  opts.stdin?.on('data', onStdin);
  return {
    resize(cols: number, rows: number) {
      if (ws.readyState !== OPEN) return;
      ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify({ Width: cols, Height: rows }))]));
    },
    done,
    close() {
      opts.stdin?.off('data', onStdin);
      // v4 has no half-close for stdin: ending the session is closing the socket.
      if (ws.readyState === OPEN || ws.readyState === CONNECTING) ws.close();
    },
  };
}

/** A Duplex over one port of a port-forward streaming URL. */
export async function portForwardStream(url: string): Promise<Duplex> {
  const toSkip = new Map<number, number>();
  let errText = '';
  const early: Buffer[] = [];
  let onData: (data: Buffer) => void = (d) => early.push(d);
  const ws = await openSocket(url, (d) => onData(d));
  const duplex = new Duplex({
    read() {
      if (ws.isPaused) ws.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== OPEN) return cb(new Error('port-forward stream closed'));
      ws.send(Buffer.concat([Buffer.from([0]), chunk]), cb);
    },
    final(cb) {
      // No half-close in v4: the remote side ends the stream when its socket closes.
      cb();
    },
    destroy(err, cb) {
      if (ws.readyState === OPEN || ws.readyState === CONNECTING) ws.close();
      cb(err);
    },
  });
  onData = (data: Buffer) => {
    if (data.length === 0) return;
    const ch = data[0]!;
    let payload = data.subarray(1);
    // Each channel's byte stream starts with the port number (2 bytes), whatever the framing.
    const skip = toSkip.get(ch) ?? 2;
    if (skip > 0) {
      const n = Math.min(skip, payload.length);
      toSkip.set(ch, skip - n);
      payload = payload.subarray(n);
    }
    if (payload.length === 0) return;
    if (ch === 0) {
      if (!duplex.push(payload)) ws.pause();
    } else if (ch === 1) errText += payload.toString('utf8');
  };
  for (const d of early.splice(0)) onData(d);
  ws.once('close', () => {
    if (errText) duplex.destroy(new RuntimeError('Unknown', `port-forward: ${errText.trim()}`));
    else duplex.push(null);
  });
  ws.once('error', (err) => duplex.destroy(err));
  return duplex;
}
