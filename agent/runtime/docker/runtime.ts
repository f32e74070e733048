// ContainerRuntime on the Docker Engine API (dockerode), with the semantics of the CRI:
// the sandbox is our pause container (IPC shareable; networking disabled in Docker, its own
// netns set up by CNI run by us, with our resolv.conf; or the host network),
// app containers join its network/IPC (and PID with sharePid), pod metadata lives in labels
// so a restarted kubelet can rebuild its state, and container output is copied into the
// kubelet's CRI-format log files.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import {
  cniAdd,
  cniDel,
  loadConfList,
  podIPFromResult,
  type CniConfList,
} from '../../network/cni.js';
import type {
  ContainerConfig,
  ContainerRuntime,
  ContainerState,
  ContainerStatus,
  ExecOptions,
  ImageInfo,
  KeyValueMap,
  PodSandboxConfig,
  RuntimeEvent,
  SandboxState,
  SandboxStatus,
  StreamSession,
} from '../types.js';
import { RuntimeError } from '../types.js';
import { lastWrittenTimestamp, pumpDockerLogs, sinceParam, type LogPump } from './logs.js';

export interface DockerRuntimeOptions {
  /** unix:///var/run/docker.sock */
  endpoint: string;
  /** The pause image; Docker mirrors only apply to docker.io, so the default lives there. */
  sandboxImage?: string;
  /** Directory holding the pod network conflist (the lexically first *.conflist is used). */
  cniConfDir?: string;
  cniBinDir?: string;
  /** CNI ADD results, for DEL's prevResult. */
  cniCacheDir?: string;
  /** Per-sandbox network state (pod IP, CNI network name) that Docker cannot hold. */
  stateDir?: string;
  /** Stage timings (sandbox = pause create+start, cni = ADD) for benchmarks. */
  onStage?: (stage: 'sandbox' | 'cni', ms: number, sandboxId: string) => void;
  /**
   * Copy container output into the CRI log files (default true). Only the agent does;
   * debugging tools opening the same dockerd pass false so lines are not written twice.
   */
  copyLogs?: boolean;
  /**
   * Docker's json-file limits for each container (the kubelet's --container-log-max-size in
   * bytes and --container-log-max-files); unset or a negative size: Docker's defaults.
   */
  logMaxSizeBytes?: number;
  logMaxFiles?: number;
}

const L = {
  type: 'io.kubernetes.docker.type',
  sandboxId: 'io.kubernetes.sandbox.id',
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  attempt: 'k8ts.io/attempt',
  annotations: 'k8ts.io/annotations',
  logPath: 'k8ts.io/log-path',
  sandboxConfig: 'k8ts.io/sandbox-config',
};
const INTERNAL = new Set([L.type, L.sandboxId, L.attempt, L.annotations, L.logPath, L.sandboxConfig]);

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

interface SandboxNetState {
  ip: string;
  network?: string;
  hostNetwork: boolean;
  portMappings: { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[];
  torndown?: boolean;
}

function userLabels(labels: Record<string, string> | undefined): KeyValueMap {
  const out: KeyValueMap = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (!INTERNAL.has(k)) out[k] = v;
  return out;
}

function annotationsOf(labels: Record<string, string> | undefined): KeyValueMap {
  try {
    return JSON.parse(labels?.[L.annotations] ?? '{}') as KeyValueMap;
  } catch {
    return {};
  }
}

function dockerTime(s: string | undefined): Date | undefined {
  if (!s || s.startsWith('0001-01-01')) return undefined;
  const d = new Date(s);
  return isNaN(d.getTime()) ? undefined : d;
}

export function mapDockerError(err: unknown, what: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string; json?: { message?: string } };
  const msg = `${what}: ${e?.json?.message ?? e?.message ?? String(err)}`.trim();
  if (e?.statusCode === 404) return new RuntimeError('NotFound', msg);
  if (e?.statusCode === 400) return new RuntimeError('InvalidArgument', msg);
  if (e?.code === 'ECONNREFUSED' || e?.code === 'ENOENT' || e?.code === 'EPIPE') return new RuntimeError('Unavailable', msg);
  return new RuntimeError('Unknown', msg);
}

function dockerState(s: string | undefined): ContainerState {
  switch (s) {
    case 'created':
      return 'created';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'running';
    case 'exited':
    case 'dead':
    case 'removing':
      return 'exited';
    default:
      return 'unknown';
  }
}

// Capability names by bit number (linux/capability.h).
const CAP_NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
];

let privilegedCache: Promise<Record<string, unknown>> | undefined;

/**
 * Docker's Privileged grants its whole fixed capability list, and runc fails when the host's
 * bounding set lacks one of them (some VMs and nested setups drop CAP_SYS_RESOURCE). There we
 * grant exactly what the host has, unconfined, with /proc and /sys unmasked; elsewhere plain
 * Privileged.
 */
function privilegedHostConfig(): Promise<Record<string, unknown>> {
  privilegedCache ??= (async () => {
    const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
    const m = /^CapBnd:\s*([0-9a-f]+)/m.exec(status);
    const last = Number((await readFile('/proc/sys/kernel/cap_last_cap', 'utf8').catch(() => '40')).trim());
    if (!m) return { Privileged: true };
    const bnd = BigInt('0x' + m[1]);
    const have: string[] = [];
    let missing = false;
    for (let i = 0; i <= Math.min(last, CAP_NAMES.length - 1); i++) {
      if (!(bnd & (1n << BigInt(i)))) missing = true;
      // Docker 20.10 rejects names past AUDIT_READ (37) in CapAdd.
      else if (i <= 37) have.push(CAP_NAMES[i]!);
    }
    if (!missing) return { Privileged: true };
    return {
      CapAdd: have,
      SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined', 'label=disable'],
      MaskedPaths: [],
      ReadonlyPaths: [],
    };
  })();
  return privilegedCache;
}

// Docker container names allow [a-zA-Z0-9_.-]; k8s names already fit, uids too.
function safe(s: string): string {
  return s.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** Splits Docker's multiplexed stream (8-byte frame headers) into stdout/stderr. */
function demux(src: Readable, stdout?: NodeJS.WritableStream, stderr?: NodeJS.WritableStream): void {
  let pending: Buffer = Buffer.alloc(0);
  src.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const payload = pending.subarray(8, 8 + size);
      if (pending[0] === 2) stderr?.write(payload);
      else stdout?.write(payload);
      pending = pending.subarray(8 + size);
    }
  });
}

// dockerode (with docker-modem, ssh2 and its own grpc/protobuf for BuildKit) costs the agent
// ~25 MB of RSS: required on first use, so an agent on containerd never loads it.
const requireCjs = createRequire(import.meta.url);
let DockerCtor: typeof Docker | undefined;
function dockerClient(opts: Docker.DockerOptions): Docker {
  DockerCtor ??= requireCjs('dockerode') as typeof Docker;
  return new DockerCtor(opts);
}

export class DockerRuntime implements ContainerRuntime {
  readonly name = 'docker' as const;
  readonly docker: Docker;
  private readonly sandboxImage: string;
  private readonly cniBinDir: string;
  private readonly cniCacheDir: string;
  private readonly stateDir: string;
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();
  private eventsStream?: Readable;
  private eventsRetry?: NodeJS.Timeout;
  private readonly followers = new Map<string, { done: Promise<void>; stream?: Readable; pump: LogPump }>();
  private closed = false;
  private readonly resumed: Promise<void>;

  constructor(private readonly opts: DockerRuntimeOptions) {
    const m = /^unix:\/\/(.+)$/.exec(opts.endpoint);
    if (m) this.docker = dockerClient({ socketPath: m[1] });
    else if (opts.endpoint.startsWith('/')) this.docker = dockerClient({ socketPath: opts.endpoint });
    else {
      const u = new URL(opts.endpoint.replace(/^tcp:/, 'http:'));
      this.docker = dockerClient({ host: u.hostname, port: u.port || 2375, protocol: 'http' });
    }
    this.sandboxImage = opts.sandboxImage ?? 'k8ts/pause:3.9';
    this.cniBinDir = opts.cniBinDir ?? '/usr/lib/cni';
    this.stateDir = opts.stateDir ?? '/var/lib/k8ts/docker-runtime';
    this.cniCacheDir = opts.cniCacheDir ?? join(this.stateDir, 'cni-cache');
    // Containers that ran while the agent was down: finish their log files.
    this.resumed = opts.copyLogs === false ? Promise.resolve() : this.resumeLogs().catch(() => {});
  }

  // ---- runtime ---------------------------------------------------------------------------

  async version() {
    try {
      const v = (await this.docker.version()) as Any;
      return { runtimeName: 'docker', runtimeVersion: String(v.Version), runtimeApiVersion: String(v.ApiVersion) };
    } catch (err) {
      throw mapDockerError(err, 'version');
    }
  }

  async status() {
    let runtimeReady = false;
    let message: string | undefined;
    try {
      await this.docker.ping();
      runtimeReady = true;
    } catch (err) {
      message = `docker: ${(err as Error).message}`;
    }
    const conf = await this.confList().catch((err: Error) => {
      message = [message, `cni: ${err.message}`].filter(Boolean).join('; ');
      return undefined;
    });
    return { runtimeReady, networkReady: !!conf, message };
  }

  private async confList(): Promise<CniConfList> {
    const dir = this.opts.cniConfDir ?? '/etc/cni/net.d';
    const files = (await readdir(dir)).filter((f) => f.endsWith('.conflist')).sort();
    if (files.length === 0) throw new Error(`no .conflist in ${dir}`);
    return loadConfList(join(dir, files[0]!));
  }

  // ---- sandboxes -------------------------------------------------------------------------

  private statePath(id: string): string {
    return join(this.stateDir, 'sandboxes', `${id}.json`);
  }

  /** The pod's /etc/resolv.conf (mounted into its app containers). */
  private resolvFile(id: string): string {
    return join(this.stateDir, 'sandboxes', `${id}.resolv.conf`);
  }

  private async writeResolvConf(id: string, config: PodSandboxConfig): Promise<void> {
    let resolv: string;
    const dns = config.dnsConfig;
    if (dns) {
      resolv = dns.servers.map((x) => `nameserver ${x}\n`).join('');
      if (dns.searches.length) resolv += `search ${dns.searches.join(' ')}\n`;
      if (dns.options.length) resolv += `options ${dns.options.join(' ')}\n`;
    } else {
      // The node's, as Docker does, without loopback resolvers the pod cannot reach.
      const host = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
      resolv = host.split('\n').filter((l) => l.trim() && !/^\s*nameserver\s+(127\.|::1)/.test(l)).map((l) => `${l}\n`).join('');
    }
    await mkdir(join(this.stateDir, 'sandboxes'), { recursive: true });
    await writeFile(this.resolvFile(id), resolv);
  }

  private async readState(id: string): Promise<SandboxNetState | undefined> {
    try {
      return JSON.parse(await readFile(this.statePath(id), 'utf8')) as SandboxNetState;
    } catch {
      return undefined;
    }
  }

  private async writeState(id: string, st: SandboxNetState): Promise<void> {
    await mkdir(join(this.stateDir, 'sandboxes'), { recursive: true });
    await writeFile(this.statePath(id), JSON.stringify(st));
  }

  private async ensureImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw mapDockerError(err, 'inspect image');
      await this.pullImage(image);
    }
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    await this.ensureImage(this.sandboxImage);
    const t0 = performance.now();
    const labels: Record<string, string> = {
      ...config.labels,
      [L.type]: 'podsandbox',
      [L.podName]: config.name,
      [L.podNamespace]: config.namespace,
      [L.podUid]: config.uid,
      [L.attempt]: String(config.attempt),
      [L.annotations]: JSON.stringify(config.annotations ?? {}),
      [L.sandboxConfig]: JSON.stringify({
        hostNetwork: config.hostNetwork,
        sharePid: config.sharePid,
        logDirectory: config.logDirectory,
        hostname: config.hostname,
      }),
    };
    const hostConfig: Any = {
      NetworkMode: config.hostNetwork ? 'host' : 'none',
      IpcMode: 'shareable',
      RestartPolicy: { Name: 'no' },
      CgroupParent: config.cgroupParent || undefined,
    };
    let container: Docker.Container;
    try {
      container = await this.docker.createContainer({
        name: `k8s_POD_${safe(config.name)}_${safe(config.namespace)}_${safe(config.uid)}_${config.attempt}`,
        Image: this.sandboxImage,
        Hostname: config.hostNetwork ? undefined : config.hostname,
        // The pod's network namespace is runc's (a new one, as for `none`) and CNI's, not
        // Docker's: with networking disabled dockerd sets up no libnetwork sandbox for it,
        // whose hook re-executes dockerd inside runc's start (measured: the sandbox from 818
        // to ~480 ms). Docker then writes no resolv.conf either: this runtime writes it, as
        // dockershim did, and mounts it into the app containers (/etc/hosts is the kubelet's).
        NetworkDisabled: !config.hostNetwork,
        Labels: labels,
        HostConfig: hostConfig,
      });
      await container.start();
    } catch (err) {
      throw mapDockerError(err, 'run sandbox');
    }
    const id = container.id;
    this.opts.onStage?.('sandbox', performance.now() - t0, id);
    const net: SandboxNetState = { ip: '', hostNetwork: config.hostNetwork, portMappings: [] };
    if (!config.hostNetwork) {
      const t1 = performance.now();
      try {
        const info = await container.inspect();
        const conf = await this.confList();
        net.network = conf.name;
        net.portMappings = config.portMappings
          .filter((p) => p.hostPort > 0)
          .map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol.toLowerCase(), hostIP: p.hostIp || undefined }));
        const res = await cniAdd(`/proc/${info.State.Pid}/ns/net`, id, 'eth0', conf, { portMappings: net.portMappings }, {
          binDir: this.cniBinDir,
          cacheDir: this.cniCacheDir,
        });
        net.ip = podIPFromResult(res);
        await this.writeResolvConf(id, config);
      } catch (err) {
        await container.remove({ force: true }).catch(() => {});
        throw new RuntimeError('Unknown', `sandbox network: ${(err as Error).message}`);
      }
      this.opts.onStage?.('cni', performance.now() - t1, id);
    }
    await this.writeState(id, net);
    return id;
  }

  private async inspectSandbox(id: string): Promise<Docker.ContainerInspectInfo> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect();
    } catch (err) {
      throw mapDockerError(err, `sandbox ${id}`);
    }
    if (info.Config.Labels?.[L.type] !== 'podsandbox') throw new RuntimeError('NotFound', `sandbox ${id}: not a pod sandbox`);
    return info;
  }

  async stopPodSandbox(id: string): Promise<void> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.inspectSandbox(id);
    } catch (err) {
      if ((err as RuntimeError).code === 'NotFound') return;
      throw err;
    }
    const sid = info.Id;
    // Containers first (CRI: forcibly), then the network while the netns still exists.
    const apps = await this.listContainers({ podSandboxId: sid });
    await Promise.all(apps.filter((c) => c.state === 'running').map((c) => this.stopContainer(c.id, 0)));
    const st = await this.readState(sid);
    if (st && !st.hostNetwork && !st.torndown) {
      const conf = await this.confList().catch(() => undefined);
      if (conf) {
        const netns = info.State.Running && info.State.Pid > 0 ? `/proc/${info.State.Pid}/ns/net` : '';
        await cniDel(netns, sid, 'eth0', conf, { portMappings: st.portMappings }, { binDir: this.cniBinDir, cacheDir: this.cniCacheDir });
      }
      await this.writeState(sid, { ...st, torndown: true });
    }
    if (info.State.Running) {
      try {
        await this.docker.getContainer(sid).stop({ t: 2 });
      } catch (err) {
        const code = (err as { statusCode?: number }).statusCode;
        if (code !== 304 && code !== 404) throw mapDockerError(err, 'stop sandbox');
      }
    }
  }

  async removePodSandbox(id: string): Promise<void> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.inspectSandbox(id);
    } catch (err) {
      if ((err as RuntimeError).code === 'NotFound') return;
      throw err;
    }
    await this.stopPodSandbox(info.Id);
    for (const c of await this.listContainers({ podSandboxId: info.Id })) await this.removeContainer(c.id);
    try {
      await this.docker.getContainer(info.Id).remove({ force: true, v: true });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw mapDockerError(err, 'remove sandbox');
    }
    await rm(this.statePath(info.Id), { force: true });
    await rm(this.resolvFile(info.Id), { force: true });
  }

  async podSandboxStatus(id: string): Promise<SandboxStatus> {
    const info = await this.inspectSandbox(id);
    const labels = info.Config.Labels ?? {};
    const st = await this.readState(info.Id);
    const ready = info.State.Running;
    return {
      id: info.Id,
      name: labels[L.podName] ?? '',
      namespace: labels[L.podNamespace] ?? '',
      uid: labels[L.podUid] ?? '',
      attempt: Number(labels[L.attempt] ?? 0),
      state: ready ? 'ready' : 'notready',
      createdAt: new Date(info.Created),
      ip: ready && st && !st.torndown ? st.ip : '',
      labels: userLabels(labels),
      annotations: annotationsOf(labels),
      netnsPath: ready && info.State.Pid > 0 ? `/proc/${info.State.Pid}/ns/net` : undefined,
    };
  }

  async listPodSandboxes(filter?: { labels?: KeyValueMap; state?: SandboxState }): Promise<SandboxStatus[]> {
    const label = [`${L.type}=podsandbox`, ...Object.entries(filter?.labels ?? {}).map(([k, v]) => `${k}=${v}`)];
    const filters: Record<string, string[]> = { label };
    if (filter?.state === 'ready') filters.status = ['running'];
    let list: Docker.ContainerInfo[];
    try {
      list = await this.docker.listContainers({ all: true, filters });
    } catch (err) {
      throw mapDockerError(err, 'list sandboxes');
    }
    return list
      .filter((c) => filter?.state !== 'notready' || c.State !== 'running')
      .map((c) => ({
        id: c.Id,
        name: c.Labels[L.podName] ?? '',
        namespace: c.Labels[L.podNamespace] ?? '',
        uid: c.Labels[L.podUid] ?? '',
        attempt: Number(c.Labels[L.attempt] ?? 0),
        state: c.State === 'running' ? ('ready' as const) : ('notready' as const),
        createdAt: new Date(c.Created * 1000),
        ip: '',
        labels: userLabels(c.Labels),
        annotations: annotationsOf(c.Labels),
      }));
  }

  // ---- containers ------------------------------------------------------------------------

  async createContainer(sandboxId: string, config: ContainerConfig, sandbox: PodSandboxConfig): Promise<string> {
    const sb = await this.inspectSandbox(sandboxId);
    const sid = sb.Id;
    const logPath = join(sandbox.logDirectory, config.logPath);
    const sec = config.security;
    const res = config.resources;
    let user: string | undefined;
    if (sec.runAsUser !== undefined) user = sec.runAsGroup !== undefined ? `${sec.runAsUser}:${sec.runAsGroup}` : String(sec.runAsUser);
    const labels: Record<string, string> = {
      ...config.labels,
      [L.type]: 'container',
      [L.sandboxId]: sid,
      [L.podName]: sandbox.name,
      [L.podNamespace]: sandbox.namespace,
      [L.podUid]: sandbox.uid,
      [L.containerName]: config.name,
      [L.attempt]: String(config.attempt),
      [L.annotations]: JSON.stringify(config.annotations ?? {}),
      [L.logPath]: logPath,
    };
    const hostConfig: Any = {
      NetworkMode: `container:${sid}`,
      IpcMode: `container:${sid}`,
      PidMode: sandbox.sharePid ? `container:${sid}` : '',
      CapAdd: sec.capAdd?.length ? sec.capAdd : undefined,
      CapDrop: sec.capDrop?.length ? sec.capDrop : undefined,
      ReadonlyRootfs: sec.readOnlyRootfs ?? false,
      Mounts: config.mounts.map((m) => ({ Type: 'bind', Source: m.hostPath, Target: m.containerPath, ReadOnly: m.readonly })),
      RestartPolicy: { Name: 'no' },
      CgroupParent: sandbox.cgroupParent || undefined,
      // json-file is what the logs API reads back (and our CRI copy is made from); it gets
      // the kubelet's limits so Docker's own file is bounded too.
      LogConfig: { Type: 'json-file', Config: this.jsonFileLimits() },
    };
    // The sandbox's resolv.conf (written by runPodSandbox for pods with their own network
    // namespace), unless the pod mounts its own.
    const resolv = this.resolvFile(sid);
    if (!config.mounts.some((m) => m.containerPath === '/etc/resolv.conf') && (await stat(resolv).catch(() => undefined)))
      hostConfig.Mounts.push({ Type: 'bind', Source: resolv, Target: '/etc/resolv.conf', ReadOnly: false });
    if (sec.privileged) {
      const priv = await privilegedHostConfig();
      Object.assign(hostConfig, priv, { CapDrop: undefined });
    }
    if (res.memoryLimitBytes) {
      hostConfig.Memory = res.memoryLimitBytes;
      hostConfig.MemorySwap = res.memoryLimitBytes; // no swap, as the kubelet wants
    }
    if (res.cpuShares) hostConfig.CpuShares = res.cpuShares;
    if (res.cpuPeriod) hostConfig.CpuPeriod = res.cpuPeriod;
    if (res.cpuQuota) hostConfig.CpuQuota = res.cpuQuota;
    const createOpts: Docker.ContainerCreateOptions = {
      name: `k8s_${safe(config.name)}_${safe(sandbox.name)}_${safe(sandbox.namespace)}_${safe(sandbox.uid)}_${config.attempt}`,
      Image: config.image,
      Env: config.env.map((e) => `${e.name}=${e.value}`),
      WorkingDir: config.workingDir || undefined,
      User: user,
      Labels: labels,
      Tty: config.tty,
      OpenStdin: config.stdin,
      StdinOnce: config.stdinOnce,
      HostConfig: hostConfig,
    };
    // CRI command = Docker Entrypoint, CRI args = Docker Cmd; an overridden entrypoint
    // drops the image's Cmd, which matches Kubernetes' command/args rules.
    if (config.command.length) createOpts.Entrypoint = config.command;
    if (config.args.length) createOpts.Cmd = config.args;
    try {
      const c = await this.docker.createContainer(createOpts);
      return c.id;
    } catch (err) {
      const e = mapDockerError(err, 'create container');
      if (e.code === 'NotFound' && /image/i.test(e.message)) throw new RuntimeError('ImageNotFound', e.message);
      throw e;
    }
  }

  /** json-file log-opts: max-size in bytes (a bare number, which Docker reads as bytes). */
  private jsonFileLimits(): Record<string, string> {
    const size = this.opts.logMaxSizeBytes;
    if (size === undefined || size < 0) return {};
    return { 'max-size': String(Math.max(1, Math.floor(size))), ...(this.opts.logMaxFiles ? { 'max-file': String(this.opts.logMaxFiles) } : {}) };
  }

  async startContainer(id: string): Promise<void> {
    const c = this.docker.getContainer(id);
    try {
      await c.start();
    } catch (err) {
      throw mapDockerError(err, 'start container');
    }
    // The log copier reads Docker's json log from the start, so it need not hold up the caller.
    this.follow(id);
  }

  /** Copies the container's output into its CRI log file until it exits. */
  private follow(id: string, known?: Docker.ContainerInspectInfo): void {
    if (this.followers.has(id) || this.closed) return;
    const entry: { done: Promise<void>; stream?: Readable; pump: LogPump } = { done: Promise.resolve(), pump: {} };
    this.followers.set(id, entry);
    entry.done = (async () => {
      const info = known ?? (await this.docker.getContainer(id).inspect());
      const logPath = info.Config.Labels?.[L.logPath];
      if (!logPath) return;
      const after = await lastWrittenTimestamp(logPath);
      const stream = (await this.docker.getContainer(info.Id).logs({
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
        since: after ? (sinceParam(after) as unknown as number) : 0,
      })) as unknown as Readable;
      entry.stream = stream;
      if (this.closed) stream.destroy();
      await pumpDockerLogs(stream, logPath, !!info.Config.Tty, after, entry.pump);
    })()
      .catch(() => {})
      .finally(() => this.followers.delete(id));
  }

  private async resumeLogs(): Promise<void> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [`${L.type}=container`] } });
    for (const c of list) {
      if (c.State === 'created') continue;
      this.follow(c.Id);
    }
  }

  /** ReopenContainerLog: our copier is the writer of the CRI file, so it reopens. */
  async reopenContainerLog(id: string): Promise<void> {
    await this.resumed;
    const reopen = this.followers.get(id)?.pump.reopen;
    if (!reopen) throw new RuntimeError('Unknown', `container ${id} is not running`);
    await reopen();
  }

  /** Resolves when the log copier of `id` has written everything (the container exited). */
  async flushLogs(id: string): Promise<void> {
    await this.resumed;
    await this.followers.get(id)?.done;
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.floor(timeoutSeconds)) });
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 304 || code === 404) return;
      throw mapDockerError(err, 'stop container');
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      throw mapDockerError(err, 'remove container');
    }
  }

  async listContainers(filter?: { podSandboxId?: string; labels?: KeyValueMap; state?: ContainerState }): Promise<ContainerStatus[]> {
    const label = [`${L.type}=container`, ...Object.entries(filter?.labels ?? {}).map(([k, v]) => `${k}=${v}`)];
    if (filter?.podSandboxId) {
      const sid = filter.podSandboxId.length < 64 ? (await this.inspectSandbox(filter.podSandboxId).catch(() => undefined))?.Id : filter.podSandboxId;
      if (!sid) return [];
      label.push(`${L.sandboxId}=${sid}`);
    }
    const filters: Record<string, string[]> = { label };
    if (filter?.state) filters.status = filter.state === 'running' ? ['running'] : filter.state === 'created' ? ['created'] : filter.state === 'exited' ? ['exited', 'dead'] : [];
    let list: Docker.ContainerInfo[];
    try {
      list = await this.docker.listContainers({ all: true, filters });
    } catch (err) {
      throw mapDockerError(err, 'list containers');
    }
    return list.map((c) => {
      const exit = /^Exited \((-?\d+)\)/.exec(c.Status ?? '');
      return {
        id: c.Id,
        podSandboxId: c.Labels[L.sandboxId] ?? '',
        name: c.Labels[L.containerName] ?? '',
        attempt: Number(c.Labels[L.attempt] ?? 0),
        image: c.Image,
        imageRef: c.ImageID,
        state: dockerState(c.State),
        createdAt: new Date(c.Created * 1000),
        exitCode: exit ? Number(exit[1]) : 0,
        reason: '',
        message: '',
        labels: userLabels(c.Labels),
        annotations: annotationsOf(c.Labels),
        logPath: c.Labels[L.logPath] ?? '',
      };
    });
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(id).inspect();
    } catch (err) {
      throw mapDockerError(err, `container ${id}`);
    }
    const labels = info.Config.Labels ?? {};
    if (labels[L.type] !== 'container') throw new RuntimeError('NotFound', `container ${id}: not a pod container`);
    const state = dockerState(info.State.Status);
    let reason = '';
    if (state === 'exited') reason = info.State.OOMKilled ? 'OOMKilled' : info.State.ExitCode === 0 ? 'Completed' : 'Error';
    return {
      id: info.Id,
      podSandboxId: labels[L.sandboxId] ?? '',
      name: labels[L.containerName] ?? '',
      attempt: Number(labels[L.attempt] ?? 0),
      image: info.Config.Image,
      imageRef: info.Image,
      state,
      createdAt: new Date(info.Created),
      startedAt: dockerTime(info.State.StartedAt),
      finishedAt: state === 'exited' ? dockerTime(info.State.FinishedAt) : undefined,
      exitCode: info.State.ExitCode ?? 0,
      reason,
      message: info.State.Error ?? '',
      labels: userLabels(labels),
      annotations: annotationsOf(labels),
      logPath: labels[L.logPath] ?? '',
    };
  }

  // ---- exec / attach / port-forward ------------------------------------------------------

  async execSync(id: string, cmd: string[], timeoutSeconds: number) {
    let exec: Docker.Exec;
    try {
      exec = await this.docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: false });
    } catch (err) {
      throw mapDockerError(err, 'exec');
    }
    const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Duplex;
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    const sink = (arr: Buffer[]) => ({ write: (b: Buffer) => (arr.push(Buffer.from(b)), true) }) as unknown as NodeJS.WritableStream;
    demux(stream, sink(out), sink(errb));
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    if (timeoutSeconds > 0) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        ended.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutSeconds * 1000))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        stream.destroy();
        throw new RuntimeError('Unknown', `execSync: command timed out after ${timeoutSeconds}s`);
      }
    } else await ended;
    const info = await exec.inspect();
    return { stdout: Buffer.concat(out), stderr: Buffer.concat(errb), exitCode: info.ExitCode ?? 0 };
  }

  private session(
    stream: Duplex,
    opts: ExecOptions,
    tty: boolean,
    resize: (cols: number, rows: number) => Promise<unknown>,
    exitCode: () => Promise<number>,
    /** Pass the client's stdin EOF on (exec; attach to a stdinOnce container). */
    endStdin = true,
  ): StreamSession {
    if (tty) stream.on('data', (b: Buffer) => opts.stdout?.write(b));
    else demux(stream, opts.stdout, opts.stderr);
    if (opts.stdin) {
      opts.stdin.pipe(stream, { end: endStdin });
    }
    const done = new Promise<number>((resolve, reject) => {
      let settled = false;
      const finish = () => {
        if (settled) return;
        settled = true;
        opts.stdin?.unpipe(stream);
        exitCode().then(resolve, reject);
      };
      stream.once('end', finish);
      stream.once('close', finish);
      stream.once('error', finish);
    });
    done.catch(() => {});
    return {
      resize: (cols, rows) => void resize(cols, rows).catch(() => {}),
      done,
      close: () => {
        opts.stdin?.unpipe(stream);
        stream.destroy();
      },
    };
  }

  async exec(id: string, cmd: string[], opts: ExecOptions): Promise<StreamSession> {
    let exec: Docker.Exec;
    try {
      exec = await this.docker.getContainer(id).exec({
        Cmd: cmd,
        AttachStdin: !!opts.stdin,
        AttachStdout: true,
        AttachStderr: true,
        Tty: opts.tty,
      });
    } catch (err) {
      throw mapDockerError(err, 'exec');
    }
    const stream = (await exec.start({ hijack: true, stdin: !!opts.stdin, Tty: opts.tty } as Any)) as unknown as Duplex;
    return this.session(
      stream,
      opts,
      opts.tty,
      async (w, h) => (exec as Any).resize({ w, h }),
      async () => (await exec.inspect()).ExitCode ?? 0,
    );
  }

  async attach(id: string, opts: ExecOptions): Promise<StreamSession> {
    const c = this.docker.getContainer(id);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await c.inspect();
    } catch (err) {
      throw mapDockerError(err, 'attach');
    }
    const stream = (await c.attach({ stream: true, stdin: !!opts.stdin, stdout: true, stderr: true, hijack: true } as Any)) as unknown as Duplex;
    return this.session(
      stream,
      opts,
      !!info.Config.Tty,
      async (w, h) => (c as Any).resize({ w, h }),
      async () => {
        const st = await c.inspect().catch(() => undefined);
        return st && !st.State.Running ? st.State.ExitCode : 0;
      },
      // Docker ends the whole attach when its stdin half closes; the container's stdin stays
      // open (stdinOnce false), so one attacher's EOF must not cut off the output, as with CRI.
      !!info.Config.StdinOnce,
    );
  }

  /**
   * A TCP connection to 127.0.0.1:port made inside the sandbox's network namespace: nsenter
   * runs a tiny relay on this very Node binary (nothing to install), stdin/stdout <-> socket.
   */
  async portForward(sandboxId: string, port: number): Promise<Duplex> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RuntimeError('InvalidArgument', `port ${port}`);
    const info = await this.inspectSandbox(sandboxId);
    if (!info.State.Running) throw new RuntimeError('Unknown', `sandbox ${sandboxId} is not running`);
    const relay =
      "const s=require('net').connect(Number(process.argv[1]),'127.0.0.1');" +
      "s.on('error',e=>{process.stderr.write(e.message);process.exit(1)});" +
      "process.stdin.pipe(s);s.pipe(process.stdout);" +
      "s.on('end',()=>process.stdin.destroy());";
    const child = spawn('nsenter', [`--net=/proc/${info.State.Pid}/ns/net`, '--', process.execPath, '-e', relay, String(port)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let errText = '';
    child.stderr.on('data', (b: Buffer) => (errText += b.toString()));
    const duplex = new Duplex({
      read() {
        child.stdout.resume();
      },
      write(chunk, enc, cb) {
        child.stdin.write(chunk, enc, cb);
      },
      final(cb) {
        child.stdin.end(cb);
      },
      destroy(err, cb) {
        child.kill('SIGKILL');
        cb(err);
      },
    });
    child.stdout.on('data', (b: Buffer) => {
      if (!duplex.push(b)) child.stdout.pause();
    });
    child.stdout.on('end', () => duplex.push(null));
    child.stdin.on('error', () => {});
    child.on('exit', (code) => {
      if (code) duplex.destroy(new RuntimeError('Unknown', `port-forward ${port}: ${errText.trim() || `exit ${code}`}`));
    });
    child.on('error', (err) => duplex.destroy(err));
    return duplex;
  }

  // ---- images ----------------------------------------------------------------------------

  async pullImage(image: string): Promise<string> {
    try {
      const stream = (await this.docker.pull(image)) as Readable;
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.followProgress(stream, (err: Error | null, output: Any[]) => {
          if (err) return reject(err);
          const failed = output?.find((o) => o?.error);
          if (failed) reject(new Error(failed.error));
          else resolve();
        });
      });
    } catch (err) {
      const e = mapDockerError(err, `pull ${image}`);
      if (e.code === 'Unavailable') throw e;
      const notFound = e.code === 'NotFound' || /not found|manifest unknown|does not exist|name unknown/i.test(e.message);
      throw new RuntimeError(notFound ? 'ImageNotFound' : 'PullFailed', e.message);
    }
    const info = await this.imageStatus(image);
    if (!info) throw new RuntimeError('PullFailed', `pull ${image}: image missing after pull`);
    return info.id;
  }

  async imageStatus(image: string): Promise<ImageInfo | null> {
    try {
      const i = await this.docker.getImage(image).inspect();
      return { id: i.Id, repoTags: i.RepoTags ?? [], repoDigests: i.RepoDigests ?? [], size: i.Size };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return null;
      throw mapDockerError(err, 'image status');
    }
  }

  async listImages(): Promise<ImageInfo[]> {
    try {
      const list = await this.docker.listImages();
      return list.map((i) => ({ id: i.Id, repoTags: i.RepoTags ?? [], repoDigests: i.RepoDigests ?? [], size: i.Size }));
    } catch (err) {
      throw mapDockerError(err, 'list images');
    }
  }

  async removeImage(image: string): Promise<void> {
    try {
      await this.docker.getImage(image).remove();
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return;
      throw mapDockerError(err, 'remove image');
    }
  }

  // ---- events ----------------------------------------------------------------------------

  onEvent(listener: (e: RuntimeEvent) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) void this.startEvents();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopEvents();
    };
  }

  private async startEvents(): Promise<void> {
    if (this.eventsStream || this.closed) return;
    const actions: Record<string, RuntimeEvent['type']> = { create: 'created', start: 'started', die: 'stopped', destroy: 'deleted' };
    try {
      const stream = (await this.docker.getEvents({
        filters: { type: ['container'], event: Object.keys(actions), label: [`${L.type}=container`] },
      })) as unknown as Readable;
      if (this.listeners.size === 0 || this.closed) {
        stream.destroy();
        return;
      }
      this.eventsStream = stream;
      let buf = '';
      stream.on('data', (chunk: Buffer) => {
        buf += chunk.toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          try {
            const ev = JSON.parse(line) as { Action?: string; status?: string; id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
            const type = actions[ev.Action ?? ev.status ?? ''];
            const id = ev.Actor?.ID ?? ev.id;
            if (!type || !id) continue;
            this.emit({ containerId: id, sandboxId: ev.Actor?.Attributes?.[L.sandboxId], type });
          } catch {
            /* partial or foreign line */
          }
        }
      });
      const restart = () => {
        if (this.eventsStream !== stream) return;
        this.eventsStream = undefined;
        if (this.listeners.size > 0 && !this.closed) this.eventsRetry = setTimeout(() => void this.startEvents(), 1000);
      };
      stream.once('end', restart);
      stream.once('close', restart);
      stream.once('error', restart);
    } catch {
      if (this.listeners.size > 0 && !this.closed) this.eventsRetry = setTimeout(() => void this.startEvents(), 1000);
    }
  }

  private emit(e: RuntimeEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* one listener's bug must not starve the others */
      }
    }
  }

  private stopEvents(): void {
    if (this.eventsRetry) clearTimeout(this.eventsRetry);
    const s = this.eventsStream;
    this.eventsStream = undefined;
    s?.destroy();
  }

  /** Stops event and log streams; containers keep running and a new instance resumes the logs. */
  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.stopEvents();
    await this.resumed;
    const pending = [...this.followers.values()];
    for (const f of pending) f.stream?.destroy();
    await Promise.all(pending.map((f) => f.done));
  }
}
