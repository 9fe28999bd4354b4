#!/bin/sh
# Start a Docker engine inside this container. The container is not --privileged, so /sys and the
# cgroup (v1) controller mounts arrive read-only: remount them read-write first, or the engine's own
# containers fail at `mkdir /sys/fs/cgroup/<controller>/docker`.
set -eu
mount -o remount,rw /sys
if mountpoint -q /sys/fs/cgroup; then
  mount -o remount,rw /sys/fs/cgroup
fi
awk '$3 == "cgroup" { print $2 }' /proc/self/mounts | while read -r controller; do
  mount -o remount,bind,rw "$controller"
done
exec dockerd --host unix:///var/run/docker.sock "$@"
