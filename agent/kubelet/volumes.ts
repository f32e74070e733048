// Pod volumes under <rootDir>/pods/<uid>/volumes/<plugin>/<name>, the kubelet's layout.
// configMap, secret and downwardAPI contents are written atomically the way upstream's
// AtomicWriter does: a fresh timestamped dir, `..data` symlinked to it with a rename, and
// the user-visible names symlinked through `..data`, so readers never see half an update.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Mount } from '../runtime/types.js';
import { expand, formatMap, podFieldValue, resourceFieldValue } from './env.js';
import { cleanSubPaths, mountsUnder, prepareSubPath, safeMakeDir, SubPathError } from './subpath.js';
import type { Container, Pod, Volume } from './types.js';

// execa (~100 ESM modules, ~10 MB of RSS) only for Memory-medium emptyDirs: loaded then.
const execaLazy = async () => (await import('execa')).execa;

export class VolumeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FailedMount';
  }
}

export interface VolumeContext {
  configMap(namespace: string, name: string): Record<string, string> | undefined;
  /** Secret data decoded to bytes. */
  secret(namespace: string, name: string): Record<string, Buffer> | undefined;
  podIP: string;
  podIPs: string[];
  hostIP: string;
  nodeName: string;
}

const PLUGIN: Record<string, string> = {
  emptyDir: 'kubernetes.io~empty-dir',
  configMap: 'kubernetes.io~configmap',
  secret: 'kubernetes.io~secret',
  downwardAPI: 'kubernetes.io~downward-api',
  projected: 'kubernetes.io~projected',
};

function pluginOf(v: Volume): string | undefined {
  for (const k of Object.keys(PLUGIN)) if (v[k]) return k;
  if (v.hostPath) return 'hostPath';
  return undefined;
}

const MAX_PATH_LENGTH = 4096;
const MAX_FILE_NAME_LENGTH = 255;

/**
 * AtomicWriter's validatePath: the kubelet checks every payload path itself (static pods
 * and stored objects never went through today's API validation), so none can name a file
 * outside the volume or collide with the writer's own `..data` and `..<timestamp>` entries.
 */
export function validatePayloadPath(p: string): string | undefined {
  if (p === '') return `invalid path: must not be empty: "${p}"`;
  if (p.startsWith('/')) return `invalid path: must be relative path: ${p}`;
  if (p.length > MAX_PATH_LENGTH) return `invalid path: must be less than or equal to ${MAX_PATH_LENGTH} characters`;
  const items = p.split('/');
  for (const item of items) {
    if (item === '..') return `invalid path: must not contain '..': ${p}`;
    if (item.length > MAX_FILE_NAME_LENGTH) return `invalid path: filenames must be less than or equal to ${MAX_FILE_NAME_LENGTH} characters`;
  }
  if (items[0]!.startsWith('..') && items[0]!.length > 2) return `invalid path: must not start with '..': ${p}`;
  return undefined;
}

/** Files of a key->content map written with AtomicWriter semantics. */
export async function atomicWrite(dir: string, files: Map<string, { data: Buffer; mode: number }>): Promise<boolean> {
  for (const rel of files.keys()) {
    const bad = validatePayloadPath(rel);
    if (bad) throw new VolumeError(bad);
  }
  await fsp.mkdir(dir, { recursive: true });
  const dataLink = path.join(dir, '..data');
  // Skip the write when nothing changed, so watchers of the files see no spurious updates.
  try {
    const cur = await fsp.readlink(dataLink);
    let same = true;
    const existing = await listFiles(path.join(dir, cur));
    if (existing.length !== files.size) same = false;
    else {
      for (const [rel, f] of files) {
        const got = await fsp.readFile(path.join(dir, cur, rel)).catch(() => undefined);
        if (!got || !got.equals(f.data)) {
          same = false;
          break;
        }
      }
    }
    if (same) return false;
  } catch {
    /* first write */
  }
  const tsDir = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${process.pid}${Math.floor(Math.random() * 1e6)}`;
  const full = path.join(dir, tsDir);
  await fsp.mkdir(full, { recursive: true });
  for (const [rel, f] of files) {
    const p = path.join(full, rel);
    await fsp.mkdir(path.dirname(p), { recursive: true });
    await fsp.writeFile(p, f.data, { mode: f.mode });
    await fsp.chmod(p, f.mode);
  }
  const old = await fsp.readlink(dataLink).catch(() => undefined);
  const tmp = path.join(dir, '..data_tmp');
  await fsp.rm(tmp, { force: true });
  await fsp.symlink(tsDir, tmp);
  await fsp.rename(tmp, dataLink);
  // Top-level names point through ..data (only the first path segment needs a link).
  const tops = new Set([...files.keys()].map((k) => k.split('/')[0]!));
  for (const t of tops) {
    const link = path.join(dir, t);
    const want = path.join('..data', t);
    const have = await fsp.readlink(link).catch(() => undefined);
    if (have !== want) {
      await fsp.rm(link, { force: true, recursive: true });
      await fsp.symlink(want, link);
    }
  }
  for (const e of await fsp.readdir(dir)) {
    if (e.startsWith('..') || tops.has(e)) continue;
    await fsp.rm(path.join(dir, e), { force: true, recursive: true });
  }
  if (old && old !== tsDir) await fsp.rm(path.join(dir, old), { recursive: true, force: true });
  return true;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), prefix + e.name + '/')));
    else out.push(prefix + e.name);
  }
  return out;
}

function selectItems<T>(
  data: Record<string, T>,
  items: { key: string; path: string; mode?: number }[] | undefined,
  defaultMode: number,
  what: string,
): Map<string, { value: T; mode: number }> {
  const out = new Map<string, { value: T; mode: number }>();
  if (!items || items.length === 0) {
    for (const [k, v] of Object.entries(data)) out.set(k, { value: v, mode: defaultMode });
    return out;
  }
  for (const it of items) {
    if (!(it.key in data)) throw new VolumeError(`configmap references non-existent ${what} key: ${it.key}`);
    out.set(it.path, { value: data[it.key]!, mode: it.mode ?? defaultMode });
  }
  return out;
}

export class VolumeManager {
  constructor(readonly rootDir: string) {}

  podDir(uid: string): string {
    return path.join(this.rootDir, 'pods', uid);
  }

  volumeDir(uid: string, v: Volume): string {
    const p = pluginOf(v);
    if (p === 'hostPath') return v.hostPath!.path;
    return path.join(this.podDir(uid), 'volumes', PLUGIN[p ?? 'emptyDir']!, v.name);
  }

  /** Create/refresh every volume of the pod. Safe to call on every sync. */
  async setup(pod: Pod, ctx: VolumeContext): Promise<void> {
    const uid = pod.metadata.uid!;
    const ns = pod.metadata.namespace ?? 'default';
    await fsp.mkdir(path.join(this.podDir(uid), 'volumes'), { recursive: true });
    for (const v of pod.spec.volumes ?? []) {
      const dir = this.volumeDir(uid, v);
      const plugin = pluginOf(v);
      if (plugin === 'emptyDir') {
        await fsp.mkdir(dir, { recursive: true });
        if (v.emptyDir?.medium === 'Memory' && !(await isMountpoint(dir))) {
          const opts = ['-t', 'tmpfs'];
          if (v.emptyDir.sizeLimit) opts.push('-o', `size=${v.emptyDir.sizeLimit.replace(/i$/, '')}`);
          await (await execaLazy())('mount', [...opts, 'tmpfs', dir]).catch((e) => {
            throw new VolumeError(`MountVolume.SetUp failed for volume "${v.name}" : mount tmpfs: ${(e as Error).message}`);
          });
        }
        await fsp.chmod(dir, 0o777);
      } else if (plugin === 'hostPath') {
        await setupHostPath(v);
      } else if (plugin === 'configMap') {
        const cm = ctx.configMap(ns, v.configMap!.name);
        if (!cm) {
          if (v.configMap!.optional) {
            await atomicWrite(dir, new Map());
            continue;
          }
          throw new VolumeError(`MountVolume.SetUp failed for volume "${v.name}" : configmap "${v.configMap!.name}" not found`);
        }
        const sel = selectItems(cm, v.configMap!.items, v.configMap!.defaultMode ?? 0o644, 'ConfigMap');
        await atomicWrite(dir, new Map([...sel].map(([k, x]) => [k, { data: Buffer.from(x.value), mode: x.mode }])));
      } else if (plugin === 'secret') {
        const s = ctx.secret(ns, v.secret!.secretName);
        if (!s) {
          if (v.secret!.optional) {
            await atomicWrite(dir, new Map());
            continue;
          }
          throw new VolumeError(`MountVolume.SetUp failed for volume "${v.name}" : secret "${v.secret!.secretName}" not found`);
        }
        const sel = selectItems(s, v.secret!.items, v.secret!.defaultMode ?? 0o644, 'Secret');
        await atomicWrite(dir, new Map([...sel].map(([k, x]) => [k, { data: x.value, mode: x.mode }])));
      } else if (plugin === 'downwardAPI') {
        const files = new Map<string, { data: Buffer; mode: number }>();
        for (const it of v.downwardAPI!.items ?? []) {
          let val = '';
          if (it.fieldRef) val = podFieldValue(pod, it.fieldRef.fieldPath, ctx);
          else if (it.resourceFieldRef) {
            val = resourceFieldValue(pod, it.resourceFieldRef.containerName ?? pod.spec.containers[0]!.name, it.resourceFieldRef.resource, it.resourceFieldRef.divisor);
          }
          files.set(it.path, { data: Buffer.from(val), mode: it.mode ?? v.downwardAPI!.defaultMode ?? 0o644 });
        }
        await atomicWrite(dir, files);
      } else {
        // Unsupported volume types fail loudly rather than running the pod without its data.
        throw new VolumeError(`MountVolume.SetUp failed for volume "${v.name}" : volume type not supported by this kubelet`);
      }
    }
  }

  /** The runtime mounts for one container. Env is needed for subPathExpr. */
  async mountsFor(pod: Pod, c: Container, env: { name: string; value: string }[]): Promise<Mount[]> {
    const uid = pod.metadata.uid!;
    const vols = new Map((pod.spec.volumes ?? []).map((v) => [v.name, v]));
    const out: Mount[] = [];
    for (const [index, m] of (c.volumeMounts ?? []).entries()) {
      const v = vols.get(m.name);
      if (!v) throw new VolumeError(`cannot find volume "${m.name}" to mount into container "${c.name}"`);
      let hostPath = this.volumeDir(uid, v);
      const sub = m.subPathExpr ? expandSubPathExpr(m.subPathExpr, env) : m.subPath;
      if (sub) {
        if (path.isAbsolute(sub)) throw new Error(`error SubPath \`${sub}\` must not be an absolute path`);
        if (sub.split('/').includes('..')) throw new Error(`unable to provision SubPath \`${sub}\`: must not contain '..'`);
        const volumePath = hostPath;
        // Like upstream, a missing subPath becomes a directory with the volume root's mode.
        if (!(await fsp.lstat(path.join(volumePath, sub)).then(() => true, () => false))) {
          const mode = (await fsp.stat(volumePath)).mode & 0o7777;
          await safeMakeDir(sub, volumePath, mode).catch((e: Error) => {
            throw new SubPathError(`failed to create subPath directory for volumeMount "${m.name}" of container "${c.name}"`, e.message);
          });
        }
        hostPath = await prepareSubPath({ podDir: this.podDir(uid), volumeName: m.name, containerName: c.name, index, volumePath, subPath: sub });
      }
      const readonly = !!m.readOnly || !!v.configMap || !!v.secret || !!v.downwardAPI;
      // The kubelet roots a relative mountPath, as upstream (MakeAbsolutePath) does on Linux.
      out.push({ containerPath: path.posix.normalize('/' + m.mountPath), hostPath, readonly });
    }
    return out;
  }

  /**
   * Unmount subPath binds and tmpfs volumes, then remove the pod's directory. Whatever is
   * still mounted below it stops the removal: deleting through a mount deletes its source.
   */
  async teardown(uid: string): Promise<void> {
    const podDir = this.podDir(uid);
    await cleanSubPaths(podDir);
    const vdir = path.join(podDir, 'volumes', PLUGIN.emptyDir!);
    for (const e of await fsp.readdir(vdir).catch(() => [] as string[])) {
      const p = path.join(vdir, e);
      if (await isMountpoint(p)) await (await execaLazy())('umount', [p]).catch(() => undefined);
    }
    const left = await mountsUnder(podDir);
    if (left.length) throw new Error(`not removing ${podDir}: still mounted: ${left.join(', ')}`);
    await fsp.rm(podDir, { recursive: true, force: true });
  }

  /** Pod UIDs with a directory here (for cleanup of pods that are gone). */
  async podsOnDisk(): Promise<string[]> {
    return fsp.readdir(path.join(this.rootDir, 'pods')).catch(() => []);
  }
}

async function isMountpoint(p: string): Promise<boolean> {
  const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const target = path.resolve(p);
  return mounts.split('\n').some((l) => l.split(' ')[4] === target);
}

async function setupHostPath(v: Volume): Promise<void> {
  const p = v.hostPath!.path;
  const type = v.hostPath!.type ?? '';
  const st = await fsp.stat(p).catch(() => undefined);
  switch (type) {
    case 'DirectoryOrCreate':
      if (!st) await fsp.mkdir(p, { recursive: true, mode: 0o755 });
      else if (!st.isDirectory()) throw new VolumeError(`hostPath type check failed: ${p} is not a directory`);
      return;
    case 'Directory':
      if (!st?.isDirectory()) throw new VolumeError(`MountVolume.SetUp failed for volume "${v.name}" : hostPath type check failed: ${p} is not a directory`);
      return;
    case 'FileOrCreate':
      if (!st) {
        await fsp.mkdir(path.dirname(p), { recursive: true });
        await fsp.writeFile(p, '', { mode: 0o644 });
      } else if (!st.isFile()) throw new VolumeError(`hostPath type check failed: ${p} is not a file`);
      return;
    case 'File':
      if (!st?.isFile()) throw new VolumeError(`MountVolume.SetUp failed for volume "${v.name}" : hostPath type check failed: ${p} is not a file`);
      return;
    case 'Socket':
      if (!st?.isSocket()) throw new VolumeError(`MountVolume.SetUp failed for volume "${v.name}" : hostPath type check failed: ${p} is not a socket file`);
      return;
    default:
      return; // unset: no checks, like upstream
  }
}

/** ExpandContainerVolumeMounts: every variable must have a non-empty value. */
function expandSubPathExpr(expr: string, env: { name: string; value: string }[]): string {
  const values = new Map(env.map((e) => [e.name, e.value]));
  const missing = new Set<string>();
  const out = expand(expr, (n) => {
    const v = values.get(n);
    if (!v) missing.add(n);
    return v ?? '';
  });
  if (missing.size) throw new Error(`missing value for ${[...missing].sort().join(', ')}`);
  return out;
}

export { formatMap };
