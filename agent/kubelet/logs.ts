// Reading container logs in the CRI file format the runtimes write:
//   2016-10-06T00:17:09.669794202Z stdout F log content
// "P" marks a partial line (the runtime split a long line); "F" ends it. Options follow
// upstream pkg/kubelet/kuberuntime/logs: tailLines, sinceTime/sinceSeconds, limitBytes,
// timestamps, follow. Following stops when `stillRunning()` says the container is gone.
import { createReadStream, promises as fsp, watch as fsWatch } from 'node:fs';
import type { Writable } from 'node:stream';

export interface CRILogLine {
  time: Date;
  /** The original timestamp text (nanosecond precision) for --timestamps. */
  timestamp: string;
  stream: 'stdout' | 'stderr';
  partial: boolean;
  content: Buffer;
}

export function parseCRILine(line: Buffer): CRILogLine | undefined {
  const s1 = line.indexOf(0x20);
  if (s1 < 0) return undefined;
  const s2 = line.indexOf(0x20, s1 + 1);
  if (s2 < 0) return undefined;
  const timestamp = line.subarray(0, s1).toString();
  const stream = line.subarray(s1 + 1, s2).toString();
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const time = new Date(timestamp);
  if (Number.isNaN(time.getTime())) return undefined;
  // Tag field: "P" or "F" (possibly "F:..." in future formats); older files may lack it.
  let partial = false;
  let rest = line.subarray(s2 + 1);
  const s3 = rest.indexOf(0x20);
  const tag = (s3 >= 0 ? rest.subarray(0, s3) : rest).toString();
  if (/^[PF](:|$)/.test(tag)) {
    partial = tag.startsWith('P');
    rest = s3 >= 0 ? rest.subarray(s3 + 1) : Buffer.alloc(0);
  }
  return { time, timestamp, stream, partial, content: rest };
}

export interface LogOptions {
  follow?: boolean;
  tailLines?: number;
  timestamps?: boolean;
  sinceTime?: Date;
  limitBytes?: number;
  /** Only this stream (kubectl always wants both). */
  stream?: 'stdout' | 'stderr' | 'all';
}

/** Split a buffer into complete lines; returns the remainder that has no newline yet. */
function splitLines(buf: Buffer): { lines: Buffer[]; rest: Buffer } {
  const lines: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) break;
    lines.push(buf.subarray(start, nl));
    start = nl + 1;
  }
  return { lines, rest: buf.subarray(start) };
}

class LogWriter {
  private written = 0;
  private partialTs: string | undefined;
  constructor(
    private out: Writable,
    private opts: LogOptions,
  ) {}
  /** Returns false once limitBytes is reached. */
  write(l: CRILogLine): boolean {
    if (this.opts.sinceTime && l.time < this.opts.sinceTime) return true;
    if (this.opts.stream && this.opts.stream !== 'all' && l.stream !== this.opts.stream) return true;
    let data = l.content;
    if (!l.partial) data = Buffer.concat([data, Buffer.from('\n')]);
    if (this.opts.timestamps && this.partialTs === undefined) data = Buffer.concat([Buffer.from(l.timestamp + ' '), data]);
    this.partialTs = l.partial ? l.timestamp : undefined;
    if (this.opts.limitBytes !== undefined) {
      const left = this.opts.limitBytes - this.written;
      if (left <= 0) return false;
      if (data.length > left) data = data.subarray(0, left);
    }
    this.written += data.length;
    this.out.write(data);
    return this.opts.limitBytes === undefined || this.written < this.opts.limitBytes;
  }
}

/** Byte offset from which the last n complete (F-terminated) log entries start. */
async function tailOffset(path: string, n: number): Promise<number> {
  const data = await fsp.readFile(path);
  if (n <= 0) return data.length;
  let count = 0;
  let end = data.length;
  // Walk back over lines; a logical line ends at an "F" entry, so count only those.
  let pos = data[end - 1] === 0x0a ? end - 1 : end;
  while (pos > 0) {
    const nl = data.lastIndexOf(0x0a, pos - 1);
    const lineStart = nl + 1;
    const parsed = parseCRILine(data.subarray(lineStart, pos));
    if (parsed && !parsed.partial) {
      count++;
      if (count > n) return end;
    }
    end = lineStart;
    pos = nl < 0 ? 0 : nl;
    if (nl < 0) break;
  }
  return 0;
}

export async function readLogs(
  path: string,
  opts: LogOptions,
  out: Writable,
  stillRunning: () => Promise<boolean> = async () => false,
  signal?: AbortSignal,
): Promise<void> {
  const w = new LogWriter(out, opts);
  let offset = opts.tailLines !== undefined ? await tailOffset(path, opts.tailLines) : 0;
  let rest = Buffer.alloc(0);
  let ino: number | undefined;
  const drain = async (): Promise<boolean> => {
    // Between a rotation's rename and the runtime's reopen there is no file: wait for it.
    const fh = await fsp.open(path, 'r').catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' && ino !== undefined ? undefined : Promise.reject(e)));
    if (!fh) return true;
    try {
      const st = await fh.stat();
      const size = st.size;
      // Rotated (a new file under the name) or truncated: read the new one from its start.
      if ((ino !== undefined && st.ino !== ino) || size < offset) {
        offset = 0;
        rest = Buffer.alloc(0);
      }
      ino = st.ino;
      while (offset < size) {
        const len = Math.min(size - offset, 1 << 20);
        const buf = Buffer.alloc(len);
        const { bytesRead } = await fh.read(buf, 0, len, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        const { lines, rest: r } = splitLines(Buffer.concat([rest, buf.subarray(0, bytesRead)]));
        rest = Buffer.from(r);
        for (const line of lines) {
          const l = parseCRILine(line);
          if (l && !w.write(l)) return false;
        }
      }
    } finally {
      await fh.close();
    }
    return true;
  };
  if (!(await drain())) return;
  if (!opts.follow) return;
  // Follow: fs.watch wakes us on writes; a slow poll covers filesystems where it doesn't fire.
  await new Promise<void>((resolve) => {
    let busy = false;
    let again = false;
    let finished = false;
    const watcher = (() => {
      try {
        return fsWatch(path, () => void tick());
      } catch {
        return undefined;
      }
    })();
    const timer = setInterval(() => void tick(true), 1000);
    const finish = () => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      watcher?.close();
      out.off('close', finish);
      resolve();
    };
    out.on('close', finish);
    signal?.addEventListener('abort', finish);
    const tick = async (checkAlive = false) => {
      if (finished) return;
      if (busy) {
        again = true;
        return;
      }
      busy = true;
      try {
        do {
          again = false;
          if (!(await drain())) return finish();
        } while (again);
        if (checkAlive && !(await stillRunning())) {
          await drain();
          finish();
        }
      } catch {
        finish();
      } finally {
        busy = false;
      }
    };
  });
}

/** createReadStream re-exported for callers that just need raw bytes (node-level tools). */
export { createReadStream };
