"""deploy/swarm/cluster.py's reading of the swarm, and rollout.py importing beside it as it runs."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from tests.support import REPO

SWARM = REPO / "deploy" / "swarm"


@pytest.fixture(scope="module")
def cluster() -> ModuleType:
    sys.path.insert(0, str(SWARM))  # as `python deploy/swarm/rollout.py` has it
    try:
        import cluster
        import rollout  # noqa: F401  # imports its sibling as a script does

        return cluster
    finally:
        sys.path.remove(str(SWARM))


def test_settled_when_every_replica_serves_on_a_ready_node(cluster: ModuleType) -> None:
    Task = cluster.Task
    ready = {"manager", "node1", "node2"}
    spread = [Task("a", "manager", "Running", "Running"), Task("b", "node1", "Running", "Running"),
              Task("c", "node2", "Running", "Running")]
    assert cluster.settled(spread, ready, 3)
    assert not cluster.settled(spread, ready, 2)
    assert not cluster.settled(spread, ready, 3, avoid="node1")  # a drain is not over while node1 serves
    starting = [*spread[:2], Task("c", "node2", "Running", "Starting")]
    assert not cluster.settled(starting, ready, 3)  # Running comes only once the health check passes


def test_a_lost_nodes_replicas_count_only_once_replaced(cluster: ModuleType) -> None:
    Task = cluster.Task
    ready = {"manager", "node2"}  # node1 is Down: what it last reported still reads Running
    lost = Task("b", "node1", "Running", "Running")
    before = [Task("a", "manager", "Running", "Running"), lost, Task("c", "node2", "Running", "Running")]
    assert not cluster.settled(before, ready, 3)
    replaced = [before[0], Task("b", "node1", "Shutdown", "Running"), before[2], Task("d", "node2", "Running", "Running")]
    assert cluster.settled(replaced, ready, 3, avoid="node1")
    # Back Ready, node1 still runs the replica it was told to stop: not settled until that one is gone.
    assert not cluster.settled(replaced, ready | {"node1"}, 3)
