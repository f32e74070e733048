#!/usr/bin/env bash
# Last provisioning step (on node-2): deploy examples/guestbook/ and show where it answers.
# Idempotent: objects that exist are left alone.
set -euo pipefail
LIB="$(dirname "$0")/lib.sh"; [ -f "$LIB" ] || LIB=/vagrant/scripts/vagrant/lib.sh
# shellcheck source=scripts/vagrant/lib.sh
. "$LIB"

ensure_kubectl
KUBECONFIG_FILE=/root/.kube/config
install -d -m 0700 /root/.kube
if [ -s /vagrant/.k8ts/admin.kubeconfig ] && grep -q "server: ${K8TS_APISERVER}" /vagrant/.k8ts/admin.kubeconfig; then
  # /vagrant is live-shared (nfs, virtualbox, 9p, virtiofs): cp left its admin kubeconfig.
  install -m 0600 /vagrant/.k8ts/admin.kubeconfig "$KUBECONFIG_FILE"
else
  # rsync'd /vagrant: nothing written on cp is visible here. Use the static admin token the
  # Vagrantfile made on the host (cp put it in its tokens.csv). The cluster CA is not known
  # on this VM yet, so this one kubeconfig skips server verification; it is only used on the
  # host-only private network. Copy cp's /root/.kube/config for a verified one.
  : "${K8TS_ADMIN_TOKEN:?no admin kubeconfig in /vagrant/.k8ts and no K8TS_ADMIN_TOKEN}"
  kubectl config --kubeconfig "$KUBECONFIG_FILE" set-cluster k8ts --server "$K8TS_APISERVER" --insecure-skip-tls-verify=true >/dev/null
  kubectl config --kubeconfig "$KUBECONFIG_FILE" set-credentials vagrant-admin --token "$K8TS_ADMIN_TOKEN" >/dev/null
  kubectl config --kubeconfig "$KUBECONFIG_FILE" set-context k8ts --cluster k8ts --user vagrant-admin >/dev/null
  kubectl config --kubeconfig "$KUBECONFIG_FILE" use-context k8ts >/dev/null
  chmod 0600 "$KUBECONFIG_FILE"
fi
export KUBECONFIG=$KUBECONFIG_FILE

log "waiting for both workers to be Ready"
two_ready() { [ "$(kubectl get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)" -ge 2 ]; }
wait_for 900 "two Ready nodes" two_ready
kubectl get nodes -o wide

log "deploying examples/guestbook/"
# Services first: pods get REDIS_*_SERVICE_HOST only for Services that already exist.
# (`kubectl create -f examples/guestbook/` alone also converges: the frontend exits and is
# restarted until the variables are there.)
cd "$K8TS_HOME/examples/guestbook"
for f in redis-master-service.yaml redis-master-controller.yaml redis-slave-service.yaml redis-slave-controller.yaml frontend-service.yaml frontend-controller.yaml; do
  kubectl get -f "$f" >/dev/null 2>&1 || kubectl create -f "$f"
done

log "waiting for the guestbook pods"
all_running() {
  local want=6 running
  running=$(kubectl get pods --no-headers 2>/dev/null | awk '$3 == "Running"' | wc -l)
  [ "$running" -ge "$want" ]
}
wait_for 600 "6 guestbook pods Running" all_running
kubectl get pods -o wide
kubectl get svc

answers() { curl -fsS --max-time 5 "http://${K8TS_NODE_IP}:30001/" | grep -q Guestbook; }
wait_for 120 "NodePort 30001 on ${K8TS_NODE_IP}" answers

cat <<MSG

  The guestbook is running on k8ts. From the host:

    curl http://192.168.56.11:30001
    curl http://192.168.56.12:30001
    curl 'http://192.168.56.11:30001/guestbook.php?cmd=set&key=messages&value=hello'
    curl 'http://192.168.56.12:30001/guestbook.php?cmd=get&key=messages'

  kubectl on cp:  vagrant ssh cp -c 'sudo kubectl get pods -o wide'

MSG
