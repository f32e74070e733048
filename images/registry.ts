// The local image registry that stands in for Docker Hub and registry.k8s.io, and the ways
// to get built images into it or straight into a runtime.
//
// Nodes configure it as the *mirror* of docker.io and registry.k8s.io, so the repository
// path pushed here is the upstream path without its domain: a pull of
// docker.io/kubeguide/redis-master:latest asks the mirror for /v2/kubeguide/redis-master/...,
// and registry.k8s.io/pause:3.9 becomes /v2/pause/manifests/3.9.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { execa } from 'execa';
import { buildImage, defaultOutDir, MEDIA_MANIFEST, normalizeRef, ociRef, splitRef } from './build.js';
import { getRecipe } from './recipes.js';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export interface RegistryHandle {
  /** http://host:port */
  url: string;
  /** host:port, what skopeo and mirror configs want */
  hostPort: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  dataDir: string;
  /** host:port to listen on */
  listen: string;
  /** How long to wait for /v2/ to answer; default 15 s. */
  timeoutMs?: number;
}

function registryConfig(dataDir: string, listen: string): string {
  // Plain http and no auth: it only ever listens on the private node network or loopback.
  // Deletes are enabled so tests and `k8ts images push` can replace tags cleanly.
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(path.join(dataDir, 'storage'))}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: ${JSON.stringify(listen)}`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
    '',
  ].join('\n');
}

async function waitForV2(url: string, child: ChildProcess, timeoutMs: number, logs: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${logs()}`);
    }
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      // 200 without auth; 401 would mean someone else's registry with auth is on that port.
      if (res.status === 200) return;
      lastErr = `HTTP ${res.status}`;
    } catch (e) {
      lastErr = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer ${url}/v2/ within ${timeoutMs} ms (${lastErr}): ${logs()}`);
}

/** Starts Debian's docker-registry with filesystem storage under dataDir, http on `listen`. */
export async function startRegistry(opts: RegistryOptions): Promise<RegistryHandle> {
  if (!existsSync(REGISTRY_BINARY)) {
    throw new Error(`${REGISTRY_BINARY} not found: install the docker-registry package (scripts/install-deps.sh)`);
  }
  await fs.mkdir(opts.dataDir, { recursive: true });
  const configPath = path.join(opts.dataDir, 'config.yml');
  await fs.writeFile(configPath, registryConfig(opts.dataDir, opts.listen));

  // Not detached: it stays in our process group, so a Ctrl-C on the terminal stops it too.
  // docker-registry forks nothing, so stop() killing the pid is enough.
  const child = spawn(REGISTRY_BINARY, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const url = `http://${opts.listen}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForV2(url, child, opts.timeoutMs ?? 15000, () => output);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, hostPort: opts.listen, pid: child.pid, stop };
}

/**
 * The repository path (and tag) a reference has inside the mirror: the upstream path without
 * its registry domain. docker.io/library/busybox:latest -> library/busybox:latest,
 * registry.k8s.io/pause:3.9 -> pause:3.9.
 */
export function mirrorPath(ref: string): string {
  const { repo, tag } = splitRef(ref);
  return `${repo}:${tag}`;
}

export interface PushOptions {
  outDir?: string;
  /** Build first if needed (default true): push always sends what the recipe makes now. */
  build?: boolean;
  /** Push even when the registry already has this exact manifest under the tag. */
  force?: boolean;
}

/**
 * The manifest digest the registry has under repo:tag, or undefined. A HEAD request is
 * enough (Docker-Content-Digest), which lets `k8ts up` skip pushes that would change nothing.
 */
export async function registryDigest(registryHostPort: string, pathWithTag: string): Promise<string | undefined> {
  const colon = pathWithTag.lastIndexOf(':');
  const repo = pathWithTag.slice(0, colon);
  const tag = pathWithTag.slice(colon + 1);
  try {
    const res = await fetch(`http://${registryHostPort}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { Accept: `${MEDIA_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json` },
      signal: AbortSignal.timeout(3000),
    });
    if (res.status !== 200) return undefined;
    return res.headers.get('docker-content-digest') ?? undefined;
  } catch {
    return undefined;
  }
}

/** Pushes every reference of a built image to the registry under its mirror path. Returns the pushed paths. */
export async function pushImage(name: string, registryHostPort: string, opts: PushOptions = {}): Promise<string[]> {
  const built =
    opts.build === false
      ? { ociDir: path.join(opts.outDir ?? defaultOutDir(), name), refs: getRecipe(name).refs.map(normalizeRef) }
      : await buildImage(name, { outDir: opts.outDir });
  const pushed: string[] = [];
  const want = 'manifestDigest' in built ? built.manifestDigest : undefined;
  for (const ref of built.refs) {
    const dest = `${registryHostPort}/${mirrorPath(ref)}`;
    if (!opts.force && want && (await registryDigest(registryHostPort, mirrorPath(ref))) === want) {
      pushed.push(dest);
      continue;
    }
    await execa('skopeo', [
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      // Keep the gzip layer as built so the digest a node pulls equals the one we computed.
      '--preserve-digests',
      ociRef(built.ociDir, ref),
      `docker://${dest}`,
    ]);
    pushed.push(dest);
  }
  return pushed;
}

export interface ContainerdTarget {
  /** containerd's socket path (ctr --address) */
  address: string;
  /** k8s.io is the namespace the CRI plugin uses */
  namespace?: string;
}

/** Imports the OCI archive into containerd: every reference becomes an image in the namespace. */
export async function loadIntoContainerd(name: string, target: ContainerdTarget, opts: { outDir?: string } = {}): Promise<void> {
  const built = await buildImage(name, { outDir: opts.outDir });
  // The index entries carry io.containerd.image.name, so ctr names the images after the
  // upstream references itself; no --base-name needed.
  await execa('ctr', ['--address', target.address, '-n', target.namespace ?? 'k8s.io', 'images', 'import', built.archive]);
}

/** Copies every reference of the image into a Docker daemon (dockerHost: unix:///path or /path). */
export async function loadIntoDocker(name: string, dockerHost: string, opts: { outDir?: string } = {}): Promise<void> {
  const built = await buildImage(name, { outDir: opts.outDir });
  const host = dockerHost.includes('://') ? dockerHost : `unix://${dockerHost}`;
  for (const ref of built.refs) {
    await execa('skopeo', [
      'copy',
      '--quiet',
      '--dest-daemon-host',
      host,
      ociRef(built.ociDir, ref),
      `docker-daemon:${dockerDaemonRef(ref)}`,
    ]);
  }
}

/** Docker names docker.io images without the domain (and library/ for official ones). */
export function dockerDaemonRef(ref: string): string {
  const { domain, repo, tag } = splitRef(ref);
  if (domain !== 'docker.io') return `${domain}/${repo}:${tag}`;
  return `${repo.startsWith('library/') ? repo.slice('library/'.length) : repo}:${tag}`;
}
