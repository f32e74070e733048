#!/usr/bin/env bash
# The control-plane VM: the image registry on 192.168.56.10:5000 with our images pushed,
# and the k8ts control plane as the systemd unit k8ts-control-plane.
# Run after scripts/provision-common.sh. Idempotent (`vagrant provision cp` re-runs it).
set -euo pipefail
LIB="$(dirname "$0")/vagrant/lib.sh"; [ -f "$LIB" ] || LIB=/vagrant/scripts/vagrant/lib.sh
# shellcheck source=scripts/vagrant/lib.sh
. "$LIB"

CP_IP=${K8TS_NODE_IP:-$K8TS_CP_IP}
private_ip_check "$CP_IP"
DATA_DIR=/var/lib/k8ts/cp
install -d -m 0700 "$DATA_DIR"

# --- image registry -----------------------------------------------------------------------
# Debian's docker-registry with our own config and unit. It listens on the private address
# only: the workers' containerd reach it as http://192.168.56.10:5000.
log "image registry on ${CP_IP}:5000"
install -d /etc/k8ts /var/lib/k8ts/registry
cat >/etc/k8ts/registry.yml <<YAML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: /var/lib/k8ts/registry
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: ${CP_IP}:5000
health:
  storagedriver:
    enabled: false
YAML
cat >/etc/systemd/system/k8ts-registry.service <<'UNIT'
[Unit]
Description=k8ts image registry (mirror for docker.io and registry.k8s.io)
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/bin/docker-registry serve /etc/k8ts/registry.yml
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable k8ts-registry >/dev/null 2>&1
systemctl restart k8ts-registry
wait_for 60 "the registry at http://${CP_IP}:5000/v2/" curl -fsS "http://${CP_IP}:5000/v2/"

log "building images offline and pushing them to ${CP_IP}:5000"
start=$SECONDS
( cd "$K8TS_HOME" && k8ts images build && k8ts images push --registry "${CP_IP}:5000" )
log "images ready in $((SECONDS - start))s"

# --- control plane ------------------------------------------------------------------------
# The join token, an admin token and the cluster CA were made on the host by the Vagrantfile
# so that the workers know the token and the CA's pin without reading anything back from
# this VM. The control plane keeps a CA and a join-token file it finds in its data dir (the
# token becomes a bootstrap token Secret, 24 h from when the file was written);
# tokens.csv is its static token file.
if [ -n "${K8TS_CA_CRT:-}" ] && [ -n "${K8TS_CA_KEY:-}" ] && [ ! -f "$DATA_DIR/pki/ca.crt" ]; then
  install -d -m 0700 "$DATA_DIR/pki"
  printf '%s\n' "$K8TS_CA_CRT" >"$DATA_DIR/pki/ca.crt"
  (umask 077; printf '%s\n' "$K8TS_CA_KEY" >"$DATA_DIR/pki/ca.key")
fi
if [ -n "${K8TS_JOIN_TOKEN:-}" ] && [ ! -f "$DATA_DIR/join-token" ]; then
  (umask 077; echo "$K8TS_JOIN_TOKEN" >"$DATA_DIR/join-token")
fi
if [ -n "${K8TS_ADMIN_TOKEN:-}" ]; then
  (umask 077; echo "${K8TS_ADMIN_TOKEN},vagrant-admin,vagrant-admin,\"system:masters\"" >"$DATA_DIR/tokens.csv")
fi

log "k8ts-control-plane on ${CP_IP}:6443"
ensure_encryption_config "$DATA_DIR/encryption-config.yaml"
# --advertise-address and --bind-address are the private-network address: the serving
# certificate, the kubernetes Service endpoint and every URL handed to the nodes use it.
# Left to defaults it would be 10.0.2.15 (NAT, identical on every VM) or 127.0.0.1.
cat >/etc/systemd/system/k8ts-control-plane.service <<UNIT
[Unit]
Description=k8ts control plane (apiserver, scheduler, controllers)
After=network-online.target
Wants=network-online.target

[Service]
Environment=K8TS_LOG_LEVEL=info
ExecStart=/usr/bin/env node ${K8TS_HOME}/bin/k8ts.js control-plane --data-dir ${DATA_DIR} --advertise-address ${CP_IP} --bind-address ${CP_IP} --encryption-provider-config ${DATA_DIR}/encryption-config.yaml${K8TS_CP_EXTRA_ARGS:+ ${K8TS_CP_EXTRA_ARGS}}
Restart=always
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable k8ts-control-plane >/dev/null 2>&1
systemctl restart k8ts-control-plane
# Any HTTP answer means it is serving; readyz turns 200 once storage and controllers are up.
wait_for 120 "the apiserver at ${K8TS_APISERVER}/readyz" curl -fsSk "${K8TS_APISERVER}/readyz"

# --- hand-off to the workers and to the host -----------------------------------------------
install -d -m 0755 /vagrant/.k8ts 2>/dev/null || true
if [ -w /vagrant/.k8ts ]; then
  cp "$DATA_DIR/join-token" /vagrant/.k8ts/join-token
  k8ts kubeconfig --data-dir "$DATA_DIR" --server "$K8TS_APISERVER" >/vagrant/.k8ts/admin.kubeconfig
  chmod 0600 /vagrant/.k8ts/admin.kubeconfig /vagrant/.k8ts/join-token
fi
if [ -n "${K8TS_JOIN_TOKEN:-}" ] && [ "$(cat "$DATA_DIR/join-token")" != "$K8TS_JOIN_TOKEN" ]; then
  log "WARNING: $DATA_DIR/join-token differs from the Vagrantfile's .k8ts/join-token; workers use the latter (make it valid again: k8ts token create $K8TS_JOIN_TOKEN)"
fi
if [ -n "${K8TS_CA_CRT:-}" ] && [ "$(cat "$DATA_DIR/pki/ca.crt")" != "$K8TS_CA_CRT" ]; then
  log "WARNING: $DATA_DIR/pki/ca.crt is not the Vagrantfile's .k8ts/pki/ca.crt; workers pin the latter and will refuse this control plane"
fi
install -d -m 0700 /root/.kube
k8ts kubeconfig --data-dir "$DATA_DIR" --server "$K8TS_APISERVER" >/root/.kube/config
chmod 0600 /root/.kube/config
ensure_kubectl
log "control plane ready: ${K8TS_APISERVER} (kubeconfig: /root/.kube/config, /vagrant/.k8ts/admin.kubeconfig)"
