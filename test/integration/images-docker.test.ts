// The built images in a real, private dockerd: skopeo copies them in under the names Docker
// uses (busybox:latest, kubeguide/redis-master:latest, registry.k8s.io/pause:3.9) and
// busybox runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIntoDocker } from '../../images/registry.js';

const canRun = process.getuid?.() === 0 && ['/usr/sbin/dockerd', '/usr/bin/docker', '/usr/bin/skopeo'].every((p) => existsSync(p));
if (!canRun) console.warn('images-docker: skipped, needs root, dockerd, docker and skopeo');

describe.skipIf(!canRun)('images in a private dockerd', () => {
  let dir = '';
  let sock = '';
  let dockerd: ChildProcess | undefined;
  let stderr = '';
  const docker = (...args: string[]) => execa('docker', ['-H', `unix://${sock}`, ...args]);

  beforeAll(async () => {
    // Short path: the socket path must fit in sun_path.
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'k8ts-imgdk-'));
    sock = path.join(dir, 'docker.sock');
    await fs.writeFile(path.join(dir, 'daemon.json'), '{}\n');
    // No bridge and no iptables: this daemon must not touch the host's network.
    dockerd = spawn(
      '/usr/sbin/dockerd',
      [
        '--data-root', path.join(dir, 'root'),
        '--exec-root', path.join(dir, 'exec'),
        '--pidfile', path.join(dir, 'docker.pid'),
        '-H', `unix://${sock}`,
        '--bridge=none', '--iptables=false', '--ip-masq=false', '--ip6tables=false',
        '--config-file', path.join(dir, 'daemon.json'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    dockerd.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
    const deadline = Date.now() + 60000;
    for (;;) {
      if ((await execa('docker', ['-H', `unix://${sock}`, 'version'], { reject: false })).exitCode === 0) break;
      if (Date.now() > deadline || dockerd.exitCode !== null) throw new Error(`dockerd did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  afterAll(async () => {
    if (dockerd && dockerd.exitCode === null) {
      const exited = new Promise((r) => dockerd!.once('exit', r));
      dockerd.kill('SIGTERM');
      const t = setTimeout(() => dockerd!.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(t);
    }
    // dockerd's own containerd and shims carry our dir in their argv; end only those.
    const ps = await execa('ps', ['-eo', 'pid=,args='], { reject: false });
    for (const line of ps.stdout.split('\n')) {
      if (dir && line.includes(dir)) {
        const pid = Number(line.trim().split(/\s+/)[0]);
        if (pid > 1 && pid !== process.pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    }
    if (dir) {
      const mounts = (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4] ?? '');
      for (const m of mounts.filter((m) => m.startsWith(dir)).sort((a, b) => b.length - a.length)) {
        await execa('umount', ['-l', m], { reject: false });
      }
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('loads images under Docker names and runs busybox', async () => {
    const outDir = path.join(dir, 'out');
    for (const name of ['pause', 'busybox']) await loadIntoDocker(name, `unix://${sock}`, { outDir });
    const names = (await docker('images', '--format', '{{.Repository}}:{{.Tag}}')).stdout.split('\n');
    for (const ref of ['busybox:latest', 'busybox:1.36', 'registry.k8s.io/pause:3.9', 'k8ts/pause:3.9']) expect(names, ref).toContain(ref);
    const run = await docker('run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo hello from busybox; ls /bin/sleep');
    expect(run.stdout).toContain('hello from busybox');
  });
});
