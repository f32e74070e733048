// Writes a Docker container's output into the kubelet's CRI log file
// (`<RFC3339Nano> stdout|stderr P|F <msg>` per line), as containerd does for the CRI runtime,
// so `kubectl logs` and `--previous` read one format on both runtimes. The source is Docker's
// logs API with timestamps; after an agent restart we resume after the last line written.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';

export type LogStream = 'stdout' | 'stderr';

/** Docker's RFC3339NanoFixed is fixed width and UTC, so string order is time order. */
const TS_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) /;

/** One CRI line; long entries arrive from Docker already cut at 16 KiB without a newline. */
export function criLine(ts: string, stream: LogStream, content: string): string {
  const full = content.endsWith('\n');
  const msg = full ? content.slice(0, -1) : content;
  return `${ts} ${stream} ${full ? 'F' : 'P'} ${msg.replace(/\r$/, '')}\n`;
}

/**
 * Timestamp of the last line written for a container: in its log file, or when that is
 * empty or missing (just rotated), in the newest rotated file, which stays uncompressed.
 */
export async function lastWrittenTimestamp(path: string): Promise<string> {
  const ts = await lastTimestamp(path);
  if (ts) return ts;
  const dir = dirname(path);
  const prefix = basename(path) + '.';
  const rotated = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith(prefix) && !n.endsWith('.gz') && !n.endsWith('.tmp')).sort();
  for (let i = rotated.length - 1; i >= 0; i--) {
    const t = await lastTimestamp(join(dir, rotated[i]!));
    if (t) return t;
  }
  return '';
}

/** Timestamp of the last complete line of an existing log file ('' if none). */
export async function lastTimestamp(path: string): Promise<string> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n').filter(Boolean);
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = TS_RE.exec(lines[i]! + ' ');
      if (m) return m[1]!;
    }
    return '';
  } finally {
    await fh.close();
  }
}

/** `since` for Docker's logs API from an RFC3339Nano timestamp: unix seconds.nanos. */
export function sinceParam(ts: string): string {
  const m = /^(.*)\.(\d{9})Z$/.exec(ts);
  if (!m) return '0';
  return `${Math.floor(Date.parse(m[1] + 'Z') / 1000)}.${m[2]}`;
}

/** What the runtime can ask of a running copier. */
export interface LogPump {
  /** ReopenContainerLog: later lines go to a new file at the log path (the old one was renamed). */
  reopen?: () => Promise<void>;
}

/**
 * Consumes Docker's log stream (multiplexed 8-byte-header frames unless `tty`) and appends
 * CRI lines to `path`, skipping entries at or before `after` (already written). Resolves
 * when the stream ends (the container exited) and the file is flushed.
 */
export async function pumpDockerLogs(src: Readable, path: string, tty: boolean, after: string, control: LogPump = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  let out: WriteStream = createWriteStream(path, { flags: 'a' });
  const opened = (w: WriteStream) => new Promise<void>((resolve, reject) => (w.pending ? w.once('ready', () => resolve()).once('error', reject) : resolve()));
  await opened(out);
  control.reopen = async () => {
    const old = out;
    out = createWriteStream(path, { flags: 'a' });
    await opened(out);
    await new Promise<void>((resolve) => old.end(resolve));
  };
  const emit = (stream: LogStream, entry: string) => {
    const m = TS_RE.exec(entry);
    if (!m) return;
    const ts = m[1]!;
    if (after && ts <= after) return;
    out.write(criLine(ts, stream, entry.slice(m[0].length)));
  };
  let pending: Buffer = Buffer.alloc(0);
  let ttyText = '';
  await new Promise<void>((resolve) => {
    src.on('data', (chunk: Buffer) => {
      if (tty) {
        // Raw stream: entries are lines, each starting with its timestamp.
        ttyText += chunk.toString('utf8');
        let nl: number;
        while ((nl = ttyText.indexOf('\n')) >= 0) {
          emit('stdout', ttyText.slice(0, nl + 1));
          ttyText = ttyText.slice(nl + 1);
        }
        return;
      }
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      // One frame is one log entry: [stream, 0, 0, 0, size(be32)] + "<ts> <content>".
      while (pending.length >= 8) {
        const size = pending.readUInt32BE(4);
        if (pending.length < 8 + size) break;
        const kind = pending[0];
        const entry = pending.subarray(8, 8 + size).toString('utf8');
        pending = pending.subarray(8 + size);
        emit(kind === 2 ? 'stderr' : 'stdout', entry);
      }
    });
    src.once('end', () => resolve());
    src.once('close', () => resolve());
    src.once('error', () => resolve());
  });
  if (ttyText) emit('stdout', ttyText);
  control.reopen = undefined;
  await new Promise<void>((resolve) => out.end(resolve));
}

export async function fileExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
