"""Schemathesis against the running service: its own OpenAPI (no 5xx, documented schemas, fields named), and
the Open Inference Protocol's OpenAPI file (no 5xx, no answer that breaks the protocol's schemas)."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import REPO, shared_spec

pytestmark = pytest.mark.anyio

EXAMPLES_PER_OPERATION = int(os.environ.get("SEQSERVE_FUZZ_EXAMPLES", "300"))
PROTOCOL_EXAMPLES_PER_OPERATION = int(os.environ.get("SEQSERVE_PROTOCOL_FUZZ_EXAMPLES", "100"))
METHODS = {"get", "post", "put", "delete", "patch", "head", "options"}


def needs_http(client: httpx.AsyncClient) -> None:
    if client.base_url.host == "testserver":
        pytest.skip("Schemathesis speaks HTTP: runs against the live server and the container")


async def schemathesis(location: str, *options: str) -> subprocess.CompletedProcess[str]:
    beside_python = Path(sys.executable).parent / "schemathesis"
    command = str(beside_python) if beside_python.exists() else shutil.which("schemathesis")
    assert command, "schemathesis is a dev dependency"
    return await asyncio.to_thread(
        subprocess.run,
        [command, "run", location, *options, "--workers", "1", "--seed", "20261127"],
        cwd=REPO,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=900,
    )


async def test_every_operation_survives_schema_fuzzing(client: httpx.AsyncClient) -> None:
    needs_http(client)
    result = await schemathesis(
        str(client.base_url.join("/openapi.json")), "--checks", "all", "--max-examples", str(EXAMPLES_PER_OPERATION)
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def protocol_spec(spec: dict[str, Any], names: list[str], versions: list[str]) -> dict[str, Any]:
    """The protocol's file, rewritten where its quirks stop a fuzzer from reaching a model.

    Its paths spell the template `${MODEL_NAME}` (OpenAPI reads the `$` as a literal character), the server
    metadata path is `/v2/` (served at `/v2`), and its model paths exist only with `/versions/`, although
    the version is optional in the protocol: here the templates are `{MODEL_NAME}`, each versioned path
    gets its unversioned twin, and the path parameters list what is loaded (a random name is only a 404).
    Schemas, bodies and responses are left as the file has them.
    """
    paths: dict[str, Any] = {}
    for path, item in copy.deepcopy(spec["paths"]).items():
        path = path.replace("${", "{").rstrip("/")
        for parameter in item.get("parameters", []):
            parameter["schema"] = {"type": "string", "enum": names if parameter["name"] == "MODEL_NAME" else versions}
        paths[path] = item
        if "/versions/{MODEL_VERSION}" in path:
            twin = copy.deepcopy(item)
            twin["parameters"] = [parameter for parameter in twin["parameters"] if parameter["name"] != "MODEL_VERSION"]
            for method in METHODS & set(twin):
                twin[method]["operationId"] += "-unversioned"
            paths[path.replace("/versions/{MODEL_VERSION}", "")] = twin
    return {**spec, "paths": paths}


async def test_the_protocols_own_openapi_finds_no_5xx_and_no_schema_violation(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    needs_http(client)
    spec = yaml.safe_load(shared_spec("open-inference-protocol/open_inference_rest.yaml").read_text(encoding="utf-8"))
    loaded = (await client.get("/models")).json()["models"]
    names = sorted({model["name"] for model in loaded})
    versions = sorted({model["version"] for model in loaded})
    rewritten = protocol_spec(spec, names, versions)
    assert {"/v2", "/v2/models/{MODEL_NAME}/infer", "/v2/models/{MODEL_NAME}/versions/{MODEL_VERSION}/infer"} <= set(
        rewritten["paths"])
    location = tmp_path / "open_inference_rest.json"
    location.write_text(json.dumps(rewritten), encoding="utf-8")
    result = await schemathesis(
        str(location), "--url", str(client.base_url),
        "--checks", "not_a_server_error,response_schema_conformance,client_errors_name_the_field",
        "--max-examples", str(PROTOCOL_EXAMPLES_PER_OPERATION),
    )
    # Its warnings stay: the file's request schema takes any tensor, so most generated bodies are 400s here
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
