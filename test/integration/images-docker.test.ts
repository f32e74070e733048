// The built images in a real, private dockerd: skopeo copies them in under the names Docker
// uses (busybox:latest, kubeguide/redis-master:latest, registry.k8s.io/pause:3.9) and
// busybox runs.
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIntoDocker } from '../../images/registry.js';
import { startDockerd, type DockerdHandle } from '../helpers/dockerd.js';

const canRun = process.getuid?.() === 0 && ['/usr/sbin/dockerd', '/usr/bin/docker', '/usr/bin/skopeo'].every((p) => existsSync(p));
if (!canRun) console.warn('images-docker: skipped, needs root, dockerd, docker and skopeo');

describe.skipIf(!canRun)('images in a private dockerd', () => {
  let dockerd: DockerdHandle | undefined;
  let dir = '';
  const docker = (...args: string[]) => execa('docker', ['-H', dockerd!.host, ...args]);

  beforeAll(async () => {
    dockerd = await startDockerd();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'k8ts-imgdk-'));
  });

  afterAll(async () => {
    await dockerd?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('loads images under Docker names and runs busybox', async () => {
    const outDir = path.join(dir, 'out');
    for (const name of ['pause', 'busybox']) await loadIntoDocker(name, dockerd!.host, { outDir });
    const names = (await docker('images', '--format', '{{.Repository}}:{{.Tag}}')).stdout.split('\n');
    for (const ref of ['busybox:latest', 'busybox:1.36', 'registry.k8s.io/pause:3.9', 'k8ts/pause:3.9']) expect(names, ref).toContain(ref);
    const run = await docker('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo hello from busybox; ls /bin/sleep');
    expect(run.stdout).toContain('hello from busybox');
  });
});
