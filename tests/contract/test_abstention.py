"""Knowing when not to answer: calibrated scores, `abstained` on out-of-scope texts, the opt-out and overrides.

Asserted against the committed bundles: each tagger abstains on the other's kind of request and answers its
own; sentiment is calibrated but has no rule; `/models` shows what each bundle abstains by.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from app.middleware import StartupRefused
from tests.support import MODEL_DIR, inprocess_client

pytestmark = pytest.mark.anyio

FLIGHT = "I want to fly from Boston to Denver tomorrow"
MUSIC = "play the new album by miles davis on spotify"
REVIEW = "a wonderful, moving film"


async def classify(client: httpx.AsyncClient, **body: object) -> dict:
    response = await client.post("/classify", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_tagger_abstains_on_the_other_ones_requests(client: httpx.AsyncClient) -> None:
    body = await classify(client, texts=[FLIGHT, MUSIC, REVIEW], models=["atis", "snips", "sentiment"])
    flight, music, review = (result["predictions"] for result in body["results"])
    assert (flight["atis"]["abstained"], flight["snips"]["abstained"]) == (False, True)
    assert (music["atis"]["abstained"], music["snips"]["abstained"]) == (True, False)
    assert review["atis"]["abstained"] and review["snips"]["abstained"]
    assert flight["atis"]["intent"]["label"] == "atis_flight" and music["snips"]["intent"]["label"] == "PlayMusic"
    # an abstaining bundle still gives its best guess, with its (low) calibrated score
    assert flight["snips"]["intent"]["label"] and flight["snips"]["intent"]["score"] < 0.7
    assert {result["predictions"]["sentiment"]["abstained"] for result in body["results"]} == {False}


async def test_abstain_false_answers_everything_and_changes_no_score(client: httpx.AsyncClient) -> None:
    kept = await classify(client, text=FLIGHT, models=["snips"])
    off = await classify(client, text=FLIGHT, models=["snips"], abstain=False)
    assert kept["predictions"]["snips"]["abstained"] is True and off["predictions"]["snips"]["abstained"] is False
    assert off["predictions"]["snips"]["intent"] == kept["predictions"]["snips"]["intent"]


@pytest.mark.parametrize("value", ["no", 0, None])
async def test_a_bad_abstain_field_is_a_422_naming_it(client: httpx.AsyncClient, value: object) -> None:
    response = await client.post("/classify", json={"text": FLIGHT, "abstain": value})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "abstain"


async def test_models_show_each_calibration_and_rule(client: httpx.AsyncClient) -> None:
    models = {model["name"]: model for model in (await client.get("/models")).json()["models"]}
    for name in ("atis", "snips", "sentiment", "clinc150"):
        calibration = models[name]["calibration"]
        assert calibration["temperature"] > 0 and set(calibration["after"]) == {"ece", "nll", "brier"}
    assert models["sentiment"]["abstention"] is None
    assert models["clinc150"]["abstention"]["labels"] == ["oos"]
    atis = models["atis"]["abstention"]
    assert 0 < atis["min_score"] < 1 and atis["dev"]["in_scope_answered"] >= 98.5
    assert atis["dev"]["abstained_snips/dev"] >= 95


async def test_the_setting_overrides_a_stored_rule(tmp_path: Path) -> None:
    settings = Settings(model_dir=MODEL_DIR, models=["atis", "snips"], abstain={"snips": None, "atis": 0.999999},
                        metrics_dir=tmp_path)
    async with inprocess_client(settings) as client:
        body = await classify(client, text=FLIGHT)
        assert body["predictions"]["snips"]["abstained"] is False  # snips:off
        assert body["predictions"]["atis"]["abstained"] is True  # almost nothing clears 0.999999
        models = {model["name"]: model for model in (await client.get("/models")).json()["models"]}
        assert models["snips"]["abstention"] is None
        assert models["atis"]["abstention"]["chosen_on"] == "SEQSERVE_ABSTAIN"


async def test_an_override_for_an_unknown_bundle_refuses_start_up(tmp_path: Path) -> None:
    app = create_app(Settings(model_dir=MODEL_DIR, models=["sentiment"], abstain={"atlas": 0.5}, metrics_dir=tmp_path))
    with pytest.raises(StartupRefused, match=r"^bundle 'atlas': SEQSERVE_ABSTAIN names it, but no bundle"):
        async with LifespanManager(app):
            pass


@pytest.mark.parametrize(("value", "message"), [
    ("atis", "'atis' is not NAME:SCORE or NAME:off"),
    ("atis:1.5", "'atis:1.5': the threshold must be in [0, 1]"),
    ("atis:high", "'atis:high': the threshold must be a number in [0, 1] or 'off'"),
])
def test_a_malformed_override_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    monkeypatch.setenv("SEQSERVE_ABSTAIN", value)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Settings()
    monkeypatch.setenv("SEQSERVE_ABSTAIN", "atis:0.7, snips:OFF")
    assert Settings().abstain == {"atis": 0.7, "snips": None}
