"""GPU path checks: run where CUDA exists (the GPU machine), skipped elsewhere (CI has no GPU)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import torch

from tests.support import DATA_DIR, MODEL_DIR, REPO, LiveServer, metric_samples

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.anyio,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

COMPACTION_WARNING = "not part of single contiguous chunk of memory"
PROBE = """
import sys, warnings
import torch
from pathlib import Path
from app.placement import keep_fp32_exact, prepare_for_cuda
from model.runtime import load_bundle
warnings.simplefilter("always")
keep_fp32_exact()
with warnings.catch_warnings(record=True) as caught:
    for half in (False, True):
        if sys.argv[1] == "served":
            runner = load_bundle(Path(sys.argv[2]))
            prepare_for_cuda(runner, torch.device("cuda"), half)
        else:  # the scripted file loaded straight onto the GPU, without compaction
            runner = load_bundle(Path(sys.argv[2]), "cpu")
            runner.module = torch.jit.load(str(Path(sys.argv[2]) / "model.pt"), map_location="cuda")
            runner.device = torch.device("cuda")
        for _ in range(3):
            runner.predict(["show me flights from boston to denver", "ok"] * 8)
print("WARNINGS:", [str(w.message)[:120] for w in caught])
"""


def warnings_of(mode: str, bundle: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(MODEL_DIR / bundle)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.mark.parametrize("bundle", ["atis", "sentiment"])
def test_served_lstm_weights_are_compacted_once_so_cudnn_never_warns(bundle: str) -> None:
    assert COMPACTION_WARNING not in warnings_of("served", bundle)


def test_the_warning_check_can_fail_on_an_uncompacted_module() -> None:
    assert COMPACTION_WARNING in warnings_of("uncompacted", "sentiment")


async def test_batches_grow_past_32_at_concurrency_256(tmp_path: Path) -> None:
    env = {"SEQSERVE_MODEL_DIR": str(MODEL_DIR), "SEQSERVE_DEVICE": "cuda", "SEQSERVE_METRICS_DIR": str(tmp_path)}
    with LiveServer(env) as server:
        limits = httpx.Limits(max_connections=256)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:

            async def user(index: int) -> list[int]:
                body = {"text": f"flights from boston to denver on day {index}", "models": ["atis"]}
                return [(await client.post("/classify", json=body)).status_code for _ in range(8)]

            statuses = await asyncio.gather(*(user(i) for i in range(256)))
            assert {code for codes in statuses for code in codes} == {200}
            scrape = (await client.get("/metrics")).text
    buckets = metric_samples(scrape, "seqserve_batch_size_bucket")
    total = metric_samples(scrape, "seqserve_batch_size_count")['{model="atis"}']
    assert total - buckets['{le="32.0",model="atis"}'] > 0, "no batch held more than 32 texts"


def served_on_cuda(bundle: str, half: bool = False):  # noqa: ANN201 (imports stay inside: CUDA only)
    """The bundle placed as the service places it on the GPU."""
    from app.placement import keep_fp32_exact, prepare_for_cuda
    from model.runtime import load_bundle

    keep_fp32_exact()
    runner = load_bundle(MODEL_DIR / bundle)
    prepare_for_cuda(runner, torch.device("cuda"), half)
    return runner


@pytest.mark.parametrize("bundle", ["atis", "snips", "sentiment"])
def test_cuda_answers_like_the_cpu(bundle: str) -> None:
    """The pinned-buffer copy and compacted weights change nothing: same labels, same probabilities."""
    from model.runtime import load_bundle, prediction_labels

    texts = ["show me flights from boston to denver tomorrow", "ok", "a dull , lifeless film", "play jazz"] * 40
    on_cpu = load_bundle(MODEL_DIR / bundle, "cpu").predict(texts)
    on_gpu = served_on_cuda(bundle).predict(texts)
    for cpu, gpu in zip(on_cpu, on_gpu, strict=True):
        cpu_labels, cpu_scores = prediction_labels(cpu)
        gpu_labels, gpu_scores = prediction_labels(gpu)
        assert cpu_labels == gpu_labels
        assert max(abs(a - b) for a, b in zip(cpu_scores, gpu_scores)) < 1e-4


@pytest.mark.parametrize("bundle", ["atis", "snips"])
def test_half_precision_tags_like_full_precision_on_the_dev_set(bundle: str) -> None:
    """fp16 weights: the same labels for ≥ 99.9 % of dev texts and slot F1 within 0.1 of fp32."""
    from model.runtime import prediction_labels
    from training.inference import predict_all
    from training.kinds import TAGGER
    from training.tagging_data import read_tagging

    sentences = read_tagging(DATA_DIR / bundle / "dev", "auto")
    full, half = served_on_cuda(bundle), served_on_cuda(bundle, half=True)
    texts = [sentence.text for sentence in sentences]
    on_full, on_half = predict_all(full, texts), predict_all(half, texts)
    same = sum(prediction_labels(a)[0] == prediction_labels(b)[0] for a, b in zip(on_full, on_half, strict=True))
    assert same / len(texts) >= 0.999, f"{len(texts) - same} of {len(texts)} texts changed labels in fp16"
    f1_full = TAGGER.metrics(sentences, on_full)["slot_f1"]
    f1_half = TAGGER.metrics(sentences, on_half)["slot_f1"]
    assert abs(f1_full - f1_half) <= 0.1


def test_half_precision_sentiment_like_full_precision_on_the_dev_set() -> None:
    from training.inference import predict_all
    from training.metrics import predicted_classes
    from training.table_data import read_labelled_table

    examples = read_labelled_table(DATA_DIR / "sst2" / "dev.tsv", None, None)
    texts = [example.text for example in examples]
    full = predicted_classes(predict_all(served_on_cuda("sentiment"), texts))
    half = predicted_classes(predict_all(served_on_cuda("sentiment", half=True), texts))
    same = sum(a == b for a, b in zip(full, half, strict=True))
    assert same / len(examples) >= 0.999, f"{len(examples) - same} of {len(examples)} labels changed in fp16"
