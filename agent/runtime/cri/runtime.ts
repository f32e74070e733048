// ContainerRuntime over the CRI runtime.v1 gRPC API (containerd's CRI plugin). A thin
// mapping: containerd runs the pause container, CNI and the CRI log files itself.
import type { Duplex } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
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
import { grpcJs, loadCriServices, nanosToDate, type DynamicClient } from './client.js';
import { K8TS_HOSTPORT_HANDLER } from './config.js';
import { portForwardStream, remoteCommandSession } from './stream.js';

export interface CriRuntimeOptions {
  /** unix:///run/containerd/containerd.sock */
  endpoint: string;
  /** Per-call deadline (pulls get their own, longer one). */
  timeoutMs?: number;
  pullTimeoutMs?: number;
  /** ListContainers poll period for onEvent when the runtime has no GetContainerEvents. */
  eventPollMs?: number;
  /** The same poll while containerd's own event stream triggers the listings (safety net). */
  slowPollMs?: number;
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

/** Minimum gap between event-triggered ListContainers (see pollSoon). */
const EVENT_LIST_GAP_MS = 150;

/** containerd's namespace for CRI objects. */
const CRI_NAMESPACE = 'k8s.io';

/** Protobuf: a repeated string field (wire type 2) with the given field number. */
function encodeStrings(field: number, values: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) {
    const b = Buffer.from(v, 'utf8');
    const len: number[] = [];
    for (let n = b.length; ; n >>>= 7) {
      if (n < 0x80) {
        len.push(n);
        break;
      }
      len.push((n & 0x7f) | 0x80);
    }
    parts.push(Buffer.from([(field << 3) | 2, ...len]), b);
  }
  return Buffer.concat(parts);
}

/** Protobuf: the first string field `field` of a message, skipping every other field. */
export function protoStringField(buf: Buffer, field: number): string | undefined {
  let i = 0;
  const varint = (): number => {
    let x = 0;
    for (let shift = 0; i < buf.length && shift < 64; shift += 7) {
      const b = buf[i++]!;
      x += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return x;
    }
    throw new Error('truncated varint');
  };
  try {
    while (i < buf.length) {
      const key = varint();
      const wt = key & 7;
      if (wt === 0) varint();
      else if (wt === 1) i += 8;
      else if (wt === 5) i += 4;
      else if (wt === 2) {
        const n = varint();
        if (key >>> 3 === field) return buf.toString('utf8', i, i + n);
        i += n;
      } else return undefined;
    }
  } catch {
    /* malformed: treat as absent */
  }
  return undefined;
}

// gRPC status codes (fixed by the gRPC spec), so mapping errors needs no grpc-js import.
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_NOT_FOUND = 5;
const GRPC_UNIMPLEMENTED = 12;
const GRPC_UNAVAILABLE = 14;

export function mapGrpcError(err: unknown, what: string): RuntimeError {
  if (err instanceof RuntimeError) return err;
  const e = err as grpc.ServiceError;
  const details = e?.details || e?.message || String(err);
  const msg = `${what}: ${details}`;
  switch (e?.code) {
    case GRPC_NOT_FOUND:
      return new RuntimeError('NotFound', msg);
    case GRPC_UNAVAILABLE:
    case GRPC_DEADLINE_EXCEEDED:
      return new RuntimeError('Unavailable', msg);
    case GRPC_INVALID_ARGUMENT:
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
  private readonly slowPollMs: number;
  private readonly listeners = new Set<(e: RuntimeEvent) => void>();
  private poller?: NodeJS.Timeout;
  private eventStream?: grpc.ClientReadableStream<Msg>;
  private known = new Map<string, { state: ContainerState; sandboxId: string }>();
  private polling = false;

  constructor(private readonly opts: CriRuntimeOptions) {
    const { RuntimeService, ImageService } = loadCriServices();
    const creds = grpcJs().credentials.createInsecure();
    // CRI responses (ListContainers on a busy node) can exceed grpc's 4 MiB default.
    const chOpts = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };
    this.rt = new RuntimeService(opts.endpoint, creds, chOpts);
    this.img = new ImageService(opts.endpoint, creds, chOpts);
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.pullTimeoutMs = opts.pullTimeoutMs ?? 600_000;
    this.eventPollMs = opts.eventPollMs ?? 150;
    this.slowPollMs = opts.slowPollMs ?? 2_000;
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
    let handler = this.opts.runtimeHandler ?? '';
    // Only pods with hostPorts pay for portmap (see containerdConfig): a containerd not
    // configured by k8ts has no such handler, and then its default network serves them.
    const auto = !this.opts.runtimeHandler && !config.hostNetwork && this.hostPortHandler && config.portMappings.some((p) => p.hostPort > 0);
    if (auto) handler = K8TS_HOSTPORT_HANDLER;
    try {
      const r = await this.call(this.rt, 'RunPodSandbox', { config: sandboxConfigToCri(config), runtime_handler: handler });
      return r.pod_sandbox_id;
    } catch (err) {
      if (!auto || !/no runtime for/i.test((err as Error).message)) throw err;
      this.hostPortHandler = false;
      const r = await this.call(this.rt, 'RunPodSandbox', { config: sandboxConfigToCri(config), runtime_handler: '' });
      return r.pod_sandbox_id;
    }
  }
  private hostPortHandler = true;

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

  async reopenContainerLog(id: string): Promise<void> {
    await this.call(this.rt, 'ReopenContainerLog', { container_id: id });
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
      if (err.code === GRPC_UNIMPLEMENTED) this.startPolling();
      else setTimeout(() => this.listeners.size > 0 && !this.eventStream && !this.poller && this.startEvents(), 1000).unref();
    });
  }

  private startPolling(): void {
    if (this.poller) return;
    const tick = async (): Promise<void> => {
      if (this.polling) {
        // An event arrived during a listing that may predate it: list once more afterwards.
        this.pollAgain = true;
        return;
      }
      this.polling = true;
      this.pollAgain = false;
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
        if (this.pollAgain) void tick();
      }
    };
    this.pollTick = tick;
    this.poller = setInterval(() => void tick(), this.eventPollMs);
    this.poller.unref();
    void tick();
    this.subscribeTaskEvents();
  }
  private pollPrimed = false;
  private pollAgain = false;
  private followUps: NodeJS.Timeout[] = [];

  /**
   * containerd publishes a task event before its CRI plugin has updated the container's
   * status (the exit handler and StartContainer's bookkeeping run after it), so one listing
   * right at the event can still show the old state: list at once and again shortly after.
   * Listings are at least EVENT_LIST_GAP_MS apart: a burst of pod starts sends hundreds of
   * events, and listing every container for each would load containerd more than the plain
   * poll did (with a 150 ms gap a burst costs what the old fixed poll did; a lone event, an
   * exit, is listed at once).
   */
  private pollSoon(): void {
    const now = performance.now();
    if (!this.soonTimer) {
      const wait = Math.max(0, this.lastEventListAt + EVENT_LIST_GAP_MS - now);
      this.soonTimer = setTimeout(() => {
        this.soonTimer = undefined;
        this.lastEventListAt = performance.now();
        void this.pollTick?.();
      }, wait);
      this.soonTimer.unref();
    }
    // Relative to the latest event: an exit is followed by /tasks/delete, and the status
    // changes only after that.
    for (const t of this.followUps) clearTimeout(t);
    this.followUps = [];
    for (const ms of [150, 400]) {
      const t = setTimeout(() => {
        this.followUps = this.followUps.filter((x) => x !== t);
        void this.pollTick?.();
      }, ms);
      t.unref();
      this.followUps.push(t);
    }
  }
  private soonTimer?: NodeJS.Timeout;
  private lastEventListAt = 0;
  private pollTick?: () => Promise<void>;
  private taskEvents?: grpc.ClientReadableStream<Buffer>;

  /**
   * containerd 1.6 has no CRI GetContainerEvents, but its own Events service on the same
   * socket streams every task/container change. Each one triggers the ListContainers diff
   * at once, so exits are seen in milliseconds and the fixed poll drops to a slow safety
   * net (an idle node with 20 pods no longer lists and decodes every container 7 times a
   * second, which cost CPU and grew the agent's young heap). Only the topic is decoded; the
   * diff stays the single source of events. Other CRI runtimes answer Unimplemented and
   * keep the fast poll.
   */
  private subscribeTaskEvents(): void {
    const stream = this.rt.makeServerStreamRequest(
      '/containerd.services.events.v1.Events/Subscribe',
      (filters: string[]) => encodeStrings(1, filters),
      (buf: Buffer) => buf,
      [`namespace==${CRI_NAMESPACE}`],
      new (grpcJs().Metadata)(),
      {},
    );
    this.taskEvents = stream;
    let slowed = false;
    const slowDown = () => {
      if (slowed || this.taskEvents !== stream || !this.poller) return;
      // The subscription is live: the interval is only a safety net from now on.
      slowed = true;
      clearInterval(this.poller);
      this.poller = setInterval(() => void this.pollTick?.(), this.slowPollMs);
      this.poller.unref();
    };
    // A runtime without the service fails the call at once; one that still has it open
    // after a second (or sent headers or an event) is live.
    const live = setTimeout(slowDown, 1000);
    live.unref();
    stream.on('metadata', slowDown);
    stream.on('data', (buf: Buffer) => {
      slowDown();
      const topic = protoStringField(buf, 3) ?? '';
      if (topic.startsWith('/tasks/') || topic.startsWith('/containers/')) this.pollSoon();
    });
    stream.on('error', (err: grpc.ServiceError) => {
      clearTimeout(live);
      if (this.taskEvents !== stream) return;
      this.taskEvents = undefined;
      if (slowed && this.poller) {
        clearInterval(this.poller);
        this.poller = setInterval(() => void this.pollTick?.(), this.eventPollMs);
        this.poller.unref();
      }
      // Unimplemented (not containerd) stays on the fast poll; anything else (containerd
      // restarting) resubscribes while someone listens.
      if (err.code !== GRPC_UNIMPLEMENTED) {
        setTimeout(() => {
          if (this.pollTick && !this.taskEvents) this.subscribeTaskEvents();
        }, 2000).unref();
      }
    });
  }

  private stopEvents(): void {
    const te = this.taskEvents;
    this.taskEvents = undefined;
    te?.cancel();
    this.pollTick = undefined;
    for (const t of this.followUps) clearTimeout(t);
    this.followUps = [];
    clearTimeout(this.soonTimer);
    this.soonTimer = undefined;
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
