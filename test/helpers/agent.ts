// Starts a real node agent for tests: a private containerd or dockerd (the runtime
// engineer's helpers), a unique pod bridge + podCIDR, and the real CLI (`k8ts agent`) as a
// child process against a control plane. The Node's podCIDR is set here (the test control
// plane may run without the node IPAM controller). kill9()/restart() exercise restart safety.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { caCertHash } from '../../api/csr.js';
import { controllerManagerComponent } from '../../control-plane/controllers/index.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { freePort, startContainerd, unmountUnder, type ContainerdHandle } from './containerd.js';
import { startDockerd, type DockerdHandle } from './dockerd.js';
import { uniquePodNet, type TestPodNet } from './podnet.js';
import type { JsonValue } from '../../api/object.js';

const ROOT = join(import.meta.dirname, '..', '..');

export interface TestControlPlaneLike {
  url: string;
  caPem: string;
  joinToken: string;
  adminKubeconfig: string;
}

/**
 * The controllers a node needs to join (CSR approver and signer, token cleaner), for control
 * planes started in-process without the rest: `startControlPlane({ ..., components: [joinControllers()] })`.
 */
export function joinControllers() {
  return controllerManagerComponent({ leaderElect: false, controllers: ['csrapproving', 'csrsigning', 'tokencleaner'] });
}

/**
 * A node address of its own on a link-less bridge: a kubelet serving certificate may not name
 * 127.0.0.1 (no kubelet may pose as the local host), so test nodes are not on loopback.
 */
async function nodeAddress(): Promise<{ ip: string; cleanup(): Promise<void> }> {
  const link = `k8n${Math.random().toString(16).slice(2, 9)}`;
  const ip = `10.251.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  await execa('ip', ['link', 'add', link, 'type', 'bridge']);
  try {
    await execa('ip', ['addr', 'add', `${ip}/32`, 'dev', link]);
    await execa('ip', ['link', 'set', link, 'up']);
  } catch (err) {
    await execa('ip', ['link', 'del', link], { reject: false });
    throw err;
  }
  return { ip, cleanup: async () => void (await execa('ip', ['link', 'del', link], { reject: false })) };
}

export interface StartTestAgentOptions {
  controlPlane: TestControlPlaneLike;
  runtime: 'cri' | 'docker';
  nodeName: string;
  nodeIP?: string;
  /** http://127.0.0.1:port of a registry used as docker.io / registry.k8s.io mirror. */
  registryMirror: string;
  /** CrashLoopBackOff base in ms (hidden knob), default 1000 to keep tests short. */
  crashLoopBackoffMs?: number;
  podManifestPath?: string;
  extraArgs?: string[];
  /** Run the compiled CLI (dist/, after `npm run build`) instead of the TypeScript sources via tsx. */
  compiled?: boolean;
}

export interface TestAgent {
  nodeName: string;
  nodeIP: string;
  kubeletPort: number;
  podCIDR: string;
  dataDir: string;
  logDir: string;
  runtimeEndpoint: string;
  /** Where the agent writes the pod network conflist (the docker runtime reads it). */
  cniConfDir: string;
  /** PID of the current agent process. */
  pid(): number | undefined;
  containerd?: ContainerdHandle;
  dockerd?: DockerdHandle;
  /** Output of the current agent process (stdout+stderr). */
  output(): string;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Minimal admin client from the control plane's kubeconfig (for setting spec.podCIDR). */
export function adminRequest(kubeconfigPath: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: JsonValue }> {
  const kc = YAML.parse(readFileSync(kubeconfigPath, 'utf8'));
  const cluster = kc.clusters[0].cluster;
  const user = kc.users[0].user;
  const u = new URL(cluster.server);
  const b64 = (s?: string) => (s ? Buffer.from(s, 'base64').toString() : undefined);
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = https.request(
      {
        hostname: u.hostname,
        port: u.port,
        method,
        path,
        ca: b64(cluster['certificate-authority-data']),
        cert: b64(user['client-certificate-data']),
        key: b64(user['client-key-data']),
        headers: { ...(user.token ? { Authorization: `Bearer ${user.token}` } : {}), ...(data ? { 'Content-Type': contentType, 'Content-Length': data.length } : {}), Accept: 'application/json' },
      },
      (res) => {
        let t = '';
        res.on('data', (c) => (t += c));
        res.on('end', () => {
          let parsed: unknown = t;
          try {
            parsed = JSON.parse(t);
          } catch {
            /* text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

export async function startTestAgent(o: StartTestAgentOptions): Promise<TestAgent> {
  const dir = await mkdtemp(join(tmpdir(), `k8ts-agent-${o.nodeName}-`));
  const dataDir = join(dir, 'data');
  const logDir = join(dir, 'pods');
  const cniConfDir = join(dir, 'cni-conf');
  await mkdir(cniConfDir, { recursive: true });
  const net: TestPodNet = uniquePodNet('k8a');
  await net.addForwardRules();
  let containerd: ContainerdHandle | undefined;
  let dockerd: DockerdHandle | undefined;
  let endpoint: string;
  let confDir = cniConfDir;
  let ipamDir = join(dir, 'ipam');
  try {
    if (o.runtime === 'cri') {
      containerd = await startContainerd({ registryMirror: o.registryMirror });
      endpoint = containerd.endpoint;
      confDir = containerd.cniConfDir;
      ipamDir = containerd.ipamDataDir;
    } else {
      dockerd = await startDockerd({ registryMirror: o.registryMirror });
      endpoint = dockerd.host;
    }
  } catch (e) {
    await net.cleanup();
    throw e;
  }
  const kubeletPort = await freePort();
  let address: { ip: string; cleanup(): Promise<void> } | undefined;
  try {
    if (!o.nodeIP) address = await nodeAddress();
  } catch (e) {
    await containerd?.stop();
    await dockerd?.stop();
    await net.cleanup();
    throw e;
  }
  const nodeIP = o.nodeIP ?? address!.ip;
  // The join token goes in a 0600 file, never on the agent's command line.
  const tokenFile = join(dir, 'join-token');
  await writeFile(tokenFile, o.controlPlane.joinToken + '\n', { mode: 0o600 });
  let proc: ChildProcess | undefined;
  let out = '';
  const entry = o.compiled ? [join(ROOT, 'bin', 'k8ts.js')] : ['--import', 'tsx', join(ROOT, 'cli', 'main.ts')];
  const args = [
    ...entry,
    'agent',
    '--node-name', o.nodeName,
    '--server', o.controlPlane.url,
    '--token-file', tokenFile,
    '--discovery-token-ca-cert-hash', caCertHash(o.controlPlane.caPem),
    '--runtime', o.runtime,
    '--runtime-endpoint', endpoint!,
    '--node-ip', nodeIP,
    '--proxy-mode', 'none',
    '--no-host-gw',
    '--data-dir', dataDir,
    '--root-dir', join(dir, 'kubelet'),
    '--log-dir', logDir,
    '--cni-conf-dir', confDir,
    '--cni-bridge', net.bridge,
    '--cni-ipam-dir', ipamDir,
    '--kubelet-port', String(kubeletPort),
    '--address', nodeIP,
    ...(o.podManifestPath ? ['--pod-manifest-path', o.podManifestPath] : []),
    ...(o.extraArgs ?? []),
  ];
  const launch = async () => {
    out = '';
    const p = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, K8TS_LOG_LEVEL: process.env.K8TS_AGENT_LOG_LEVEL ?? 'info', K8TS_CRASHLOOP_BACKOFF_MS: String(o.crashLoopBackoffMs ?? 1000) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc = p;
    p.stdout!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-200_000)));
    p.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-200_000)));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`agent did not start in 60 s:\n${out.slice(-4000)}`)), 60_000);
      const check = () => {
        if (out.includes('k8ts agent ready')) {
          clearTimeout(t);
          p.stdout!.off('data', check);
          resolve();
        }
      };
      p.stdout!.on('data', check);
      p.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`agent exited with ${code}:\n${out.slice(-4000)}`));
      });
    });
  };
  const killProc = async (sig: NodeJS.Signals) => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((r) => {
      p.once('exit', () => r());
      p.kill(sig);
    });
  };
  try {
    await launch();
    // The node IPAM controller's job, done here so the test needs no controllers.
    const r = await adminRequest(o.controlPlane.adminKubeconfig, 'PATCH', `/api/v1/nodes/${o.nodeName}`, { spec: { podCIDR: net.podCIDR, podCIDRs: [net.podCIDR] } }, 'application/merge-patch+json');
    if (r.status !== 200) throw new Error(`setting podCIDR: ${r.status} ${JSON.stringify(r.body)}`);
  } catch (e) {
    await killProc('SIGKILL');
    await containerd?.stop();
    await dockerd?.stop();
    await net.cleanup();
    await address?.cleanup();
    await unmountUnder(dir);
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    nodeName: o.nodeName,
    nodeIP,
    kubeletPort,
    podCIDR: net.podCIDR,
    dataDir,
    logDir,
    runtimeEndpoint: endpoint!,
    cniConfDir: confDir,
    pid: () => proc?.pid,
    containerd,
    dockerd,
    output: () => out,
    kill9: () => killProc('SIGKILL'),
    restart: launch,
    async stop() {
      await killProc('SIGTERM');
      await containerd?.stop();
      await dockerd?.stop();
      await net.cleanup();
      await address?.cleanup();
      // emptyDir medium Memory volumes are tmpfs mounts the kubelet leaves for running pods
      await unmountUnder(dir);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
