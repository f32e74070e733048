// An in-memory ContainerRuntime for unit tests of the kubelet logic above it (never instead
// of the real runtime tests). Containers "run" until a test calls exit(); exec answers with
// what `execHandler` says; lifecycle events are emitted like the real runtimes do.
import { PassThrough, type Duplex } from 'node:stream';
import {
  RuntimeError,
  type ContainerConfig,
  type ContainerRuntime,
  type ContainerState,
  type ContainerStatus,
  type ExecOptions,
  type ImageInfo,
  type KeyValueMap,
  type PodSandboxConfig,
  type RuntimeEvent,
  type SandboxState,
  type SandboxStatus,
  type StreamSession,
} from '../../agent/runtime/types.js';

function matches(labels: KeyValueMap, want?: KeyValueMap): boolean {
  return !want || Object.entries(want).every(([k, v]) => labels[k] === v);
}

export class FakeRuntime implements ContainerRuntime {
  readonly name = 'cri' as const;
  sandboxes = new Map<string, SandboxStatus & { config: PodSandboxConfig }>();
  containers = new Map<string, ContainerStatus & { config: ContainerConfig }>();
  images = new Map<string, ImageInfo>([['docker.io/library/busybox:latest', { id: 'sha256:busybox', repoTags: ['docker.io/library/busybox:latest'], repoDigests: [], size: 1 }]]);
  calls: string[] = [];
  pullFails = new Set<string>();
  execHandler: (id: string, cmd: string[]) => { stdout?: string; stderr?: string; exitCode: number } = () => ({ exitCode: 0 });
  private listeners = new Set<(e: RuntimeEvent) => void>();
  private n = 0;
  private ipN = 2;

  private emit(e: RuntimeEvent): void {
    for (const l of this.listeners) l(e);
  }
  async version() {
    return { runtimeName: 'fake', runtimeVersion: '1.0', runtimeApiVersion: 'v1' };
  }
  async status() {
    return { runtimeReady: true, networkReady: true };
  }
  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    this.calls.push('runPodSandbox');
    const id = `sb${++this.n}`;
    this.sandboxes.set(id, {
      id,
      name: config.name,
      namespace: config.namespace,
      uid: config.uid,
      attempt: config.attempt,
      state: 'ready',
      createdAt: new Date(Date.now() + this.n),
      ip: config.hostNetwork ? '' : `10.244.0.${this.ipN++}`,
      labels: config.labels,
      annotations: config.annotations,
      config,
    });
    return id;
  }
  async stopPodSandbox(id: string): Promise<void> {
    this.calls.push('stopPodSandbox');
    const s = this.sandboxes.get(id);
    if (!s) return;
    for (const c of this.containers.values()) if (c.podSandboxId === id && c.state === 'running') this.exit(c.id, 137);
    s.state = 'notready';
  }
  async removePodSandbox(id: string): Promise<void> {
    this.calls.push('removePodSandbox');
    for (const c of [...this.containers.values()]) if (c.podSandboxId === id) this.containers.delete(c.id);
    this.sandboxes.delete(id);
  }
  async podSandboxStatus(id: string): Promise<SandboxStatus> {
    const s = this.sandboxes.get(id);
    if (!s) throw new RuntimeError('NotFound', `sandbox ${id}`);
    return { ...s };
  }
  async listPodSandboxes(filter?: { labels?: KeyValueMap; state?: SandboxState }): Promise<SandboxStatus[]> {
    return [...this.sandboxes.values()].filter((s) => matches(s.labels, filter?.labels) && (!filter?.state || s.state === filter.state)).map((s) => ({ ...s }));
  }
  async createContainer(sandboxId: string, config: ContainerConfig, sandbox: PodSandboxConfig): Promise<string> {
    this.calls.push(`createContainer:${config.name}`);
    if (!this.sandboxes.has(sandboxId)) throw new RuntimeError('NotFound', 'no sandbox');
    const id = `c${++this.n}`;
    this.containers.set(id, {
      id,
      podSandboxId: sandboxId,
      name: config.name,
      attempt: config.attempt,
      image: config.image,
      imageRef: config.image,
      state: 'created',
      createdAt: new Date(Date.now() + this.n),
      exitCode: 0,
      reason: '',
      message: '',
      labels: config.labels,
      annotations: config.annotations,
      logPath: `${sandbox.logDirectory}/${config.logPath}`,
      config,
    });
    this.emit({ containerId: id, sandboxId, type: 'created' });
    return id;
  }
  async startContainer(id: string): Promise<void> {
    this.calls.push(`startContainer:${this.containers.get(id)?.name}`);
    const c = this.containers.get(id)!;
    c.state = 'running';
    c.startedAt = new Date();
    this.emit({ containerId: id, sandboxId: c.podSandboxId, type: 'started' });
  }
  /** Test control: the container's process exits. */
  exit(id: string, code: number, reason?: string): void {
    const c = this.containers.get(id);
    if (!c || c.state !== 'running') return;
    c.state = 'exited';
    c.exitCode = code;
    c.reason = reason ?? (code === 0 ? 'Completed' : 'Error');
    c.finishedAt = new Date();
    this.emit({ containerId: id, sandboxId: c.podSandboxId, type: 'stopped' });
  }
  async stopContainer(id: string, _timeoutSeconds: number): Promise<void> {
    this.calls.push(`stopContainer:${this.containers.get(id)?.name}`);
    this.exit(id, 137);
  }
  async removeContainer(id: string): Promise<void> {
    this.calls.push('removeContainer');
    this.containers.delete(id);
  }
  async listContainers(filter?: { podSandboxId?: string; labels?: KeyValueMap; state?: ContainerState }): Promise<ContainerStatus[]> {
    return [...this.containers.values()]
      .filter((c) => matches(c.labels, filter?.labels) && (!filter?.podSandboxId || c.podSandboxId === filter.podSandboxId) && (!filter?.state || c.state === filter.state))
      .map((c) => ({ ...c }));
  }
  async containerStatus(id: string): Promise<ContainerStatus> {
    const c = this.containers.get(id);
    if (!c) throw new RuntimeError('NotFound', `container ${id}`);
    return { ...c };
  }
  reopened: string[] = [];
  async reopenContainerLog(id: string): Promise<void> {
    const c = this.containers.get(id);
    if (!c || c.state !== 'running') throw new RuntimeError('Unknown', `container ${id} is not running`);
    this.reopened.push(id);
    const { mkdir, writeFile } = await import('node:fs/promises');
    const { dirname } = await import('node:path');
    await mkdir(dirname(c.logPath), { recursive: true });
    await writeFile(c.logPath, '', { flag: 'a' });
  }
  async execSync(id: string, cmd: string[]) {
    const r = this.execHandler(id, cmd);
    return { stdout: Buffer.from(r.stdout ?? ''), stderr: Buffer.from(r.stderr ?? ''), exitCode: r.exitCode };
  }
  async exec(id: string, cmd: string[], opts: ExecOptions): Promise<StreamSession> {
    // Echo stdin back to stdout; exit with the code the handler says once stdin ends.
    let resolveDone!: (n: number) => void;
    const done = new Promise<number>((r) => (resolveDone = r));
    const sizes: string[] = [];
    opts.stdin?.on('data', (d: Buffer) => opts.stdout?.write(d));
    const finish = () => {
      const r = this.execHandler(id, cmd);
      if (r.stdout) opts.stdout?.write(r.stdout + sizes.join(''));
      if (r.stderr) (opts.tty ? opts.stdout : opts.stderr)?.write(r.stderr);
      resolveDone(r.exitCode);
    };
    if (opts.stdin) opts.stdin.on('end', finish);
    else setImmediate(finish);
    return { resize: (c, r) => sizes.push(`[${c}x${r}]`), done, close: () => resolveDone(0) };
  }
  async attach(id: string, opts: ExecOptions): Promise<StreamSession> {
    return this.exec(id, [], opts);
  }
  async portForward(_sandboxId: string, port: number): Promise<Duplex> {
    // An echo server "inside the pod" that prefixes the port.
    const a = new PassThrough();
    const b = new PassThrough();
    const { Duplex } = await import('node:stream');
    const d = Duplex.from({ readable: b, writable: a });
    a.on('data', (x: Buffer) => b.write(Buffer.concat([Buffer.from(`${port}:`), x])));
    a.on('end', () => b.end());
    return d;
  }
  async pullImage(image: string): Promise<string> {
    this.calls.push(`pullImage:${image}`);
    if (this.pullFails.has(image)) throw new RuntimeError('ImageNotFound', `failed to resolve reference "${image}": not found`);
    const info = { id: `sha256:${image}`, repoTags: [image], repoDigests: [], size: 1 };
    this.images.set(image, info);
    return info.id;
  }
  async imageStatus(image: string): Promise<ImageInfo | null> {
    return this.images.get(image) ?? null;
  }
  async listImages(): Promise<ImageInfo[]> {
    return [...this.images.values()];
  }
  async removeImage(image: string): Promise<void> {
    this.images.delete(image);
  }
  onEvent(listener: (e: RuntimeEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  async close(): Promise<void> {}
}
