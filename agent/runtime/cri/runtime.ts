// ContainerRuntime over the CRI runtime.v1 gRPC API (containerd's CRI plugin). A thin
// mapping: containerd runs the pause container, CNI and the CRI log files itself.
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
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
import { loadCriServices, nanosToDate, type DynamicClient } from './client.js';
import { portForwardStream, remoteCommandSession } from './stream.js';

export interface CriRuntimeOptions {
  /** unix:///run/containerd/containerd.sock */
  endpoint: string;
  /** Per-call deadline (pulls get their own, longer one). */
  timeoutMs?: number;
  pullTimeoutMs?: number;
  /** ListContainers poll period for onEvent when the runtime has no GetContainerEvents. */
  eventPollMs?: number;
  runtimeHandler?: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = Record<string, any>;

const STATE_FROM_CRI: Record<string, ContainerState> = {
  CONTAINER_CREATED: 'created',
  CONTAINER_RUNNING: 'running',
  CONTAINER_EXITED: 'exited',
  CONTAINER_UNKNOWN: 'unknown',
};
const STATE_TO_CRI: Record<ContainerState, string> = {
  created: 'CONTAINER_CREATED',
  running: 'CONTAINER_RUNNING',
  exited: 'CONTAINER_EXITED',
  unknown: 'CONTAINER_UNKNOWN',
};

export function mapGrpcError(err: unknown, what: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const e = err as grpc.ServiceError;
  const details = e?.details || e?.message || String(err);
  const msg = `${what}: ${details}`;
  switch (e?.code) {
    case grpc.status.NOT_FOUND:
      return new RuntimeError('NotFound', msg);
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return new RuntimeError('Unavailable', msg);
    case grpc.status.INVALID_ARGUMENT:
      return new RuntimeError('InvalidArgument', msg);
    default:
      // containerd wraps errdefs.ErrNotFound into Unknown in places.
      if (/not found|does not exist/i.test(details)) return new RuntimeError('NotFound', msg);
      return new RuntimeError('Unknown', msg);
  }
}

function sandboxConfigToCri(c: PodSandboxConfig): Msg {
  return {
    metadata: { name: c.name, uid: c.uid, namespace: c.namespace, attempt: c.attempt },
    hostname: c.hostNetwork ? '' : c.hostname,
    log_directory: c.logDirectory,
    dns_config: c.dnsConfig ?? null,
    port_mappings: c.portMappings.map((p) => ({
      protocol: p.protocol,
      container_port: p.containerPort,
      host_port: p.hostPort,
      host_ip: p.hostIp ?? '',
    })),
    labels: c.labels,
    annotations: c.annotations,
    linux: {
      cgroup_parent: c.cgroupParent ?? '',
      security_context: {
        namespace_options: {
          network: c.hostNetwork ? 'NODE' : 'POD',
          pid: c.sharePid ? 'POD' : 'CONTAINER',
          ipc: 'POD',
        },
        privileged: c.privileged ?? false,
      },
    },
  };
}

function containerConfigToCri(c: ContainerConfig, sandbox: PodSandboxConfig): Msg {
  const sec = c.security;
  const res = c.resources;
  return {
    metadata: { name: c.name, attempt: c.attempt },
    image: { image: c.image },
    command: c.command,
    args: c.args,
    working_dir: c.workingDir ?? '',
    envs: c.env.map((e) => ({ key: e.name, value: e.value })),
    mounts: c.mounts.map((m) => ({
      container_path: m.containerPath,
      host_path: m.hostPath,
      readonly: m.readonly,
      selinux_relabel: m.selinuxRelabel ?? false,
    })),
    labels: c.labels,
    annotations: c.annotations,
    log_path: c.logPath,
    stdin: c.stdin,
    stdin_once: c.stdinOnce,
    tty: c.tty,
    linux: {
      resources: {
        cpu_period: res.cpuPeriod ?? 0,
        cpu_quota: res.cpuQuota ?? 0,
        cpu_shares: res.cpuShares ?? 0,
        memory_limit_in_bytes: res.memoryLimitBytes ?? 0,
      },
      security_context: {
        capabilities: { add_capabilities: sec.capAdd ?? [], drop_capabilities: sec.capDrop ?? [] },
        privileged: sec.privileged ?? false,
        namespace_options: {
          network: sandbox.hostNetwork ? 'NODE' : 'POD',
          pid: sandbox.sharePid ? 'POD' : 'CONTAINER',
          ipc: 'POD',
        },
        run_as_user: sec.runAsUser !== undefined ? { value: sec.runAsUser } : null,
        run_as_group: sec.runAsGroup !== undefined ? { value: sec.runAsGroup } : null,
        readonly_rootfs: sec.readOnlyRootfs ?? false,
      },
    },
  };
}

function sandboxFromCri(s: Msg, ip = '', netnsPath?: string): SandboxStatus {
  return {
    id: s.id,
    name: s.metadata?.name ?? '',
    namespace: s.metadata?.namespace ?? '',
    uid: s.metadata?.uid ?? '',
    attempt: s.metadata?.attempt ?? 0,
    state: s.state === 'SANDBOX_READY' ? 'ready' : 'notready',
    createdAt: nanosToDate(s.created_at) ?? new Date(0),
    ip,
    labels: s.labels ?? {},
    annotations: s.annotations ?? {},
    netnsPath,
  };
}

function containerFromCri(c: Msg): ContainerStatus {
  return {
    id: c.id,
    podSandboxId: c.pod_sandbox_id ?? '',
    name: c.metadata?.name ?? '',
    attempt: c.metadata?.attempt ?? 0,
    image: c.image?.image ?? '',
    imageRef: c.image_ref ?? '',
    state: STATE_FROM_CRI[c.state] ?? 'unknown',
    createdAt: nanosToDate(c.created_at) ?? new Date(0),
    startedAt: nanosToDate(c.started_at),
    finishedAt: nanosToDate(c.finished_at),
    exitCode: c.exit_code ?? 0,
    reason: c.reason ?? '',
    message: c.message ?? '',
    labels: c.labels ?? {},
    annotations: c.annotations ?? {},
    logPath: c.log_path ?? '',
  };
}

function imageFromCri(i: Msg): ImageInfo {
  return { id: i.id, repoTags: i.repo_tags ?? [], repoDigests: i.repo_digests ?? [], size: Number(i.size ?? 0) };
}

export class CriRuntime implements ContainerRuntime {
  readonly name = 'cri' as const;
  private readonly rt: DynamicClient;
  private readonly img: DynamicClient;
  private readonly timeoutMs: number;
  private readonly pullTimeoutMs: number;
  private readonly eventPollMs: number;
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();
  private poller?: NodeJS.Timeout;
  private eventStream?: grpc.ClientReadableStream<Msg>;
  private known = new Map<string, { state: ContainerState; sandboxId: string }>();
  private polling = false;

  constructor(private readonly opts: CriRuntimeOptions) {
    const { RuntimeService, ImageService } = loadCriServices();
    const creds = grpc.credentials.createInsecure();
    // CRI responses (ListContainers on a busy node) can exceed grpc's 4 MiB default.
    const chOpts = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    this.rt = new RuntimeService(opts.endpoint, creds, chOpts);
    this.img = new ImageService(opts.endpoint, creds, chOpts);
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.pullTimeoutMs = opts.pullTimeoutMs ?? 600_000;
    this.eventPollMs = opts.eventPollMs ?? 150;
  }

  private call<T = Msg>(client: DynamicClient, method: string, req: Msg, timeoutMs = this.timeoutMs): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      client[method](req, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: T) => {
        if (err) reject(mapGrpcError(err, method));
        else resolve(res);
      });
    });
  }

  async version() {
    const r = await this.call(this.rt, 'Version', { version: 'v1' });
    return { runtimeName: r.runtime_name, runtimeVersion: r.runtime_version, runtimeApiVersion: r.runtime_api_version };
  }

  async status() {
    let r: Msg;
    try {
      r = await this.call(this.rt, 'Status', { verbose: false }, 10_000);
    } catch (err) {
      // Same contract as the docker runtime: a down runtime is a status, not an exception.
      return { runtimeReady: false, networkReady: false, message: (err as Error).message };
    }
    const conds: Msg[] = r.status?.conditions ?? [];
    const get = (t: string) => conds.find((c) => c.type === t);
    const bad = conds.filter((c) => !c.status).map((c) => `${c.type}: ${c.reason} ${c.message}`.trim());
    return {
      runtimeReady: !!get('RuntimeReady')?.status,
      networkReady: !!get('NetworkReady')?.status,
      message: bad.length ? bad.join('; ') : undefined,
    };
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const r = await this.call(this.rt, 'RunPodSandbox', {
      config: sandboxConfigToCri(config),
      runtime_handler: this.opts.runtimeHandler ?? '',
    });
    return r.pod_sandbox_id;
  }

  async stopPodSandbox(id: string): Promise<void> {
    try {
      await this.call(this.rt, 'StopPodSandbox', { pod_sandbox_id: id });
    } catch (err) {
      if ((err as RuntimeError).code !== 'NotFound') throw err;
    }
  }

  async removePodSandbox(id: string): Promise<void> {
    try {
      await this.call(this.rt, 'RemovePodSandbox', { pod_sandbox_id: id });
    } catch (err) {
      if ((err as RuntimeError).code !== 'NotFound') throw err;
    }
  }

  async podSandboxStatus(id: string): Promise<SandboxStatus> {
    const r = await this.call(this.rt, 'PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    let netnsPath: string | undefined;
    try {
      // containerd's verbose info: {"runtimeSpec": {"linux": {"namespaces": [{type, path}]}}}
      const info = JSON.parse(r.info?.info ?? '{}') as Msg;
      const ns = (info.runtimeSpec?.linux?.namespaces ?? []) as { type: string; path?: string }[];
      netnsPath = ns.find((n) => n.type === 'network')?.path || undefined;
      if (!netnsPath && info.pid) netnsPath = `/proc/${info.pid}/ns/net`;
    } catch {
      /* info is best-effort */
    }
    return sandboxFromCri(r.status, r.status?.network?.ip ?? '', netnsPath);
  }

  async listPodSandboxes(filter?: { labels?: KeyValueMap; state?: SandboxState }): Promise<SandboxStatus[]> {
    const f: Msg = {};
    if (filter?.labels) f.label_selector = filter.labels;
    if (filter?.state) f.state = { state: filter.state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY' };
    const r = await this.call(this.rt, 'ListPodSandbox', { filter: f });
    return (r.items ?? []).map((s: Msg) => sandboxFromCri(s));
  }

  async createContainer(sandboxId: string, config: ContainerConfig, sandbox: PodSandboxConfig): Promise<string> {
    const r = await this.call(this.rt, 'CreateContainer', {
      pod_sandbox_id: sandboxId,
      config: containerConfigToCri(config, sandbox),
      sandbox_config: sandboxConfigToCri(sandbox),
    });
    return r.container_id;
  }

  async startContainer(id: string): Promise<void> {
    await this.call(this.rt, 'StartContainer', { container_id: id });
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    try {
      await this.call(this.rt, 'StopContainer', { container_id: id, timeout: timeoutSeconds }, this.timeoutMs + timeoutSeconds * 1000);
    } catch (err) {
      if ((err as RuntimeError).code !== 'NotFound') throw err;
    }
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.call(this.rt, 'RemoveContainer', { container_id: id });
    } catch (err) {
      if ((err as RuntimeError).code !== 'NotFound') throw err;
    }
  }

  async listContainers(filter?: { podSandboxId?: string; labels?: KeyValueMap; state?: ContainerState }): Promise<ContainerStatus[]> {
    const r = await this.call(this.rt, 'ListContainers', { filter: this.containerFilter(filter) });
    return (r.containers ?? []).map((c: Msg) => containerFromCri(c));
  }

  private containerFilter(filter?: { podSandboxId?: string; labels?: KeyValueMap; state?: ContainerState }): Msg {
    const f: Msg = {};
    if (filter?.podSandboxId) f.pod_sandbox_id = filter.podSandboxId;
    if (filter?.labels) f.label_selector = filter.labels;
    if (filter?.state) f.state = { state: STATE_TO_CRI[filter.state] };
    return f;
  }

  async containerStatus(id: string): Promise<ContainerStatus> {
    const r = await this.call(this.rt, 'ContainerStatus', { container_id: id, verbose: false });
    // ContainerStatus carries no sandbox id; ListContainers does.
    const st = containerFromCri(r.status);
    if (!st.podSandboxId) {
      const l = await this.call(this.rt, 'ListContainers', { filter: { id } });
      st.podSandboxId = l.containers?.[0]?.pod_sandbox_id ?? '';
    }
    return st;
  }

  async execSync(id: string, cmd: string[], timeoutSeconds: number) {
    const r = await this.call(
      this.rt,
      'ExecSync',
      { container_id: id, cmd, timeout: timeoutSeconds },
      timeoutSeconds > 0 ? timeoutSeconds * 1000 + 10_000 : this.timeoutMs,
    );
    return { stdout: Buffer.from(r.stdout ?? []), stderr: Buffer.from(r.stderr ?? []), exitCode: r.exit_code ?? 0 };
  }

  async exec(id: string, cmd: string[], opts: ExecOptions): Promise<StreamSession> {
    const r = await this.call(this.rt, 'Exec', {
      container_id: id,
      cmd,
      tty: opts.tty,
      stdin: !!opts.stdin,
      stdout: true,
      stderr: !opts.tty,
    });
    return remoteCommandSession(r.url, opts, 'exec');
  }

  async attach(id: string, opts: ExecOptions): Promise<StreamSession> {
    const r = await this.call(this.rt, 'Attach', {
      container_id: id,
      stdin: !!opts.stdin,
      tty: opts.tty,
      stdout: true,
      stderr: !opts.tty,
    });
    return remoteCommandSession(r.url, opts, 'attach');
  }

  async portForward(sandboxId: string, port: number): Promise<Duplex> {
    const r = await this.call(this.rt, 'PortForward', { pod_sandbox_id: sandboxId, port: [port] });
    return portForwardStream(r.url);
  }

  async pullImage(image: string): Promise<string> {
    try {
      const r = await this.call(this.img, 'PullImage', { image: { image } }, this.pullTimeoutMs);
      return r.image_ref;
    } catch (err) {
      const e = err as RuntimeError;
      if (e.code === 'Unavailable' && !/deadline/i.test(e.message)) throw e;
      const notFound = /not found|manifest unknown|name unknown|404/i.test(e.message);
      throw new RuntimeError(notFound ? 'ImageNotFound' : 'PullFailed', e.message);
    }
  }

  async imageStatus(image: string): Promise<ImageInfo | null> {
    const r = await this.call(this.img, 'ImageStatus', { image: { image }, verbose: false });
    return r.image ? imageFromCri(r.image) : null;
  }

  async listImages(): Promise<ImageInfo[]> {
    const r = await this.call(this.img, 'ListImages', {});
    return (r.images ?? []).map((i: Msg) => imageFromCri(i));
  }

  async removeImage(image: string): Promise<void> {
    try {
      await this.call(this.img, 'RemoveImage', { image: { image } });
    } catch (err) {
      if ((err as RuntimeError).code !== 'NotFound') throw err;
    }
  }

  onEvent(listener: (e: RuntimeEvent) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) this.startEvents();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stopEvents();
    };
  }

  private emit(e: RuntimeEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        /* a listener's bug must not stop the others */
      }
    }
  }

  private startEvents(): void {
    // Prefer the runtime's event stream (containerd >= 1.7); 1.6 answers Unimplemented and we
    // fall back to diffing ListContainers, which costs one cheap local RPC per period.
    const stream = this.rt.GetContainerEvents({}) as grpc.ClientReadableStream<Msg>;
    this.eventStream = stream;
    const typeMap: Record<string, RuntimeEvent['type']> = {
      CONTAINER_CREATED_EVENT: 'created',
      CONTAINER_STARTED_EVENT: 'started',
      CONTAINER_STOPPED_EVENT: 'stopped',
      CONTAINER_DELETED_EVENT: 'deleted',
    };
    stream.on('data', (ev: Msg) => {
      const type = typeMap[ev.container_event_type];
      if (type) this.emit({ containerId: ev.container_id, sandboxId: ev.pod_sandbox_status?.id || undefined, type });
    });
    stream.on('error', (err: grpc.ServiceError) => {
      if (this.eventStream !== stream) return;
      this.eventStream = undefined;
      if (this.listeners.size === 0) return;
      if (err.code === grpc.status.UNIMPLEMENTED) this.startPolling();
      else setTimeout(() => this.listeners.size > 0 && !this.eventStream && !this.poller && this.startEvents(), 1000).unref();
    });
  }

  private startPolling(): void {
    if (this.poller) return;
    const tick = async () => {
      if (this.polling) return;
      this.polling = true;
      try {
        const list = await this.listContainers();
        const seen = new Set<string>();
        const first = this.known.size === 0 && !this.pollPrimed;
        for (const c of list) {
          seen.add(c.id);
          const prev = this.known.get(c.id);
          this.known.set(c.id, { state: c.state, sandboxId: c.podSandboxId });
          if (first) continue; // the first listing is the baseline, not news
          const base = { containerId: c.id, sandboxId: c.podSandboxId };
          if (!prev) {
            this.emit({ ...base, type: 'created' });
            if (c.state === 'running' || c.state === 'exited') this.emit({ ...base, type: 'started' });
            if (c.state === 'exited') this.emit({ ...base, type: 'stopped' });
          } else if (prev.state !== c.state) {
            if (c.state === 'running') this.emit({ ...base, type: 'started' });
            else if (c.state === 'exited') {
              if (prev.state === 'created') this.emit({ ...base, type: 'started' });
              this.emit({ ...base, type: 'stopped' });
            }
          }
        }
        for (const [id, prev] of this.known) {
          if (!seen.has(id)) {
            this.known.delete(id);
            this.emit({ containerId: id, sandboxId: prev.sandboxId, type: 'deleted' });
          }
        }
        this.pollPrimed = true;
      } catch {
        /* runtime briefly unavailable: next tick */
      } finally {
        this.polling = false;
      }
    };
    this.poller = setInterval(() => void tick(), this.eventPollMs);
    this.poller.unref();
    void tick();
  }
  private pollPrimed = false;

  private stopEvents(): void {
    this.eventStream?.cancel();
    this.eventStream = undefined;
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    this.known.clear();
    this.pollPrimed = false;
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.stopEvents();
    this.rt.close();
    this.img.close();
  }
}
