#!/usr/bin/env bash
# Remove stack `seqserve` and wait until its containers and network are gone; if deploy/swarm/up.sh
# started the swarm, leave it again, so the engine is as up.sh found it. The Prometheus volume stays
# (`docker volume rm seqserve_prometheus-data` removes it).
#
#   bash deploy/swarm/down.sh
set -euo pipefail
stack=seqserve
log() { printf '[swarm down] %s\n' "$*" >&2; }

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  log "no swarm here: nothing to remove"
  exit 0
fi
docker stack rm "$stack" >/dev/null 2>&1 || true
for _ in $(seq 120); do
  [ -z "$(docker ps -q --filter "label=com.docker.stack.namespace=$stack")" ] \
    && ! docker network inspect "${stack}_seqserve" >/dev/null 2>&1 && break
  sleep 1
done
log "stack $stack removed"
if [ "$(docker node inspect self --format '{{index .Spec.Labels "seqserve.swarm-started-by-up"}}')" = true ]; then
  docker swarm leave --force >/dev/null
  log "left the swarm that up.sh had started"
  docker network rm docker_gwbridge >/dev/null 2>&1 || true  # made by joining a swarm, kept by leaving it
fi
