// `k8ts up` / `k8ts down`: the Vagrantfile's topology on one machine. A bridge for the node
// network, one network namespace per node, a runtime daemon + agent per worker, the control
// plane and the image registry in `cp`. Everything made is named k8ts-* / lives under the
// state and run dirs, so `down` can remove it all, also after a crash.
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { BRIDGE, BRIDGE_IP, CLUSTER_CIDR, REGISTRY_PORT, APISERVER_PORT, topology, controlPlane, type NodeSpec } from './topology.js';
import { spawnInNetns, alive, stopProcess, waitFor, pidsMatching, processTree, sleep } from './daemons.js';
import { runtimeDirs, writeContainerdConfig, containerdArgs, dockerdArgs } from './nodedaemons.js';
import { caCertHash } from '../../api/csr.js';
import { ensureEncryptionConfig } from '../../control-plane/storage/encryption/config.js';

export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '../../..').replace(/\/dist$/, '');
const K8TS_BIN = join(REPO_ROOT, 'bin', 'k8ts.js');
const FORWARD_CHAIN = 'K8TS-LOCAL-FORWARD';

export interface UpOptions {
  workers: number;
  runtime: 'cri' | 'docker';
  proxyMode: 'iptables' | 'nftables' | 'ipvs';
  stateDir: string;
  runDir: string;
  log?: (line: string) => void;
}

export interface ClusterState {
  runtime: 'cri' | 'docker';
  proxyMode: string;
  workers: number;
  stateDir: string;
  runDir: string;
  kubeconfig: string;
  pids: Record<string, number>;
}

export const DEFAULT_STATE_DIR = '/var/lib/k8ts-local';
export const DEFAULT_RUN_DIR = '/run/k8ts-local';

function stateFile(stateDir: string): string {
  return join(stateDir, 'cluster.json');
}

export function readState(stateDir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(stateDir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

function saveState(s: ClusterState): void {
  mkdirSync(s.stateDir, { recursive: true });
  writeFileSync(stateFile(s.stateDir), JSON.stringify(s, null, 2) + '\n');
}

async function run(cmd: string, args: string[], opts: { netns?: string; allowFail?: boolean; input?: string } = {}): Promise<string> {
  const full = opts.netns ? ['netns', 'exec', opts.netns, cmd, ...args] : args;
  const res = await execa(opts.netns ? 'ip' : cmd, full, { reject: false, input: opts.input });
  if (res.exitCode !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(res.stderr || res.stdout).toString().trim()}`);
  }
  return String(res.stdout);
}

function checkPrerequisites(opts: UpOptions): void {
  if (process.getuid?.() !== 0) throw new Error('k8ts up needs root (network namespaces, iptables, mounts): run it with sudo');
  const needed = ['ip', 'iptables', 'skopeo', 'docker-registry', opts.runtime === 'cri' ? 'containerd' : 'dockerd', 'runc'];
  const missing = needed.filter((b) => !['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, b))));
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run \`bash scripts/install-deps.sh\` first`);
  if (!existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'))) throw new Error('k8ts is not built: run `npm run build` first');
}

/** IPv4 nameservers of the host outside loopback and the node network. */
function hostNameservers(): string[] {
  let text = '';
  try {
    text = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (m && !m[1]!.startsWith('127.') && !m[1]!.startsWith(BRIDGE_IP.replace(/\.\d+$/, '.'))) out.push(m[1]!);
  }
  return out;
}

/** The node network: bridge + one namespace per node with eth0 on the bridge. */
async function makeNetwork(nodes: NodeSpec[]): Promise<void> {
  if (!(await run('ip', ['link', 'show', BRIDGE], { allowFail: true }))) {
    await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${BRIDGE_IP}/24`, 'dev', BRIDGE]);
  }
  await run('ip', ['link', 'set', BRIDGE, 'up']);
  // Docker's install leaves FORWARD policy DROP with bridge netfilter on: without this, the
  // bridged traffic between node namespaces is dropped in the host's FORWARD chain.
  await run('iptables', ['-N', FORWARD_CHAIN], { allowFail: true });
  await run('iptables', ['-F', FORWARD_CHAIN]);
  await run('iptables', ['-A', FORWARD_CHAIN, '-i', BRIDGE, '-o', BRIDGE, '-j', 'ACCEPT']);
  const hasJump = await execa('iptables', ['-C', 'FORWARD', '-j', FORWARD_CHAIN], { reject: false });
  if (hasJump.exitCode !== 0) await run('iptables', ['-I', 'FORWARD', '1', '-j', FORWARD_CHAIN]);

  const existing = new Set((await run('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]));
  for (const n of nodes) {
    if (!existing.has(n.netns)) {
      await run('ip', ['netns', 'add', n.netns]);
      await run('ip', ['link', 'add', n.hostVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
      await run('ip', ['link', 'set', n.hostVeth, 'master', BRIDGE, 'up']);
      await run('ip', ['addr', 'add', `${n.ip}/24`, 'dev', 'eth0'], { netns: n.netns });
      await run('ip', ['link', 'set', 'eth0', 'up'], { netns: n.netns });
      await run('ip', ['link', 'set', 'lo', 'up'], { netns: n.netns });
      // Locally generated traffic to ClusterIPs needs a route before OUTPUT's DNAT.
      await run('ip', ['route', 'add', 'default', 'via', BRIDGE_IP], { netns: n.netns });
    }
    // The namespaces have no way out to the host's network (nothing NATs them there, by
    // design). A DNS query to the host's resolver would wait out the resolver's timeouts:
    // dockerd looks up docker.io before every pull, 10 s per image. Unreachable, it fails at once.
    for (const ns of hostNameservers()) await run('ip', ['route', 'replace', 'unreachable', `${ns}/32`], { netns: n.netns });
    await run('sysctl', ['-qw', 'net.ipv4.ip_forward=1'], { netns: n.netns });
    await run('sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=1'], { netns: n.netns, allowFail: true });
  }
}

function httpsGet(url: string, ca?: string): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = https.get(url, { ca, rejectUnauthorized: !!ca, timeout: 2000 }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

const IMAGES = ['pause', 'busybox', 'redis-master', 'guestbook-redis-slave', 'guestbook-php-frontend'];

export async function up(opts: UpOptions): Promise<ClusterState> {
  const log = opts.log ?? ((l: string) => console.log(l));
  checkPrerequisites(opts);
  const nodes = topology(opts.workers);
  const cp = controlPlane(nodes);
  const workers = nodes.filter((n) => n.role === 'worker');
  const prev = readState(opts.stateDir);
  if (prev && (prev.runtime !== opts.runtime || prev.workers !== opts.workers || prev.proxyMode !== opts.proxyMode)) {
    throw new Error(
      `a cluster with --runtime ${prev.runtime} --workers ${prev.workers} --proxy-mode ${prev.proxyMode} is already up: run \`k8ts down\` first`,
    );
  }
  const state: ClusterState = prev ?? {
    runtime: opts.runtime,
    proxyMode: opts.proxyMode,
    workers: opts.workers,
    stateDir: opts.stateDir,
    runDir: opts.runDir,
    kubeconfig: join(opts.stateDir, 'kubeconfig'),
    pids: {},
  };
  const logs = join(opts.stateDir, 'logs');
  const t0 = Date.now();
  const step = (msg: string) => log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);

  step(`node network ${BRIDGE} 192.168.56.0/24: ${nodes.map((n) => `${n.name}=${n.ip}`).join(' ')}`);
  await makeNetwork(nodes);
  saveState(state);

  // Images: built offline, served by a registry on cp that every runtime uses as its mirror.
  const registryAddr = `${cp.ip}:${REGISTRY_PORT}`;
  const mirror = `http://${registryAddr}`;
  if (!alive(state.pids.registry)) {
    const regDir = join(REPO_ROOT, 'images', 'out', 'registry');
    mkdirSync(regDir, { recursive: true });
    const cfg = join(opts.stateDir, 'registry.yml');
    writeFileSync(cfg, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${regDir}\n  delete:\n    enabled: true\nhttp:\n  addr: ${registryAddr}\n`);
    state.pids.registry = spawnInNetns(cp.netns, 'docker-registry', ['serve', cfg], join(logs, 'registry.log'));
    saveState(state);
  }
  // Start every daemon now and wait for each only where it is needed: the control plane and
  // the runtimes boot while the images are pushed.
  // The control plane.
  const cpDir = join(opts.stateDir, 'cp');
  if (!alive(state.pids.controlPlane)) {
    // Secrets are encrypted at rest under a key made once for this cluster (docs/encryption-at-rest.md).
    const encryptionConfig = ensureEncryptionConfig(cpDir);
    state.pids.controlPlane = spawnInNetns(
      cp.netns,
      process.execPath,
      [K8TS_BIN, 'control-plane', '--data-dir', cpDir, '--advertise-address', cp.ip, '--bind-address', cp.ip, '--cluster-cidr', CLUSTER_CIDR, '--encryption-provider-config', encryptionConfig],
      join(logs, 'control-plane.log'),
    );
    saveState(state);
  }
  // A runtime daemon per worker (its agent starts once the control plane is ready).
  for (const w of workers) {
    const dirs = runtimeDirs(opts.stateDir, opts.runDir, w.name, opts.runtime);
    const key = `runtime:${w.name}`;
    if (!alive(state.pids[key])) {
      if (opts.runtime === 'cri') {
        const cfg = writeContainerdConfig(dirs, mirror);
        state.pids[key] = spawnInNetns(w.netns, 'containerd', containerdArgs(cfg), join(logs, `${w.name}-containerd.log`));
      } else {
        state.pids[key] = spawnInNetns(w.netns, 'dockerd', dockerdArgs(dirs, mirror), join(logs, `${w.name}-dockerd.log`));
      }
      saveState(state);
    }
  }
  await waitFor('the image registry', 15_000, () => httpOk(`${mirror}/v2/`), join(logs, 'registry.log'));
  step(`image registry on ${registryAddr} (mirror for docker.io and registry.k8s.io)`);
  const images = (await import('../../images/build.js')) as typeof import('../../images/build.js');
  const registry = (await import('../../images/registry.js')) as typeof import('../../images/registry.js');
  for (const name of IMAGES) {
    await images.buildImage(name);
    await registry.pushImage(name, registryAddr);
  }
  step(`images built and pushed: ${IMAGES.join(', ')}`);

  const apiserver = `https://${cp.ip}:${APISERVER_PORT}`;
  await waitFor('the apiserver', 30_000, async () => (await httpsGet(`${apiserver}/readyz`).catch(() => 0)) === 200, join(logs, 'control-plane.log'));
  const kubeconfig = await execa(process.execPath, [K8TS_BIN, 'kubeconfig', '--data-dir', cpDir, '--server', apiserver]);
  writeFileSync(state.kubeconfig, kubeconfig.stdout + '\n', { mode: 0o600 });
  // What `k8ts token create --print-join-command` gives a node: the token and the CA's pin.
  const token = readFileSync(join(cpDir, 'join-token'), 'utf8').trim();
  const caHash = caCertHash(readFileSync(join(cpDir, 'pki', 'ca.crt'), 'utf8'));
  step(`control plane ready at ${apiserver}`);

  for (const w of workers) {
    const dirs = runtimeDirs(opts.stateDir, opts.runDir, w.name, opts.runtime);
    await waitFor(`${opts.runtime === 'cri' ? 'containerd' : 'dockerd'} on ${w.name}`, 30_000, async () => existsSync(dirs.socket), join(logs, `${w.name}-*.log`));
    const key = `agent:${w.name}`;
    if (!alive(state.pids[key])) {
      const nodeDir = join(opts.stateDir, w.name);
      // The token reaches the agent in a 0600 file: an argument would show in every user's ps.
      const tokenFile = join(nodeDir, 'join-token');
      mkdirSync(nodeDir, { recursive: true });
      writeFileSync(tokenFile, token + '\n', { mode: 0o600 });
      state.pids[key] = spawnInNetns(
        w.netns,
        process.execPath,
        [
          K8TS_BIN, 'agent',
          '--node-name', w.name,
          '--server', apiserver,
          '--token-file', tokenFile,
          '--discovery-token-ca-cert-hash', caHash,
          '--runtime', opts.runtime,
          '--runtime-endpoint', `unix://${dirs.socket}`,
          '--node-ip', w.ip,
          '--proxy-mode', opts.proxyMode,
          '--data-dir', join(nodeDir, 'agent'),
          '--root-dir', join(nodeDir, 'kubelet'),
          '--log-dir', join(nodeDir, 'pods'),
          '--cni-conf-dir', dirs.cniConfDir,
          '--cni-ipam-dir', join(nodeDir, 'cni-ipam'),
          '--cluster-cidr', CLUSTER_CIDR,
        ],
        join(logs, `${w.name}-agent.log`),
      );
      saveState(state);
    }
  }
  step(`${workers.length} worker(s) started (${opts.runtime}, kube-proxy ${opts.proxyMode})`);

  const { KubeConfig, CoreV1Api } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromFile(state.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  await waitFor(`${workers.length} node(s) Ready`, 60_000, async () => {
    const list = await core.listNode();
    const ready = list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return ready.length >= workers.length;
  }, join(logs, '*-agent.log'));
  step(`all ${workers.length} node(s) Ready`);
  return state;
}

export async function down(stateDir: string, runDir: string, log: (l: string) => void = console.log): Promise<void> {
  const state = readState(stateDir);
  const runtimeKind = state?.runtime ?? 'cri';
  const workerNames = existsSync(stateDir) ? readdirSync(stateDir).filter((d) => d.startsWith('node-')) : [];

  // 1. The agents first, so nothing restarts the pods removed next.
  const pids = state?.pids ?? {};
  const order = Object.keys(pids).sort((a, b) => rank(a) - rank(b));
  await Promise.all(order.filter((k) => rank(k) === 0).map((k) => stopProcess(pids[k]!, 5000)));

  // 2. Orderly: ask each runtime to stop and remove its pods (tears down their netns too),
  // all nodes and pods at once, for at most 20 s.
  await Promise.all(
    workerNames.map(async (w) => {
      const dirs = runtimeDirs(stateDir, runDir, w, runtimeKind);
      if (!existsSync(dirs.socket)) return;
      try {
        const { createRuntime } = (await import('../../agent/runtime/index.js')) as typeof import('../../agent/runtime/index.js');
        const rt = await createRuntime({ kind: runtimeKind, endpoint: `unix://${dirs.socket}`, docker: { copyLogs: false } });
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.all(
              (await rt.listPodSandboxes()).map(async (sb) => {
                await rt.stopPodSandbox(sb.id).catch(() => {});
                await rt.removePodSandbox(sb.id).catch(() => {});
              }),
            ),
            new Promise((r) => (timer = setTimeout(r, 20_000))),
          ]);
        } finally {
          clearTimeout(timer);
          await rt.close().catch(() => {});
        }
      } catch (err) {
        log(`warning: could not empty the runtime on ${w} (${(err as Error).message}); killing its processes instead`);
      }
    }),
  );

  // 3. The other processes: control plane, then runtimes and registry.
  for (const k of order) if (rank(k) > 0) await stopProcess(pids[k]!, 5000);
  // After a crash the state file may be gone: find what still references our dirs.
  for (const needle of [runDir, stateDir]) {
    for (const pid of pidsMatching(needle)) {
      for (const p of processTree(pid)) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
  }
  await sleep(200);

  // 4. Mounts under our dirs (overlay rootfs, shm, netns bind mounts), deepest first.
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && (m.startsWith(stateDir + '/') || m.startsWith(runDir + '/') || m === runDir))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m], { allowFail: true });

  // 5. Network: namespaces (their veths go with them), the bridge, our FORWARD rules.
  const netnsList = (await run('ip', ['netns', 'list'], { allowFail: true }))
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith('k8ts-'));
  for (const ns of netnsList) await run('ip', ['netns', 'del', ns], { allowFail: true });
  await run('ip', ['link', 'del', BRIDGE], { allowFail: true });
  while ((await execa('iptables', ['-D', 'FORWARD', '-j', FORWARD_CHAIN], { reject: false })).exitCode === 0);
  await run('iptables', ['-F', FORWARD_CHAIN], { allowFail: true });
  await run('iptables', ['-X', FORWARD_CHAIN], { allowFail: true });

  // 6. Files.
  rmSync(runDir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
  log(`removed ${netnsList.length} namespace(s), ${order.length} process(es), ${mounts.length} mount(s), ${stateDir} and ${runDir}`);
}

function rank(key: string): number {
  if (key.startsWith('agent:')) return 0;
  if (key === 'controlPlane') return 1;
  if (key.startsWith('runtime:')) return 2;
  return 3;
}
