// The one ContainerRuntime suite, run against real containerd (CRI) and real dockerd by
// test/integration/runtime-cri.test.ts and runtime-docker.test.ts. Everything here goes
// through the ContainerRuntime interface only, so both implementations must agree.
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerConfig, ContainerRuntime, PodSandboxConfig, RuntimeEvent } from '../agent/runtime/types.js';
import { RuntimeError } from '../agent/runtime/types.js';
import { waitFor } from './helpers/wait.js';

export const BUSYBOX = 'docker.io/library/busybox:latest';
export const BUSYBOX_136 = 'docker.io/library/busybox:1.36';
export const MISSING_IMAGE = 'docker.io/library/k8ts-does-not-exist:latest';

export interface SuiteEnv {
  runtime: ContainerRuntime;
  /** The podCIDR written into the CNI conf, e.g. 10.250.7.0/24. */
  podCIDR: string;
  /** host-local's lease dir for the network (one file per leased IP). */
  ipamLeaseDir: string;
  /** A second, independent runtime instance on the same daemon: the kubelet after a restart. */
  reopen(): ContainerRuntime;
  teardown(): Promise<void>;
}

let seq = 0;
const uniq = () => `${process.pid}-${Date.now().toString(36)}-${seq++}`;

export function ipInCIDR(ip: string, cidr: string): boolean {
  const [base, bitsS] = cidr.split('/');
  const bits = Number(bitsS);
  const toN = (s: string) => s.split('.').reduce((a, o) => (a << 8) + Number(o), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toN(ip) & mask) === (toN(base!) & mask);
}

function collector(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

export function runtimeSuite(kind: 'cri' | 'docker', setup: () => Promise<SuiteEnv>): void {
  describe(`ContainerRuntime (${kind})`, () => {
    let env: SuiteEnv;
    let rt: ContainerRuntime;
    let logRoot: string;
    const sandboxes: string[] = [];

    beforeAll(async () => {
      env = await setup();
      rt = env.runtime;
      logRoot = await mkdtemp(join(tmpdir(), `k8ts-rtlogs-${kind}-`));
      await rt.pullImage(BUSYBOX);
    });

    afterAll(async () => {
      for (const id of sandboxes) {
        await rt?.stopPodSandbox(id).catch(() => {});
        await rt?.removePodSandbox(id).catch(() => {});
      }
      await env?.teardown();
      if (logRoot) await rm(logRoot, { recursive: true, force: true });
    });

    function sandboxConfig(over: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
      const id = uniq();
      const name = over.name ?? `pod-${id}`;
      const uid = over.uid ?? `uid-${id}`;
      const namespace = 'default';
      return {
        name,
        namespace,
        uid,
        attempt: 0,
        hostname: name.slice(0, 63),
        logDirectory: join(logRoot, `${namespace}_${name}_${uid}`),
        // As the kubelet sets them, so a restarted kubelet can find its pods by label.
        labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.pod.uid': uid },
        annotations: { 'k8ts.test/suite': kind },
        hostNetwork: false,
        portMappings: [],
        sharePid: false,
        ...over,
      };
    }

    async function runSandbox(over: Partial<PodSandboxConfig> = {}): Promise<{ id: string; config: PodSandboxConfig }> {
      const config = sandboxConfig(over);
      await mkdir(config.logDirectory, { recursive: true });
      const id = await rt.runPodSandbox(config);
      sandboxes.push(id);
      return { id, config };
    }

    function containerConfig(sb: PodSandboxConfig, name: string, over: Partial<ContainerConfig> = {}): ContainerConfig {
      return {
        name,
        attempt: 0,
        image: BUSYBOX,
        command: [],
        args: ['sleep', '3600'],
        env: [],
        mounts: [],
        labels: {
          'io.kubernetes.pod.name': sb.name,
          'io.kubernetes.pod.namespace': sb.namespace,
          'io.kubernetes.pod.uid': sb.uid,
          'io.kubernetes.container.name': name,
        },
        annotations: { 'io.kubernetes.container.restartCount': '0' },
        logPath: `${name}/0.log`,
        stdin: false,
        stdinOnce: false,
        tty: false,
        resources: {},
        security: {},
        ...over,
      };
    }

    async function runContainer(sb: { id: string; config: PodSandboxConfig }, name: string, over: Partial<ContainerConfig> = {}): Promise<string> {
      const id = await rt.createContainer(sb.id, containerConfig(sb.config, name, over), sb.config);
      await rt.startContainer(id);
      return id;
    }

    async function waitExited(id: string, timeoutMs = 30_000) {
      return waitFor(`container ${id} to exit`, async () => {
        const st = await rt.containerStatus(id);
        return st.state === 'exited' ? st : undefined;
      }, timeoutMs);
    }

    async function readLog(sb: PodSandboxConfig, name: string): Promise<string> {
      return readFile(join(sb.logDirectory, name, '0.log'), 'utf8').catch(() => '');
    }

    it('reports version and readiness', async () => {
      const v = await rt.version();
      expect(v.runtimeName).toMatch(kind === 'cri' ? /containerd/ : /docker/i);
      expect(v.runtimeVersion).not.toBe('');
      const st = await rt.status();
      expect(st.runtimeReady).toBe(true);
      expect(st.networkReady).toBe(true);
    });

    it('pulls through the mirror, lists, inspects and removes images', async () => {
      const ref = await rt.pullImage(BUSYBOX_136);
      expect(ref).not.toBe('');
      const st = await rt.imageStatus(BUSYBOX_136);
      expect(st).not.toBeNull();
      expect(st!.size).toBeGreaterThan(0);
      const all = await rt.listImages();
      expect(all.some((i) => i.id === st!.id)).toBe(true);
      await rt.removeImage(BUSYBOX_136);
      expect(await rt.imageStatus(BUSYBOX_136)).toBeNull();
      await rt.removeImage(BUSYBOX_136); // idempotent
      // RemoveImage may drop every tag of that image id: make sure busybox:latest is back.
      await rt.pullImage(BUSYBOX);
      expect(await rt.imageStatus(BUSYBOX)).not.toBeNull();
    });

    it('fails a pull of a missing image with a coded RuntimeError', async () => {
      const err = await rt.pullImage(MISSING_IMAGE).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RuntimeError);
      expect(['ImageNotFound', 'PullFailed']).toContain((err as RuntimeError).code);
      expect(await rt.imageStatus(MISSING_IMAGE)).toBeNull();
    });

    describe('a pod with two containers', () => {
      let sb: { id: string; config: PodSandboxConfig };
      let web: string;
      let client: string;
      let hostDir: string;

      beforeAll(async () => {
        sb = await runSandbox();
        hostDir = await mkdtemp(join(tmpdir(), 'k8ts-rtmount-'));
        await writeFile(join(hostDir, 'file'), 'from-the-host\n');
        web = await runContainer(sb, 'web', {
          command: ['sh', '-c'],
          args: ['mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 8080 -h /www'],
        });
        client = await runContainer(sb, 'client', {
          command: ['sh', '-c'],
          args: ['echo "FOO=$FOO"; cat /mnt/data/file; echo to-stderr >&2; exec sleep 3600'],
          env: [{ name: 'FOO', value: 'bar baz' }],
          mounts: [{ containerPath: '/mnt/data', hostPath: hostDir, readonly: true }],
        });
      });
      afterAll(async () => {
        if (hostDir) await rm(hostDir, { recursive: true, force: true });
      });

      it('gets a ready sandbox with an IP from the podCIDR', async () => {
        const st = await rt.podSandboxStatus(sb.id);
        expect(st.state).toBe('ready');
        expect(st.uid).toBe(sb.config.uid);
        expect(st.name).toBe(sb.config.name);
        expect(st.annotations['k8ts.test/suite']).toBe(kind);
        expect(ipInCIDR(st.ip, env.podCIDR)).toBe(true);
        expect(st.netnsPath).toBeTruthy();
      });

      it('lets the containers talk over localhost', async () => {
        const out = await waitFor('httpd in web', async () => {
          const r = await rt.execSync(client, ['wget', '-qO-', 'http://127.0.0.1:8080/'], 10);
          return r.exitCode === 0 ? r.stdout.toString() : undefined;
        });
        expect(out).toBe('hello-from-web\n');
      });

      it('reaches the pod from the node over the pod IP', async () => {
        const { ip } = await rt.podSandboxStatus(sb.id);
        const body = await waitFor('pod IP reachable', () => httpGet(ip, 8080), 15_000);
        expect(body).toContain('hello-from-web');
      });

      it('passes env, command/args and mounts, and writes CRI-format logs', async () => {
        const env1 = await rt.execSync(client, ['sh', '-c', 'echo "$FOO"'], 10);
        expect(env1.stdout.toString()).toBe('bar baz\n');
        const m = await rt.execSync(client, ['cat', '/mnt/data/file'], 10);
        expect(m.stdout.toString()).toBe('from-the-host\n');
        const w = await rt.execSync(client, ['sh', '-c', 'echo x > /mnt/data/new'], 10);
        expect(w.exitCode).not.toBe(0); // read-only mount
        const log = await waitFor('client log', async () => {
          const t = await readLog(sb.config, 'client');
          return t.includes('to-stderr') ? t : undefined;
        });
        const lines = log.trimEnd().split('\n');
        const re = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)) (stdout|stderr) ([PF]) (.*)$/;
        for (const l of lines) expect(l).toMatch(re);
        const parsed = lines.map((l) => re.exec(l)!).map((m2) => ({ stream: m2[4], tag: m2[5], msg: m2[6] }));
        expect(parsed).toContainEqual({ stream: 'stdout', tag: 'F', msg: 'FOO=bar baz' });
        expect(parsed).toContainEqual({ stream: 'stdout', tag: 'F', msg: 'from-the-host' });
        expect(parsed).toContainEqual({ stream: 'stderr', tag: 'F', msg: 'to-stderr' });
        const st = await rt.containerStatus(client);
        expect(st.logPath).toBe(join(sb.config.logDirectory, 'client', '0.log'));
        expect(st.podSandboxId).toBe(sb.id);
        expect(st.name).toBe('client');
        expect(st.state).toBe('running');
        expect(st.startedAt).toBeInstanceOf(Date);
      });

      it('runs execSync with output and exit code', async () => {
        const r = await rt.execSync(client, ['sh', '-c', 'echo out; echo err >&2; exit 3'], 10);
        expect(r.stdout.toString()).toBe('out\n');
        expect(r.stderr.toString()).toBe('err\n');
        expect(r.exitCode).toBe(3);
      });

      it('runs exec with stdin (no tty)', async () => {
        const stdin = new PassThrough();
        const out = collector();
        const err = collector();
        const s = await rt.exec(client, ['sh', '-c', 'read line; echo "got:$line"; echo e >&2; exit 5'], {
          stdin,
          stdout: out.stream,
          stderr: err.stream,
          tty: false,
        });
        stdin.write('ping\n');
        expect(await s.done).toBe(5);
        expect(out.text()).toBe('got:ping\n');
        expect(err.text()).toBe('e\n');
      });

      it('runs exec with a tty and resize', async () => {
        const stdin = new PassThrough();
        const out = collector();
        const s = await rt.exec(client, ['sh'], { stdin, stdout: out.stream, tty: true });
        s.resize(100, 30);
        // The resize travels apart from stdin, so it may land after a first `stty size`:
        // ask again until the terminal has the new size (its default is never 30x100).
        await waitFor('the terminal resized to 30x100', () => {
          if (out.text().includes('30 100')) return true;
          stdin.write('stty size\n');
          return false;
        }, 30_000, 300);
        stdin.write('echo tty-$((40+2)); exit 7\n');
        expect(await s.done).toBe(7);
        expect(out.text()).toContain('tty-42');
      });

      it('attaches to a running container', async () => {
        const ticker = await runContainer(sb, 'ticker', { command: ['sh', '-c'], args: ['while true; do echo tick; sleep 0.2; done'] });
        const out = collector();
        const s = await rt.attach(ticker, { stdout: out.stream, stderr: out.stream, tty: false });
        await waitFor('attach output', async () => out.text().includes('tick'), 30_000);
        s.close();
        await s.done.catch(() => 0);
        await rt.stopContainer(ticker, 0);
        await rt.removeContainer(ticker);
      });

      it('port-forwards into the pod network namespace', async () => {
        const duplex = await rt.portForward(sb.id, 8080);
        const chunks: Buffer[] = [];
        duplex.on('data', (c: Buffer) => chunks.push(c));
        duplex.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n');
        await waitFor('port-forward reply', async () => Buffer.concat(chunks).toString().includes('hello-from-web'), 30_000);
        duplex.destroy();
        expect(Buffer.concat(chunks).toString()).toMatch(/^HTTP\/1\.[01] 200/);
      });

      it('lists sandboxes and containers by pod uid label', async () => {
        const sbs = await rt.listPodSandboxes({ labels: { 'io.kubernetes.pod.uid': sb.config.uid } });
        expect(sbs.map((s) => s.id)).toEqual([sb.id]);
        expect(sbs[0]!.labels['io.kubernetes.pod.name']).toBe(sb.config.name);
        const cs = await rt.listContainers({ labels: { 'io.kubernetes.pod.uid': sb.config.uid } });
        expect(cs.map((c) => c.id).sort()).toEqual([web, client].sort());
        const byName = cs.find((c) => c.id === client)!;
        expect(byName.name).toBe('client');
        expect(byName.labels['io.kubernetes.container.name']).toBe('client');
        expect(byName.annotations['io.kubernetes.container.restartCount']).toBe('0');
        const bySandbox = await rt.listContainers({ podSandboxId: sb.id, state: 'running' });
        expect(bySandbox.map((c) => c.id).sort()).toEqual([web, client].sort());
        const ready = await rt.listPodSandboxes({ state: 'ready' });
        expect(ready.some((s) => s.id === sb.id)).toBe(true);
      });

      it('stopping the sandbox stops its containers and tears down its network', async () => {
        const st = await rt.podSandboxStatus(sb.id);
        const lease = join(env.ipamLeaseDir, st.ip);
        expect((await readdir(env.ipamLeaseDir)).includes(st.ip)).toBe(true);
        await rt.stopPodSandbox(sb.id);
        await rt.stopPodSandbox(sb.id); // idempotent
        const after = await rt.podSandboxStatus(sb.id);
        expect(after.state).toBe('notready');
        expect((await readdir(env.ipamLeaseDir)).includes(st.ip)).toBe(false);
        void lease;
        for (const c of await rt.listContainers({ podSandboxId: sb.id })) expect(c.state).toBe('exited');
        expect(await httpGet(st.ip, 8080, 1500).catch(() => 'unreachable')).toBe('unreachable');
      });

      it('removing the sandbox removes its containers', async () => {
        await rt.removePodSandbox(sb.id);
        await rt.removePodSandbox(sb.id); // idempotent
        expect(await rt.listContainers({ podSandboxId: sb.id })).toEqual([]);
        const err = await rt.podSandboxStatus(sb.id).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(RuntimeError);
        expect((err as RuntimeError).code).toBe('NotFound');
        const cerr = await rt.containerStatus(web).then(() => undefined, (e: unknown) => e);
        expect((cerr as RuntimeError).code).toBe('NotFound');
      });
    });

    describe('container lifecycle', () => {
      let sb: { id: string; config: PodSandboxConfig };
      beforeAll(async () => {
        sb = await runSandbox();
      });

      it('stop sends SIGTERM first', async () => {
        const id = await runContainer(sb, 'graceful', {
          command: ['sh', '-c'],
          args: ['trap "echo got-term; exit 0" TERM; echo ready; while true; do sleep 1; done'],
        });
        await waitFor('trap installed', async () => (await readLog(sb.config, 'graceful')).includes('ready'));
        await rt.stopContainer(id, 20);
        const st = await rt.containerStatus(id);
        expect(st.state).toBe('exited');
        expect(st.exitCode).toBe(0);
        expect(await readLog(sb.config, 'graceful')).toContain('got-term');
      });

      it('stop sends SIGKILL after the timeout', async () => {
        // PID 1 without a TERM handler ignores SIGTERM: only SIGKILL ends it.
        const id = await runContainer(sb, 'stubborn', { command: ['sleep', '3600'], args: [] });
        const t0 = Date.now();
        await rt.stopContainer(id, 1);
        const st = await rt.containerStatus(id);
        expect(st.state).toBe('exited');
        expect(st.exitCode).toBe(137);
        expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
        expect(st.finishedAt).toBeInstanceOf(Date);
      });

      it('reports exit code and reason of a crashing container', async () => {
        const id = await runContainer(sb, 'crasher', { command: ['sh', '-c', 'echo bye; exit 42'], args: [] });
        const st = await waitExited(id);
        expect(st.exitCode).toBe(42);
        expect(st.reason).toBe('Error');
        const ok = await runContainer(sb, 'completer', { command: ['true'], args: [] });
        const st2 = await waitExited(ok);
        expect(st2.exitCode).toBe(0);
        expect(st2.reason).toBe('Completed');
      });

      it('reports OOMKilled for a container over its memory limit', async () => {
        const id = await runContainer(sb, 'hog', {
          command: ['sh', '-c', 'x=$(head -c 200m /dev/zero | tr "\\0" a); echo survived'],
          args: [],
          resources: { memoryLimitBytes: 32 * 1024 * 1024 },
        });
        const st = await waitExited(id, 60_000);
        expect(st.reason).toBe('OOMKilled');
        expect(st.exitCode).not.toBe(0);
        expect(await readLog(sb.config, 'hog')).not.toContain('survived');
      });

      it('applies runAsUser, runAsGroup and readOnlyRootfs', async () => {
        const id = await runContainer(sb, 'secure', { security: { runAsUser: 1234, runAsGroup: 5678, readOnlyRootfs: true } });
        expect((await rt.execSync(id, ['id', '-u'], 10)).stdout.toString().trim()).toBe('1234');
        expect((await rt.execSync(id, ['id', '-g'], 10)).stdout.toString().trim()).toBe('5678');
        const w = await rt.execSync(id, ['touch', '/etc/x'], 10);
        expect(w.exitCode).not.toBe(0);
        expect(w.stderr.toString()).toMatch(/Read-only|Permission denied/);
        const root = await runContainer(sb, 'writer', { security: { readOnlyRootfs: false } });
        expect((await rt.execSync(root, ['touch', '/etc/x'], 10)).exitCode).toBe(0);
        expect((await rt.execSync(root, ['id', '-u'], 10)).stdout.toString().trim()).toBe('0');
      });

      it('applies privileged and capabilities', async () => {
        const drop = await runContainer(sb, 'nochown', { security: { capDrop: ['CHOWN'] } });
        expect((await rt.execSync(drop, ['chown', '1:1', '/tmp'], 10)).exitCode).not.toBe(0);
        const psb = await runSandbox({ privileged: true });
        const priv = await runContainer(psb, 'priv', { security: { privileged: true } });
        // Privileged containers can create a dummy-less bridge-free link: an ip tuntap needs
        // /dev/net/tun, so check a capability-only operation instead (mount tmpfs).
        const r = await rt.execSync(priv, ['sh', '-c', 'mkdir -p /m && mount -t tmpfs none /m && echo ok'], 10);
        expect(r.stdout.toString()).toBe('ok\n');
        const unpriv = await rt.execSync(drop, ['sh', '-c', 'mkdir -p /m && mount -t tmpfs none /m'], 10);
        expect(unpriv.exitCode).not.toBe(0);
      });

      it('writes partial (P) lines for long output', async () => {
        const id = await runContainer(sb, 'longline', { command: ['sh', '-c', 'head -c 40000 /dev/zero | tr "\\0" a; echo; echo end'], args: [] });
        await waitExited(id);
        const log = await waitFor('long log', async () => {
          const t = await readLog(sb.config, 'longline');
          return t.includes(' F end') ? t : undefined;
        });
        const lines = log.trimEnd().split('\n').map((l) => l.split(' '));
        const tags = lines.map((p) => p[2]);
        expect(tags).toContain('P');
        const joined = lines.slice(0, -1).map((p) => p.slice(3).join(' ')).join('');
        expect(joined).toBe('a'.repeat(40000));
        expect(tags[tags.length - 2]).toBe('F');
      });

      it('fires events on create, start, stop and delete', async () => {
        const events: RuntimeEvent[] = [];
        const off = rt.onEvent((e) => events.push(e));
        try {
          // Until the subscription is live (an event stream still connecting, a poller's
          // first listing: its baseline) a start can go unreported, as upstream's PLEG relist
          // covers. So containers are started until one's start is reported, and that one's
          // stop and removal must be reported too.
          let id = '';
          let n = 0;
          await waitFor('a started event', async () => {
            if (id && events.some((e) => e.containerId === id && e.type === 'started')) return true;
            if (id) {
              await rt.stopContainer(id, 0);
              await rt.removeContainer(id);
            }
            id = await runContainer(sb, `evented-${n++}`);
            return false;
          }, 60_000, 1000);
          await rt.stopContainer(id, 0);
          await waitFor('stopped event', async () => events.some((e) => e.containerId === id && e.type === 'stopped'), 30_000);
          await rt.removeContainer(id);
          await waitFor('deleted event', async () => events.some((e) => e.containerId === id && e.type === 'deleted'), 30_000);
          const started = events.find((e) => e.containerId === id && e.type === 'started')!;
          expect(started.sandboxId).toBe(sb.id);
        } finally {
          off();
        }
      });
    });

    describe('agent restart', () => {
      it('a new runtime instance adopts running pods by label and continues logs without duplicates', async () => {
        const first = env.reopen();
        const config = sandboxConfig();
        await mkdir(config.logDirectory, { recursive: true });
        const sbId = await first.runPodSandbox(config);
        sandboxes.push(sbId);
        const cid = await first.createContainer(
          sbId,
          containerConfig(config, 'counter', { command: ['sh', '-c', 'i=0; while [ $i -lt 60 ]; do i=$((i+1)); echo line-$i; sleep 0.1; done'], args: [] }),
          config,
        );
        await first.startContainer(cid);
        await waitFor('some lines', async () => (await readLog(config, 'counter')).includes('line-5'));
        await first.close(); // the agent dies; the container keeps running
        await new Promise((r) => setTimeout(r, 1500));
        const second = env.reopen();
        try {
          const sbs = await second.listPodSandboxes({ labels: { 'io.kubernetes.pod.uid': config.uid } });
          expect(sbs.map((s) => s.id)).toEqual([sbId]);
          const cs = await second.listContainers({ labels: { 'io.kubernetes.pod.uid': config.uid } });
          expect(cs.map((c) => [c.id, c.name])).toEqual([[cid, 'counter']]);
          await waitExited(cid, 30_000);
          const log = await waitFor('all 60 lines', async () => {
            const t = await readLog(config, 'counter');
            return t.includes(' line-60\n') ? t : undefined;
          });
          const msgs = log.trimEnd().split('\n').map((l) => l.split(' ').slice(3).join(' '));
          expect(msgs).toEqual(Array.from({ length: 60 }, (_, i) => `line-${i + 1}`));
        } finally {
          await second.close();
        }
      });
    });

    describe('pid namespace sharing', () => {
      it('shows the pause process to app containers only with sharePid', async () => {
        const shared = await runSandbox({ sharePid: true });
        const a = await runContainer(shared, 'a');
        const ps = await rt.execSync(a, ['ps', '-o', 'pid,args'], 10);
        expect(ps.stdout.toString()).toMatch(/\/pause/);
        const own = await runSandbox({ sharePid: false });
        const b = await runContainer(own, 'b');
        const ps2 = await rt.execSync(b, ['ps', '-o', 'pid,args'], 10);
        expect(ps2.stdout.toString()).not.toMatch(/\/pause/);
        expect(ps2.stdout.toString()).toMatch(/^\s*1\s+sleep 3600/m);
      });

      it('runs hostNetwork pods in the node network namespace', async () => {
        const sb = await runSandbox({ hostNetwork: true });
        const st = await rt.podSandboxStatus(sb.id);
        expect(st.state).toBe('ready');
        expect(st.ip).toBe('');
        const id = await runContainer(sb, 'hostnet');
        const links = (await rt.execSync(id, ['cat', '/proc/net/dev'], 10)).stdout.toString();
        const hostLinks = await readFile('/proc/net/dev', 'utf8');
        const names = (t: string) => t.split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
        expect(names(links)).toEqual(names(hostLinks));
      });

      it('maps a hostPort to the pod (portmap)', async () => {
        const hostPort = 30000 + Math.floor(Math.random() * 2000);
        const sb = await runSandbox({ portMappings: [{ protocol: 'TCP', containerPort: 8080, hostPort }] });
        await runContainer(sb, 'web', {
          command: ['sh', '-c'],
          args: ['mkdir -p /www && echo via-hostport > /www/index.html && exec httpd -f -p 8080 -h /www'],
        });
        // The bridge's gateway address is a local address of the node: OUTPUT-chain DNAT applies.
        const gw = env.podCIDR.replace(/\.0\/\d+$/, '.1');
        const body = await waitFor('hostPort reachable', () => httpGet(gw, hostPort), 15_000);
        expect(body).toContain('via-hostport');
        await rt.stopPodSandbox(sb.id);
        expect(await httpGet(gw, hostPort, 1500).catch(() => 'closed')).toBe('closed');
      });

      it('uses the pod hostname', async () => {
        const sb = await runSandbox({ hostname: 'my-pod-host' });
        const id = await runContainer(sb, 'h');
        expect((await rt.execSync(id, ['hostname'], 10)).stdout.toString().trim()).toBe('my-pod-host');
      });

      it("writes the pod's DNS config into its containers' /etc/resolv.conf", async () => {
        const sb = await runSandbox({
          dnsConfig: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local', 'svc.cluster.local'], options: ['ndots:5'] },
        });
        const id = await runContainer(sb, 'dns');
        const conf = (await rt.execSync(id, ['cat', '/etc/resolv.conf'], 10)).stdout.toString();
        expect(conf).toMatch(/^nameserver 10\.96\.0\.10$/m);
        expect(conf).toMatch(/^search default\.svc\.cluster\.local svc\.cluster\.local$/m);
        expect(conf).toMatch(/^options ndots:5$/m);
      });
    });
  });
}

function httpGet(ip: string, port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: ip, port, timeout: timeoutMs });
    const chunks: Buffer[] = [];
    sock.on('connect', () => sock.write('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks).toString()));
    sock.on('timeout', () => {
      sock.destroy();
      reject(new Error('timeout'));
    });
    sock.on('error', reject);
  });
}
