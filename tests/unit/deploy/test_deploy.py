"""deploy/: the Kubernetes overlays render and validate, and every orchestrator file agrees with the app.

What is checked here is what breaks silently on a cluster: a probe on a path the app does not serve, a
grace period shorter than the drain, a port or image name that drifted from the compose file.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.config import Settings
from app.main import create_app
from tests.support import REPO

K8S = REPO / "deploy" / "k8s"
SWARM = REPO / "deploy" / "swarm"
OVERLAYS = sorted(path.name for path in (K8S / "overlays").iterdir())
KUBERNETES_VERSION = "1.30.0"  # the oldest release still maintained upstream when this was written

APP_PATHS = {getattr(route, "path", "") for route in create_app(Settings()).routes}
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
COMPOSE_REPOSITORY = yaml.safe_load((REPO / "docker-compose.repository.yml").read_text())
STACK = yaml.safe_load((SWARM / "stack.yml").read_text())
STACK_REPOSITORY = yaml.safe_load((SWARM / "stack.repository.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()
# Where the image's baked bundles are (its ENV), and the folders its code lives in: repository mode must
# mount its volume elsewhere, since /app/model holds the `model` Python package beside the bundles.
IMAGE_MODEL_DIR = re.search(r"\bSEQSERVE_MODEL_DIR=(\S+)", DOCKERFILE).group(1)  # type: ignore[union-attr]
IMAGE_CODE = {f"/app/{name}" for name in re.findall(r"^COPY --from=source /app/(\w+) ", DOCKERFILE, re.MULTILINE)}
KINDS = {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}
EXTRA_KINDS = {"repository": {"PersistentVolumeClaim"}}  # what an overlay adds to the base's resources


def seconds(duration: str) -> float:
    """Docker's duration strings as the stack file uses them: 30s, 2s, 1m30s."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts, duration
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(value) * scale[unit] for value, unit in parts)


def drain_bound(env: dict[str, str]) -> float:
    """Longest a replica takes to stop after SIGTERM: the drain delay, then at most the request timeout + 1 s."""
    return float(env["SEQSERVE_DRAIN_DELAY_S"]) + float(env["SEQSERVE_REQUEST_TIMEOUT_S"]) + 1


@pytest.fixture(scope="module")
def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("kubectl is needed to render deploy/k8s (the dev extra installs it)")
        pytest.skip("kubectl is not installed: deploy/k8s overlays not rendered")
    return found


def render(kubectl: str, overlay: str) -> dict[str, dict[str, Any]]:
    out = subprocess.run([kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=True)
    return {doc["kind"]: doc for doc in yaml.safe_load_all(out.stdout) if doc}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_to_resources_valid_for_kubernetes(kubectl: str, overlay: str) -> None:
    resources = render(kubectl, overlay)
    assert set(resources) == KINDS | EXTRA_KINDS.get(overlay, set())
    for resource in resources.values():
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_validation_catches_a_misspelt_field() -> None:
    """The schema check above is strict: an unknown field fails it."""
    service = yaml.safe_load((K8S / "base" / "service.yaml").read_text())
    service["spec"]["ports"][0]["targetPorts"] = 8000
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_agrees_with_the_app(kubectl: str, overlay: str) -> None:
    resources = render(kubectl, overlay)
    pod = resources["Deployment"]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    port = container["ports"][0]
    assert port == {"name": "http", "containerPort": Settings().port}
    for probe, path in (("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
        assert path in APP_PATHS
    assert pod["metadata"]["annotations"]["prometheus.io/path"] in APP_PATHS
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port["containerPort"])
    assert float(env["SEQSERVE_DRAIN_DELAY_S"]) > 0
    assert pod["spec"]["terminationGracePeriodSeconds"] >= drain_bound(env) + 5
    # the readiness probe notices a drain well within the delay
    readiness = container["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < float(env["SEQSERVE_DRAIN_DELAY_S"])
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"]["drop"] == ["ALL"] and pod["spec"]["securityContext"]["runAsNonRoot"]
    assert resources["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    selector = resources["Deployment"]["spec"]["selector"]["matchLabels"]
    assert resources["Service"]["spec"]["selector"] == selector
    assert resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert resources["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == resources["Deployment"]["metadata"]["name"]


def test_cpu_image_is_the_one_compose_builds_and_gpu_overlay_asks_for_a_gpu(kubectl: str) -> None:
    cpu = render(kubectl, "cpu")["Deployment"]["spec"]["template"]["spec"]
    assert cpu["containers"][0]["image"] == COMPOSE["services"]["api"]["image"] == "seqserve:cpu"
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"]["limits"]
    gpu = render(kubectl, "gpu")["Deployment"]["spec"]["template"]["spec"]
    container = gpu["containers"][0]
    assert container["image"] == "seqserve:cuda"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "SEQSERVE_DEVICE", "value": "cuda"} in container["env"]
    assert any(toleration["key"] == "nvidia.com/gpu" for toleration in gpu["tolerations"])


def test_queue_autoscale_scales_on_the_metric_the_app_exports(kubectl: str) -> None:
    metrics = render(kubectl, "queue-autoscale")["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert [metric["pods"]["metric"]["name"] for metric in metrics] == ["seqserve_queue_depth"]
    rules = yaml.safe_load((K8S / "overlays" / "queue-autoscale" / "prometheus-adapter-rules.yaml").read_text())
    assert rules["rules"][0]["name"]["as"] == "seqserve_queue_depth"
    assert "seqserve_queue_depth" in (REPO / "app" / "metrics.py").read_text()


def test_swarm_stack_agrees_with_the_app_and_compose() -> None:
    api = STACK["services"]["api"]
    env = api["environment"]
    assert api["image"] == "${SEQSERVE_IMAGE:-" + COMPOSE["services"]["api"]["image"] + "}"
    assert float(env["SEQSERVE_DRAIN_DELAY_S"]) > 0
    assert seconds(api["stop_grace_period"]) >= drain_bound(env) + 5
    assert api["read_only"] and api["cap_drop"] == ["ALL"]
    assert [volume["target"] for volume in api["volumes"] if volume["type"] == "tmpfs"] == ["/tmp"]
    deploy = api["deploy"]
    assert deploy["endpoint_mode"] == "dnsrr"
    update = deploy["update_config"]
    assert (update["parallelism"], update["order"], update["failure_action"]) == (1, "start-first", "rollback")
    health = api["healthcheck"]
    assert seconds(update["monitor"]) >= seconds(health["interval"]) * health["retries"]
    assert deploy["rollback_config"]["order"] == "start-first"
    assert deploy["placement"]["max_replicas_per_node"] == "${SEQSERVE_MAX_REPLICAS_PER_NODE:-0}"  # 0: no cap
    for name in ("lb", "prometheus"):  # where the published port is (and the only images, on nodes.sh's swarm)
        assert STACK["services"][name]["deploy"]["placement"]["constraints"] == ["node.role == manager"], name
    for name, service in STACK["services"].items():
        assert service["deploy"]["endpoint_mode"] == "dnsrr", name  # no virtual IPs: no IPVS needed
        assert all(port["mode"] == "host" for port in service.get("ports", [])), name


def test_load_balancer_checks_readyz_and_retries_only_what_is_safe() -> None:
    config = (SWARM / "lb" / "haproxy.cfg").read_text()
    assert "option httpchk GET /readyz" in config and "/readyz" in APP_PATHS
    assert re.search(rf"server-template api \d+ tasks\.api:{Settings().port} ", config)
    retry_on = re.search(r"^\s*retry-on (.+)$", config, re.MULTILINE)
    assert retry_on is not None and not re.search(r"\b4\d\d\b", retry_on.group(1))  # a 4xx is never retried
    assert "option http-buffer-request" in config and "option redispatch" in config
    # A lost node never closes its connections: the LB gives up on it 1 s after the service's own deadline
    # (by which time a live replica has answered, if only 504) and sends the request elsewhere.
    assert "response-timeout" in retry_on.group(1).split()
    server_timeout = re.search(r"^\s*timeout server (\d+)s\b", config, re.MULTILINE)
    assert server_timeout is not None
    assert int(server_timeout.group(1)) == float(STACK["services"]["api"]["environment"]["SEQSERVE_REQUEST_TIMEOUT_S"]) + 1
    checks = re.search(r"default-server check inter (\d+)s fall (\d+)", config)
    assert checks is not None
    assert int(checks.group(1)) * int(checks.group(2)) < float(STACK["services"]["api"]["environment"]["SEQSERVE_DRAIN_DELAY_S"])
    prometheus = yaml.safe_load((SWARM / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["seqserve"]["dns_sd_configs"][0] == {**jobs["seqserve"]["dns_sd_configs"][0], "names": ["tasks.api"], "port": Settings().port}


def default_of(value: str) -> str:
    """The default of a compose variable (`${NAME:-5}` → `5`), or the value itself."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return match.group(1) if match else value


def check_repository_mode(env: dict[str, str], target: str) -> None:
    """The volume is where SEQSERVE_MODEL_DIR points, hides none of the image's code, and is polled."""
    assert set(env) <= {f"SEQSERVE_{name.upper()}" for name in Settings.model_fields}
    assert env["SEQSERVE_MODEL_DIR"] == target
    assert not any(code == target or code.startswith(target.rstrip("/") + "/") for code in IMAGE_CODE), target
    assert Settings(model_poll_s=default_of(str(env["SEQSERVE_MODEL_POLL_S"]))).model_poll_s > 0


def model_mounts(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [volume for volume in service.get("volumes", []) if isinstance(volume, dict) and volume["type"] != "tmpfs"]


def test_repository_mode_mounts_a_read_only_volume_and_serves_it(kubectl: str) -> None:
    """Compose override, Swarm stack file and Kubernetes overlay; without them, the image's own bundles."""
    assert {"/app/app", "/app/model"} <= IMAGE_CODE and IMAGE_MODEL_DIR in IMAGE_CODE
    for base, mode in ((COMPOSE, COMPOSE_REPOSITORY), (STACK, STACK_REPOSITORY)):
        assert model_mounts(base["services"]["api"]) == [] and "SEQSERVE_MODEL_DIR" not in base["services"]["api"]["environment"]
        [mount] = model_mounts(mode["services"]["api"])
        assert mount["type"] == "bind" and mount["read_only"] is True
        check_repository_mode(mode["services"]["api"]["environment"], mount["target"])
    assert STACK_REPOSITORY["version"] == STACK["version"]
    assert "stack.repository.yml" in (SWARM / "up.sh").read_text()
    for overlay in OVERLAYS:
        pod = render(kubectl, overlay)["Deployment"]["spec"]["template"]["spec"]
        mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] != "/tmp"]
        assert (overlay == "repository") == bool(mounts), overlay
    resources = render(kubectl, "repository")
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] != "/tmp"]
    assert mount["readOnly"] is True
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    claim = volume["persistentVolumeClaim"]
    assert claim == {"claimName": resources["PersistentVolumeClaim"]["metadata"]["name"], "readOnly": True}
    check_repository_mode({item["name"]: item["value"] for item in pod["containers"][0]["env"]}, mount["mountPath"])


# Settings a container of the image does not take from the compose environment, and why.
FIXED_BY_IMAGE = {
    "SEQSERVE_MODEL_DIR": "the image's ENV: the bundles baked in at /app/model (repository mode sets its own)",
    "SEQSERVE_HOST": "the container listens on every interface; the published port decides who reaches it",
    "SEQSERVE_PORT": "8000 inside the container; HOST_PORT picks the host's side",
    "SEQSERVE_METRICS_DIR": "a per-server folder under the container's /tmp tmpfs",
}


def test_compose_passes_every_setting_a_container_can_use() -> None:
    """A setting added to Settings must reach the container too, or be listed above with its reason."""
    settings = {f"SEQSERVE_{name.upper()}" for name in Settings.model_fields}
    passed = set(COMPOSE["services"]["api"]["environment"])
    assert passed.isdisjoint(FIXED_BY_IMAGE), passed & set(FIXED_BY_IMAGE)
    assert passed | set(FIXED_BY_IMAGE) == settings, {
        "missing from docker-compose.yml": sorted(settings - passed - set(FIXED_BY_IMAGE)),
        "not a setting": sorted(passed - settings),
    }
