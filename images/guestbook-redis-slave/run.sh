#!/bin/sh
# k8ts guestbook-redis-slave entry point: a redis replica of the redis-master Service.
# With GET_HOSTS_FROM=env the master comes from the Service env vars the kubelet injects
# (REDIS_MASTER_SERVICE_HOST/PORT); otherwise from cluster DNS, as in the upstream image.
set -e
if [ "${GET_HOSTS_FROM:-dns}" = "env" ]; then
  if [ -z "${REDIS_MASTER_SERVICE_HOST}" ]; then
    echo "run.sh: GET_HOSTS_FROM=env but REDIS_MASTER_SERVICE_HOST is empty (was the redis-master Service created before this pod?)" >&2
    exit 1
  fi
  master="${REDIS_MASTER_SERVICE_HOST}"
  port="${REDIS_MASTER_SERVICE_PORT:-6379}"
else
  master="redis-master"
  port="6379"
fi
echo "run.sh: replicating from ${master}:${port}"
exec redis-server \
  --bind 0.0.0.0 \
  --protected-mode no \
  --port 6379 \
  --daemonize no \
  --logfile "" \
  --dir "${REDIS_DIR:-/data}" \
  --appendonly no \
  --replicaof "${master}" "${port}" \
  "$@"
