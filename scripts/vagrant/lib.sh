# Shared helpers for scripts/provision-*.sh (sourced, not run).
# Every address here is the private-network one (192.168.56.x on eth1), never the NAT
# address 10.0.2.15 that VirtualBox gives every VM on eth0.

K8TS_SRC=${K8TS_SRC:-/vagrant}
K8TS_HOME=${K8TS_HOME:-/opt/k8ts}
K8TS_CP_IP=${K8TS_CP_IP:-192.168.56.10}
K8TS_REGISTRY="${K8TS_CP_IP}:5000"
K8TS_APISERVER="https://${K8TS_CP_IP}:6443"

log() { printf '\033[1mk8ts[%s]\033[0m %s\n' "${K8TS_NODE_NAME:-$(hostname)}" "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

# Waits up to $1 seconds for the command in the remaining arguments to succeed.
wait_for() {
  local timeout=$1; shift
  local what=$1; shift
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then die "timed out after ${timeout}s waiting for ${what}"; fi
    sleep 2
  done
}

online() {
  # One cheap probe; apt proxies and mirrors differ, so ask apt's own source host.
  curl -fsS --max-time 5 -o /dev/null https://deb.debian.org/debian/dists/bookworm/Release 2>/dev/null
}

# The address this VM has on the private network. Refuses the NAT address on purpose.
private_ip_check() {
  local ip=$1
  case "$ip" in
    10.0.2.*) die "refusing NAT address $ip: use the private-network address (192.168.56.x)";;
  esac
  ip -o -4 addr show | grep -q " ${ip}/" || die "address $ip is not on any interface (is the private network up?)"
}

# kubectl for the deploy step and for users on the VMs.
ensure_kubectl() {
  command -v kubectl >/dev/null && return 0
  export DEBIAN_FRONTEND=noninteractive
  if online; then
    log "installing kubectl v1.32 from pkgs.k8s.io"
    install -d -m 0755 /etc/apt/keyrings
    curl -fsSL https://pkgs.k8s.io/core:/stable:/v1.32/deb/Release.key | gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
    echo 'deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.32/deb/ /' >/etc/apt/sources.list.d/kubernetes.list
    apt-get update -qq && apt-get install -y -qq kubectl >/dev/null && return 0
  fi
  # Offline or no pkgs.k8s.io: Debian's own (older) client still creates RCs and Services.
  log "installing Debian's kubernetes-client"
  apt-get install -y -qq kubernetes-client >/dev/null || die "no kubectl available"
}

# The EncryptionConfiguration the control plane reads with --encryption-provider-config:
# Secrets encrypted with aescbc under one random 32-byte key made here once, identity as
# the fallback for Secrets stored before (the same file `k8ts up` writes; docs/encryption-at-rest.md).
# An existing file is kept: a new key would leave the Secrets under the old one unreadable.
ensure_encryption_config() {
  local file=$1 key
  [ -f "$file" ] && return 0
  key=$(head -c 32 /dev/urandom | base64 -w0)
  (
    umask 077
    cat >"${file}.tmp" <<YAML
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources:
      - secrets
    providers:
      - aescbc:
          keys:
            - name: key1
              secret: ${key}
      - identity: {}
YAML
    mv "${file}.tmp" "$file"
  )
}
