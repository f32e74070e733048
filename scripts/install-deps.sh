#!/usr/bin/env bash
# System packages k8ts needs on a node (Debian 12 / Ubuntu). Shared by .ci/run, `npm run demo`
# and the Vagrant provisioning. Idempotent: installs only what is missing.
set -euo pipefail
PKGS=(
  containerd runc docker.io containernetworking-plugins
  iptables nftables ipset ipvsadm conntrack iproute2
  etcd-server docker-registry skopeo umoci
  redis-server php8.2-cli php-redis busybox-static
  build-essential python3 curl jq openssl
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "k8ts: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Package postinst scripts may start daemons with their default config; k8ts runs its own.
for svc in containerd docker etcd docker-registry redis-server; do
  (command -v systemctl >/dev/null && systemctl disable --now "$svc" >/dev/null 2>&1) || true
done
