"""deploy/kserve: valid against KServe's own CRD schemas, and in agreement with the app and deploy/k8s.

No cluster runs here, so the CRDs' openAPIV3Schema is checked with jsonschema, strictly: the API server
prunes an unknown field without a word, which is how a misspelt probe or security setting vanishes on a
cluster, so here every object the schema describes refuses keys it does not list (as `kubectl apply
--validate=strict` would). The CRDs are read in place from the specs beside the data (SEQSERVE_DATA's
parent, or ../shared beside the checkout); without them the schema tests skip, except in CI.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.config import Settings
from app.main import create_app
from tests.support import REPO, shared_spec

KSERVE = REPO / "deploy" / "kserve"
RUNTIME = yaml.safe_load((KSERVE / "clusterservingruntime.yaml").read_text())
SERVICE = yaml.safe_load((KSERVE / "inferenceservice.yaml").read_text())
K8S_DEPLOYMENT = yaml.safe_load((REPO / "deploy" / "k8s" / "base" / "deployment.yaml").read_text())
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
APP_PATHS = {getattr(route, "path", "") for route in create_app(Settings()).routes}
KSERVE_MODEL_DIR = "/mnt/models"  # where KServe's storage initializer puts storageUri
FastLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the InferenceService CRD is 2 MB of YAML


def strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its properties (and does
    not say it keeps unknown fields)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    tightened = {key: strict(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        tightened["additionalProperties"] = False
    return tightened


@functools.cache
def load_crd(file: str) -> dict[str, Any]:
    return yaml.load(shared_spec(f"kserve-crds/{file}").read_text(encoding="utf-8"), Loader=FastLoader)


def crd_validator(file: str, resource: dict[str, Any]) -> jsonschema.Draft7Validator:
    """A strict validator for `resource` from the CRD in `file`, checking its apiVersion and kind first."""
    crd = load_crd(file)
    assert resource["kind"] == crd["spec"]["names"]["kind"]
    versions = {f"{crd['spec']['group']}/{version['name']}": version for version in crd["spec"]["versions"]}
    assert resource["apiVersion"] in versions, sorted(versions)
    version = versions[resource["apiVersion"]]
    assert version["served"]
    return jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))


CASES = [("serving.kserve.io_clusterservingruntimes.yaml", RUNTIME),
         ("serving.kserve.io_inferenceservices.yaml", SERVICE)]


@pytest.mark.parametrize(("file", "resource"), CASES, ids=["ClusterServingRuntime", "InferenceService"])
def test_valid_against_the_kserve_crd(file: str, resource: dict[str, Any]) -> None:
    errors = [f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
              for error in crd_validator(file, resource).iter_errors(resource)]
    assert errors == []
    assert set(resource["metadata"]) <= {"name", "annotations", "labels"} and resource["metadata"]["name"]


@pytest.mark.parametrize(("file", "resource", "where"), [
    (CASES[0][0], RUNTIME, ("spec", "containers", 0, "readinessProbe", "httpGet")),
    (CASES[1][0], SERVICE, ("spec", "predictor", "model")),
], ids=["ClusterServingRuntime", "InferenceService"])
def test_validation_catches_a_misspelt_field(file: str, resource: dict[str, Any], where: tuple) -> None:
    broken = copy.deepcopy(resource)
    node = broken
    for key in where:
        node = node[key]
    node["prot"] = 8080
    with pytest.raises(jsonschema.ValidationError, match="'prot' was unexpected"):
        crd_validator(file, broken).validate(broken)


def container() -> dict[str, Any]:
    (only,) = RUNTIME["spec"]["containers"]
    return only


def environment() -> dict[str, str]:
    return {item["name"]: item["value"] for item in container()["env"]}


def test_runtime_serves_the_protocol_on_kserves_port_and_model_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime, served = RUNTIME["spec"], container()
    assert served["name"] == "kserve-container" and runtime["protocolVersions"] == ["v2"]
    for name, value in environment().items():
        assert name.removeprefix("SEQSERVE_").lower() in Settings.model_fields, name
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.port, settings.model_dir) == (8080, Path(KSERVE_MODEL_DIR))
    assert served["ports"] == [{"containerPort": settings.port, "protocol": "TCP"}]
    for probe, path in (("startupProbe", "/v2/health/ready"), ("readinessProbe", "/v2/health/ready"),
                        ("livenessProbe", "/v2/health/live")):
        assert served[probe]["httpGet"] == {"path": path, "port": settings.port}
        assert path in APP_PATHS
    assert {"/v2/models/{model_name}/infer", "/v2/models/{model_name}/versions/{model_version}/infer"} <= APP_PATHS
    assert runtime["annotations"]["prometheus.kserve.io/port"] == str(settings.port)
    assert runtime["annotations"]["prometheus.kserve.io/path"] in APP_PATHS
    assert served["image"] == COMPOSE["services"]["api"]["image"] == "seqserve:cpu"


def test_runtime_is_hardened_and_drains_as_deploy_k8s_does() -> None:
    served, env = container(), environment()
    (k8s,) = K8S_DEPLOYMENT["spec"]["template"]["spec"]["containers"]
    k8s_env = {item["name"]: item["value"] for item in k8s["env"]}
    for name in ("SEQSERVE_DRAIN_DELAY_S", "SEQSERVE_REQUEST_TIMEOUT_S", "SEQSERVE_WORKERS"):
        assert env[name] == k8s_env[name], name
    assert served["resources"] == k8s["resources"]
    assert {key: served["securityContext"][key] for key in k8s["securityContext"]} == k8s["securityContext"]
    assert served["securityContext"]["runAsNonRoot"] and served["securityContext"]["runAsUser"] != 0
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        timing = {key: value for key, value in k8s[probe].items() if key != "httpGet"}
        assert {key: served[probe][key] for key in timing} == timing, probe
    readiness = served["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < float(env["SEQSERVE_DRAIN_DELAY_S"])
    (mount,) = served["volumeMounts"]
    (volume,) = RUNTIME["spec"]["volumes"]
    assert mount == {"name": volume["name"], "mountPath": "/tmp"}
    assert volume["emptyDir"] == K8S_DEPLOYMENT["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]


def test_inference_service_uses_the_runtime_with_the_pod_settings_it_cannot_hold() -> None:
    predictor, env = SERVICE["spec"]["predictor"], environment()
    model = predictor["model"]
    assert model["runtime"] == RUNTIME["metadata"]["name"]
    assert model["modelFormat"] in [{"name": entry["name"], "version": entry["version"]}
                                    for entry in RUNTIME["spec"]["supportedModelFormats"]]
    assert model["protocolVersion"] in RUNTIME["spec"]["protocolVersions"]
    assert SERVICE["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    drain_bound = float(env["SEQSERVE_DRAIN_DELAY_S"]) + float(env["SEQSERVE_REQUEST_TIMEOUT_S"]) + 1
    assert predictor["terminationGracePeriodSeconds"] >= drain_bound + 5
    assert predictor["automountServiceAccountToken"] is False
    k8s_pod = K8S_DEPLOYMENT["spec"]["template"]["spec"]
    assert {key: predictor["securityContext"][key] for key in k8s_pod["securityContext"]} == k8s_pod["securityContext"]
