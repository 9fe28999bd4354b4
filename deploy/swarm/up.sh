#!/usr/bin/env bash
# Build the images, make this Docker engine a one-node swarm if it is not in one, deploy stack `seqserve`
# (services seqserve_api, seqserve_lb, seqserve_prometheus) and wait until every API replica is healthy
# and the load balancer answers GET /readyz on 127.0.0.1:${SEQSERVE_LB_PORT:-8080}.
#
#   bash deploy/swarm/up.sh
#
# Variables: those of stack.yml, plus SEQSERVE_SWARM_ADDR (the address `docker swarm init` advertises
# when this script starts the swarm; default 127.0.0.1, enough for one node; deploy/swarm/nodes.sh starts
# a swarm of several nodes on one machine, and up.sh copies the API image into its nodes), SEQSERVE_UP_TIMEOUT_S (300),
# TORCH_FIND_LINKS / TORCH_INDEX_URL (how the API image gets torch, as for `docker compose build`), and
# SEQSERVE_REPOSITORY: a host folder to serve instead of the image's bundles (repository mode,
# stack.repository.yml, polled every SEQSERVE_MODEL_POLL_S); when it is missing or empty it is filled with
# the checkout's bundles, one version folder each (model/NAME → NAME/VERSION). Run again on a running
# stack, up.sh updates it (a rolling update) and waits until the update is done. A changed stack file or
# variable is an update; an image rebuilt under the same name is not, to Swarm: roll that one out with
# `docker service update --force seqserve_api` (or deploy it under a new name, as rollout.py does).
set -euo pipefail
cd "$(dirname "$0")/../.."
stack=seqserve
port=${SEQSERVE_LB_PORT:-8080}
replicas=${SEQSERVE_REPLICAS:-3}
timeout_s=${SEQSERVE_UP_TIMEOUT_S:-300}
log() { printf '[swarm up] %s\n' "$*" >&2; }

log "building images"
if [ -z "${SEQSERVE_IMAGE:-}" ]; then
  docker compose -f docker-compose.yml build api  # seqserve:cpu, as `docker compose up` serves it
fi
docker build -q -t "${SEQSERVE_LB_IMAGE:-seqserve-lb:latest}" deploy/swarm/lb >/dev/null
docker build -q -t "${SEQSERVE_PROMETHEUS_IMAGE:-seqserve-prometheus:latest}" deploy/swarm/prometheus >/dev/null
bash deploy/swarm/nodes.sh load "${SEQSERVE_IMAGE:-seqserve:cpu}"  # into the nodes nodes.sh started, if any

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  log "starting a one-node swarm (down.sh leaves it again)"
  docker swarm init --advertise-addr "${SEQSERVE_SWARM_ADDR:-127.0.0.1}" >/dev/null
  docker node update --label-add seqserve.swarm-started-by-up=true "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null
fi

stack_files=(-c deploy/swarm/stack.yml)
if [ -n "${SEQSERVE_REPOSITORY:-}" ]; then
  mkdir -p "$SEQSERVE_REPOSITORY"
  SEQSERVE_REPOSITORY=$(cd "$SEQSERVE_REPOSITORY" && pwd)  # a bind mount takes an absolute path
  export SEQSERVE_REPOSITORY
  if [ -z "$(ls -A "$SEQSERVE_REPOSITORY")" ]; then
    log "filling the empty repository $SEQSERVE_REPOSITORY with model/'s bundles"
    for manifest in model/*/manifest.json; do
      bundle=$(dirname "$manifest")
      version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$manifest")
      mkdir -p "$SEQSERVE_REPOSITORY/$(basename "$bundle")"
      cp -R "$bundle" "$SEQSERVE_REPOSITORY/$(basename "$bundle")/$version"
    done
    chmod -R a+rX "$SEQSERVE_REPOSITORY"  # the replicas read it as uid 10001
  fi
  stack_files+=(-c deploy/swarm/stack.repository.yml)
  log "repository mode: replicas serve $SEQSERVE_REPOSITORY (read-only at /models)"
fi

log "deploying stack $stack"
# --resolve-image never: the images are local to this engine; on several nodes push them to a registry
# your nodes can pull from and drop the flag.
docker stack deploy --resolve-image never "${stack_files[@]}" "$stack"

started=$SECONDS
healthy() {
  # "3/3", or "3/3 (max 2 per node)" with SEQSERVE_MAX_REPLICAS_PER_NODE
  docker service ls --filter "name=${stack}_api" --format '{{.Replicas}}' | grep -qE "^$replicas/$replicas( |$)" || return 1
  # an update of a running stack (a rolling one) is over, and was not rolled back
  case "$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "${stack}_api")" in
    "" | completed) return 0 ;;
    rollback_completed | rollback_paused | paused) log "the update of ${stack}_api was rolled back or paused"; exit 1 ;;
    *) return 1 ;;
  esac
}
until healthy && curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
  if (( SECONDS - started > timeout_s )); then
    log "not ready within $timeout_s s"
    docker service ps --no-trunc "${stack}_api" "${stack}_lb" >&2 || true
    exit 1
  fi
  sleep 1
done
log "ready in $((SECONDS - started)) s: $replicas API replicas behind http://127.0.0.1:$port" \
  "(HAProxy stats :${SEQSERVE_LB_STATS_PORT:-8404}/stats, Prometheus :${SEQSERVE_PROMETHEUS_PORT:-9090})"
