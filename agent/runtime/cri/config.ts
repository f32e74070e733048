// containerd 1.6 configuration (version 2) for a node: the CRI plugin on, CNI from the
// given dirs, our pause image, and optionally a registry mirror for docker.io and
// registry.k8s.io. Used by `k8ts up` and by the tests' private containerd instances, so
// several containerds can run side by side with their own root, state and socket.
import { join } from 'node:path';
import { NO_HOSTPORT_SUBDIR } from '../../network/cni.js';

/** Runtime handler whose pod network includes portmap (hostPort); see NO_HOSTPORT_SUBDIR. */
export const K8TS_HOSTPORT_HANDLER = 'k8ts-hostport';

function toml(s: string): string {
  return JSON.stringify(s);
}

export function containerdConfig(p: {
  root: string;
  state: string;
  address: string;
  sandboxImage: string;
  cniBinDir: string;
  cniConfDir: string;
  streamPort: number;
  registryMirror?: string;
  logLevel?: string;
}): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const lines = [
    'version = 2',
    `root = ${toml(p.root)}`,
    `state = ${toml(p.state)}`,
    // aufs/btrfs/zfs/devmapper only log noise here; overlayfs is the snapshotter we use.
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]',
    `  address = ${toml(p.address)}`,
    '[ttrpc]',
    `  address = ${toml(p.address + '.ttrpc')}`,
    '[debug]',
    `  level = ${toml(p.logLevel ?? 'warn')}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${toml(join(p.root, 'opt'))}`,
    `[${cri}]`,
    `  sandbox_image = ${toml(p.sandboxImage)}`,
    // Loopback only: the streaming server has no auth, the URLs are bearer tokens. (Port 0
    // also works with 1.6.20: the URLs carry the bound port; a known port eases debugging.)
    '  stream_server_address = "127.0.0.1"',
    `  stream_server_port = ${toml(String(p.streamPort))}`,
    '  enable_selinux = false',
    '  disable_apparmor = true',
    '  restrict_oom_score_adj = true',
    '  max_container_log_line_size = 16384',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    // Same runc, but its sandboxes get the network with portmap (pods with hostPorts). The
    // CRI plugin tears a sandbox down with the handler it was created with.
    `[${cri}.containerd.runtimes.${K8TS_HOSTPORT_HANDLER}]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `  cni_conf_dir = ${toml(p.cniConfDir)}`,
    '  cni_max_conf_num = 1',
    `[${cri}.containerd.runtimes.${K8TS_HOSTPORT_HANDLER}.options]`,
    '  SystemdCgroup = false',
    // Every other sandbox (empty runtime handler) gets the network without portmap.
    `[${cri}.cni]`,
    `  bin_dir = ${toml(p.cniBinDir)}`,
    `  conf_dir = ${toml(join(p.cniConfDir, NO_HOSTPORT_SUBDIR))}`,
    '  max_conf_num = 1',
  ];
  if (p.registryMirror) {
    for (const reg of ['docker.io', 'registry.k8s.io']) {
      lines.push(`[${cri}.registry.mirrors.${toml(reg)}]`, `  endpoint = [${toml(p.registryMirror)}]`);
    }
  }
  return lines.join('\n') + '\n';
}

