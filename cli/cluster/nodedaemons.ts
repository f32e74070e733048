// The container runtime daemon of one local-cluster worker: containerd (CRI plugin on) or
// dockerd, each with its own root, state and socket so several run side by side, and with
// the control-plane node's registry as the mirror for docker.io and registry.k8s.io.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RuntimeDirs {
  root: string; // persistent: images, snapshots
  state: string; // /run-like: sockets, shim state
  socket: string;
  cniConfDir: string;
  registryHostsDir: string;
}

export function runtimeDirs(stateDir: string, runDir: string, node: string, kind: 'cri' | 'docker'): RuntimeDirs {
  const name = kind === 'cri' ? 'containerd' : 'docker';
  return {
    root: join(stateDir, node, name),
    state: join(runDir, node, name),
    socket: join(runDir, node, `${name}.sock`),
    cniConfDir: join(stateDir, node, 'cni', 'net.d'),
    registryHostsDir: join(stateDir, node, 'containerd-certs.d'),
  };
}

/** containerd 1.6 config (version 2) and the hosts.toml files for the mirror. */
export function writeContainerdConfig(dirs: RuntimeDirs, mirror: string): string {
  for (const d of [dirs.root, dirs.state, dirs.cniConfDir]) mkdirSync(d, { recursive: true });
  for (const [registry, upstream] of [
    ['docker.io', 'https://registry-1.docker.io'],
    ['registry.k8s.io', 'https://registry.k8s.io'],
  ] as const) {
    const dir = join(dirs.registryHostsDir, registry);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'hosts.toml'),
      `server = "${upstream}"\n\n[host."${mirror}"]\n  capabilities = ["pull", "resolve"]\n  skip_verify = true\n`,
    );
  }
  const config = `version = 2
root = "${dirs.root}"
state = "${dirs.state}"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${dirs.socket}"

[ttrpc]
  address = "${dirs.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dirs.root, 'opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${dirs.cniConfDir}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${dirs.registryHostsDir}"
`;
  const file = join(dirs.root, 'config.toml');
  writeFileSync(file, config);
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
