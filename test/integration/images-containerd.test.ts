// The built images in a real containerd: `ctr images import` of the OCI archive names them
// after the upstream references, a pull through the local registry as a docker.io /
// registry.k8s.io mirror (containerd's own resolver, hosts.toml) gets the same digests, and
// the images run as containers (dynamic libraries, busybox applets, pause signals).
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build.js';
import { loadIntoContainerd, pushImage, startRegistry, type RegistryHandle } from '../../images/registry.js';
import { freePort } from '../helpers/ports.js';
import { spawnDaemon, type Daemon } from '../helpers/daemon.js';
import { removeDaemonLeftovers } from '../helpers/containerd.js';
import { catchesSignals, waitFor } from '../helpers/wait.js';

const canRun =
  process.getuid?.() === 0 && ['/usr/bin/containerd', '/usr/bin/ctr', '/usr/bin/runc', '/usr/bin/docker-registry'].every((p) => existsSync(p));
if (!canRun) console.warn('images-containerd: skipped, needs root, containerd, ctr, runc and docker-registry');


describe.skipIf(!canRun)('images in a private containerd', () => {
  let dir = '';
  let sock = '';
  let containerd: Daemon | undefined;
  let registry: RegistryHandle | undefined;
  const outDir = () => path.join(dir, 'out');
  const ctr = (...args: string[]) => execa('ctr', ['--address', sock, '-n', 'k8s.io', ...args]);

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'k8ts-images-ctr-'));
    sock = path.join(dir, 'containerd.sock');
    // Only what ctr needs; the CRI plugin is off, this test is about images, not pods.
    const config = [
      'version = 2',
      `root = ${JSON.stringify(path.join(dir, 'root'))}`,
      `state = ${JSON.stringify(path.join(dir, 'state'))}`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = ${JSON.stringify(sock)}`,
      '[ttrpc]',
      `  address = ${JSON.stringify(sock + '.ttrpc')}`,
      '',
    ].join('\n');
    await fs.writeFile(path.join(dir, 'config.toml'), config);
    containerd = spawnDaemon('containerd', '/usr/bin/containerd', ['--config', path.join(dir, 'config.toml')]);
    await containerd.waitReady(async () => (await execa('ctr', ['--address', sock, 'version'], { reject: false })).exitCode === 0, 20_000);
    registry = await startRegistry({ dataDir: path.join(dir, 'registry'), listen: `127.0.0.1:${await freePort()}` });
  });

  afterAll(async () => {
    await registry?.stop();
    await containerd?.terminate(5000);
    // Shims carry our socket path in their argv; end only those, then the mounts and the dir.
    if (dir) await removeDaemonLeftovers(sock, dir);
  });

  it('ctr images import names every image after its upstream references', async () => {
    for (const name of ['pause', 'busybox', 'redis-master']) await loadIntoContainerd(name, { address: sock }, { outDir: outDir() });
    const names = (await ctr('images', 'ls', '-q')).stdout.split('\n');
    for (const ref of [
      'registry.k8s.io/pause:3.9',
      'docker.io/k8ts/pause:3.9',
      'docker.io/library/busybox:latest',
      'docker.io/library/busybox:1.36',
      'docker.io/kubeguide/redis-master:latest',
    ]) {
      expect(names, ref).toContain(ref);
    }
  });

  it('busybox and redis-master run as containers', async () => {
    const echo = await ctr('run', '--rm', 'docker.io/library/busybox:latest', `k8ts-bb-${process.pid}`, 'sh', '-c', 'echo hello from $(hostname); ls /bin/sh; id -un');
    expect(echo.stdout).toContain('hello from');
    expect(echo.stdout).toContain('root');
    const redis = await ctr('run', '--rm', 'docker.io/kubeguide/redis-master:latest', `k8ts-redis-${process.pid}`, 'redis-server', '--version');
    expect(redis.stdout).toMatch(/Redis server v=7/);
  });

  it('pause runs as a container and stops on SIGTERM with exit 0', async () => {
    const id = `k8ts-pause-${process.pid}`;
    const run = execa('ctr', ['--address', sock, '-n', 'k8s.io', 'run', '--rm', 'registry.k8s.io/pause:3.9', id], { reject: false });
    // Running, and past installing its handlers: PID 1 of a PID namespace never gets a
    // signal it has no handler for, so a SIGTERM sent earlier would be lost.
    const pid = await waitFor('the pause task running', async () => {
      const row = (await ctr('tasks', 'ls')).stdout.split('\n').find((l) => l.startsWith(`${id} `))?.trim().split(/\s+/);
      return row?.[2] === 'RUNNING' && Number(row[1]);
    }, 60_000);
    await waitFor('pause to handle SIGTERM', () => catchesSignals(pid, [15]), 30_000);
    await ctr('tasks', 'kill', '--signal', 'SIGTERM', id);
    const res = await run;
    expect(res.exitCode).toBe(0);
  });

  it('the php frontend serves inside its container and stops promptly on SIGTERM', async () => {
    await loadIntoContainerd('guestbook-php-frontend', { address: sock }, { outDir: outDir() });
    const id = `k8ts-fe-${process.pid}`;
    // ctr gives the container its own network namespace with only lo: port 80 stays inside.
    const run = execa('ctr', ['--address', sock, '-n', 'k8s.io', 'run', '--rm', 'docker.io/kubeguide/guestbook-php-frontend:latest', id], {
      reject: false,
    });
    let i = 0;
    const page = await waitFor('the frontend page', async () => {
      const r = await ctr('tasks', 'exec', '--exec-id', `probe${i++}`, id, 'wget', '-q', '-O', '-', 'http://127.0.0.1:80/').catch(() => undefined);
      return r?.stdout.includes('Guestbook') && r.stdout;
    }, 60_000, 200);
    expect(page).toContain('<title>Guestbook</title>');
    // If PID 1 ignored SIGTERM the task would never exit and this test would time out.
    await ctr('tasks', 'kill', '--signal', 'SIGTERM', id);
    const res = await run;
    expect(res.exitCode).toBe(0);
  });

  it('a pull of the upstream names through the registry mirror gets the built digests', async () => {
    const hostPort = registry!.hostPort;
    await pushImage('busybox', hostPort, { outDir: outDir() });
    await pushImage('pause', hostPort, { outDir: outDir() });
    // The same hosts.toml layout scripts/provision-node.sh writes to /etc/containerd/certs.d.
    const hostsDir = path.join(dir, 'certs.d');
    for (const reg of ['docker.io', 'registry.k8s.io']) {
      await fs.mkdir(path.join(hostsDir, reg), { recursive: true });
      await fs.writeFile(
        path.join(hostsDir, reg, 'hosts.toml'),
        `server = "https://${reg}"\n\n[host."http://${hostPort}"]\n  capabilities = ["pull", "resolve"]\n`,
      );
    }
    await ctr('images', 'rm', 'docker.io/library/busybox:1.36', 'registry.k8s.io/pause:3.9');
    await ctr('images', 'pull', '--hosts-dir', hostsDir, 'docker.io/library/busybox:1.36');
    await ctr('images', 'pull', '--hosts-dir', hostsDir, 'registry.k8s.io/pause:3.9');
    const busybox = await buildImage('busybox', { outDir: outDir() });
    const pause = await buildImage('pause', { outDir: outDir() });
    const ls = (await ctr('images', 'ls')).stdout;
    const digestOf = (ref: string) => ls.split('\n').find((l) => l.startsWith(ref + ' '))?.match(/sha256:[0-9a-f]{64}/)?.[0];
    expect(digestOf('docker.io/library/busybox:1.36')).toBe(busybox.manifestDigest);
    expect(digestOf('registry.k8s.io/pause:3.9')).toBe(pause.manifestDigest);
  });
});
