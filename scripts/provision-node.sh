#!/usr/bin/env bash
# A worker VM: containerd with the cp registry as the mirror for docker.io and
# registry.k8s.io, and the k8ts agent (kubelet + kube-proxy) as the systemd unit k8ts-agent.
# Run after scripts/provision-common.sh. Idempotent (`vagrant provision node-1` re-runs it).
set -euo pipefail
LIB="$(dirname "$0")/vagrant/lib.sh"; [ -f "$LIB" ] || LIB=/vagrant/scripts/vagrant/lib.sh
# shellcheck source=scripts/vagrant/lib.sh
. "$LIB"

NODE_NAME=${K8TS_NODE_NAME:?K8TS_NODE_NAME must be set}
NODE_IP=${K8TS_NODE_IP:?K8TS_NODE_IP must be set}
private_ip_check "$NODE_IP"

# --- containerd -----------------------------------------------------------------------------
log "containerd (mirror: ${K8TS_IMAGE_SOURCE:-local})"
install -d /etc/containerd /etc/cni/net.d
# Mirrors go through hosts.toml files (config_path): containerd tries the mirror first and
# falls back to the upstream server, so an image we did not build still pulls when online.
rm -rf /etc/containerd/certs.d
if [ "${K8TS_IMAGE_SOURCE:-local}" = "local" ]; then
  for reg in docker.io registry.k8s.io; do
    case "$reg" in docker.io) upstream=https://registry-1.docker.io;; *) upstream=https://$reg;; esac
    install -d "/etc/containerd/certs.d/$reg"
    cat >"/etc/containerd/certs.d/$reg/hosts.toml" <<TOML
server = "$upstream"

# The k8ts registry on cp, over the private network (plain http, no auth).
[host."http://${K8TS_REGISTRY}"]
  capabilities = ["pull", "resolve"]
TOML
  done
fi
cat >/etc/containerd/config.toml <<TOML
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  # exec/attach/port-forward streams are served to the local agent only; the agent's own
  # server (on ${NODE_IP}) is what the apiserver talks to.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      # cgroupfs driver (SystemdCgroup off), as in the local cluster the agent is tested on:
      # the cgroup parents the agent asks for are cgroupfs paths.
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "/etc/containerd/certs.d"
TOML
systemctl enable containerd >/dev/null 2>&1
systemctl restart containerd
wait_for 60 "containerd" ctr --address /run/containerd/containerd.sock version
RUNTIME_ENDPOINT=unix:///run/containerd/containerd.sock

if [ "${K8TS_RUNTIME:-cri}" = "docker" ]; then
  log "dockerd (registry mirror for docker.io: ${K8TS_REGISTRY})"
  # Pods get their network from CNI, not from Docker: no docker0 bridge, no Docker iptables.
  install -d /etc/docker
  if [ "${K8TS_IMAGE_SOURCE:-local}" = "local" ]; then
    mirror="\"registry-mirrors\": [\"http://${K8TS_REGISTRY}\"], \"insecure-registries\": [\"${K8TS_REGISTRY}\"], "
  else
    mirror=""
  fi
  echo "{ ${mirror}\"bridge\": \"none\", \"iptables\": false, \"ip-masq\": false }" >/etc/docker/daemon.json
  systemctl enable docker >/dev/null 2>&1
  systemctl restart docker
  RUNTIME_ENDPOINT=unix:///run/docker.sock
fi

# --- the control plane must be up -------------------------------------------------------------
# With libvirt the VMs come up in parallel: wait for cp's provisioning to get there.
wait_for 1800 "the apiserver at ${K8TS_APISERVER}" curl -fsSk "${K8TS_APISERVER}/readyz"
if [ "${K8TS_IMAGE_SOURCE:-local}" = "local" ]; then
  wait_for 1800 "the registry at http://${K8TS_REGISTRY}" curl -fsS "http://${K8TS_REGISTRY}/v2/pause/manifests/3.9" -H 'Accept: application/vnd.oci.image.manifest.v1+json'
fi

if [ "${K8TS_RUNTIME:-cri}" = "docker" ] && [ "${K8TS_IMAGE_SOURCE:-local}" = "local" ]; then
  # dockerd mirrors docker.io only; the sandbox image is registry.k8s.io/pause:3.9, so copy
  # it in from the cp registry under its upstream name.
  skopeo copy --quiet --src-tls-verify=false "docker://${K8TS_REGISTRY}/pause:3.9" docker-daemon:registry.k8s.io/pause:3.9
fi

# The join token: from the shared folder (written by the Vagrantfile on the host, and again
# by cp's provisioning when /vagrant is live-shared), or from the provisioner's environment.
TOKEN_FILE=/vagrant/.k8ts/join-token
if [ -s "$TOKEN_FILE" ]; then
  install -m 0600 "$TOKEN_FILE" /var/lib/k8ts/join-token
elif [ -n "${K8TS_JOIN_TOKEN:-}" ]; then
  (umask 077; echo "$K8TS_JOIN_TOKEN" >/var/lib/k8ts/join-token)
else
  die "no join token: neither $TOKEN_FILE nor K8TS_JOIN_TOKEN"
fi

# The pin of the cluster CA: the agent trusts cp only if its CA matches (kubeadm's
# --discovery-token-ca-cert-hash).
: "${K8TS_CA_CERT_HASH:?no K8TS_CA_CERT_HASH (the Vagrantfile computes it from .k8ts/pki/ca.crt)}"
# The token used to reach the agent through an environment file; it is read from its 0600 file now.
rm -f /etc/k8ts/agent.env

# --- the agent ----------------------------------------------------------------------------------
log "k8ts-agent as ${NODE_NAME} (${NODE_IP}) -> ${K8TS_APISERVER}"
# --node-ip is the private-network address: it becomes the Node's InternalIP, the address
# pods' traffic to other nodes is routed to, and where NodePorts are reached. Without it the
# agent could pick eth0's NAT address, which is the same on every VirtualBox VM.
# --address: the kubelet's HTTPS server (logs, exec) listens there too, not on all interfaces.
cat >/etc/systemd/system/k8ts-agent.service <<UNIT
[Unit]
Description=k8ts agent (kubelet + kube-proxy) for ${NODE_NAME}
After=network-online.target containerd.service docker.service
Wants=network-online.target

[Service]
Environment=K8TS_LOG_LEVEL=info
# The bootstrap token stays in its root-only file: never on the command line, where any
# user of the node could read it in the process list.
ExecStart=/usr/bin/env node ${K8TS_HOME}/bin/k8ts.js agent --node-name ${NODE_NAME} --server ${K8TS_APISERVER} --token-file /var/lib/k8ts/join-token --discovery-token-ca-cert-hash ${K8TS_CA_CERT_HASH} --runtime ${K8TS_RUNTIME:-cri} --runtime-endpoint ${RUNTIME_ENDPOINT} --node-ip ${NODE_IP} --address ${NODE_IP}${K8TS_AGENT_EXTRA_ARGS:+ ${K8TS_AGENT_EXTRA_ARGS}}
Restart=always
RestartSec=2
# Pods' containers belong to containerd's shims, not to this unit: stopping the agent must
# not kill them (the agent adopts running pods when it starts again).
KillMode=process
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable k8ts-agent >/dev/null 2>&1
systemctl restart k8ts-agent
log "agent started; 'journalctl -u k8ts-agent -f' shows it registering with ${K8TS_APISERVER}"
