"""Start-up refuses a broken bundle with one line, and never reports ready with it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from app.middleware import StartupRefused
from tests.bundles import export_tiny_classifier, export_tiny_tagger
from tests.support import LiveServer

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def broken_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("broken")
    export_tiny_classifier(root / "sentiment")
    export_tiny_tagger(root / "atis")
    model = root / "atis" / "model.pt"
    data = bytearray(model.read_bytes())
    data[100] ^= 0xFF
    model.write_bytes(bytes(data))
    return root


async def test_lifespan_refuses_with_the_bundle_and_the_check(broken_model_dir: Path, tmp_path: Path) -> None:
    app = create_app(Settings(model_dir=broken_model_dir, metrics_dir=tmp_path))
    with pytest.raises(StartupRefused, match=r"^bundle 'atis': sha256 mismatch for 'model.pt'"):
        async with LifespanManager(app):
            pass
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.get("/readyz")).status_code == 503


def test_uvicorn_exits_with_one_line_naming_the_bundle(broken_model_dir: Path, tmp_path: Path) -> None:
    server = LiveServer({"SEQSERVE_MODEL_DIR": str(broken_model_dir), "SEQSERVE_METRICS_DIR": str(tmp_path)})
    server.start(wait_ready=False)
    assert server.process is not None
    code = server.process.wait(timeout=120)
    output = server.read_output()
    assert code != 0
    assert "start-up refused: bundle 'atis': sha256 mismatch for 'model.pt' (file changed since export)" in output
    assert "Traceback" not in output


async def test_unknown_bundle_name_is_refused(broken_model_dir: Path, tmp_path: Path) -> None:
    app = create_app(Settings(model_dir=broken_model_dir, models=["sentiment", "nope"], metrics_dir=tmp_path))
    with pytest.raises(StartupRefused, match=r"^bundle 'nope': not found in the model directory \(found: atis, sentiment\)"):
        async with LifespanManager(app):
            pass
