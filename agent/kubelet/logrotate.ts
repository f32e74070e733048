// Container log rotation, as upstream's ContainerLogManager (pkg/kubelet/logs): every
// monitor interval each running container's CRI log file is checked; one at or over
// --container-log-max-size is renamed to <log>.<YYYYMMDD-hhmmss> and the runtime is asked to
// reopen it (CRI ReopenContainerLog; the Docker runtime reopens its own copy), the older
// rotated files are gzipped, and at most --container-log-max-files files are kept per
// container (the live one, the newest rotated one uncompressed, the rest .gz).
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import type { Logger } from 'pino';
import { QuantityError, parseQuantity } from '../../api/quantity.js';
import type { ContainerRuntime } from '../runtime/types.js';

export const DEFAULT_CONTAINER_LOG_MAX_SIZE = '10Mi';
export const DEFAULT_CONTAINER_LOG_MAX_FILES = 5;
export const DEFAULT_CONTAINER_LOG_MONITOR_INTERVAL_MS = 10_000;

export interface LogRotatePolicy {
  /** Bytes; negative disables rotation, as upstream. */
  maxSize: number;
  maxFiles: number;
}

/** The kubelet's checks of the three settings, with its messages; throws on the first bad one. */
export function logRotatePolicy(maxSize: string, maxFiles: number, monitorIntervalMs: number): LogRotatePolicy {
  if (!Number.isInteger(maxFiles) || maxFiles <= 1) throw new Error('invalid configuration: containerLogMaxFiles must be greater than 1');
  if (!(monitorIntervalMs >= 3000)) throw new Error('invalid configuration: containerLogMonitorInterval must be a positive time duration greater than or equal to 3s');
  let bytes: number;
  try {
    bytes = parseQuantity(maxSize);
  } catch (e) {
    throw new Error(`failed to parse container log max size ${JSON.stringify(maxSize)}: ${e instanceof QuantityError ? e.message : String(e)}`);
  }
  if (!Number.isSafeInteger(bytes)) throw new Error(`failed to parse container log max size ${JSON.stringify(maxSize)}: invalid max log size`);
  return { maxSize: bytes, maxFiles };
}

const COMPRESS_SUFFIX = '.gz';
const TMP_SUFFIX = '.tmp';

/** Go's "20060102-150405" in local time, the rotated file's suffix. */
export function rotationStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Rotated files of `log` (<log>.*), sorted oldest first (the stamps sort as text). */
async function rotatedOf(log: string): Promise<string[]> {
  const dir = path.dirname(log);
  const base = path.basename(log) + '.';
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.startsWith(base)).map((n) => path.join(dir, n)).sort();
}

/** Temporary files and files already compressed next to their .gz are leftovers of a failed rotation. */
function inUse(l: string, all: string[]): boolean {
  if (l.endsWith(TMP_SUFFIX)) return false;
  if (l.endsWith(COMPRESS_SUFFIX)) return true;
  return !all.includes(l + COMPRESS_SUFFIX);
}

type LogRuntime = Pick<ContainerRuntime, 'listContainers' | 'containerStatus' | 'reopenContainerLog'>;

export class ContainerLogManager {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly runtime: LogRuntime,
    private readonly policy: LogRotatePolicy,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  start(intervalMs: number): void {
    if (this.policy.maxSize < 0 || this.timer) return;
    this.timer = setInterval(() => void this.rotateAll(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over the running containers, one at a time (upstream's default of one worker). */
  async rotateAll(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const list = await this.runtime.listContainers({ state: 'running' });
      for (const c of list) {
        await this.processContainer(c.id).catch((e: Error) => this.log.warn({ containerId: c.id, err: e.message }, 'failed to rotate log for container'));
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'failed to rotate container logs');
    } finally {
      this.running = false;
    }
  }

  async processContainer(id: string): Promise<void> {
    const st = await this.runtime.containerStatus(id);
    const file = st.logPath;
    if (!file) return;
    let size = await fsp.stat(file).then((s) => s.size, () => undefined);
    if (size === undefined) {
      // Gone (removed by hand, or a rotation interrupted between rename and reopen).
      await this.runtime.reopenContainerLog(id);
      size = (await fsp.stat(file)).size;
    }
    if (size < this.policy.maxSize) return;
    await this.rotate(id, file);
  }

  private async rotate(id: string, file: string): Promise<void> {
    let logs = await rotatedOf(file);
    for (const l of logs.filter((l) => !inUse(l, logs))) await fsp.rm(l, { force: true });
    logs = logs.filter((l) => inUse(l, logs));
    // The live file and the one about to be rotated count too: keep maxFiles-2 older ones,
    // removing the oldest first so a reader following the newest is not cut off.
    const keep = Math.max(this.policy.maxFiles - 2, 0);
    for (const l of logs.slice(0, Math.max(logs.length - keep, 0))) await fsp.rm(l, { force: true });
    logs = logs.slice(Math.max(logs.length - keep, 0));
    for (const l of logs) if (!l.endsWith(COMPRESS_SUFFIX)) await compress(l);
    const rotated = `${file}.${rotationStamp(this.now())}`;
    await fsp.rename(file, rotated);
    try {
      await this.runtime.reopenContainerLog(id);
    } catch (e) {
      // Put it back so the next pass tries again instead of the log being lost.
      await fsp.rename(rotated, file).catch(() => undefined);
      throw new Error(`failed to reopen container log ${JSON.stringify(id)}: ${(e as Error).message}`);
    }
  }
}

async function compress(l: string): Promise<void> {
  const tmp = l + TMP_SUFFIX;
  const { mode } = await fsp.stat(l);
  try {
    await pipeline(createReadStream(l), zlib.createGzip(), createWriteStream(tmp, { mode }));
    await fsp.rename(tmp, l + COMPRESS_SUFFIX);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
  await fsp.rm(l);
}

/** A removed container's log files, rotated ones included (upstream's ContainerLogManager.Clean). */
export async function removeContainerLogs(log: string): Promise<void> {
  if (!log) return;
  for (const l of [log, ...(await rotatedOf(log))]) await fsp.rm(l, { force: true });
}
