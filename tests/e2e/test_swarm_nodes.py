"""deploy/swarm/nodes.sh against a real Docker engine: `up` makes a worker node that joins the swarm,
`down` leaves the engine exactly as it was. Needs a Docker engine that may run nested engines and join
a swarm, and a minute: it runs when SEQSERVE_SWARM_NODES_TEST=1 (CI's several-nodes stage sets it).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support import REPO

pytestmark = pytest.mark.skipif(
    os.environ.get("SEQSERVE_SWARM_NODES_TEST") != "1", reason="set SEQSERVE_SWARM_NODES_TEST=1 (a Docker engine)"
)


def docker(*args: str) -> list[str]:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.split()


def nodes_sh(*args: str) -> None:
    # A small image stands in for the API's: what is checked here is the node, not what it serves.
    env = {**os.environ, "SEQSERVE_IMAGE": "debian:bookworm-slim"}
    subprocess.run(["bash", str(REPO / "deploy" / "swarm" / "nodes.sh"), *args], check=True, env=env)


def inventory() -> dict[str, list[str]]:
    """What nodes.sh could leave behind: containers, volumes, networks, the swarm and its members."""
    swarm = docker("info", "--format", "{{.Swarm.LocalNodeState}}")
    return {
        "containers": sorted(docker("ps", "-a", "--format", "{{.Names}}")),
        "volumes": sorted(docker("volume", "ls", "-q")),
        "networks": sorted(docker("network", "ls", "--format", "{{.Name}}")),
        "swarm": swarm,
        "members": sorted(docker("node", "ls", "--format", "{{.Hostname}}")) if swarm == ["active"] else [],
    }


def test_up_joins_a_worker_and_down_leaves_nothing_behind() -> None:
    before = inventory()
    try:
        nodes_sh("up", "1")
        during = inventory()
        assert "seqserve-node1" in during["containers"] and "seqserve-node1" in during["volumes"]
        assert "seqserve-nodes" in during["networks"] and during["swarm"] == ["active"]
        status = docker("node", "inspect", "seqserve-node1", "--format", "{{.Status.State}} {{.Spec.Role}}")
        assert status == ["ready", "worker"]
        loaded = docker("exec", "seqserve-node1", "docker", "image", "inspect", "--format", "{{.Id}}", "debian:bookworm-slim")
        assert loaded == docker("image", "inspect", "--format", "{{.Id}}", "debian:bookworm-slim")
    finally:
        nodes_sh("down")
    assert inventory() == before
