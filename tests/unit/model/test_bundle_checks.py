"""A broken bundle is refused at load with one line naming the bundle and the failed check."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import torch

from model.manifest import BundleError, restamp, sha256_file
from model.runtime import load_bundle
from tests.bundles import export_tiny_classifier, export_tiny_tagger


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine")
    export_tiny_tagger(root / "atis")
    export_tiny_classifier(root / "sentiment")
    return root


@pytest.fixture()
def bundles(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "model")
    return tmp_path / "model"


def edit_manifest(bundle: Path, change: Callable[[dict], None], rehash: tuple[str, ...] = ()) -> None:
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    for name in rehash:
        manifest["files"][name] = sha256_file(bundle / name)
    path.write_text(json.dumps(manifest))


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def refusal(bundle: Path) -> str:
    with pytest.raises(BundleError) as caught:
        load_bundle(bundle)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"bundle '{bundle.name}': ")
    return message


def test_pristine_bundles_load(bundles: Path) -> None:
    assert load_bundle(bundles / "atis").manifest.kind == "tagger"
    assert load_bundle(bundles / "sentiment").manifest.kind == "classifier"


def test_flipped_byte_in_the_model_fails_its_checksum(bundles: Path) -> None:
    flip_byte(bundles / "atis" / "model.pt", 200)
    assert "sha256 mismatch for 'model.pt'" in refusal(bundles / "atis")


def test_corrupt_model_with_a_matching_checksum_is_not_loadable(bundles: Path) -> None:
    bundle = bundles / "sentiment"
    (bundle / "model.pt").write_bytes(b"PK\x03\x04 not really a zip archive")
    edit_manifest(bundle, lambda manifest: None, rehash=("model.pt",))
    assert "'model.pt' is not a loadable TorchScript archive" in refusal(bundle)


def test_missing_manifest(bundles: Path) -> None:
    (bundles / "atis" / "manifest.json").unlink()
    assert refusal(bundles / "atis").endswith("manifest.json is missing")


def test_malformed_manifest(bundles: Path) -> None:
    (bundles / "atis" / "manifest.json").write_text("{not json")
    assert "manifest.json is not valid JSON" in refusal(bundles / "atis")


def test_manifest_without_a_required_field(bundles: Path) -> None:
    edit_manifest(bundles / "atis", lambda manifest: manifest.pop("kind"))
    assert "field 'kind'" in refusal(bundles / "atis")


def test_tokenizer_that_does_not_match_the_vocabulary_size(bundles: Path) -> None:
    edit_manifest(bundles / "atis", lambda manifest: manifest.update(vocab_size=manifest["vocab_size"] + 5))
    assert "manifest says vocab_size" in refusal(bundles / "atis")


def test_labels_of_the_wrong_length(bundles: Path) -> None:
    edit_manifest(bundles / "atis", lambda manifest: manifest["labels"]["intents"].append("atis_extra"))
    assert "labels.intents has 3 entries but the model outputs 2" in refusal(bundles / "atis")
    edit_manifest(bundles / "sentiment", lambda manifest: manifest["labels"]["classes"].pop())
    assert "labels.classes needs at least 2 entries" in refusal(bundles / "sentiment")


def test_slot_tag_count_is_checked_against_what_the_module_states(bundles: Path) -> None:
    edit_manifest(bundles / "atis", lambda manifest: manifest["labels"]["slot_tags"].append("B-extra"))
    assert "labels.slot_tags has" in refusal(bundles / "atis")


def test_a_module_that_does_not_state_its_output_sizes_is_refused(bundles: Path) -> None:
    bundle = bundles / "sentiment"
    scripted = torch.jit.load(str(bundle / "model.pt"))
    torch.jit.script(Unstated(scripted)).save(str(bundle / "model.pt"))
    edit_manifest(bundle, lambda manifest: None, rehash=("model.pt",))
    assert "does not state its output sizes" in refusal(bundle)


class Unstated(torch.nn.Module):
    """A classifier that answers like the exported one but has no output_sizes()."""

    def __init__(self, inner: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.inner(ids, lengths)


def test_swapped_label_order_is_caught_by_the_recorded_example(bundles: Path) -> None:
    edit_manifest(bundles / "sentiment", lambda manifest: manifest["labels"]["classes"].reverse())
    assert "1 label(s) on the manifest's example differ" in refusal(bundles / "sentiment")


def test_scores_that_drift_from_the_recorded_example(bundles: Path) -> None:
    def nudge(manifest: dict) -> None:
        manifest["example"]["scores"][0] += 0.01

    edit_manifest(bundles / "atis", nudge)
    assert "scores on the manifest's example differ by 0.01" in refusal(bundles / "atis")
    assert "(tolerance 0.0001 on cpu)" in refusal(bundles / "atis")


def test_file_outside_the_bundle_is_refused(bundles: Path) -> None:
    edit_manifest(bundles / "atis", lambda manifest: manifest["files"].update({"../sentiment/model.pt": "0" * 64}))
    assert "points outside the bundle" in refusal(bundles / "atis")


def test_restamped_copy_loads_as_a_new_version(bundles: Path) -> None:
    before = load_bundle(bundles / "atis").manifest
    restamp(bundles / "atis", "v2")
    after = load_bundle(bundles / "atis").manifest  # checksums still hold: only the manifest changed
    assert after.version == "v2" and abs(datetime.now(UTC) - after.created_at) < timedelta(seconds=5)
    assert after.model_copy(update={"version": before.version, "created_at": before.created_at}) == before
