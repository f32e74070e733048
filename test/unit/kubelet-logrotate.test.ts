// Container log rotation as upstream's ContainerLogManager, over a recording runtime and
// real files: rename + reopen past the size limit, gzip of older files, at most maxFiles
// kept, leftovers of a failed rotation cleaned, a failed reopen undone; and `logs -f`
// following a log across a rotation.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import { ContainerLogManager, logRotatePolicy, removeContainerLogs, rotationStamp } from '../../agent/kubelet/logrotate.js';
import { readLogs } from '../../agent/kubelet/logs.js';
import type { ContainerStatus } from '../../agent/runtime/types.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let log: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kl-logrot-'));
  log = join(dir, '0.log');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const line = (i: number, pad = 0) => `2024-01-01T00:00:${String(i % 60).padStart(2, '0')}.000000000Z stdout F line-${i}${'x'.repeat(pad)}\n`;

function fakeRuntime(opts: { failReopen?: boolean } = {}) {
  const reopened: string[] = [];
  return {
    reopened,
    async listContainers() {
      return [{ id: 'c1', state: 'running', logPath: log } as ContainerStatus];
    },
    async containerStatus() {
      return { id: 'c1', state: 'running', logPath: log } as ContainerStatus;
    },
    async reopenContainerLog(id: string) {
      if (opts.failReopen) throw new Error('container is not running');
      reopened.push(id);
      writeFileSync(log, '', { flag: 'a' });
    },
  };
}

const quiet = pino({ level: 'silent' });

describe('container log rotation', () => {
  it('settings are checked as the kubelet checks them', () => {
    expect(logRotatePolicy('10Mi', 5, 10_000)).toEqual({ maxSize: 10 * 1024 * 1024, maxFiles: 5 });
    expect(logRotatePolicy('-1', 5, 10_000).maxSize).toBe(-1);
    expect(() => logRotatePolicy('10Mi', 1, 10_000)).toThrow('invalid configuration: containerLogMaxFiles must be greater than 1');
    expect(() => logRotatePolicy('10Mi', 5, 2_000)).toThrow('invalid configuration: containerLogMonitorInterval must be a positive time duration greater than or equal to 3s');
    expect(() => logRotatePolicy('ten', 5, 10_000)).toThrow(/^failed to parse container log max size "ten": quantities must match/);
    expect(() => logRotatePolicy('100m', 5, 10_000)).toThrow('failed to parse container log max size "100m": invalid max log size');
    expect(rotationStamp(new Date(2024, 0, 2, 3, 4, 5))).toBe('20240102-030405');
  });

  it('a log under the limit stays; one at the limit is renamed and the runtime reopens it', async () => {
    const rt = fakeRuntime();
    let t = new Date(2024, 0, 1, 12, 0, 0);
    const m = new ContainerLogManager(rt, { maxSize: 1000, maxFiles: 3 }, quiet, () => t);
    writeFileSync(log, line(1));
    await m.rotateAll();
    expect(rt.reopened).toEqual([]);
    appendFileSync(log, line(2, 1000));
    await m.rotateAll();
    expect(rt.reopened).toEqual(['c1']);
    expect(readdirSync(dir).sort()).toEqual(['0.log', '0.log.20240101-120000']);
    expect(readFileSync(log, 'utf8')).toBe('');
    expect(readFileSync(`${log}.20240101-120000`, 'utf8')).toBe(line(1) + line(2, 1000));

    // Two more rotations: the older rotated file is gzipped, and with maxFiles 3 only the
    // live file, the newest rotated one and one .gz remain.
    for (const [i, minute] of [[3, 1], [4, 2]] as const) {
      writeFileSync(log, line(i, 1000));
      t = new Date(2024, 0, 1, 12, minute, 0);
      await m.rotateAll();
    }
    expect(readdirSync(dir).sort()).toEqual(['0.log', '0.log.20240101-120100.gz', '0.log.20240101-120200']);
    expect(gunzipSync(readFileSync(`${log}.20240101-120100.gz`)).toString()).toBe(line(3, 1000));
    expect(readFileSync(`${log}.20240101-120200`, 'utf8')).toBe(line(4, 1000));
  });

  it('cleans what a failed rotation left, and undoes a rotation whose reopen fails', async () => {
    writeFileSync(`${log}.20230101-000000.gz.tmp`, 'partial');
    writeFileSync(`${log}.20230101-000001`, 'already compressed');
    writeFileSync(`${log}.20230101-000001.gz`, 'gz');
    writeFileSync(log, line(1, 2000));
    const bad = fakeRuntime({ failReopen: true });
    const m = new ContainerLogManager(bad, { maxSize: 1000, maxFiles: 5 }, quiet, () => new Date(2024, 5, 1, 0, 0, 0));
    await expect(m.processContainer('c1')).rejects.toThrow('failed to reopen container log "c1": container is not running');
    expect(readdirSync(dir).sort()).toEqual(['0.log', '0.log.20230101-000001.gz']);
    expect(readFileSync(log, 'utf8')).toBe(line(1, 2000));
  });

  it('a missing live log is reopened; removeContainerLogs takes the rotated ones too', async () => {
    const rt = fakeRuntime();
    const m = new ContainerLogManager(rt, { maxSize: 1000, maxFiles: 5 }, quiet);
    await m.processContainer('c1');
    expect(rt.reopened).toEqual(['c1']);
    writeFileSync(`${log}.20240101-000000`, 'x');
    writeFileSync(`${log}.20231231-000000.gz`, 'x');
    writeFileSync(join(dir, '1.log'), 'other container');
    await removeContainerLogs(log);
    expect(readdirSync(dir)).toEqual(['1.log']);
  });

  it('logs -f follows the log across a rotation', async () => {
    writeFileSync(log, line(1));
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    let running = true;
    const done = readLogs(log, { follow: true }, out, async () => running);
    const until = (s: string) => waitFor(`"${s}" followed`, () => text.includes(s), 15_000, 20);
    await until('line-1');
    renameSync(log, `${log}.20240101-000000`);
    writeFileSync(log, line(2));
    await until('line-2');
    appendFileSync(log, line(3));
    await until('line-3');
    running = false;
    out.end();
    await done;
    expect(text).toBe('line-1\nline-2\nline-3\n');
    expect(existsSync(log)).toBe(true);
  });
});
