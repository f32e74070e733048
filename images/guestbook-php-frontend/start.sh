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
# K8TS_LISTEN only for tests that run the rootfs on a shared host.
exec php -S "${K8TS_LISTEN:-0.0.0.0:80}" -t /var/www/html
