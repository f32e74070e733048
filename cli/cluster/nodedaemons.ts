// The container runtime daemon of one local-cluster worker: containerd (CRI plugin on) or
// dockerd, each with its own root, state and socket so several run side by side, and with
// the control-plane node's registry as the mirror for docker.io and registry.k8s.io.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerdConfig } from '../../agent/runtime/cri/config.js';

export interface RuntimeDirs {
  root: string; // persistent: images, snapshots
  state: string; // /run-like: sockets, shim state
  socket: string;
  cniConfDir: string;
}

export function runtimeDirs(stateDir: string, runDir: string, node: string, kind: 'cri' | 'docker'): RuntimeDirs {
  const name = kind === 'cri' ? 'containerd' : 'docker';
  return {
    root: join(stateDir, node, name),
    state: join(runDir, node, name),
    socket: join(runDir, node, `${name}.sock`),
    cniConfDir: join(stateDir, node, 'cni', 'net.d'),
  };
}

/** containerd's config for a worker, with the control-plane registry as its mirror. */
export function writeContainerdConfig(dirs: RuntimeDirs, mirror: string): string {
  for (const d of [dirs.root, dirs.state, dirs.cniConfDir]) mkdirSync(d, { recursive: true });
  const file = join(dirs.root, 'config.toml');
  writeFileSync(
    file,
    containerdConfig({
      root: dirs.root,
      state: dirs.state,
      address: dirs.socket,
      sandboxImage: 'registry.k8s.io/pause:3.9',
      cniBinDir: '/usr/lib/cni',
      cniConfDir: dirs.cniConfDir,
      streamPort: 0, // 1.6.20 puts the bound port in its streaming URLs
      registryMirror: mirror,
      logLevel: 'info',
    }),
  );
  return file;
}

export function containerdArgs(configFile: string): string[] {
  return ['--config', configFile];
}

export function dockerdArgs(dirs: RuntimeDirs, mirror: string): string[] {
  mkdirSync(dirs.root, { recursive: true });
  mkdirSync(dirs.state, { recursive: true });
  const mirrorHost = new URL(mirror).host;
  return [
    '--data-root', dirs.root,
    '--exec-root', dirs.state,
    '--pidfile', join(dirs.state, 'docker.pid'),
    '-H', `unix://${dirs.socket}`,
    '--bridge=none',
    '--iptables=false',
    '--ip-masq=false',
    '--registry-mirror', mirror,
    '--insecure-registry', mirrorHost,
    '--config-file', writeEmptyJson(join(dirs.root, 'daemon.json')),
  ];
}

function writeEmptyJson(file: string): string {
  writeFileSync(file, '{}\n');
  return file;
}
