"""Settings come from SEQSERVE_* variables only, with the documented defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from app.config import CPU_BATCH_SIZE, GPU_BATCH_SIZE, Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEQSERVE_MODELS", "SEQSERVE_DEVICE", "SEQSERVE_MAX_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.model_dir == Path("model")
    assert settings.models == [] and settings.device == "auto"
    assert (settings.max_text_chars, settings.max_texts, settings.max_body_bytes) == (2000, 64, 1 << 20)
    assert settings.api_key is None and settings.cors_origins == []


def test_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQSERVE_MODELS", "sentiment, atis")
    monkeypatch.setenv("SEQSERVE_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings()
    assert settings.models == ["sentiment", "atis"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu"])
def test_unknown_device_is_refused(monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    monkeypatch.setenv("SEQSERVE_DEVICE", device)
    with pytest.raises(ValidationError, match="device"):
        Settings()


def test_batch_size_defaults_per_device() -> None:
    settings = Settings()
    assert settings.batch_size_for(torch.device("cpu")) == CPU_BATCH_SIZE
    assert settings.batch_size_for(torch.device("cuda")) == GPU_BATCH_SIZE
    assert Settings(max_batch_size=7).batch_size_for(torch.device("cuda")) == 7


def test_queue_holds_eight_batches_and_always_one_full_request() -> None:
    assert Settings().queue_size_for(torch.device("cpu")) == 8 * CPU_BATCH_SIZE
    assert Settings().queue_size_for(torch.device("cuda")) == 8 * GPU_BATCH_SIZE
    assert Settings(max_batch_size=2, max_texts=64).queue_size_for(torch.device("cpu")) == 64
    assert Settings(max_queue=5).queue_size_for(torch.device("cpu")) == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_auto_falls_back_to_cpu_and_explicit_cuda_fails_loudly() -> None:
    assert Settings(device="auto").torch_device() == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        Settings(device="cuda").torch_device()
