// `k8ts node` through the real CLI against a private containerd, with no apiserver at all:
// the test creates a pod sandbox and a busybox container (plus an earlier, exited attempt)
// straight through the runtime, as the kubelet would, then checks what each subcommand
// prints, that -o json parses, and the one-line errors for bad input.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type ContainerConfig, type ContainerRuntime, type PodSandboxConfig } from '../../agent/runtime/index.js';
import { writeBridgeConf } from '../../agent/network/cni.js';
import { appendNodeEvent } from '../../agent/kubelet/journal.js';
import { startContainerd, type ContainerdHandle } from '../helpers/containerd.js';
import { startTestRegistry, uniquePodNet, type TestRegistry, type TestPodNet } from '../helpers/podnet.js';
import { waitFor } from '../helpers/wait.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.log('node-cli: skipped: needs root to run containerd');

const BUSYBOX = 'docker.io/library/busybox:latest';
const POD = 'web-1';
const UID = `uid-nodecli-${process.pid}`;

let net: TestPodNet | undefined;
let reg: TestRegistry | undefined;
let cd: ContainerdHandle | undefined;
let rt: ContainerRuntime | undefined;
let logRoot = '';
let sandboxId = '';
let appId = '';
let sandbox: PodSandboxConfig;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The real CLI: node --import tsx cli/main.ts node --runtime cri --runtime-endpoint … */
async function k8ts(args: string[], opts: { endpoint?: string; user?: boolean } = {}): Promise<Run> {
  const base = [process.execPath, '--import', 'tsx', 'cli/main.ts', 'node', '--runtime', 'cri', '--runtime-endpoint', opts.endpoint ?? cd!.endpoint, ...args];
  const [file, argv] = opts.user ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...base]] : [base[0]!, base.slice(1)];
  const r = await execa(file, argv, { reject: false, cwd: process.cwd() });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function containerConfig(name: string, attempt: number, script: string): ContainerConfig {
  return {
    name,
    attempt,
    image: BUSYBOX,
    command: ['sh', '-c', script],
    args: [],
    env: [],
    mounts: [],
    labels: { 'io.kubernetes.pod.name': POD, 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': UID, 'io.kubernetes.container.name': name },
    annotations: { 'io.kubernetes.container.restartCount': String(attempt) },
    logPath: `${name}/${attempt}.log`,
    stdin: false,
    stdinOnce: false,
    tty: false,
    resources: {},
    security: {},
  };
}

/** One clear line, no stack trace. */
function oneLine(r: Run, line: string | RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  if (typeof line === 'string') expect(lines[0]).toBe(line);
  else expect(lines[0]).toMatch(line);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe.skipIf(!isRoot)('k8ts node against a real containerd (no apiserver)', () => {
  beforeAll(async () => {
    net = uniquePodNet('k8tn');
    reg = await startTestRegistry();
    cd = await startContainerd({ registryMirror: reg.url });
    await writeBridgeConf(cd.cniConfDir, { podCIDR: net.podCIDR, bridge: net.bridge, name: net.netName, ipamDataDir: cd.ipamDataDir });
    await net.addForwardRules();
    rt = createRuntime({ kind: 'cri', endpoint: cd.endpoint });
    await rt.pullImage(BUSYBOX);
    logRoot = mkdtempSync(join(tmpdir(), 'k8ts-nodecli-logs-'));
    sandbox = {
      name: POD,
      namespace: 'default',
      uid: UID,
      attempt: 0,
      hostname: POD,
      logDirectory: join(logRoot, `default_${POD}_${UID}`),
      labels: { 'io.kubernetes.pod.name': POD, 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.uid': UID },
      annotations: {},
      hostNetwork: false,
      portMappings: [],
      sharePid: false,
    };
    await mkdir(sandbox.logDirectory, { recursive: true });
    sandboxId = await rt.runPodSandbox(sandbox);
    // attempt 0 ran and failed; attempt 1 is the one running now (as after a restart)
    const first = await rt.createContainer(sandboxId, containerConfig('app', 0, 'echo first-run; exit 3'), sandbox);
    await rt.startContainer(first);
    await waitFor('attempt 0 to exit', async () => ((await rt!.containerStatus(first)).state === 'exited' ? true : undefined));
    appId = await rt.createContainer(sandboxId, containerConfig('app', 1, 'echo hello-from-busybox; echo line-two; exec sleep 3600'), sandbox);
    await rt.startContainer(appId);
    await waitFor('attempt 1 to log', async () => ((await readFile(join(sandbox.logDirectory, 'app', '1.log'), 'utf8')).includes('line-two') ? true : undefined));
  }, 300_000);

  afterAll(async () => {
    if (rt && sandboxId) {
      await rt.stopPodSandbox(sandboxId).catch(() => {});
      await rt.removePodSandbox(sandboxId).catch(() => {});
    }
    await rt?.close().catch(() => {});
    await cd?.stop();
    await reg?.stop();
    await net?.cleanup();
    if (logRoot) rmSync(logRoot, { recursive: true, force: true });
  }, 120_000);

  it('pods: the sandbox with name, namespace, state and IP; -o json parses', async () => {
    const [table, json] = await Promise.all([k8ts(['pods']), k8ts(['pods', '-o', 'json'])]);
    expect(table.stderr).toBe('');
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^POD ID\s+CREATED\s+STATE\s+NAME\s+NAMESPACE\s+ATTEMPT\s+IP$/);
    const prefix = net!.podCIDR.split('.').slice(0, 3).join('.');
    expect(lines[1]).toMatch(new RegExp(`^${sandboxId.slice(0, 13)}\\s+.+ago\\s+Ready\\s+${POD}\\s+default\\s+0\\s+${prefix.replace(/\./g, '\\.')}\\.\\d+$`));
    const items = (JSON.parse(json.stdout) as { items: Array<{ id: string; name: string; uid: string; state: string; ip: string }> }).items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ id: sandboxId, name: POD, uid: UID, state: 'Ready' });
    expect(items[0]!.ip.startsWith(prefix + '.')).toBe(true);
  }, 120_000);

  it('ps -a: both attempts and the sandbox container, marked; ps alone only running ones', async () => {
    const [all, running, json] = await Promise.all([k8ts(['ps', '-a']), k8ts(['ps']), k8ts(['ps', '-a', '-o', 'json'])]);
    expect(all.stdout.split('\n')[0]).toMatch(/^CONTAINER\s+IMAGE\s+CREATED\s+STATE\s+NAME\s+ATTEMPT\s+POD ID\s+POD$/);
    expect(all.stdout).toMatch(new RegExp(`${appId.slice(0, 13)}\\s+docker\\.io/library/busybox:latest\\s+.+ago\\s+Running\\s+app\\s+1\\s+${sandboxId.slice(0, 13)}\\s+${POD}`));
    expect(all.stdout).toMatch(/Exited\s+app\s+0\s/);
    expect(all.stdout).toMatch(new RegExp(`${sandboxId.slice(0, 13)}\\s+\\(pause\\)\\s+.+Running\\s+POD \\(sandbox\\)\\s+0\\s+${sandboxId.slice(0, 13)}\\s+${POD}`));
    expect(running.stdout).not.toMatch(/Exited/);
    expect(running.stdout).toMatch(/Running\s+app\s+1/);
    const rows = (JSON.parse(json.stdout) as { items: Array<{ name: string; sandbox: boolean; state: string; exitCode?: number }> }).items;
    expect(rows.filter((r) => r.sandbox)).toHaveLength(1);
    expect(rows.find((r) => r.state === 'Exited')?.exitCode).toBe(3);
  }, 120_000);

  it('inspect: a pod by name and by namespace/name, a container by id prefix', async () => {
    const [byName, byNsName, byId] = await Promise.all([k8ts(['inspect', POD]), k8ts(['inspect', `default/${POD}`]), k8ts(['inspect', appId.slice(0, 12)])]);
    const pod = JSON.parse(byName.stdout) as { kind: string; sandbox: { id: string; netnsPath?: string }; containers: Array<{ id: string }> };
    expect(pod.kind).toBe('Pod');
    expect(pod.sandbox.id).toBe(sandboxId);
    expect(pod.sandbox.netnsPath).toBeTruthy();
    expect(pod.containers).toHaveLength(2);
    expect((JSON.parse(byNsName.stdout) as { sandbox: { id: string } }).sandbox.id).toBe(sandboxId);
    const c = JSON.parse(byId.stdout) as { kind: string; container: { id: string; state: string; logPath: string }; pod: { name: string } };
    expect(c).toMatchObject({ kind: 'Container', container: { id: appId, state: 'running' }, pod: { name: POD } });
    expect(c.container.logPath).toBe(join(sandbox.logDirectory, 'app', '1.log'));
  }, 120_000);

  it('logs: current, --previous, --tail, and from the files alone when the runtime is down', async () => {
    const [cur, prev, tail, named, offline] = await Promise.all([
      k8ts(['logs', POD]),
      k8ts(['logs', '--previous', POD]),
      k8ts(['logs', '--tail', '1', POD]),
      k8ts(['logs', `default/${POD}`, 'app']),
      k8ts(['--pod-log-dir', logRoot, 'logs', POD], { endpoint: 'unix:///nonexistent/containerd.sock' }),
    ]);
    expect(cur.stdout).toBe('hello-from-busybox\nline-two');
    expect(prev.stdout).toBe('first-run');
    expect(tail.stdout).toBe('line-two');
    expect(named.stdout).toBe('hello-from-busybox\nline-two');
    expect(offline.stderr).toBe('');
    expect(offline.stdout).toBe('hello-from-busybox\nline-two');
  }, 120_000);

  it('logs -f follows new lines', async () => {
    const child = execa(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'node', '--runtime-endpoint', cd!.endpoint, 'logs', '-f', POD], { reject: false, cwd: process.cwd() });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor('the first lines', async () => (out.includes('line-two') ? true : undefined), 60_000);
      // a line appended by the runtime's log writer shows up without restarting the reader
      appendFileSync(join(sandbox.logDirectory, 'app', '1.log'), `${new Date().toISOString()} stdout F appended-later\n`);
      await waitFor('the appended line', async () => (out.includes('appended-later') ? true : undefined), 30_000);
    } finally {
      child.kill('SIGINT');
      await child;
    }
    expect(out).toBe('hello-from-busybox\nline-two\nappended-later\n');
  }, 120_000);

  it('exec: runs in the container, passes the exit code through', async () => {
    const [host, fail] = await Promise.all([k8ts(['exec', POD, '--', 'cat', '/etc/hostname']), k8ts(['exec', POD, '-c', 'app', '--', 'sh', '-c', 'echo to-stderr >&2; exit 7'])]);
    expect(host.code).toBe(0);
    expect(host.stdout.trim()).toBe(POD);
    expect(fail.code).toBe(7);
    expect(fail.stderr.trim()).toBe('to-stderr');
  }, 120_000);

  it('net: interfaces, IP, routes in the pod netns and the veth on the node side', async () => {
    const [human, json] = await Promise.all([k8ts(['net', POD]), k8ts(['net', POD, '-o', 'json'])]);
    const n = JSON.parse(json.stdout) as {
      pod: { ip: string };
      netnsPath: string;
      interfaces: Array<{ name: string; addresses: string[]; peerIfindex?: number }>;
      routes: Array<{ dst: string; gateway?: string }>;
      hostVeth?: { name: string; master?: string; ifindex: number };
    };
    const eth0 = n.interfaces.find((i) => i.name === 'eth0')!;
    expect(eth0.addresses).toContain(`${n.pod.ip}/24`);
    expect(n.interfaces.map((i) => i.name)).toContain('lo');
    expect(n.routes.find((r) => r.dst === 'default')?.gateway).toBe(net!.podCIDR.replace(/\.0\/24$/, '.1'));
    expect(n.hostVeth?.master).toBe(net!.bridge);
    expect(n.hostVeth?.ifindex).toBe(eth0.peerIfindex);
    // the host side really is that interface
    const link = JSON.parse(String((await execa('ip', ['-j', 'link', 'show', n.hostVeth!.name])).stdout)) as Array<{ ifindex: number }>;
    expect(link[0]!.ifindex).toBe(n.hostVeth!.ifindex);
    expect(human.stdout).toContain(`netns: ${n.netnsPath}`);
    expect(human.stdout).toMatch(new RegExp(`node side: \\d+: ${n.hostVeth!.name} master ${net!.bridge}`));
  }, 120_000);

  it('images: busybox and pause, like crictl images', async () => {
    const [table, json] = await Promise.all([k8ts(['images']), k8ts(['images', '-o', 'json'])]);
    expect(table.stdout.split('\n')[0]).toMatch(/^IMAGE\s+TAG\s+IMAGE ID\s+SIZE$/);
    expect(table.stdout).toMatch(/docker\.io\/library\/busybox\s+latest\s+[0-9a-f]{13}\s+[\d.]+[kM]B/);
    const rows = (JSON.parse(json.stdout) as { items: Array<{ image: string; tag: string }> }).items;
    expect(rows.some((r) => r.image.endsWith('/pause'))).toBe(true);
  }, 120_000);

  it('events: from the kubelet journal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8ts-nodecli-journal-'));
    try {
      appendNodeEvent(dir, { type: 'Normal', reason: 'Started', message: 'Started container app', pod: `default/${POD}`, container: 'app' });
      appendNodeEvent(dir, { type: 'Warning', reason: 'BackOff', message: 'Back-off restarting failed container', pod: 'default/other' });
      const [table, json] = await Promise.all([k8ts(['events', '--journal-dir', dir, '--pod', POD]), k8ts(['-o', 'json', 'events', '--journal-dir', dir, '--since', '10m'])]);
      expect(table.stdout).toMatch(/Normal\s+Started\s+pod\/web-1 \(app\)\s+Started container app/);
      expect(table.stdout).not.toMatch(/BackOff/);
      expect((JSON.parse(json.stdout) as { items: unknown[] }).items).toHaveLength(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('shell: runs in the node\'s namespaces, passes the exit code through', async () => {
    const r = await k8ts(['shell', '--', 'sh', '-c', 'cat /proc/sys/kernel/hostname; exit 5']);
    expect(r.code).toBe(5);
    expect(r.stdout.trim()).toBe((await readFile('/proc/sys/kernel/hostname', 'utf8')).trim());
  }, 120_000);

  it('bad input: one clear line, non-zero exit, no stack trace', async () => {
    const stale = join(logRoot, 'stale.sock');
    writeFileSync(stale, ''); // a socket path nobody listens on: connection refused
    const [unknownLogs, unknownExec, unknownNet, missing, refused, notRoot] = await Promise.all([
      k8ts(['logs', 'nope']),
      k8ts(['exec', 'nope', '--', 'true']),
      k8ts(['net', 'nope']),
      k8ts(['pods'], { endpoint: 'unix:///nonexistent/containerd.sock' }),
      k8ts(['ps'], { endpoint: `unix://${stale}` }),
      k8ts(['pods'], { user: true }),
    ]);
    oneLine(unknownLogs, 'k8ts node: pod "nope" not found on this node');
    oneLine(unknownExec, 'k8ts node: pod "nope" not found on this node');
    oneLine(unknownNet, 'k8ts node: pod "nope" not found on this node');
    oneLine(missing, 'k8ts node: cannot reach containerd at unix:///nonexistent/containerd.sock: is it running?');
    oneLine(refused, `k8ts node: cannot reach containerd at unix://${stale}: is it running?`);
    oneLine(notRoot, `k8ts node: permission denied on ${cd!.endpoint}: run as root (sudo)`);
  }, 120_000);
});

it.skipIf(isRoot)('node-cli needs root', () => {
  expect(isRoot).toBe(false);
});
