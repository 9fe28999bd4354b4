"""What the swarm runs where, asked of the manager's engine: the API service's tasks, the nodes, and
commands on the engine of whichever node holds a replica (this engine, or a node nodes.sh started).

rollout.py's phases wait on these; one node or several, the answers come from `docker service ps` and
`docker node ls`, never from this engine's own containers alone.
"""

from __future__ import annotations

import functools
import subprocess
import time
from dataclasses import dataclass

SERVICE = "seqserve_api"


def sh(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@dataclass(frozen=True)
class Task:
    id: str
    node: str  # the node's hostname ("" while unscheduled)
    desired: str  # Running, Shutdown, …
    state: str  # its current state's first word: Running (healthy, for a service with a health check), Starting, …


def tasks() -> list[Task]:
    """The service's tasks, including those told to stop (not the failed history)."""
    shown = sh("docker", "service", "ps", SERVICE, "--no-trunc",
               "--format", "{{.ID}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}")
    return [Task(id, node, desired, current.split(" ")[0])
            for id, node, desired, current in (line.split("|") for line in shown.splitlines())]


def nodes() -> dict[str, str]:
    """Each node's hostname → "Ready Active", "Down Active", "Ready Drain", …"""
    shown = sh("docker", "node", "ls", "--format", "{{.Hostname}}|{{.Status}} {{.Availability}}")
    return dict(line.split("|") for line in shown.splitlines())


def ready_nodes() -> set[str]:
    return {node for node, status in nodes().items() if status.startswith("Ready")}


def serves(task: Task, ready: set[str]) -> bool:
    return task.desired == "Running" and task.state == "Running" and task.node in ready


def serving() -> list[Task]:
    """The replicas serving now: running, meant to run, on a node that is Ready."""
    ready = ready_nodes()
    return [task for task in tasks() if serves(task, ready)]


def converged(replicas: int, avoid: str = "") -> bool:
    return settled(tasks(), ready_nodes(), replicas, avoid)


def settled(every: list[Task], ready: set[str], replicas: int, avoid: str = "") -> bool:
    """`replicas` replicas serve, none on node `avoid`, every replica meant to run does, and none told to
    stop still runs on a reachable node (what ran on a lost node is out of the LB's view already)."""
    up = [task for task in every if serves(task, ready)]
    wanted = [task for task in every if task.desired == "Running"]
    stopping = [task for task in every if task.desired != "Running" and task.state == "Running" and task.node in ready]
    return len(up) == len(wanted) == replicas and not stopping and all(task.node != avoid for task in up)


def wait_for(what: str, check, timeout_s: float = 180, every_s: float = 1.0) -> float:
    """Poll `check()` until it holds (every second: the engines share the cores with the load); returns
    when it did (monotonic clock)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(every_s)
    raise SystemExit(f"not within {timeout_s:.0f} s: {what}")


def wait_converged(replicas: int, avoid: str = "") -> float:
    return wait_for(f"{SERVICE} converged to {replicas} serving replicas", lambda: converged(replicas, avoid))


@functools.cache
def manager() -> str:
    """This engine's node name (asked once: every command on a replica's node checks it)."""
    return sh("docker", "info", "--format", "{{.Name}}")


def docker_on(node: str, *args: str) -> str:
    """A docker command on `node`'s engine: this one for the manager, else the node container's own (the
    nodes nodes.sh starts are containers named after their hostname)."""
    prefix = ("docker",) if node == manager() else ("docker", "exec", node, "docker")
    return sh(*prefix, *args)


def container_of(task: Task) -> str:
    return sh("docker", "inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", task.id)


def worker_with_a_replica() -> str:
    """A node other than the manager that runs a replica: the one to drain or lose."""
    workers = sorted({task.node for task in serving()} - {manager()})
    if not workers:
        raise SystemExit("no worker node runs a replica: start nodes first (deploy/swarm/nodes.sh up 2)")
    return workers[0]


def replica_nodes() -> dict[str, str]:
    """Each serving replica's address on the stack's network → its node."""
    template = "{{range .NetworksAttachments}}{{range .Addresses}}{{.}} {{end}}{{end}}"
    return {address.split("/")[0]: task.node for task in serving()
            for address in sh("docker", "inspect", "--format", template, task.id).split()}
