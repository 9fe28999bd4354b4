"""A live model repository: versions side by side, a default, pinning by request, polling, operators' control.

Tiny bundles exported by the real export code, in-process with the lifespan; versions are published the
way README says (written under a hidden name, then renamed into place).
"""

from __future__ import annotations

import asyncio
import gc
import json
import shutil
import weakref
from pathlib import Path

import httpx
import pytest

from app import reloader
from app.config import Settings
from app.main import create_app
from tests.bundles import export_tiny_classifier
from tests.support import inprocess_client

pytestmark = pytest.mark.anyio

KEY = "admin-secret"
AUTH = {"Authorization": f"Bearer {KEY}"}


def build(tmp: Path, version: str, seed: int) -> Path:
    """A bundle named `sentiment` (its folder's name), exported outside the repository."""
    return export_tiny_classifier(tmp / f"build-{version}" / "sentiment", seed=seed, version=version)


def publish(root: Path, folder: str, version: str, seed: int = 0, broken: bool = False) -> Path:
    """Copy a version in under a hidden name, then rename it into place (what README tells publishers)."""
    (root / "sentiment").mkdir(parents=True, exist_ok=True)
    staging = root / "sentiment" / f".{folder}.tmp"
    shutil.copytree(build(root.parent, version, seed), staging)
    if broken:
        corrupt(staging)
    return staging.rename(root / "sentiment" / folder)


def corrupt(folder: Path) -> None:
    model = folder / "model.pt"
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    publish(root, "v1", "1.0", seed=1)
    publish(root, "v2", "2.0", seed=2)
    return root


def settings(root: Path, tmp_path: Path, **more: object) -> Settings:
    return Settings(model_dir=root, metrics_dir=tmp_path / "metrics", **more)


async def versions_answering(client: httpx.AsyncClient, **body: object) -> str:
    response = await client.post("/classify", json={"text": "what a great film", **body})
    assert response.status_code == 200, response.text
    return response.json()["model_versions"]["sentiment"]


async def eventually(check, timeout: float = 20.0) -> None:  # noqa: ANN001 (an async predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the repository did not change in time"
        await asyncio.sleep(0.05)


async def test_versions_side_by_side_newest_by_default_any_by_name(repository: Path, tmp_path: Path) -> None:
    async with inprocess_client(settings(repository, tmp_path)) as client:
        assert await versions_answering(client) == "2.0"
        assert await versions_answering(client, models=["sentiment@1.0"]) == "1.0"
        models = (await client.get("/models")).json()["models"]
        assert [(m["version"], m["default"]) for m in models] == [("1.0", False), ("2.0", True)]
        response = await client.post("/classify", json={"text": "fine", "models": ["sentiment@9.9"]})
        assert response.status_code == 422 and response.json()["error"]["field"] == "models.0"
        assert "has no version '9.9'; loaded: 1.0, 2.0" in response.json()["error"]["message"]
        both = await client.post("/classify", json={"text": "fine", "models": ["sentiment@1.0", "sentiment@2.0"]})
        assert both.status_code == 422 and both.json()["error"]["field"] == "models.1"
        spec = (await client.get("/openapi.json")).json()
        entries = spec["paths"]["/classify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert entries["properties"]["models"]["items"]["enum"] == ["sentiment", "sentiment@1.0", "sentiment@2.0"]


async def test_the_open_inference_protocol_addresses_every_version(repository: Path, tmp_path: Path) -> None:
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["what a great film"]}]}
    async with inprocess_client(settings(repository, tmp_path)) as client:
        metadata = (await client.get("/v2/models/sentiment")).json()
        assert metadata["versions"] == ["1.0", "2.0"] and metadata["properties"]["version"] == "2.0"
        assert (await client.get("/v2/models/sentiment/versions/1.0")).json()["properties"]["version"] == "1.0"
        for path, version in (("/v2/models/sentiment/infer", "2.0"), ("/v2/models/sentiment/versions/1.0/infer", "1.0")):
            answer = (await client.post(path, json=body)).json()
            assert answer["model_version"] == version
            prediction = next(output for output in answer["outputs"] if output["name"] == "prediction")
            classified = await client.post("/classify", json={"text": "what a great film", "models": [f"sentiment@{version}"]})
            assert json.loads(prediction["data"][0]) == classified.json()["predictions"]["sentiment"]
        missing = await client.post("/v2/models/sentiment/versions/9.9/infer", json=body)
        assert missing.status_code == 404
        assert missing.json() == {"error": "model 'sentiment' has no version '9.9'; loaded: 1.0, 2.0"}


async def test_a_default_file_pins_an_older_version(repository: Path, tmp_path: Path) -> None:
    (repository / "sentiment" / "DEFAULT").write_text("1.0\n", encoding="utf-8")
    async with inprocess_client(settings(repository, tmp_path)) as client:
        assert await versions_answering(client) == "1.0"


async def test_a_second_folder_with_a_loaded_version_is_refused_with_its_reason(repository: Path, tmp_path: Path) -> None:
    shutil.copytree(repository / "sentiment" / "v2", repository / "sentiment" / "v2-copy")
    async with inprocess_client(settings(repository, tmp_path, model_control=True, admin_key=KEY)) as client:
        assert await versions_answering(client) == "2.0"
        listed = {entry["folder"]: entry for entry in (await client.get("/repository", headers=AUTH)).json()["models"]}
        assert listed["v2-copy"]["state"] == "failed"
        assert listed["v2-copy"]["reason"] == (
            "bundle 'sentiment (folder v2-copy)': version 2.0 is already served from folder 'v2'")


async def test_polling_swaps_in_a_published_version_and_unloads_a_removed_one(repository: Path, tmp_path: Path) -> None:
    async with inprocess_client(settings(repository, tmp_path, model_poll_s=0.1)) as client:
        assert await versions_answering(client) == "2.0"
        publish(repository, "v3", "3.0", seed=3)

        async def answered_by_3() -> bool:
            return await versions_answering(client) == "3.0"

        await eventually(answered_by_3)
        shutil.rmtree(repository / "sentiment" / "v3")

        async def back_to_2() -> bool:
            models = (await client.get("/models")).json()["models"]
            return [m["version"] for m in models] == ["1.0", "2.0"] and await versions_answering(client) == "2.0"

        await eventually(back_to_2)
        metrics = (await client.get("/metrics")).text
        assert 'seqserve_model_loads_total{model="sentiment",result="ok",version="3.0"} 1.0' in metrics


async def test_a_corrupted_version_is_refused_while_the_old_one_serves(repository: Path, tmp_path: Path) -> None:
    config = settings(repository, tmp_path, model_poll_s=0.1, model_control=True, admin_key=KEY)
    async with inprocess_client(config) as client:
        publish(repository, "v3", "3.0", seed=3, broken=True)

        async def refused() -> bool:
            listed = (await client.get("/repository", headers=AUTH)).json()["models"]
            return any(entry["state"] == "failed" for entry in listed)

        await eventually(refused)
        listed = {entry["folder"]: entry for entry in (await client.get("/repository", headers=AUTH)).json()["models"]}
        assert listed["v3"]["reason"] == "bundle 'sentiment (folder v3)': sha256 mismatch for 'model.pt' (file changed since export)"
        assert listed["v2"]["state"] == "ready" and listed["v2"]["default"] is True
        assert await versions_answering(client) == "2.0"
        metrics = (await client.get("/metrics")).text
        assert 'seqserve_model_loads_total{model="sentiment",result="failed",version="3.0"} 1.0' in metrics


async def test_operators_unload_and_load_versions(repository: Path, tmp_path: Path) -> None:
    config = settings(repository, tmp_path, model_control=True, admin_key=KEY, api_key="user-key")
    async with inprocess_client(config) as client:
        client.headers["Authorization"] = "Bearer user-key"  # what /classify takes
        assert (await client.get("/repository")).status_code == 401  # the admin key, not the API key
        gone = await client.post("/repository/sentiment/unload", headers=AUTH, json={"version": "2.0"})
        assert gone.status_code == 200
        assert [(m["version"], m["default"]) for m in gone.json()["models"]] == [("1.0", True)]
        assert await versions_answering(client) == "1.0"
        refused = await client.post("/classify", json={"text": "fine", "models": ["sentiment@2.0"]})
        assert refused.status_code == 422
        back = await client.post("/repository/sentiment/load", headers=AUTH)
        assert back.status_code == 200 and [m["version"] for m in back.json()["models"]] == ["1.0", "2.0"]
        missing = await client.post("/repository/sentiment/load", headers=AUTH, json={"version": "7.0"})
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "version"


async def test_an_unloaded_version_is_freed_at_once_even_if_loaded_at_start_up(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up freezes what it loaded (gc.freeze): a version held by a reference cycle would never go.
    Once it is gone, the heap's free pages go back to the system."""
    returned = asyncio.Event()
    monkeypatch.setattr(reloader, "RELEASE_AFTER_S", 0.01)
    monkeypatch.setattr(reloader, "return_freed_memory", returned.set)
    app = create_app(settings(repository, tmp_path, model_control=True, admin_key=KEY))
    async with inprocess_client(app) as client:
        served = app.state.service.registry.find("sentiment", "1.0")
        runner, module = weakref.ref(served.runner), weakref.ref(served.runner.module)
        del served
        gc.disable()  # freed by reference counting alone, when the unload drops it
        try:
            response = await client.post("/repository/sentiment/unload", headers=AUTH, json={"version": "1.0"})
            assert response.status_code == 200
            for _ in range(200):  # its model thread lets go of it as the thread ends, a moment after the drain
                if runner() is None and module() is None:
                    break
                await asyncio.sleep(0.01)
            assert runner() is None and module() is None
            await asyncio.wait_for(returned.wait(), 5)
        finally:
            gc.enable()
        assert await versions_answering(client) == "2.0"


async def test_a_request_that_picked_a_version_just_before_it_left_is_answered_by_it(repository: Path, tmp_path: Path) -> None:
    """Between picking a version and queueing a request may wait one pass of the event loop (IdleGate)."""
    app = create_app(settings(repository, tmp_path, model_control=True, admin_key=KEY))
    async with inprocess_client(app) as client:
        registry = app.state.service.registry
        picked = registry.find("sentiment", "2.0")
        unload = asyncio.ensure_future(client.post("/repository/sentiment/unload", headers=AUTH, json={"version": "2.0"}))
        while registry.find("sentiment", "2.0") is not None:
            await asyncio.sleep(0)
        answer = await picked.batcher.submit(["what a great film"])[0]  # BatcherClosed (a 503) if closed at once
        assert answer["label"] in ("negative", "positive")
        assert (await unload).status_code == 200


async def test_a_changed_folder_leaves_the_lookup_before_its_old_version_stops_taking_work(repository: Path, tmp_path: Path) -> None:
    app = create_app(settings(repository, tmp_path, model_poll_s=0.05))
    async with inprocess_client(app) as client:
        registry = app.state.service.registry
        old = registry.default("sentiment")
        manifest = repository / "sentiment" / "v2" / "manifest.json"
        changed = manifest.read_text(encoding="utf-8").replace('"version": "2.0"', '"version": "2.1"')
        manifest.with_name(".manifest.tmp").write_text(changed, encoding="utf-8")
        manifest.with_name(".manifest.tmp").replace(manifest)  # the same weights under another version
        answers = []
        while (current := registry.default("sentiment")) is old:
            if current.batcher.depth < 8:
                answers.extend(current.batcher.submit(["fine"]))  # BatcherClosed if closed while the default
            await asyncio.sleep(0)
        assert all(answer["label"] for answer in await asyncio.gather(*answers))
        assert await versions_answering(client) == "2.1"


@pytest.mark.parametrize("name", ["..", "%2e%2e", "..%2fsecret", "SENTIMENT", "sentiment%00", "nope", "a" * 65])
async def test_hostile_or_unknown_names_are_refused(repository: Path, tmp_path: Path, name: str) -> None:
    config = settings(repository, tmp_path, model_control=True, admin_key=KEY)
    async with inprocess_client(config) as client:
        response = await client.post(f"/repository/{name}/load", headers=AUTH)
        assert response.status_code == 404, response.text
        bad_version = await client.post("/repository/sentiment/load", headers=AUTH, json={"version": "../v1"})
        assert bad_version.status_code == 422 and bad_version.json()["error"]["field"] == "version"


async def test_a_symlink_out_of_the_repository_is_not_a_version(repository: Path, tmp_path: Path) -> None:
    (repository / "sentiment" / "v5").symlink_to(build(tmp_path / "outside", "5.0", seed=5))
    config = settings(repository, tmp_path, model_control=True, admin_key=KEY)
    async with inprocess_client(config) as client:
        listed = (await client.get("/repository", headers=AUTH)).json()["models"]
        assert [entry["folder"] for entry in listed] == ["v1", "v2"]
        response = await client.post("/repository/sentiment/load", headers=AUTH, json={"version": "5.0"})
        assert response.status_code == 404


async def test_without_control_the_endpoints_do_not_exist(repository: Path, tmp_path: Path) -> None:
    async with inprocess_client(settings(repository, tmp_path)) as client:
        assert (await client.get("/repository")).status_code == 404
        assert (await client.post("/repository/sentiment/unload")).status_code == 404


def test_control_without_any_key_is_refused() -> None:
    with pytest.raises(ValueError, match="model_control needs SEQSERVE_ADMIN_KEY or SEQSERVE_API_KEY"):
        Settings(model_control=True)
