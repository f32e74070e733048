// Runs the three guestbook images' root filesystems for real (chroot, loopback ports) and
// drives the classic API: set through the frontend -> master -> replica -> get through the
// frontend. This is the images' own contract, checked without a cluster.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../images/build.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('images-guestbook: skipped, chroot needs root');

describe.skipIf(!isRoot)('guestbook images run from their rootfs', () => {
  let tmp = '';
  const rootfs: Record<string, string> = {};
  const procs: ChildProcess[] = [];
  const logs: Record<string, string> = {};
  let masterPort = 0;
  let slavePort = 0;
  let webPort = 0;

  /** Runs the image's command chrooted into its rootfs, in its own process group. */
  function run(label: string, image: string, argv: string[], env: Record<string, string>): ChildProcess {
    const child = spawn('chroot', [rootfs[image]!, ...argv], {
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    logs[label] = '';
    const keep = (b: Buffer) => (logs[label] = (logs[label] + b.toString()).slice(-4000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    procs.push(child);
    return child;
  }

  beforeAll(async () => {
    tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'k8ts-guestbook-images-'));
    for (const name of ['redis-master', 'guestbook-redis-slave', 'guestbook-php-frontend']) {
      rootfs[name] = path.join(tmp, `rootfs-${name}`);
      const t = Date.now();
      const r = await buildImage(name, { outDir: path.join(tmp, 'out'), keepRootfs: rootfs[name] });
      console.log(`${name}: built in ${Date.now() - t} ms, layer ${r.layerDigest}`);
      // A container runtime populates /dev; plain chroot does not, and sh needs /dev/null
      // for background jobs (start.sh runs php in the background).
      await execa('mknod', ['-m', '666', path.join(rootfs[name]!, 'dev', 'null'), 'c', '1', '3']);
    }
    [masterPort, slavePort, webPort] = [await freePort(), await freePort(), await freePort()];
  });

  afterAll(async () => {
    for (const p of procs) {
      // Negative pid: the whole group, so php -S workers go too.
      if (p.pid && p.exitCode === null) {
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('php has the redis extension and redis-server runs', async () => {
    const mods = await execa('chroot', [rootfs['guestbook-php-frontend']!, '/usr/bin/php', '-m']);
    expect(mods.stdout.split('\n')).toContain('redis');
    expect(mods.stderr).toBe(''); // no startup warnings (timezone, missing modules)
    const v = await execa('chroot', [rootfs['redis-master']!, '/usr/bin/redis-server', '--version']);
    expect(v.stdout).toMatch(/^Redis server v=7/);
  });

  it('master, replica and frontend serve the classic API end to end', async () => {
    // The image's own command and config, only the port moved off 6379 for a shared machine.
    run('master', 'redis-master', ['redis-server', '/etc/redis/redis.conf', '--port', String(masterPort), '--bind', '127.0.0.1'], {});
    run('slave', 'guestbook-redis-slave', ['/run.sh', '--port', String(slavePort), '--bind', '127.0.0.1'], {
      GET_HOSTS_FROM: 'env',
      REDIS_MASTER_SERVICE_HOST: '127.0.0.1',
      REDIS_MASTER_SERVICE_PORT: String(masterPort),
    });
    // The image's Cmd (/start.sh), told to listen on loopback only.
    run('web', 'guestbook-php-frontend', ['/start.sh'], {
      K8TS_LISTEN: `127.0.0.1:${webPort}`,
      GET_HOSTS_FROM: 'env',
      PHP_CLI_SERVER_WORKERS: '2',
      REDIS_MASTER_SERVICE_HOST: '127.0.0.1',
      REDIS_MASTER_SERVICE_PORT: String(masterPort),
      REDIS_SLAVE_SERVICE_HOST: '127.0.0.1',
      REDIS_SLAVE_SERVICE_PORT: String(slavePort),
    });

    const cli = (port: number, ...args: string[]) =>
      execa('chroot', [rootfs['redis-master']!, 'redis-cli', '-p', String(port), ...args]);
    await waitFor(
      'the replica to finish its sync',
      async () => ((await cli(masterPort, 'info', 'replication')).stdout.includes('connected_slaves:1') ? true : undefined),
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\nmaster: ${logs.master}\nslave: ${logs.slave}`);
    });

    const page = await waitFor('the frontend page', async () => {
      const res = await fetch(`http://127.0.0.1:${webPort}/`);
      return res.ok ? await res.text() : undefined;
    });
    expect(page).toContain('<title>Guestbook</title>');
    expect(page).not.toMatch(/https?:\/\/(?!127)/); // no CDN: the page works offline

    const message = `hello from k8ts ${Date.now()}, "quoted" & ünïcode`;
    const set = await fetch(
      `http://127.0.0.1:${webPort}/guestbook.php?cmd=set&key=messages&value=${encodeURIComponent(message)}`,
    );
    expect(set.status).toBe(200);
    expect(await set.text()).toBe('{"message": "Updated"}');

    // Reads come from the replica, so poll until replication carried the write over.
    const data = await waitFor('the message on the replica', async () => {
      const res = await fetch(`http://127.0.0.1:${webPort}/guestbook.php?cmd=get&key=messages`);
      const body = (await res.json()) as { data: string };
      return body.data === message ? body.data : undefined;
    });
    expect(data).toBe(message);
    expect((await cli(slavePort, 'get', 'messages')).stdout).toBe(message);
    expect((await cli(slavePort, 'info', 'replication')).stdout).toContain('role:slave');
  });

  it('the frontend exits (so the kubelet restarts it) when started before the redis Services', async () => {
    const child = run('web3', 'guestbook-php-frontend', ['/start.sh'], { GET_HOSTS_FROM: 'env', K8TS_LISTEN: '127.0.0.1:1' });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(logs.web3).toContain('REDIS_MASTER_SERVICE_HOST is not set');
  });

  it('a missing Service env var is an error reply, not a hang', async () => {
    const port = await freePort();
    run('web2', 'guestbook-php-frontend', ['php', '-S', `127.0.0.1:${port}`, '-t', '/var/www/html'], { GET_HOSTS_FROM: 'env' });
    const res = await waitFor('the second frontend', async () => {
      try {
        return await fetch(`http://127.0.0.1:${port}/guestbook.php?cmd=get&key=messages`);
      } catch {
        return undefined;
      }
    });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: string }).error).toContain('REDIS_SLAVE_SERVICE_HOST');
  });
});
