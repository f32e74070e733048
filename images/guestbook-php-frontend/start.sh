#!/bin/sh
# k8ts guestbook-php-frontend entry point.
# With GET_HOSTS_FROM=env the Redis hosts come from Service env vars, which the kubelet only
# sets for Services that existed when it started this container. `kubectl create -f
# examples/guestbook/` creates frontend-controller.yaml first (files go in name order), so
# a frontend can start before the redis Services exist: exit instead of serving errors
# forever; the kubelet restarts the container and the next start gets the variables.
if [ "${GET_HOSTS_FROM:-dns}" = "env" ]; then
  for v in REDIS_MASTER_SERVICE_HOST REDIS_SLAVE_SERVICE_HOST; do
    eval "val=\${$v:-}"
    if [ -z "$val" ]; then
      echo "start.sh: GET_HOSTS_FROM=env but $v is not set yet (redis Services missing when this container started); exiting so the kubelet restarts it" >&2
      exit 1
    fi
  done
fi
# php does not handle SIGTERM, and as PID 1 of the container an unhandled SIGTERM is ignored:
# `kubectl delete pod` would wait out the whole grace period. So this shell stays PID 1,
# forwards the signal to php (not PID 1, so it dies) and exits.
# K8TS_LISTEN only for tests that run the rootfs on a shared host.
php -S "${K8TS_LISTEN:-0.0.0.0:80}" -t /var/www/html &
php_pid=$!
trap 'kill -TERM "$php_pid" 2>/dev/null; wait "$php_pid"; exit 0' TERM INT
wait "$php_pid"
status=$?
# wait returns early (>128) when a trapped signal arrives; the trap then exits.
exit "$status"
