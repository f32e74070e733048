// Offline OCI image builder: no Docker daemon, no registry downloads.
//
// A recipe (images/recipes.ts) names host files (binaries, configs) and inline files. The
// builder resolves it into a *plan* (every path the image will contain, with where its bytes
// come from), hashes the plan, and only when that hash differs from the last build assembles a
// rootfs in a temp dir and writes one deterministic gzip layer, an OCI config and manifest into
// an OCI layout (images/out/<name>/) plus an OCI archive (images/out/<name>.tar).
//
// Determinism matters: the same inputs must give the same layer digest, so nodes that already
// pulled an image see the same id after a rebuild and the registry dedupes the blob.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { execa } from 'execa';
import { getRecipe, recipeNames, type Recipe } from './recipes.js';

const gzip = promisify(zlib.gzip);

/** Bumped whenever the builder's output format changes, so old caches are not reused. */
const BUILDER_VERSION = 'k8ts-images/1';
const FIXED_TIME = '1970-01-01T00:00:00Z';

export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_INDEX = 'application/vnd.oci.image.index.v1+json';
/** containerd's annotation for the full image name used by `ctr images import`. */
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

export interface BuildResult {
  /** The primary (first) upstream reference, fully qualified: docker.io/library/busybox:latest. */
  ref: string;
  /** Every reference the image is tagged with. */
  refs: string[];
  ociDir: string;
  archive: string;
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  /** True when nothing changed since the last build and the output was reused. */
  cached: boolean;
}

export interface BuildOptions {
  /** Where <name>/ and <name>.tar go; default images/out in the repo. */
  outDir?: string;
  /** Rebuild even when the input hash matches. */
  force?: boolean;
  /** Also keep the assembled rootfs here (for chroot checks); the dir must not exist. */
  keepRootfs?: string;
}

/** One path inside the image and where its bytes come from. */
export type PlanEntry =
  | { kind: 'dir'; path: string; mode: number }
  | { kind: 'file'; path: string; mode: number; src: string }
  | { kind: 'inline'; path: string; mode: number; content: string }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'compile'; path: string; mode: number; src: string; args: string[] };

/** Repo root: the nearest ancestor with our package.json (works from images/ and dist/images/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'images'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('k8ts images: cannot find the repository root');
    dir = up;
  }
}

export function imagesDir(): string {
  return path.join(repoRoot(), 'images');
}

export function defaultOutDir(): string {
  return path.join(imagesDir(), 'out');
}

/**
 * Normalizes an image reference the way Docker does: docker.io for a bare name,
 * library/ for an official image, :latest when there is no tag.
 */
export function normalizeRef(ref: string): string {
  let name = ref;
  let tag = 'latest';
  const at = name.indexOf('@');
  if (at >= 0) throw new Error(`digest references are not supported here: ${ref}`);
  const lastSlash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  const parts = name.split('/');
  const first = parts[0] ?? '';
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasDomain) {
    if (parts.length === 1) parts.unshift('library');
    parts.unshift('docker.io');
  }
  return `${parts.join('/').toLowerCase()}:${tag}`;
}

/** Splits a normalized reference into registry domain, repository path and tag. */
export function splitRef(ref: string): { domain: string; repo: string; tag: string } {
  const n = normalizeRef(ref);
  const colon = n.lastIndexOf(':');
  const name = n.slice(0, colon);
  const tag = n.slice(colon + 1);
  const slash = name.indexOf('/');
  return { domain: name.slice(0, slash), repo: name.slice(slash + 1), tag };
}

// ---------------------------------------------------------------------------------------------
// Plan: resolve a recipe into a list of paths, following shared libraries with ldd.

async function realFile(p: string): Promise<string> {
  return fs.realpath(p);
}

/**
 * Facts that depend only on a file's bytes (its sha256, its shared libraries), remembered by
 * (path, size, mtime, inode) and kept on disk next to the output. The up-to-date check then
 * costs a few stat() calls instead of hashing ~60 MB and running ldd a dozen times, which
 * matters because `k8ts up` asks for every image on every start.
 */
export class FileFacts {
  private data: { v: number; sha: Record<string, string>; libs: Record<string, string[]> } = { v: 1, sha: {}, libs: {} };
  private dirty = false;

  constructor(private readonly file?: string) {}

  static async open(file?: string): Promise<FileFacts> {
    const c = new FileFacts(file);
    if (file) {
      try {
        const d = JSON.parse(await fs.readFile(file, 'utf8'));
        if (d && d.v === 1 && d.sha && d.libs) c.data = d;
      } catch {
        // first run or unreadable: start empty
      }
    }
    return c;
  }

  private async key(p: string): Promise<string> {
    const st = await fs.stat(p);
    return `${p}|${st.size}|${st.mtimeMs}|${st.ino}`;
  }

  async sha256(p: string): Promise<string> {
    const k = await this.key(p);
    const hit = this.data.sha[k];
    if (hit) return hit;
    const h = createHash('sha256').update(await fs.readFile(p)).digest('hex');
    this.data.sha[k] = h;
    this.dirty = true;
    return h;
  }

  async libs(p: string): Promise<string[]> {
    const k = await this.key(p);
    const hit = this.data.libs[k];
    if (hit) return hit;
    const libs = await sharedLibs(p);
    this.data.libs[k] = libs;
    this.dirty = true;
    return libs;
  }

  async save(): Promise<void> {
    if (!this.file || !this.dirty) return;
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await fs.writeFile(tmp, JSON.stringify(this.data));
    await fs.rename(tmp, this.file);
    this.dirty = false;
  }
}

/** Shared libraries a dynamic ELF file needs, as absolute host paths (empty for static ones). */
export async function sharedLibs(file: string): Promise<string[]> {
  const r = await execa('ldd', [file], { reject: false });
  // ldd exits 1 with "not a dynamic executable" for static binaries and scripts.
  if (r.exitCode !== 0) return [];
  const libs: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const arrow = line.match(/=>\s*(\/\S+)/);
    if (arrow?.[1]) {
      libs.push(arrow[1]);
      continue;
    }
    const direct = line.trim().match(/^(\/\S+)\s+\(/);
    if (direct?.[1]) libs.push(direct[1]);
  }
  return libs;
}

async function modeOf(p: string): Promise<number> {
  return (await fs.stat(p)).mode & 0o7777;
}

function addParents(entries: Map<string, PlanEntry>, p: string): void {
  let dir = path.posix.dirname(p);
  while (dir !== '/' && dir !== '.') {
    if (!entries.has(dir)) entries.set(dir, { kind: 'dir', path: dir, mode: 0o755 });
    dir = path.posix.dirname(dir);
  }
}

function put(entries: Map<string, PlanEntry>, e: PlanEntry): void {
  addParents(entries, e.path);
  entries.set(e.path, e);
}

/** Resolves the recipe into the sorted list of everything the image will contain. */
export async function planFor(recipe: Recipe, facts?: FileFacts): Promise<PlanEntry[]> {
  const ff = facts ?? new FileFacts();
  const entries = new Map<string, PlanEntry>();
  const recipeDir = path.join(imagesDir(), recipe.name);
  const elfs: string[] = [];

  for (const d of recipe.dirs ?? []) put(entries, { kind: 'dir', path: d.path, mode: d.mode ?? 0o755 });

  if (recipe.busybox) {
    const bb = await realFile('/bin/busybox');
    put(entries, { kind: 'file', path: '/bin/busybox', mode: 0o755, src: bb });
    elfs.push(bb);
    const list = await execa(bb, ['--list-full']);
    for (const rel of list.stdout.split('\n').map((s) => s.trim()).filter(Boolean)) {
      const p = `/${rel}`;
      if (p === '/bin/busybox') continue;
      put(entries, { kind: 'symlink', path: p, target: '/bin/busybox' });
    }
  }

  for (const b of recipe.binaries ?? []) {
    const src = await realFile(b.src);
    // Keep the requested name: redis-server is a symlink to redis-check-rdb on Debian and
    // picks its mode from argv[0], so the image must call it redis-server.
    put(entries, { kind: 'file', path: b.dest ?? b.src, mode: await modeOf(src), src });
    elfs.push(src);
  }

  const hostFiles = [...(recipe.hostFiles ?? []), ...((await recipe.expandHostFiles?.()) ?? [])];
  for (const f of hostFiles) {
    const src = await realFile(f.src);
    put(entries, { kind: 'file', path: f.dest ?? f.src, mode: f.mode ?? (await modeOf(src)), src });
    if (f.elf) elfs.push(src);
  }

  for (const f of recipe.recipeFiles ?? []) {
    const src = path.join(recipeDir, f.src);
    put(entries, { kind: 'file', path: f.dest, mode: f.mode ?? 0o644, src });
  }

  for (const f of recipe.inline ?? []) {
    put(entries, { kind: 'inline', path: f.path, mode: f.mode ?? 0o644, content: f.content });
  }

  for (const l of recipe.symlinks ?? []) put(entries, { kind: 'symlink', path: l.path, target: l.target });

  for (const c of recipe.compile ?? []) {
    put(entries, { kind: 'compile', path: c.dest, mode: 0o755, src: path.join(recipeDir, c.src), args: c.args });
  }

  // Shared libraries at the path ldd reports: the loader in the image searches the same
  // multiarch directories as on the host (Debian's glibc has them built in, no ld.so.cache needed).
  const seen = new Set<string>();
  const libLists = await Promise.all(elfs.map((elf) => ff.libs(elf)));
  for (const libs of libLists) {
    for (const lib of libs) {
      if (seen.has(lib)) continue;
      seen.add(lib);
      const dest = lib;
      if (entries.has(dest)) continue;
      put(entries, { kind: 'file', path: dest, mode: 0o755, src: await realFile(lib) });
    }
  }

  return [...entries.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The compiler's identity for the cache key: its binary's hash (no process to spawn). */
async function compilerVersion(ff: FileFacts): Promise<string> {
  const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(':').filter(Boolean);
  const gcc = dirs.map((d) => path.join(d, 'gcc')).find((p) => existsSync(p));
  if (!gcc) throw new Error('gcc not found: install build-essential (scripts/install-deps.sh)');
  return `gcc:${await ff.sha256(await fs.realpath(gcc))}`;
}

/** Hash of everything that decides the image's bytes: builder version, plan, file contents, config. */
export async function inputHash(recipe: Recipe, plan: PlanEntry[], facts?: FileFacts): Promise<string> {
  const ff = facts ?? new FileFacts();
  const h = createHash('sha256');
  h.update(BUILDER_VERSION + '\n');
  h.update(JSON.stringify({ refs: recipe.refs, config: recipe.config }) + '\n');
  for (const e of plan) {
    switch (e.kind) {
      case 'dir':
        h.update(`d ${e.path} ${e.mode}\n`);
        break;
      case 'symlink':
        h.update(`l ${e.path} ${e.target}\n`);
        break;
      case 'inline':
        h.update(`i ${e.path} ${e.mode} ${createHash('sha256').update(e.content).digest('hex')}\n`);
        break;
      case 'file':
        h.update(`f ${e.path} ${e.mode} ${await ff.sha256(e.src)}\n`);
        break;
      case 'compile':
        h.update(`c ${e.path} ${e.mode} ${await ff.sha256(e.src)} ${e.args.join(' ')} ${await compilerVersion(ff)}\n`);
        break;
    }
  }
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Assemble and write.

/** Writes the plan as a directory tree under `root` (which must exist and be empty). */
export async function assembleRootfs(plan: PlanEntry[], root: string): Promise<void> {
  for (const e of plan) {
    const dest = path.join(root, e.path);
    switch (e.kind) {
      case 'dir':
        await fs.mkdir(dest, { recursive: true });
        await fs.chmod(dest, e.mode);
        break;
      case 'file':
        await fs.copyFile(e.src, dest);
        await fs.chmod(dest, e.mode);
        break;
      case 'inline':
        await fs.writeFile(dest, e.content);
        await fs.chmod(dest, e.mode);
        break;
      case 'symlink':
        await fs.symlink(e.target, dest);
        break;
      case 'compile':
        await execa('gcc', [...e.args, '-o', dest, e.src]);
        await fs.chmod(dest, e.mode);
        break;
    }
  }
}

/**
 * A tar of `dir` that depends only on the tree's content: names sorted, fixed mtime,
 * owner root. Names are relative without a leading "./", as in images made by docker build.
 */
export async function deterministicTar(dir: string, names: string[]): Promise<Buffer> {
  const listFile = path.join(os.tmpdir(), `k8ts-tarlist-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await fs.writeFile(listFile, names.join('\0') + '\0');
  try {
    const r = await execa(
      'tar',
      [
        '--create', '--file=-', '--format=gnu', '--sort=none', '--mtime=@0', '--owner=0', '--group=0',
        '--numeric-owner', '--no-acls', '--no-xattrs', '--no-recursion', '--null', `--files-from=${listFile}`,
      ],
      { cwd: dir, encoding: 'buffer', maxBuffer: 1 << 30 },
    );
    return Buffer.from(r.stdout);
  } finally {
    await fs.rm(listFile, { force: true });
  }
}

function sha256(buf: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(buf).digest('hex');
}

async function writeBlob(ociDir: string, data: Buffer | string): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const file = path.join(ociDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  await fs.writeFile(file, data);
  return { digest, size: Buffer.byteLength(data) };
}

async function listTree(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  const ents = await fs.readdir(path.join(root, rel), { withFileTypes: true });
  for (const ent of ents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    out.push(r);
    if (ent.isDirectory()) out.push(...(await listTree(root, r)));
  }
  return out;
}

interface Stamp {
  inputHash: string;
  result: Omit<BuildResult, 'cached' | 'ociDir' | 'archive'>;
}

/** Builds one image by recipe name; reuses the previous output when its inputs are unchanged. */
export async function buildImage(name: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const recipe = getRecipe(name);
  const outDir = opts.outDir ?? defaultOutDir();
  const ociDir = path.join(outDir, name);
  const archive = path.join(outDir, `${name}.tar`);
  const stampFile = path.join(outDir, `${name}.stamp.json`);

  const facts = await FileFacts.open(path.join(outDir, '.file-facts.json'));
  const plan = await planFor(recipe, facts);
  const hash = await inputHash(recipe, plan, facts);
  await facts.save();

  if (!opts.force && !opts.keepRootfs) {
    try {
      const stamp = JSON.parse(await fs.readFile(stampFile, 'utf8')) as Stamp;
      if (stamp.inputHash === hash && existsSync(path.join(ociDir, 'index.json')) && existsSync(archive)) {
        return { ...stamp.result, ociDir, archive, cached: true };
      }
    } catch {
      // no stamp or unreadable: build
    }
  }

  const work = await fs.mkdtemp(path.join(os.tmpdir(), `k8ts-image-${name}-`));
  try {
    const rootfs = path.join(work, 'rootfs');
    await fs.mkdir(rootfs);
    await assembleRootfs(plan, rootfs);
    const names = plan.map((e) => e.path.slice(1));
    const tar = await deterministicTar(rootfs, names);
    const diffId = sha256(tar);
    // Node's gzip writes mtime 0 and a fixed OS byte: same tar, same bytes.
    const layer = await gzip(tar, { level: 6 });

    const staging = path.join(work, 'oci');
    await fs.mkdir(path.join(staging, 'blobs', 'sha256'), { recursive: true });
    await fs.writeFile(path.join(staging, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const layerBlob = await writeBlob(staging, layer);

    const config = {
      created: FIXED_TIME,
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: recipe.config.Env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(recipe.config.Entrypoint ? { Entrypoint: recipe.config.Entrypoint } : {}),
        ...(recipe.config.Cmd ? { Cmd: recipe.config.Cmd } : {}),
        ...(recipe.config.ExposedPorts
          ? { ExposedPorts: Object.fromEntries(recipe.config.ExposedPorts.map((p) => [p, {}])) }
          : {}),
        WorkingDir: recipe.config.WorkingDir ?? '/',
        Labels: { 'io.k8ts.image.recipe': name, 'io.k8ts.image.stands-for': recipe.refs.join(',') },
      },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: FIXED_TIME, created_by: `k8ts images build ${name}`, comment: recipe.description }],
    };
    const configBlob = await writeBlob(staging, JSON.stringify(config));
    const manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_MANIFEST,
      config: { mediaType: MEDIA_CONFIG, digest: configBlob.digest, size: configBlob.size },
      layers: [{ mediaType: MEDIA_LAYER, digest: layerBlob.digest, size: layerBlob.size }],
    };
    const manifestBlob = await writeBlob(staging, JSON.stringify(manifest));
    const refs = recipe.refs.map(normalizeRef);
    const index = {
      schemaVersion: 2,
      mediaType: MEDIA_INDEX,
      // One entry per name, all pointing at the same manifest: `ctr images import` creates
      // one image per io.containerd.image.name; skopeo's oci: transport selects by ref.name,
      // which must be unique, so it is the full reference (use ociRef() to address it).
      manifests: refs.map((r) => ({
        mediaType: MEDIA_MANIFEST,
        digest: manifestBlob.digest,
        size: manifestBlob.size,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { [ANNOTATION_CONTAINERD_NAME]: r, [ANNOTATION_REF_NAME]: r },
      })),
    };
    await fs.writeFile(path.join(staging, 'index.json'), JSON.stringify(index));
    const archiveTar = await deterministicTar(staging, await listTree(staging));

    // Replace the previous output only once the new one is complete.
    await fs.mkdir(outDir, { recursive: true });
    await fs.rm(ociDir, { recursive: true, force: true });
    await fs.rename(staging, ociDir).catch(async () => {
      await fs.cp(staging, ociDir, { recursive: true });
    });
    await fs.writeFile(archive + '.tmp', archiveTar);
    await fs.rename(archive + '.tmp', archive);
    if (opts.keepRootfs) await fs.rename(rootfs, opts.keepRootfs).catch(() => fs.cp(rootfs, opts.keepRootfs!, { recursive: true, verbatimSymlinks: true }));

    const result: Stamp['result'] = {
      ref: refs[0]!,
      refs,
      manifestDigest: manifestBlob.digest,
      configDigest: configBlob.digest,
      layerDigest: layerBlob.digest,
    };
    await fs.writeFile(stampFile, JSON.stringify({ inputHash: hash, result } satisfies Stamp, null, 2));
    return { ...result, ociDir, archive, cached: false };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** The skopeo/umoci address of one tag inside a built layout: `oci:<dir>:<full ref>`. */
export function ociRef(ociDir: string, ref: string): string {
  return `oci:${ociDir}:${normalizeRef(ref)}`;
}

export async function buildAll(names: string[] = recipeNames(), opts: BuildOptions = {}): Promise<BuildResult[]> {
  const out: BuildResult[] = [];
  // Sequential on purpose: the machine is shared and gzip of the PHP layer is CPU-bound.
  for (const n of names) out.push(await buildImage(n, opts));
  return out;
}
