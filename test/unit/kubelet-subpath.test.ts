// The kubelet's subPath resolution and payload paths, without mounting anything: what
// must be refused is refused before any mount (the e2e test mounts for real).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, closeSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathWithinBase, prepareSubPath, safeMakeDir, safeOpen, SubPathError } from '../../agent/kubelet/subpath.js';
import { atomicWrite, validatePayloadPath, VolumeError } from '../../agent/kubelet/volumes.js';

let dir: string;
let vol: string;
let outside: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kl-subpath-'));
  vol = join(dir, 'vol');
  outside = join(dir, 'outside');
  mkdirSync(vol);
  mkdirSync(outside);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('subPath resolution', () => {
  it('pathWithinBase as mount.PathWithinBase', () => {
    expect(pathWithinBase('/a/b', '/a')).toBe(true);
    expect(pathWithinBase('/a', '/a')).toBe(true);
    expect(pathWithinBase('/a/..b', '/a')).toBe(true);
    expect(pathWithinBase('/ab', '/a')).toBe(false);
    expect(pathWithinBase('/', '/a')).toBe(false);
  });

  it('a symlink to / inside the volume is refused before anything is mounted', async () => {
    symlinkSync('/', join(vol, 'x'));
    const err = await prepareSubPath({ podDir: join(dir, 'pod'), volumeName: 'data', containerName: 'c', index: 0, volumePath: vol, subPath: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(SubPathError);
    expect(err.message).toBe('failed to prepare subPath for volumeMount "data" of container "c"');
    expect(err.detail).toBe(`subpath "/" not within volume path "${vol}"`);
    expect(existsSync(join(dir, 'pod'))).toBe(false);
  });

  it('so is a relative symlink climbing out, and one through an intermediate directory', async () => {
    symlinkSync('../outside', join(vol, 'up'));
    mkdirSync(join(vol, 'd'));
    symlinkSync(outside, join(vol, 'd', 'e'));
    for (const subPath of ['up', 'd/e', 'd/e/f']) {
      const err = await prepareSubPath({ podDir: join(dir, 'pod'), volumeName: 'data', containerName: 'c', index: 0, volumePath: vol, subPath }).catch((e) => e);
      expect(err, subPath).toBeInstanceOf(SubPathError);
    }
  });

  it('safeOpen walks without following symlinks, even ones pointing inside', () => {
    mkdirSync(join(vol, 'a'));
    writeFileSync(join(vol, 'a', 'f'), 'x');
    symlinkSync('a', join(vol, 'link'));
    const fd = safeOpen(join(vol, 'a', 'f'), vol);
    expect(fstatSync(fd).isFile()).toBe(true);
    closeSync(fd);
    expect(() => safeOpen(join(vol, 'link', 'f'), vol)).toThrow();
    expect(() => safeOpen(join(vol, 'link'), vol)).toThrow(/symlink/);
    expect(() => safeOpen(outside, vol)).toThrow(/outside of allowed base/);
  });

  it('safeMakeDir creates missing directories with the given mode, never through a symlink out', async () => {
    await safeMakeDir('a/b/c', vol, 0o777);
    expect(statSync(join(vol, 'a', 'b', 'c')).isDirectory()).toBe(true);
    expect(statSync(join(vol, 'a', 'b')).mode & 0o777).toBe(0o777);
    symlinkSync(outside, join(vol, 'esc'));
    await expect(safeMakeDir('esc/new', vol, 0o755)).rejects.toThrow(/outside of allowed base/);
    expect(readdirSync(outside)).toEqual([]);
  });
});

describe('payload paths (AtomicWriter validatePath)', () => {
  it('refuses what could leave the volume or shadow the writer', () => {
    expect(validatePayloadPath('a/b')).toBeUndefined();
    expect(validatePayloadPath('..a/b')).toBe("invalid path: must not start with '..': ..a/b");
    expect(validatePayloadPath('../x')).toBe("invalid path: must not contain '..': ../x");
    expect(validatePayloadPath('/etc/passwd')).toBe('invalid path: must be relative path: /etc/passwd');
    expect(validatePayloadPath('')).toBe('invalid path: must not be empty: ""');
    expect(validatePayloadPath('x'.repeat(256))).toBe('invalid path: filenames must be less than or equal to 255 characters');
  });

  it('atomicWrite writes nothing when one path is bad', async () => {
    const target = join(dir, 'cm');
    const files = new Map([
      ['ok', { data: Buffer.from('1'), mode: 0o644 }],
      ['../../outside/pwned', { data: Buffer.from('2'), mode: 0o644 }],
    ]);
    await expect(atomicWrite(target, files)).rejects.toBeInstanceOf(VolumeError);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(outside)).toEqual([]);
  });
});
