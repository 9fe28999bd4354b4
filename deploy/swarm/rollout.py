"""Rollouts and faults under load on the Swarm stack: every request counted, none may fail. A check CI
asserts (`.ci/run`, the swarm stage), so it lives with the stack it checks rather than among the benches.

    python deploy/swarm/rollout.py [--clients 32] [--steady-s 15] [--keep] [--data DIR]

Run it with the project's environment (the `.venv` scripts/test.sh makes): it reads the dev sets with
`training.tagging_data` and `training.table_data`. Data: `--data`, default `$SEQSERVE_DATA`, else `../shared/data` beside the checkout.

Deploys stack.yml (beside this file) with up.sh (a one-node swarm, unless one is active: several nodes
come from `deploy/swarm/nodes.sh up 2`), then drives a closed loop of
`--clients` connections sending POST /classify to the load balancer's published port on 127.0.0.1, and
runs one phase at a time while the load runs:

  steady     nothing happens (the reference p99; Prometheus is checked against it)
  rollout    `docker service update --image` to a new model version, one replica at a time
  rollback   `docker service rollback` to the previous version
  kill       SIGKILL to one replica's container, until the swarm has replaced it
  scale      3 → 5 → 2 → 3 replicas
  drain      several nodes: a worker that runs a replica drained (`docker node update --availability
             drain`) until its replicas run elsewhere, then active again
  node-loss  several nodes: a worker that runs a replica killed whole (`docker kill` of its container:
             its connections are never closed) until the swarm marks it Down and replaces its replicas on
             the others, then started again until it is Ready
             (both end by spreading the replicas over every node again, 3 → 4 → 3 replicas: the swarm
             never moves running replicas back by itself)
  publish    repository mode only: a new `sentiment` version copied into the stack's model folder under a
             hidden name and renamed into place, until every replica serves it by default
  unpublish  that version's folder removed again, until every replica is back on the one before

(`--phases rollout --clients 4 --p99-ratio 0` runs the steady phase and the rollout, failures only: CI;
CI runs `--phases publish unpublish` the same way on the stack in repository mode.) Repository mode is
`SEQSERVE_REPOSITORY=DIR` for up.sh (stack.repository.yml): set it for this script, or deploy with it and
pass `--no-deploy`; the publish phases find the folder in the service's mount at /models.

Every request is answered (2xx), failed (any other status) or broken (reset, timeout, no answer): the
targets are 0 failed and 0 broken in every phase, a p99 at most 3× the steady one (`--p99-ratio`),
Prometheus counting every /classify request of the steady phase (within 1 %) from 3 replicas up, on as
many nodes as there are (up to 3), and,
for publish and unpublish, no answer from the version left behind once every replica switched. The new
version is the same bundles under a new manifest version (an image built FROM the current one), which is
what a retrained bundle looks like to the rollout. Removes the stack at the end (down.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cluster import (
    SERVICE,
    container_of,
    docker_on,
    nodes,
    ready_nodes,
    replica_nodes,
    serving,
    sh,
    wait_converged,
    wait_for,
    worker_with_a_replica,
)

from model.manifest import read_manifest, restamp
from training.table_data import read_labelled_table
from training.tagging_data import read_tagging

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("SEQSERVE_DATA", HERE.parents[1].parent / "shared" / "data"))
PUBLISHED = "sentiment"  # the bundle the publish phases give a new version
PROMETHEUS = "http://127.0.0.1:9090"
LB_METRICS = "http://127.0.0.1:8404"
NEXT_IMAGE_DOCKERFILE = """
FROM {base}
USER root
RUN python -c "import json, pathlib; \\
[p.write_text(json.dumps({{**m, 'version': m['version'] + '-next'}}, indent=2)) \\
 for p in pathlib.Path('/app/model').glob('*/manifest.json') for m in [json.loads(p.read_text())]]"
USER 10001:10001
"""


@dataclass
class Phase:
    name: str
    started: float = 0.0
    ended: float = 0.0
    latencies: list[float] = field(default_factory=list)
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    versions: list[tuple[float, str]] = field(default_factory=list)  # (seconds into the phase, "bundle version")
    lb_retries: float = 0.0  # requests HAProxy sent again (connect failed, closed or no answer in time, a 503)
    events: list[str] = field(default_factory=list)  # what the phase's action saw, with its timings

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return sum(count for outcome, count in self.outcomes.items() if outcome != "answered 200")


def request_bodies(data: Path, count: int = 2000) -> list[bytes]:
    """Real dev sentences, alternately SST-2 → sentiment and ATIS → atis, drawn with a fixed seed."""
    atis = [sentence.text for sentence in read_tagging(data / "atis" / "dev")]
    sst2 = [example.text for example in read_labelled_table(data / "sst2" / "dev.tsv")]
    rng = random.Random(0)
    bodies = ({"text": rng.choice(atis), "models": ["atis"]} if i % 2 else
              {"text": rng.choice(sst2), "models": ["sentiment"]} for i in range(count))
    return [json.dumps(body).encode() for body in bodies]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of `values`: the sorted value at index q·n/100 (NaN when there are none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def client(url: str, bodies: list[bytes], offset: int, phase: Phase, stop: asyncio.Event) -> None:
    """One closed-loop client on its own keep-alive connection."""
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1)) as http:
        i = offset
        while not stop.is_set():
            body = bodies[i % len(bodies)]
            i += 1
            sent = time.monotonic()
            try:
                response = await http.post("/classify", content=body, headers=headers)
            except httpx.HTTPError as exc:
                phase.outcomes[f"broken: {type(exc).__name__}: {exc}"] += 1
                continue
            phase.latencies.append(time.monotonic() - sent)
            phase.outcomes[f"answered {response.status_code}"] += 1
            if response.status_code == 200:
                for bundle, version in response.json()["model_versions"].items():
                    phase.versions.append((sent - phase.started, f"{bundle} {version}"))


async def under_load(url: str, bodies: list[bytes], clients: int, phase: Phase, action) -> Phase:
    """Run `action` (a blocking callable) while `clients` send requests; stop the load 2 s after it."""
    stop = asyncio.Event()
    retries_before = lb_retries()
    phase.started = time.monotonic()
    tasks = [asyncio.ensure_future(client(url, bodies, i * 97, phase, stop)) for i in range(clients)]
    await asyncio.sleep(2)
    phase.events = await asyncio.to_thread(action) or []
    await asyncio.sleep(2)
    stop.set()
    await asyncio.gather(*tasks)
    phase.ended = time.monotonic()
    phase.lb_retries = lb_retries() - retries_before
    return phase


def update(*args: str) -> None:
    subprocess.run(["docker", "service", "update", "--detach=false", "--quiet", *args, SERVICE], check=True)


def kill_one() -> list[str]:
    victim = serving()[0]
    killed = time.monotonic()
    docker_on(victim.node, "kill", "--signal", "KILL", container_of(victim))
    time.sleep(1)  # let the swarm see the task die before waiting for its replacement
    return [f"a replica on {victim.node} killed; replaced {wait_converged(3) - killed:.1f} s later"]


def rebalance() -> None:
    """Spread the replicas over the nodes again (the swarm never moves running ones back by itself): a 4th
    replica goes to the node that runs the fewest, and scaling back removes one from the node that runs
    the most. `service update --force` would not: with start-first, each new replica is placed while the
    old one still counts on its node."""
    scale(4, 3)


def drain() -> list[str]:
    """Drain a worker that runs a replica (maintenance), wait until its replicas run elsewhere, reactivate
    it and spread the replicas again."""
    node = worker_with_a_replica()
    drained = time.monotonic()
    sh("docker", "node", "update", "--availability", "drain", node)
    moved = wait_converged(3, avoid=node)
    sh("docker", "node", "update", "--availability", "active", node)
    rebalance()
    return [f"{node} drained; its replicas ran elsewhere {moved - drained:.1f} s later; active again, replicas spread"]


def node_loss() -> list[str]:
    """Kill a worker that runs a replica (its whole engine, with no goodbye), wait until the swarm marks it
    Down and replaces its replicas on the other nodes, then bring it back and spread the replicas again."""
    node = worker_with_a_replica()
    killed = time.monotonic()
    sh("docker", "kill", node)
    down = wait_for(f"{node} marked Down", lambda: nodes()[node].startswith("Down"))
    replaced = wait_converged(3, avoid=node)
    sh("docker", "start", node)
    restarted = time.monotonic()
    back = wait_for(f"{node} Ready again", lambda: nodes()[node] == "Ready Active")
    wait_converged(3)  # what the node ran before is stopped, not served
    rebalance()
    return [(f"{node} killed; marked Down {down - killed:.1f} s later; its replicas replaced on the other nodes "
             f"{replaced - killed:.1f} s after the kill; restarted, Ready {back - restarted:.1f} s later; replicas spread")]


def scale(*counts: int) -> None:
    for count in counts:
        command = ["docker", "service", "scale", "--detach=false", f"{SERVICE}={count}"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wait_converged(count)
        time.sleep(3)


def lb_retries() -> float:
    """HAProxy's own count of retried requests, read from its metrics endpoint on the host."""
    scrape = httpx.get(f"{LB_METRICS}/metrics", timeout=10).text
    return sum(float(line.rpartition(" ")[2]) for line in scrape.splitlines()
               if line.startswith('haproxy_backend_retry_warnings_total{proxy="api"'))


def prometheus(query: str) -> list[dict]:
    answer = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=10).json()
    return answer["data"]["result"]


def prometheus_total(query: str) -> float:
    return sum(float(sample["value"][1]) for sample in prometheus(query))


def replicas_scraped() -> dict[str, str]:
    """The replicas Prometheus finds through DNS now, and the health of their last scrape. (Series of
    replicas from an earlier deployment may linger in its storage: queries name the current ones.)"""
    answer = httpx.get(f"{PROMETHEUS}/api/v1/targets", params={"state": "active"}, timeout=10).json()
    targets = answer["data"]["activeTargets"]
    return {t["labels"]["instance"]: t["health"] for t in targets if t["labels"]["job"] == "seqserve"}


def scraped_where(replicas: dict[str, str]) -> tuple[dict[str, str], bool]:
    """Each scraped replica → "node: health"; True when 3 are up, spread over as many nodes as there are
    (up to 3)."""
    node_of = replica_nodes()
    nodes_of = {instance: node_of.get(instance.rpartition(":")[0], "?") for instance in replicas}
    where = {instance: f"{nodes_of[instance]}: {health}" for instance, health in replicas.items()}
    spread = list(replicas.values()) == ["up"] * 3 and len(set(nodes_of.values()) - {"?"}) == min(3, len(ready_nodes()))
    return where, spread


def classified(instances: list[str]) -> float:
    selector = f'route="/classify",instance=~"{"|".join(instances)}"'
    return prometheus_total(f"sum(seqserve_request_duration_seconds_count{{{selector}}})")


LB_REQUESTS = 'sum(haproxy_frontend_http_requests_total{proxy="api"})'


def settle_scrapes() -> None:
    time.sleep(7)  # longer than the stack's 5 s scrape interval: the next reading includes everything sent


def version_switch(phase: Phase) -> str:
    """When answers changed version: the first and last second at which each bundle version answered."""
    seen: dict[str, list[float]] = collections.defaultdict(list)
    for at, version in phase.versions:
        seen[version].append(at)
    return "; ".join(f"{v}: {min(t):.1f}–{max(t):.1f} s" for v, t in sorted(seen.items()))


def report(phases: list[Phase], steady_p99: float, p99_ratio: float) -> bool:
    print("\n| phase | requests | rps | failed | LB retries | p50 ms | p99 ms | p99 / steady | versions answering (s into phase) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    ok = True
    for phase in phases:
        duration = phase.ended - phase.started
        p99 = percentile(phase.latencies, 99)
        ok &= phase.failed == 0 and (not p99_ratio or p99 <= p99_ratio * steady_p99)
        print(
            f"| {phase.name} | {phase.sent} | {phase.sent / duration:.0f} | {phase.failed} | {phase.lb_retries:.0f} "
            f"| {percentile(phase.latencies, 50) * 1000:.1f} | {p99 * 1000:.1f} | {p99 / steady_p99:.2f} "
            f"| {version_switch(phase)} |"
        )
        for outcome, count in sorted(phase.outcomes.items()):
            if outcome != "answered 200":
                print(f"|   {outcome} | {count} | | | | | | | |")
    for phase in phases:
        for event in phase.events:
            print(f"{phase.name}: {event}")
    return ok


def build_next_image() -> str:
    """The running image with every bundle's manifest version suffixed `-next`; returns its name."""
    base = sh("docker", "service", "inspect", "-f", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", SERVICE).split("@")[0]
    next_image = f"{base}-next"
    dockerfile = NEXT_IMAGE_DOCKERFILE.format(base=base)
    subprocess.run(["docker", "build", "-q", "-t", next_image, "-"], input=dockerfile, text=True, check=True)
    subprocess.run(["bash", str(HERE / "nodes.sh"), "load", next_image], check=True)  # no nodes: does nothing
    return next_image


@dataclass
class Publication:
    """The `sentiment` version the publish phase adds to the stack's repository and unpublish removes."""

    folder: Path  # the bundle's folder in the repository on the host: one folder per version
    before: str  # the version every replica served before
    version: str  # the published one
    switched: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # phase → (left, joined, when)


def repository() -> Publication:
    """The stack's repository (the host folder mounted at /models) and the version to publish there."""
    mounts = "{{range .Spec.TaskTemplate.ContainerSpec.Mounts}}{{if eq .Target \"/models\"}}{{.Source}}{{end}}{{end}}"
    source = sh("docker", "service", "inspect", "-f", mounts, SERVICE)
    if not source:
        raise SystemExit("publish needs the stack in repository mode: SEQSERVE_REPOSITORY=DIR bash deploy/swarm/up.sh")
    before = set(replica_defaults(PUBLISHED))
    if len(before) != 1:
        raise SystemExit(f"the replicas do not serve one {PUBLISHED} version: {sorted(before)}")
    version = before.pop()
    return Publication(Path(source) / PUBLISHED, version, f"{version}-published")


def replica_defaults(name: str) -> list[str]:
    """The version of bundle `name` each running replica answers with by default, asked inside each one."""
    script = ("import json, urllib.request; models = json.load(urllib.request.urlopen('http://127.0.0.1:8000/models'));"
              f" print(next(m['version'] for m in models['models'] if m['name'] == {name!r} and m['default']))")
    return [docker_on(task.node, "exec", container_of(task), "python", "-c", script) for task in serving()]


def all_replicas_on(version: str, timeout_s: float = 120) -> float:
    """Wait until every replica answers with `version` by default; returns when (monotonic clock)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if set(replica_defaults(PUBLISHED)) == {version}:
            return time.monotonic()
        time.sleep(0.5)
    raise SystemExit(f"not every replica switched to {PUBLISHED} {version} within {timeout_s:.0f} s")


def publish(publication: Publication) -> None:
    """Copy the served version under a hidden name, give its manifest the new version, rename into place."""
    source = next(path for path in publication.folder.iterdir() if not path.name.startswith((".", "_"))
                  and (path / "manifest.json").is_file() and read_manifest(path).version == publication.before)
    staging = publication.folder / f".{publication.version}.tmp"
    shutil.copytree(source, staging)
    restamp(staging, publication.version)
    staging.rename(publication.folder / publication.version)
    publication.switched["publish"] = (publication.before, publication.version, all_replicas_on(publication.version))


def unpublish(publication: Publication) -> None:
    """Rename the published folder out of sight, delete it, wait until every replica is back."""
    hidden = publication.folder / f".{publication.version}.old"
    (publication.folder / publication.version).rename(hidden)
    shutil.rmtree(hidden)
    publication.switched["unpublish"] = (publication.version, publication.before, all_replicas_on(publication.before))


def left_behind(phases: list[Phase], publication: Publication | None) -> bool:
    """Print, for publish and unpublish, when every replica had switched and how many answers still came
    from the version left behind after that; True when none did."""
    ok = True
    for phase in phases:
        if publication is None or phase.name not in publication.switched:
            continue
        old, new, switched = publication.switched[phase.name]
        since = switched - phase.started
        stale = sum(1 for at, version in phase.versions if at > since and version == f"{PUBLISHED} {old}")
        ok &= stale == 0
        print(f"{phase.name}: every replica serves {PUBLISHED} {new} {since:.1f} s into the phase (its action began "
              f"2 s in); answers from {old} sent after that: {stale}")
    return ok


def fault_actions(next_image: str, publication: Publication | None) -> dict[str, Callable[[], list[str] | None]]:
    """Each phase's action, by the name `--phases` takes (they run in this order)."""
    return {
        "rollout": lambda: update("--image", next_image),
        "rollback": lambda: update("--rollback"),
        "kill": kill_one,
        "scale": lambda: scale(5, 2, 3),
        "drain": drain,
        "node-loss": node_loss,
        "publish": lambda: publish(publication),  # type: ignore[arg-type]
        "unpublish": lambda: unpublish(publication),  # type: ignore[arg-type]
    }


def check_errors_pass_through(url: str) -> None:
    """Bad input gets the service's own 4xx through the load balancer, not a retry or a 5xx."""
    for body, field_name in (({"text": 5}, "text"), ({"texts": ["a"], "models": ["nope"]}, "models.0")):
        response = httpx.post(f"{url}/classify", json=body, timeout=10)
        assert response.status_code == 422 and response.json()["error"]["field"] == field_name, response.text
    print("bad input through the load balancer: 422 naming the field, as the service answers it")


async def run(args: argparse.Namespace, next_image: str, publication: Publication | None) -> bool:
    url = f"http://127.0.0.1:{args.lb_port}"
    bodies = request_bodies(args.data)
    check_errors_pass_through(url)
    await under_load(url, bodies, args.clients, Phase("warm-up"), lambda: time.sleep(3))

    settle_scrapes()
    replicas = replicas_scraped()
    where, spread = scraped_where(replicas)
    counted_before, lb_before = classified(list(replicas)), prometheus_total(LB_REQUESTS)
    steady = await under_load(url, bodies, args.clients, Phase("steady"), lambda: time.sleep(args.steady_s))
    settle_scrapes()
    counted = classified(list(replicas)) - counted_before

    phases = [steady]
    for name, action in fault_actions(next_image, publication).items():
        if name in args.phases:
            phases.append(await under_load(url, bodies, args.clients, Phase(name), action))
    settle_scrapes()
    lb_total = prometheus_total(LB_REQUESTS) - lb_before
    sent_total = sum(phase.sent for phase in phases)

    steady_p99 = percentile(steady.latencies, 99)
    ok = report(phases, steady_p99, args.p99_ratio)
    ok &= left_behind(phases, publication)
    print(f"\nPrometheus, steady phase: replicas {where}; "
          f"/classify requests counted {counted:.0f}, sent {steady.sent} ({(counted - steady.sent) / steady.sent:+.2%})")
    print(f"Prometheus, HAProxy frontend over all measured phases: {lb_total:.0f} requests, sent {sent_total} "
          f"({(lb_total - sent_total) / sent_total:+.2%})")
    return ok and spread and abs(counted - steady.sent) <= 0.01 * steady.sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--steady-s", type=float, default=15)
    parser.add_argument("--phases", nargs="+", choices=list(fault_actions("", None)),
                        default=["rollout", "rollback", "kill", "scale"])
    parser.add_argument("--p99-ratio", type=float, default=3.0,
                        help="largest p99 of a phase / steady p99 (0: no latency target, failures only)")
    parser.add_argument("--lb-port", type=int, default=8080)
    parser.add_argument("--data", type=Path, default=DATA, help="datasets folder (default: $SEQSERVE_DATA)")
    parser.add_argument("--no-deploy", action="store_true", help="use the stack already deployed")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end")
    args = parser.parse_args()
    if "unpublish" in args.phases and "publish" not in args.phases:
        parser.error("unpublish removes what publish added: give both")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]  # in order with docker's output
    if not args.no_deploy:
        subprocess.run(["bash", str(HERE / "up.sh")], check=True)
    try:
        next_image = build_next_image() if {"rollout", "rollback"} & set(args.phases) else ""
        publication = repository() if {"publish", "unpublish"} & set(args.phases) else None
        ok = asyncio.run(run(args, next_image, publication))
    finally:
        if not args.keep:
            subprocess.run(["bash", str(HERE / "down.sh")], check=True)
    print("targets met" if ok else "TARGETS MISSED")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
