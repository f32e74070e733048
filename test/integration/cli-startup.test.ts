// The k8ts command as a user meets it: flags in upstream's syntax (Go durations, port ranges)
// reach the components, a bad flag is one line and exit 2, the common startup mistakes are
// one line saying what to do and exit 1, and `k8ts kubeconfig` points where the control
// plane listens. On the real control-plane process, with the real kubectl.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, loadClientConfig } from '../../client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startTestControlPlane, type TestControlPlane } from '../helpers/controlplane.js';
import { startSimNodes, type SimNodes } from '../helpers/simnodes.js';
import { waitFor } from './controllers-cluster.js';
import type { JsonValue } from '../../api/object.js';

type Obj = JsonValue;

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const isRoot = process.getuid?.() === 0;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `k8ts <args>` from source, optionally as another user (runuser, needs root). */
function k8ts(args: string[], o: { asUser?: string; timeoutMs?: number } = {}): Promise<Run> {
  const node = [process.execPath, '--import', 'tsx', join(REPO, 'cli', 'main.ts'), ...args];
  const [cmd, ...argv] = o.asUser ? ['runuser', '-u', o.asUser, '--', ...node] : node;
  return new Promise((res) => {
    execFile(cmd!, argv, { cwd: REPO, timeout: o.timeoutMs ?? 60_000, env: { ...process.env, K8TS_DEBUG: '' } }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | null) : 0;
      res({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

/** The run failed with exactly one line on stderr, which it returns. */
function oneLine(r: Run, exitCode: number): string {
  expect(r.code, r.stderr).toBe(exitCode);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  return lines[0]!;
}

let cp: TestControlPlane;
let nodes: SimNodes | undefined;
let tmp: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'k8ts-cli-'));
  // Both flags in the syntax upstream's kube-apiserver / kube-controller-manager take.
  cp = await startTestControlPlane({ extraArgs: ['--service-node-port-range', '20000-20100', '--node-monitor-grace-period', '3s'] });
});
afterAll(async () => {
  await nodes?.close();
  await cp?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('flags reach the components', () => {
  it('NodePorts follow --service-node-port-range 20000-20100 (the allocator owns the range)', async () => {
    const ok = await cp.kubectl(['create', 'service', 'nodeport', 'np-in', '--tcp=80:8080', '--node-port=20050']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const auto = await cp.kubectl(['create', 'service', 'nodeport', 'np-auto', '--tcp=80:8080']);
    expect(auto.exitCode, auto.stderr).toBe(0);
    const port = Number((await cp.kubectl(['get', 'svc', 'np-auto', '-o', 'jsonpath={.spec.ports[0].nodePort}'])).stdout);
    expect(port).toBeGreaterThanOrEqual(20000);
    expect(port).toBeLessThanOrEqual(20100);
    for (const outside of [30001, 40000]) {
      const r = await cp.kubectl(['create', 'service', 'nodeport', `np-${outside}`, '--tcp=80:8080', `--node-port=${outside}`]);
      expect(r.exitCode).not.toBe(0);
      expect(r.stderr).toContain(
        `Service "np-${outside}" is invalid: spec.ports[0].nodePort: Invalid value: ${outside}: provided port is not in the valid range. The range of valid ports is 20000-20100`,
      );
    }
    // an update that moves a port out of the range is refused the same way
    const moved = await cp.kubectl(['patch', 'svc', 'np-in', '--type=json', '-p', '[{"op":"replace","path":"/spec/ports/0/nodePort","value":30001}]']);
    expect(moved.stderr).toContain('provided port is not in the valid range. The range of valid ports is 20000-20100');
  });

  it('--node-monitor-grace-period 3s (a Go duration) turns a silent node Unknown', async () => {
    nodes = await startSimNodes({ client: new Client(loadClientConfig({ kubeconfig: cp.kubeconfigPath })), count: 1, leaseIntervalMs: 500 });
    const name = nodes.names[0]!;
    const ready = async () => {
      const n = JSON.parse((await cp.kubectl(['get', 'node', name, '-o', 'json'])).stdout);
      return (n.status?.conditions ?? []).find((c: Obj) => c.type === 'Ready');
    };
    await waitFor('node Ready', async () => (await ready())?.status === 'True');
    const stoppedAt = Date.now();
    nodes.stop(name);
    const c = await waitFor('Ready=Unknown', async () => {
      const r = await ready();
      return r?.status === 'Unknown' && r;
    }, 30_000);
    expect(c.message).toBe('Kubelet stopped posting node status.');
    // 3 s of grace, not 40 s (nor never, which is what NaN gave)
    expect(Date.now() - stoppedAt).toBeLessThan(20_000);
  });
});

describe('k8ts kubeconfig', () => {
  it('prints the port the control plane listens on (not 6443), and kubectl works with it', async () => {
    expect(cp.port).not.toBe(6443);
    const r = await k8ts(['kubeconfig', '--data-dir', cp.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`server: "https://127.0.0.1:${cp.port}"`);
    const file = join(tmp, 'printed.kubeconfig');
    await writeFile(file, r.stdout);
    const get = await new Promise<Run>((res) =>
      execFile('kubectl', ['--kubeconfig', file, 'get', 'namespace', 'default', '-o', 'name'], (err, stdout, stderr) => res({ code: err ? 1 : 0, stdout, stderr })),
    );
    expect(get.stdout.trim(), get.stderr).toBe('namespace/default');
    // --server still overrides
    const o = await k8ts(['kubeconfig', '--data-dir', cp.dataDir, '--server', 'https://cp.example:7443']);
    expect(o.stdout).toContain('server: "https://cp.example:7443"');
  });
});

describe('a bad flag is one line and exit 2', () => {
  it.each([
    [['control-plane', '--data-dir', 'D', '--node-monitor-grace-period', '40x'], 'time: unknown unit "x" in duration "40x"'],
    [['control-plane', '--data-dir', 'D', '--node-monitor-grace-period', '40'], 'time: missing unit in duration "40"'],
    [['control-plane', '--data-dir', 'D', '--pod-eviction-timeout', '-5m'], 'must not be negative'],
    [['control-plane', '--data-dir', 'D', '--secure-port', '70000'], 'must be between 0 and 65535'],
    [['control-plane', '--data-dir', 'D', '--service-node-port-range', '32767-30000'], 'unable to parse port range: 32767-30000'],
    [['control-plane', '--data-dir', 'D', '--service-cluster-ip-range', '10.96.0.0'], 'invalid CIDR address: 10.96.0.0'],
    [['control-plane', '--data-dir', 'D', '--bogus'], "unknown option '--bogus'"],
    [['control-plane', '--data-dir', 'D', '--log-level', 'loud'], 'Allowed choices are trace, debug, info, warn, error, fatal, silent'],
    [['controller-manager', '--kubeconfig', 'K', '--node-monitor-grace-period', 'soon'], 'time: invalid duration "soon"'],
    [['controller-manager', '--kubeconfig', 'K', '--leader-elect', 'yes'], 'strconv.ParseBool: parsing "yes": invalid syntax'],
    [['scheduler', '--kubeconfig', 'K', '--bind-concurrency', 'many'], 'strconv.ParseInt: parsing "many": invalid syntax'],
    [['proxy', '--min-sync-period', '1000'], 'time: missing unit in duration "1000"'],
    [['agent', '--server', 'S', '--node-ip', '10.0.0.300'], 'invalid IP address: 10.0.0.300'],
  ])('k8ts %j', async (args, message) => {
    const dataDir = join(tmp, 'never-created');
    const line = oneLine(await k8ts(args.map((a) => (a === 'D' ? dataDir : a))), 2);
    expect(line).toMatch(/^k8ts: /);
    expect(line).toContain(message);
  });
});

describe('a common startup mistake is one line saying what to do, and exit 1', () => {
  it('the apiserver port is already in use', async () => {
    const port = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(port, '127.0.0.1', () => r()));
    try {
      const r = await k8ts(['control-plane', '--data-dir', join(tmp, 'cp-inuse'), '--secure-port', String(port), '--bind-address', '127.0.0.1', '--no-scheduler', '--no-controllers']);
      expect(oneLine(r, 1)).toBe(
        `k8ts: cannot listen on 127.0.0.1:${port}: the address is already in use: stop the process that holds it (ss -ltnp 'sport = :${port}') or choose another port with --secure-port`,
      );
    } finally {
      holder.close();
    }
  });

  it('an admission plugin name kube-apiserver does not know, or one both enabled and disabled', async () => {
    const run = (extra: string[]) =>
      k8ts(['control-plane', '--data-dir', join(tmp, 'cp-admission'), '--secure-port', '0', '--bind-address', '127.0.0.1', '--no-scheduler', '--no-controllers', ...extra]);
    expect(oneLine(await run(['--enable-admission-plugins=AlwaysAdmitAll']), 1)).toBe('k8ts control-plane: enable-admission-plugins plugin "AlwaysAdmitAll" is unknown');
    expect(oneLine(await run(['--enable-admission-plugins=PodSecurity', '--disable-admission-plugins=PodSecurity']), 1)).toBe(
      'k8ts control-plane: [PodSecurity] in enable-admission-plugins and disable-admission-plugins overlapped',
    );
  });

  it('etcd is unreachable', async () => {
    const port = await freePort(); // nothing listens there
    const r = await k8ts(['control-plane', '--data-dir', join(tmp, 'cp-etcd'), '--secure-port', '0', '--etcd-servers', `http://127.0.0.1:${port}`, '--no-scheduler', '--no-controllers']);
    const line = oneLine(r, 1);
    expect(line).toMatch(/^k8ts: cannot reach etcd \(.*ECONNREFUSED.*\): start etcd, or fix --etcd-servers$/);
  });

  it('containerd (or dockerd) is not running', async () => {
    const agent = (endpoint: string, runtime = 'cri') =>
      k8ts(['agent', '--server', 'https://127.0.0.1:1', '--node-ip', '127.0.0.1', '--runtime', runtime, '--runtime-endpoint', endpoint, '--data-dir', join(tmp, 'agent')]);
    if (!isRoot) {
      console.log('skipped the runtime-socket half: the agent checks for root first and this run is not root');
      return;
    }
    const missing = join(tmp, 'no-containerd.sock');
    expect(oneLine(await agent(`unix://${missing}`), 1)).toBe(
      `k8ts: containerd is not reachable at unix://${missing} (no such socket): start it (systemctl start containerd) or point --runtime-endpoint at its socket`,
    );
    // a socket file left behind by a daemon that is gone
    const stale = join(tmp, 'stale-docker.sock');
    await new Promise<void>((res, rej) =>
      execFile('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', stale], (err) => (err ? rej(err) : res())),
    );
    expect(oneLine(await agent(`unix://${stale}`, 'docker'), 1)).toBe(
      `k8ts: dockerd is not reachable at unix://${stale} (nothing listens on the socket): start it (systemctl start docker) or point --runtime-endpoint at its socket`,
    );
  });

  it('the control plane is not where --server says', async () => {
    if (!isRoot) {
      console.log('skipped: the agent checks for root first and this run is not root');
      return;
    }
    // a runtime socket that accepts, so the agent gets as far as its first call to the apiserver
    const sock = join(tmp, 'runtime.sock');
    const runtime: Server = createServer((c) => c.destroy());
    await new Promise<void>((r) => runtime.listen(sock, () => r()));
    try {
      const port = await freePort();
      const tokenFile = join(tmp, 'join-token');
      await writeFile(tokenFile, 'abcdef.0123456789abcdef\n', { mode: 0o600 });
      const r = await k8ts(['agent', '--server', `https://127.0.0.1:${port}`, '--token-file', tokenFile, '--discovery-token-ca-cert-hash', `sha256:${'0'.repeat(64)}`,
        '--node-ip', '127.0.0.1', '--runtime-endpoint', `unix://${sock}`, '--data-dir', join(tmp, 'agent-noserver')]);
      expect(oneLine(r, 1)).toBe(`k8ts: cannot reach 127.0.0.1:${port} (connection refused): start the control plane there, or fix --server`);
    } finally {
      runtime.close();
    }
  });

  it('not root (run as nobody)', async () => {
    if (!isRoot) {
      console.log('skipped: runuser needs root to run k8ts as nobody');
      return;
    }
    const r = await k8ts(['agent', '--server', 'https://127.0.0.1:1', '--node-ip', '127.0.0.1', '--data-dir', join(tmp, 'agent-nobody')], { asUser: 'nobody' });
    expect(oneLine(r, 1)).toBe('k8ts: k8ts agent must run as root (it runs CNI plugins, writes iptables rules and mounts volumes): run it with sudo, or as root');
    // the control plane needs no root, but a data dir it cannot write is the same mistake
    const locked = join(tmp, 'locked');
    await mkdir(locked);
    await chmod(locked, 0o700);
    const c = await k8ts(['control-plane', '--data-dir', join(locked, 'cp'), '--secure-port', '0'], { asUser: 'nobody' });
    expect(oneLine(c, 1)).toBe(`k8ts: permission denied: mkdir ${join(locked, 'cp')}: run k8ts as root (sudo), or point --data-dir at a directory you own`);
  });
});
