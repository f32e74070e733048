// volumeMounts[].subPath as upstream's kubelet does it on Linux (pkg/volume/util/subpath):
// a container can change what is inside its volumes (make `x` a symlink to `/`) between
// two starts, so the kubelet never hands a path under the volume to the runtime. It
// resolves the subPath once, refuses it when it lands outside the volume, opens it one
// component at a time without following symlinks (closing the race between check and
// use), and bind-mounts that open file descriptor (/proc/<pid>/fd/<n>) onto
// <podDir>/volume-subpaths/<volume>/<container>/<index>; the runtime mounts that target,
// which only the kubelet controls. Missing subPath directories are created the same way.
import { closeSync, constants as C, fstatSync, mkdirSync, openSync, chmodSync, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';

const execaLazy = async () => (await import('execa')).execa;

/** Linux O_PATH (not in Node's constants): an fd naming a file without opening it for I/O. */
const O_PATH = 0o10000000;
const SUBPATH_DIR = 'volume-subpaths';

export class SubPathError extends Error {
  constructor(
    message: string,
    /** What went wrong in detail, for the kubelet's log only: it names host paths. */
    readonly detail: string,
  ) {
    super(message);
    this.name = 'SubPathError';
  }
}

/** mount.PathWithinBase: `p` is `base` or below it (both clean absolute paths). */
export function pathWithinBase(p: string, base: string): boolean {
  const rel = path.relative(base, p);
  return rel !== '..' && !rel.startsWith('../') && !path.isAbsolute(rel);
}

const fdPath = (fd: number, seg?: string) => (seg === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${seg}`);

/**
 * Opens `target` (a symlink-free path inside `base`) without following any symlink: `base`
 * first, then each component relative to the fd of its parent (what openat(2) does; Node
 * has no openat, and /proc/self/fd/<parent>/<name> resolves the same way). Returns an
 * O_PATH fd the caller closes.
 */
export function safeOpen(target: string, base: string): number {
  if (!pathWithinBase(target, base)) throw new Error(`path ${target} is outside of allowed base ${base}`);
  let fd = openSync(base, C.O_RDONLY | C.O_NOFOLLOW | C.O_DIRECTORY);
  try {
    const rel = path.relative(base, target);
    for (const seg of rel === '' ? [] : rel.split('/')) {
      const child = openSync(fdPath(fd, seg), O_PATH | C.O_NOFOLLOW);
      closeSync(fd);
      fd = child;
      // With O_PATH, O_NOFOLLOW opens a symlink itself instead of failing: refuse it here.
      if (fstatSync(fd).isSymbolicLink()) throw new Error(`${seg} in ${target} is a symlink`);
    }
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

async function realpathOrThrow(p: string): Promise<string> {
  try {
    return await fsp.realpath(p);
  } catch (e) {
    throw new Error(`error resolving symlinks in "${p}": ${(e as Error).message}`);
  }
}

/** The existing part of `sub` under `base` and the components still to create. */
async function existingPrefix(base: string, sub: string[]): Promise<{ existing: string; toCreate: string[] }> {
  let existing = base;
  for (let i = 0; i < sub.length; i++) {
    const next = path.join(existing, sub[i]!);
    if (!(await fsp.lstat(next).then(() => true, () => false))) return { existing, toCreate: sub.slice(i) };
    existing = next;
  }
  return { existing, toCreate: [] };
}

/** SafeMakeDir: creates `sub` under `volumePath`, refusing to create anything outside it. */
export async function safeMakeDir(sub: string, volumePath: string, mode: number): Promise<void> {
  const base = await realpathOrThrow(volumePath);
  const full = path.join(base, sub);
  if (!pathWithinBase(full, base)) throw new Error(`path ${full} is outside of allowed base ${base}`);
  const st = await fsp.stat(full).catch(() => undefined);
  if (st?.isDirectory()) return;
  if (st) throw new Error(`mkdir ${full}: not a directory`);
  const { existing, toCreate } = await existingPrefix(base, path.relative(base, full).split('/'));
  const real = await realpathOrThrow(existing);
  if (!pathWithinBase(real, base)) throw new Error(`path ${real} is outside of allowed base ${base}`);
  let fd = safeOpen(real, base);
  try {
    for (const seg of toCreate) {
      try {
        mkdirSync(fdPath(fd, seg), mode);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const child = openSync(fdPath(fd, seg), O_PATH | C.O_NOFOLLOW | C.O_DIRECTORY);
      closeSync(fd);
      fd = child;
      // mkdir honours the umask; the directory gets the volume root's mode, as upstream.
      chmodSync(fdPath(fd), mode);
    }
  } finally {
    closeSync(fd);
  }
}

async function mountedAt(p: string): Promise<boolean> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return info.split('\n').some((l) => unescapeMount(l.split(' ')[4] ?? '') === p);
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

const sameFile = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino;

export interface SubPathMount {
  podDir: string;
  volumeName: string;
  containerName: string;
  /** Index of the mount in the container's volumeMounts. */
  index: number;
  /** The volume's directory on the host. */
  volumePath: string;
  /** The (already validated) relative subPath. */
  subPath: string;
}

/**
 * PrepareSafeSubpath: the host path to give the runtime for a subPath mount. Throws a
 * SubPathError with upstream's user-facing message when the subPath cannot be used.
 */
export async function prepareSubPath(m: SubPathMount): Promise<string> {
  try {
    return await bindSubPath(m);
  } catch (e) {
    throw new SubPathError(`failed to prepare subPath for volumeMount "${m.volumeName}" of container "${m.containerName}"`, (e as Error).message);
  }
}

async function bindSubPath(m: SubPathMount): Promise<string> {
  // Every symlink is evaluated once, here; the open below refuses any that appear later.
  const base = await realpathOrThrow(m.volumePath);
  const target = await realpathOrThrow(path.join(m.volumePath, m.subPath));
  if (!pathWithinBase(target, base)) throw new Error(`subpath "${target}" not within volume path "${base}"`);
  const fd = safeOpen(target, base);
  try {
    const src = fstatSync(fd);
    const bindTarget = path.join(m.podDir, SUBPATH_DIR, m.volumeName, m.containerName, String(m.index));
    if (await mountedAt(bindTarget)) {
      const cur = await fsp.lstat(bindTarget);
      if (sameFile(cur, src)) return bindTarget;
      await umount(bindTarget);
    }
    await fsp.mkdir(path.dirname(bindTarget), { recursive: true, mode: 0o750 });
    if (src.isDirectory()) await fsp.mkdir(bindTarget, { mode: 0o750 }).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
    else await fsp.writeFile(bindTarget, '', { mode: 0o640, flag: 'a' });
    // --no-canonicalize: mount must not resolve the magic link into a path a container controls.
    const r = await (await execaLazy())('mount', ['--no-canonicalize', '--bind', `/proc/${process.pid}/fd/${fd}`, bindTarget], { reject: false });
    if (r.exitCode !== 0) {
      await removeEmptyTarget(bindTarget);
      throw new Error(`error mounting ${target}: ${r.stderr || r.stdout}`);
    }
    return bindTarget;
  } finally {
    closeSync(fd);
  }
}

async function umount(p: string): Promise<void> {
  const r = await (await execaLazy())('umount', [p], { reject: false });
  if (r.exitCode !== 0 && (await mountedAt(p))) throw new Error(`error unmounting ${p}: ${r.stderr}`);
}

async function removeEmptyTarget(p: string): Promise<void> {
  await fsp.rmdir(p).catch(() => fsp.unlink(p).catch(() => undefined));
}

/** Mount points at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const root = path.resolve(dir);
  const points = info
    .split('\n')
    .map((l) => unescapeMount(l.split(' ')[4] ?? ''))
    .filter((p) => p === root || p.startsWith(root + '/'));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/**
 * CleanSubPaths for a whole pod: unmounts every subPath bind under <podDir>/volume-subpaths
 * and removes the directory. A bind that will not go away is an error, never a reason to
 * delete through it (that would delete the volume's, or the host's, files).
 */
export async function cleanSubPaths(podDir: string): Promise<void> {
  const dir = path.join(podDir, SUBPATH_DIR);
  for (const p of await mountsUnder(dir)) await umount(p);
  if ((await mountsUnder(dir)).length) throw new Error(`subPath mounts remain under ${dir}`);
  await fsp.rm(dir, { recursive: true, force: true });
}
