// Picks the ContainerRuntime implementation: `cri` (containerd's CRI socket) or `docker`.
import { CriRuntime, type CriRuntimeOptions } from './cri/runtime.js';
import { DockerRuntime, type DockerRuntimeOptions } from './docker/runtime.js';
import type { ContainerRuntime } from './types.js';

export * from './types.js';
export { CriRuntime, type CriRuntimeOptions } from './cri/runtime.js';
export { DockerRuntime, type DockerRuntimeOptions } from './docker/runtime.js';

export interface CreateRuntimeOptions {
  kind: 'cri' | 'docker';
  /** cri: unix:///run/containerd/containerd.sock; docker: unix:///var/run/docker.sock */
  endpoint: string;
  cri?: Omit<CriRuntimeOptions, 'endpoint'>;
  /** docker: where the pod network conflist lives, state dirs, sandbox image. */
  docker?: Omit<DockerRuntimeOptions, 'endpoint'>;
}

export function createRuntime(opts: CreateRuntimeOptions): ContainerRuntime {
  if (opts.kind === 'cri') return new CriRuntime({ ...opts.cri, endpoint: opts.endpoint });
  if (opts.kind === 'docker') return new DockerRuntime({ ...opts.docker, endpoint: opts.endpoint });
  throw new Error(`unknown runtime kind ${String(opts.kind)}`);
}
