// Picks the ContainerRuntime implementation: `cri` (containerd's CRI socket) or `docker`.
import { CriRuntime, type CriRuntimeOptions } from './cri/runtime.js';
import type { ContainerRuntime } from './types.js';

export * from './types.js';
export { CriRuntime } from './cri/runtime.js';

export interface CreateRuntimeOptions {
  kind: 'cri' | 'docker';
  /** cri: unix:///run/containerd/containerd.sock; docker: unix:///var/run/docker.sock */
  endpoint: string;
  cri?: Omit<CriRuntimeOptions, 'endpoint'>;
}

export function createRuntime(opts: CreateRuntimeOptions): ContainerRuntime {
  if (opts.kind === 'cri') return new CriRuntime({ ...opts.cri, endpoint: opts.endpoint });
  throw new Error(`runtime ${opts.kind}: not implemented yet`);
}
