#!/usr/bin/env bash
# `npm run demo`: from a fresh Debian/Ubuntu machine (as root) to the guestbook answering
# on NodePort 30001 of every node. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=${K8TS_RUNTIME:-cri}

echo "==> system packages"
bash scripts/install-deps.sh
if ! command -v kubectl >/dev/null; then
  echo "==> kubectl not found: installing Debian's kubernetes-client"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null
fi
echo "==> npm packages and build"
[ -f node_modules/.package-lock.json ] || npm ci --no-audit --no-fund
npm run -s build

echo "==> cluster"
node bin/k8ts.js up --runtime "$RUNTIME"
export KUBECONFIG=/var/lib/k8ts-local/kubeconfig

echo "==> guestbook"
kubectl apply -f examples/guestbook/
kubectl wait --for=condition=Ready pod -l name=redis-master --timeout=120s
kubectl wait --for=condition=Ready pod -l name=redis-slave --timeout=120s
kubectl wait --for=condition=Ready pod -l name=frontend --timeout=120s
kubectl get pods -o wide
kubectl get svc

echo "==> curl NodePort 30001 on every node"
msg="hello-from-k8ts-$(date +%s)"
curl -fsS --retry 20 --retry-delay 1 --retry-all-errors "http://192.168.56.11:30001/guestbook.php?cmd=set&key=messages&value=${msg}"; echo
for ip in 192.168.56.11 192.168.56.12; do
  for i in $(seq 1 30); do
    out=$(curl -fsS "http://${ip}:30001/guestbook.php?cmd=get&key=messages" || true)
    case "$out" in *"$msg"*) break;; esac
    sleep 1
  done
  echo "http://${ip}:30001 -> ${out}"
done
curl -fsS http://192.168.56.11:30001/ | head -5
cat <<MSG

The guestbook runs. Open http://192.168.56.11:30001/ from this machine.
  export KUBECONFIG=/var/lib/k8ts-local/kubeconfig
  kubectl get pods -o wide
  npx k8ts node --node node-1 pods       # what the runtime on node-1 has
  npx k8ts down                          # remove everything
MSG
