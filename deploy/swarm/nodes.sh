#!/usr/bin/env bash
# Several Swarm nodes on one machine: worker engines in containers beside this Docker engine, the manager.
# For trying the stack on several nodes (and for CI's node drain and node loss): real clusters join
# machines instead, see deploy/swarm/README.md.
#
#   bash deploy/swarm/nodes.sh up N        start N workers seqserve-node1 … seqserve-nodeN, join them, load
#                                          the API image into each; returns when all are Ready
#   bash deploy/swarm/nodes.sh load IMAGE… copy images from this engine into every node (save | load),
#                                          skipping a node that already has the same image
#   bash deploy/swarm/nodes.sh down        remove the nodes, their volumes and network; leave the swarm if
#                                          `up` started it
#
# Then `bash deploy/swarm/up.sh` deploys the stack over every Ready node (and `down.sh` removes it).
# Each node is a container of the image in node/ (Debian's dockerd) named, with hostname and swarm node
# name, seqserve-nodeK, its /var/lib/docker on volume seqserve-nodeK, on bridge network seqserve-nodes.
# A nested engine needs what --privileged gives; where --privileged is refused, these capabilities,
# unconfined profiles and a device rule do instead. The swarm advertises the manager's address on that
# bridge, so the nodes talk to each other only there. Variables: SEQSERVE_IMAGE (seqserve:cpu, loaded
# into every node; built with `docker compose build api` when missing), SEQSERVE_NODES_TIMEOUT_S (120).
set -euo pipefail
cd "$(dirname "$0")/../.."
network=seqserve-nodes
label=seqserve.swarm-node
node_image=seqserve-node:latest
timeout_s=${SEQSERVE_NODES_TIMEOUT_S:-120}
log() { printf '[swarm nodes] %s\n' "$*" >&2; }

nodes() { docker ps -a --filter "label=$label" --format '{{.Names}}' | sort; }
on() { local node=$1; shift; docker exec "$node" docker "$@"; }

wait_until() {  # wait_until WHAT COMMAND…: poll every second, give up after timeout_s
  local what=$1 started=$SECONDS; shift
  until "$@" >/dev/null 2>&1; do
    (( SECONDS - started > timeout_s )) && { log "$what: not within $timeout_s s"; return 1; }
    sleep 1
  done
}

ready() { [ "$(docker node inspect "$1" --format '{{.Status.State}} {{.Spec.Availability}}')" = "ready active" ]; }

start_swarm() {
  local gateway
  gateway=$(docker network inspect "$network" --format '{{(index .IPAM.Config 0).Gateway}}')
  case "$(docker info --format '{{.Swarm.LocalNodeState}}')" in
    inactive)
      log "starting a swarm advertised on $gateway ($network)"
      docker swarm init --advertise-addr "$gateway" >/dev/null
      docker node update --label-add seqserve.swarm-started-by-nodes=true "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null ;;
    active)
      if [ "$(docker info --format '{{.Swarm.NodeAddr}}')" = 127.0.0.1 ]; then
        log "this swarm advertises 127.0.0.1, which no other node can reach: run deploy/swarm/down.sh first"
        exit 1
      fi ;;
    *) log "this engine's swarm is neither active nor inactive: $(docker info --format '{{.Swarm.LocalNodeState}}')"; exit 1 ;;
  esac
  manager=$(docker info --format '{{.Swarm.NodeAddr}}'):2377
}

start_node() {
  local node=$1
  docker run -d --name "$node" --hostname "$node" --network "$network" --label "$label=true" \
    --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    --device-cgroup-rule 'a *:* rwm' --tmpfs /run --tmpfs /tmp \
    --mount "type=volume,source=$node,target=/var/lib/docker,volume-label=$label=true" \
    "$node_image" >/dev/null
  wait_until "the engine in $node" on "$node" info
  if [ "$(on "$node" info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    on "$node" swarm join --token "$(docker swarm join-token -q worker)" "$manager" >/dev/null
  fi
}

load() {  # load IMAGE…: into every node that lacks that image (by ID); no nodes, nothing to do
  local image id node
  [ -n "$(nodes)" ] || return 0
  for image in "$@"; do
    id=$(docker image inspect --format '{{.Id}}' "$image")
    for node in $(nodes); do
      [ "$(on "$node" image inspect --format '{{.Id}}' "$image" 2>/dev/null)" = "$id" ] && continue
      log "loading $image into $node"
      docker save "$image" | docker exec -i "$node" docker load -q >/dev/null
    done
  done
}

up() {
  local count=${1:?usage: nodes.sh up N} image=${SEQSERVE_IMAGE:-seqserve:cpu} node
  docker build -q -t "$node_image" deploy/swarm/node >/dev/null
  docker image inspect "$image" >/dev/null 2>&1 || docker compose -f docker-compose.yml build api
  docker network inspect "$network" >/dev/null 2>&1 \
    || docker network create --driver bridge --label "$label=true" "$network" >/dev/null
  start_swarm
  for k in $(seq "$count"); do
    node=seqserve-node$k
    if [ -n "$(docker ps -aq --filter "name=^$node$")" ]; then
      docker start "$node" >/dev/null  # there already (and in the swarm): nothing to do unless it was stopped
    else
      log "starting $node"
      start_node "$node"
    fi
  done
  for k in $(seq "$count"); do wait_until "seqserve-node$k Ready in the swarm" ready "seqserve-node$k"; done
  load "$image"
  log "$count worker nodes Ready beside the manager: $(docker node ls --format '{{.Hostname}}' | paste -sd ' ')"
}

down() {
  local node
  for node in $(nodes); do
    log "removing $node"
    docker rm -f -v "$node" >/dev/null
    docker volume rm "$node" >/dev/null 2>&1 || true
  done
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ]; then
    for node in $(docker node ls --format '{{.Hostname}} {{.ID}}' | awk '$1 ~ /^seqserve-node[0-9]+$/ { print $2 }'); do
      docker node rm --force "$node" >/dev/null
    done
    if [ "$(docker node inspect self --format '{{index .Spec.Labels "seqserve.swarm-started-by-nodes"}}')" = true ]; then
      docker swarm leave --force >/dev/null
      log "left the swarm that nodes.sh had started"
      docker network rm docker_gwbridge >/dev/null 2>&1 || true  # made by joining a swarm, kept by leaving it
    fi
  fi
  docker network rm "$network" >/dev/null 2>&1 || true
}

case "${1:-}" in
  up) up "${2:-}" ;;
  load) shift; load "$@" ;;
  down) down ;;
  *) log "usage: nodes.sh up N | load IMAGE… | down"; exit 2 ;;
esac
