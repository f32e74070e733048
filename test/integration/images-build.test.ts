// Builds pause and busybox offline, pushes them to a real docker-registry on loopback and
// reads them back with skopeo; checks the build cache and the pause binary's signal handling.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, type BuildResult } from '../../images/build.js';
import { pushImage, registryDigest, startRegistry, type RegistryHandle } from '../../images/registry.js';
import { freePort } from '../helpers/ports.js';
import { catchesSignals, waitFor } from '../helpers/wait.js';

const haveTools = ['/usr/bin/docker-registry', '/usr/bin/skopeo', '/usr/bin/gcc'].every((p) => existsSync(p));
if (!haveTools) console.warn('images-build: skipped, needs docker-registry, skopeo and gcc (scripts/install-deps.sh)');


describe.skipIf(!haveTools)('offline image builder + local registry', () => {
  let tmp = '';
  let outDir = '';
  let registry: RegistryHandle | undefined;
  const built: Record<string, BuildResult> = {};

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'k8ts-images-test-'));
    outDir = path.join(tmp, 'out');
  });

  afterAll(async () => {
    await registry?.stop();
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('builds pause and busybox as OCI layouts and archives', async () => {
    for (const name of ['pause', 'busybox']) {
      const r = await buildImage(name, { outDir });
      built[name] = r;
      expect(r.cached).toBe(false);
      expect(existsSync(path.join(r.ociDir, 'oci-layout'))).toBe(true);
      const index = JSON.parse(await fs.readFile(path.join(r.ociDir, 'index.json'), 'utf8'));
      expect(index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations['io.containerd.image.name'])).toEqual(r.refs);
      const listing = (await execa('tar', ['-tf', r.archive])).stdout.split('\n');
      expect(listing).toContain('index.json');
      expect(listing).toContain(`blobs/sha256/${r.layerDigest.slice(7)}`);
    }
    expect(built.pause!.ref).toBe('registry.k8s.io/pause:3.9');
    expect(built.pause!.refs).toContain('docker.io/k8ts/pause:3.9');
    expect(built.busybox!.ref).toBe('docker.io/library/busybox:latest');

    const layer = path.join(built.pause!.ociDir, 'blobs', 'sha256', built.pause!.layerDigest.slice(7));
    const entries = (await execa('tar', ['-tzvf', layer])).stdout.trim().split('\n');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatch(/^-rwxr-xr-x 0\/0 .* 1970-01-01 00:00 pause$/);
  });

  it('busybox layer has sh, the applets and passwd', async () => {
    const r = built.busybox!;
    const layer = path.join(r.ociDir, 'blobs', 'sha256', r.layerDigest.slice(7));
    const names = new Set((await execa('tar', ['-tzf', layer])).stdout.split('\n'));
    for (const p of ['bin/busybox', 'bin/sh', 'bin/cat', 'bin/sleep', 'usr/bin/wget', 'bin/hostname', 'etc/passwd', 'tmp/']) {
      expect(names, p).toContain(p);
    }
    const config = JSON.parse(await fs.readFile(path.join(r.ociDir, 'blobs', 'sha256', r.configDigest.slice(7)), 'utf8'));
    expect(config.config.Cmd).toEqual(['sh']);
    expect(config.rootfs.diff_ids).toHaveLength(1);
  });

  it('a second build is cached and a forced rebuild gives the same digests', async () => {
    const t = Date.now();
    const again = await buildImage('busybox', { outDir });
    const cachedMs = Date.now() - t;
    expect(again.cached).toBe(true);
    expect(again.manifestDigest).toBe(built.busybox!.manifestDigest);
    console.log(`busybox cached rebuild: ${cachedMs} ms`);

    const forced = await buildImage('busybox', { outDir, force: true });
    expect(forced.cached).toBe(false);
    expect(forced.layerDigest).toBe(built.busybox!.layerDigest);
    expect(forced.manifestDigest).toBe(built.busybox!.manifestDigest);
  });

  it('pushes to docker-registry under the upstream paths; skopeo inspect sees layer and config', async () => {
    const port = await freePort();
    registry = await startRegistry({ dataDir: path.join(tmp, 'registry'), listen: `127.0.0.1:${port}` });
    expect(await pushImage('busybox', registry.hostPort, { outDir })).toEqual([
      `127.0.0.1:${port}/library/busybox:latest`,
      `127.0.0.1:${port}/library/busybox:1.36`,
    ]);
    expect(await pushImage('pause', registry.hostPort, { outDir })).toEqual([
      `127.0.0.1:${port}/pause:3.9`,
      `127.0.0.1:${port}/k8ts/pause:3.9`,
    ]);

    const inspect = await execa('skopeo', ['inspect', '--tls-verify=false', `docker://127.0.0.1:${port}/library/busybox:latest`]);
    const info = JSON.parse(inspect.stdout);
    expect(info.Layers).toEqual([built.busybox!.layerDigest]);
    expect(info.Digest).toBe(built.busybox!.manifestDigest);
    expect(info.Architecture).toBe('amd64');

    const cfg = JSON.parse(
      (await execa('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://127.0.0.1:${port}/library/busybox:latest`])).stdout,
    );
    expect(cfg.config.Cmd).toEqual(['sh']);

    const pause = JSON.parse((await execa('skopeo', ['inspect', '--tls-verify=false', `docker://127.0.0.1:${port}/pause:3.9`])).stdout);
    expect(pause.Digest).toBe(built.pause!.manifestDigest);

    // What pushImage uses to skip a push that would change nothing.
    expect(await registryDigest(registry.hostPort, 'library/busybox:1.36')).toBe(built.busybox!.manifestDigest);
    expect(await registryDigest(registry.hostPort, 'library/busybox:nope')).toBeUndefined();
    const t = Date.now();
    expect(await pushImage('busybox', registry.hostPort, { outDir })).toHaveLength(2);
    console.log(`second push of busybox (already there): ${Date.now() - t} ms`);
  });

  it('the pause binary exits 0 on SIGTERM and on SIGINT', async () => {
    const rootfs = path.join(tmp, 'pause-rootfs');
    await buildImage('pause', { outDir: path.join(tmp, 'out2'), keepRootfs: rootfs });
    const bin = path.join(rootfs, 'pause');
    expect((await execa('file', [bin])).stdout).toMatch(/statically linked/);
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const child = spawn(bin, [], { stdio: 'ignore' });
      // Signalled before it has its handlers, it would die of the signal: wait for them.
      await waitFor('pause to handle SIGINT and SIGTERM', () => catchesSignals(child.pid!, [2, 15]), 30_000);
      expect(child.exitCode).toBeNull(); // still pausing
      const done = new Promise<[number | null, string | null]>((r) => child.once('exit', (c, s) => r([c, s])));
      child.kill(sig);
      expect(await done).toEqual([0, null]);
    }
  });

  it.skipIf(process.getuid?.() !== 0)('pause reaps orphans as PID 1 of a PID namespace', async () => {
    const bin = path.join(tmp, 'pause-rootfs', 'pause');
    // unshare forks pause as PID 1 of a new PID namespace (the shared-PID pod case).
    const holder = spawn('unshare', ['--pid', '--fork', bin], { stdio: 'ignore' });
    let pausePid = 0;
    try {
      pausePid = await waitFor('pause under unshare', async () => {
        const kids = await fs.readFile(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').catch(() => '');
        return Number(kids.trim().split(/\s+/)[0] ?? 0) || 0;
      }, 30_000);
      // (its SIGCHLD handler is what reaps)
      await waitFor('pause to handle SIGCHLD', () => catchesSignals(pausePid, [17]), 30_000);
      // Three orphans: their shell exits at once, so they are re-parented to pause, and each
      // exits 0.3 s later. A child pause did not reap stays listed (a zombie) for good, so
      // the list emptying is the proof, however late a loaded machine gets there.
      await execa('nsenter', ['-t', String(pausePid), '-p', '--', 'sh', '-c', '(sleep 0.3 &); (sleep 0.3 &); (sleep 0.3 &); exit 0']);
      const children = () => fs.readFile(`/proc/${pausePid}/task/${pausePid}/children`, 'utf8').then((t) => t.trim());
      await waitFor('every orphan reaped', async () => (await children()) === '', 30_000).catch(async (e: unknown) => {
        throw new Error(`${String(e)}; still children of pause: ${await children()}`);
      });
      expect(holder.exitCode).toBeNull();
    } finally {
      // pause first: once unshare is gone it could no longer be found through its parent.
      if (pausePid) {
        try {
          process.kill(pausePid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      holder.kill('SIGKILL');
    }
  });
});
