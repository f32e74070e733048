// The one runtime interface the kubelet uses. Shaped after CRI runtime.v1 so the `cri`
// implementation is a thin gRPC mapping; the `docker` implementation provides the same
// semantics on dockerode (our pause container as the sandbox, CNI run by us, CRI-format
// log files written by us).
import type { Duplex, Readable, Writable } from 'node:stream';

export interface KeyValueMap {
  [k: string]: string;
}

export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface PodSandboxConfig {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  hostname: string;
  /** Directory for the pod's container logs: /var/log/pods/<ns>_<name>_<uid> (by default). */
  logDirectory: string;
  labels: KeyValueMap;
  annotations: KeyValueMap;
  hostNetwork: boolean;
  portMappings: PortMapping[];
  dnsConfig?: { servers: string[]; searches: string[]; options: string[] };
  /** Share one PID namespace across the pod's containers (spec.shareProcessNamespace). */
  sharePid: boolean;
  cgroupParent?: string;
  /** Some container of the pod is privileged (CRI refuses privileged containers otherwise). */
  privileged?: boolean;
}

export type SandboxState = 'ready' | 'notready';

export interface SandboxStatus {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  state: SandboxState;
  createdAt: Date;
  /** Pod IP (empty for hostNetwork or when not networked). */
  ip: string;
  labels: KeyValueMap;
  annotations: KeyValueMap;
  /** /var/run/netns/... or /proc/<pid>/ns/net: where `k8ts node net` looks. */
  netnsPath?: string;
}

export interface Mount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  /** Set when mounting a single file or directory from a subPath. */
  selinuxRelabel?: boolean;
}

export interface ContainerResources {
  cpuPeriod?: number; // microseconds
  cpuQuota?: number; // microseconds per period (limits.cpu)
  cpuShares?: number; // from requests.cpu
  memoryLimitBytes?: number;
}

export interface ContainerSecurity {
  runAsUser?: number;
  runAsGroup?: number;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  readOnlyRootfs?: boolean;
}

export interface ContainerConfig {
  name: string;
  attempt: number;
  image: string; // a reference the runtime has (image id or name)
  command: string[]; // entrypoint override (empty = image's)
  args: string[];
  workingDir?: string;
  env: { name: string; value: string }[];
  mounts: Mount[];
  labels: KeyValueMap;
  annotations: KeyValueMap;
  /** Relative to the sandbox's logDirectory: <container>/<restartCount>.log */
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  resources: ContainerResources;
  security: ContainerSecurity;
}

export type ContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface ContainerStatus {
  id: string;
  podSandboxId: string;
  name: string;
  attempt: number;
  image: string;
  imageRef: string;
  state: ContainerState;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  exitCode: number;
  /** e.g. 'OOMKilled', 'Error', 'Completed' */
  reason: string;
  message: string;
  labels: KeyValueMap;
  annotations: KeyValueMap;
  /** Absolute path of the CRI-format log file. */
  logPath: string;
}

export interface ImageInfo {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: number;
}

export interface ExecOptions {
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable; // ignored with tty (merged into stdout)
  tty: boolean;
}

/** An interactive exec or attach session. */
export interface StreamSession {
  resize(cols: number, rows: number): void;
  /** Resolves with the exit code when the process ends (attach: when the stream ends). */
  done: Promise<number>;
  /** Ends the session (closes stdin). */
  close(): void;
}

export interface RuntimeEvent {
  containerId: string;
  sandboxId?: string;
  type: 'created' | 'started' | 'stopped' | 'deleted';
}

export interface ContainerRuntime {
  readonly name: 'cri' | 'docker';
  version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }>;
  status(): Promise<{ runtimeReady: boolean; networkReady: boolean; message?: string }>;

  runPodSandbox(config: PodSandboxConfig): Promise<string>;
  stopPodSandbox(id: string): Promise<void>;
  removePodSandbox(id: string): Promise<void>;
  podSandboxStatus(id: string): Promise<SandboxStatus>;
  listPodSandboxes(filter?: { labels?: KeyValueMap; state?: SandboxState }): Promise<SandboxStatus[]>;

  createContainer(sandboxId: string, config: ContainerConfig, sandbox: PodSandboxConfig): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** SIGTERM, then SIGKILL after timeoutSeconds. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  removeContainer(id: string): Promise<void>;
  listContainers(filter?: { podSandboxId?: string; labels?: KeyValueMap; state?: ContainerState }): Promise<ContainerStatus[]>;
  containerStatus(id: string): Promise<ContainerStatus>;
  /** CRI ReopenContainerLog: start writing the container's log file anew (after a rotation renamed it). */
  reopenContainerLog(id: string): Promise<void>;

  execSync(id: string, cmd: string[], timeoutSeconds: number): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }>;
  exec(id: string, cmd: string[], opts: ExecOptions): Promise<StreamSession>;
  attach(id: string, opts: ExecOptions): Promise<StreamSession>;
  /** A byte stream to `port` inside the sandbox's network namespace. */
  portForward(sandboxId: string, port: number): Promise<Duplex>;

  pullImage(image: string): Promise<string>; // returns the image ref (id)
  imageStatus(image: string): Promise<ImageInfo | null>;
  listImages(): Promise<ImageInfo[]>;
  removeImage(image: string): Promise<void>;

  /** Container lifecycle events as they happen, so status is reported without polling. */
  onEvent(listener: (e: RuntimeEvent) => void): () => void;
  close(): Promise<void>;
}

/** Errors with a stable code the kubelet maps to reasons (ErrImagePull, CreateContainerError ...). */
export class RuntimeError extends Error {
  constructor(
    readonly code: 'NotFound' | 'ImageNotFound' | 'PullFailed' | 'Unavailable' | 'InvalidArgument' | 'Unknown',
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}
