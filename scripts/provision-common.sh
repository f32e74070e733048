#!/usr/bin/env bash
# Provisioning shared by every k8ts VM (Vagrantfile): system packages, Node.js 20, the k8ts
# build in /opt/k8ts, kernel settings, and /etc/hosts entries for the private network.
#
# Node.js: k8ts needs Node >= 20. Debian 12's own nodejs package is v18, so:
#   1. a node >= 20 already on PATH is used as is (e.g. a box or image that ships it);
#   2. else an official tarball dropped by the user into .k8ts/ on the host
#      (node-v20.*-linux-x64.tar.xz, arrives as /vagrant/.k8ts/...) is unpacked to
#      /usr/local: the offline path;
#   3. else, when online, NodeSource's apt repository for Node 20 is added and nodejs installed.
# npm ci then needs the npm registry (or a populated npm cache).
set -euo pipefail
# Vagrant uploads this script to /tmp before running it, so the helpers come from /vagrant.
LIB="$(dirname "$0")/vagrant/lib.sh"; [ -f "$LIB" ] || LIB=/vagrant/scripts/vagrant/lib.sh
# shellcheck source=scripts/vagrant/lib.sh
. "$LIB"

export DEBIAN_FRONTEND=noninteractive
NODE_IP=${K8TS_NODE_IP:?K8TS_NODE_IP must be set (the private-network address)}
private_ip_check "$NODE_IP"

log "system packages"
if ! command -v curl >/dev/null || ! command -v rsync >/dev/null; then
  apt-get update -qq && apt-get install -y -qq curl rsync ca-certificates gnupg >/dev/null
fi
bash "$K8TS_SRC/scripts/install-deps.sh"

log "names on the private network"
# Vagrant maps the hostname to 127.0.x.1; the cluster must resolve node names to eth1.
sed -i "/ k8ts-managed$/d" /etc/hosts
IFS=',' read -r -a host_entries <<<"${K8TS_HOSTS:-}"
for e in "${host_entries[@]}"; do
  [ -n "$e" ] && echo "$e k8ts-managed" >>/etc/hosts
done
sed -i "/^127\.0\.[12]\.1[[:space:]].*$(hostname)/d" /etc/hosts

log "kernel settings for pod networking"
modprobe br_netfilter 2>/dev/null || true
modprobe overlay 2>/dev/null || true
printf 'br_netfilter\noverlay\n' >/etc/modules-load.d/k8ts.conf
cat >/etc/sysctl.d/90-k8ts.conf <<'SYSCTL'
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
SYSCTL
sysctl --system >/dev/null || true
swapoff -a || true

log "Node.js 20"
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then
  tarball=$(ls "$K8TS_SRC"/.k8ts/node-v2[0-9]*-linux-x64.tar.xz 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$tarball" ]; then
    log "unpacking $(basename "$tarball") into /usr/local"
    tar -xJf "$tarball" -C /usr/local --strip-components=1 --exclude='*/CHANGELOG.md' --exclude='*/README.md' --exclude='*/LICENSE'
    hash -r
  elif online; then
    log "adding NodeSource's Node 20 apt repository"
    install -d -m 0755 /etc/apt/keyrings
    curl -fsSL https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key | gpg --dearmor --yes -o /etc/apt/keyrings/nodesource.gpg
    echo 'deb [signed-by=/etc/apt/keyrings/nodesource.gpg] https://deb.nodesource.com/node_20.x nodistro main' >/etc/apt/sources.list.d/nodesource.list
    apt-get update -qq && apt-get install -y -qq nodejs >/dev/null
    hash -r
  fi
fi
[ "$(node_major)" -ge 20 ] || die "Node.js >= 20 is required (found $(node --version 2>/dev/null || echo none)); offline, put node-v20.x-linux-x64.tar.xz into .k8ts/ on the host and re-run 'vagrant provision'"

log "k8ts build in $K8TS_HOME"
# A private copy: /vagrant may be read-only, shared with the host (whose node_modules holds
# native modules built for another machine), or rsynced over again at the next boot.
install -d "$K8TS_HOME"
rsync -a --delete \
  --exclude .git/ --exclude node_modules/ --exclude dist/ --exclude images/out/ \
  --exclude .vagrant/ --exclude .k8ts/ --exclude bench/out/ --exclude test-results/ \
  "$K8TS_SRC"/ "$K8TS_HOME"/
cd "$K8TS_HOME"
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.k8ts-lock-hash ] || [ "$(cat node_modules/.k8ts-lock-hash)" != "$lock_hash" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >node_modules/.k8ts-lock-hash
else
  npm run -s build
fi
cat >/usr/local/bin/k8ts <<WRAP
#!/bin/sh
exec node $K8TS_HOME/bin/k8ts.js "\$@"
WRAP
chmod 0755 /usr/local/bin/k8ts
install -d -m 0700 /var/lib/k8ts
log "k8ts $(k8ts --version) ready"
