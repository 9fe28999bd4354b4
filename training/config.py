"""Training configuration: a few named values per task, copied whole into the bundle's manifest.

Defaults are the settings the committed bundles were trained with (chosen on dev and confirmed across
seeds, see model/README.md); the CLI only overrides them, and what a committed bundle sets beyond them
is its recipe in training/recipes.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import PurePath
from typing import Any, Literal

Task = Literal["classifier", "tagger"]
TASK_ALIASES: dict[str, Task] = {"sentiment": "classifier", "slots": "tagger"}  # the commands' first names


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the BiLSTM models (`training.models`); `byte_dim` and `char_filters` are tagger only."""

    embed_dim: int = 128
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.3
    byte_dim: int = 32
    char_filters: int = 64


@dataclass(frozen=True)
class TrainConfig:
    task: Task
    train: str
    dev: str
    out: str
    data_format: str = "auto"  # tagger: auto | seq | conll | jsonl; classifier: auto | csv | jsonl
    text_column: str | None = None  # classifier: column (CSV) or field (JSONL) names when not the usual ones
    label_column: str | None = None
    label_names: dict[str, str] | None = None  # classifier: label in the data → class name, e.g. {"0": "negative"}
    model: ModelConfig = field(default_factory=ModelConfig)
    vectors: str | None = None  # vectors file (text formats, .npy) or name (glove-6b-50d) the embeddings start from
    vectors_extra: int = 0  # most frequent vector words outside the training vocabulary added to it
    freeze_vectors: bool = False  # keep the word embeddings as they start
    epochs: int = 10
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: float = 0.05  # fraction of all steps with a linear warm-up, then linear decay to zero
    clip_norm: float = 5.0
    word_dropout: float = 0.1  # training tokens replaced by [UNK], so unseen words have a trained embedding
    min_frequency: int = 1
    max_seq_len: int = 128
    max_word_chars: int = 20
    seed: int = 13
    members: int = 1  # models trained with seeds seed, seed+1, ... and exported as one averaging ensemble
    threads: int = 2
    device: str = "auto"  # auto: CUDA (with mixed precision) when present, else CPU
    amp: bool = True
    # Knowing when not to answer (training.scope): texts from outside the task's scope are shown in
    # training ("outlier exposure", Hendrycks et al. 2019), then dev data chooses the abstention rule.
    outliers: tuple[str, ...] = ()  # data files (any format a reader takes) of texts outside the task's scope
    within_scope: tuple[str, ...] = ()  # labels in `outliers` and `out_of_scope` data whose texts are within
    # the task's scope after all (a flight booking among a flight tagger's outliers): left out of both
    outlier_share: float = 0.5  # outlier texts drawn afresh each epoch, per training example
    outlier_weight: float = 0.5  # weight of their loss (cross-entropy to the uniform distribution)
    abstain: bool = True  # choose an abstention rule on dev (False: calibrate only)
    answer_rate: float = 0.985  # share of in-scope dev texts the abstention rule must still answer
    out_of_scope_labels: tuple[str, ...] = ()  # labels of the task that mean "out of scope" (CLINC150: oos)
    out_of_scope: tuple[str, ...] = ()  # data of texts outside the task's scope: the rule is measured on them

    def for_manifest(self) -> dict[str, Any]:
        """The config as JSON-ready values, with data paths cut to their last two parts so a manifest
        never records where the data sat on the training machine."""
        values = asdict(self)
        for key in ("train", "dev", "out"):
            values[key] = "/".join(PurePath(values[key]).parts[-2:])
        for key in ("outliers", "out_of_scope"):
            values[key] = ["/".join(PurePath(path).parts[-2:]) for path in values[key]]
        if self.vectors:
            values["vectors"] = PurePath(self.vectors).name
        return values


def default_config(task: Task, train: str, dev: str, out: str, **overrides: Any) -> TrainConfig:
    """The tuned defaults of a task, with `overrides` (None values ignored) applied."""
    base = TASK_DEFAULTS[task]
    model_fields = set(ModelConfig.__dataclass_fields__)
    model_overrides = {k: v for k, v in overrides.items() if k in model_fields and v is not None}
    other = {k: v for k, v in overrides.items() if k not in model_fields and v is not None}
    return replace(base, train=train, dev=dev, out=out, model=replace(base.model, **model_overrides), **other)


TASK_DEFAULTS: dict[Task, TrainConfig] = {
    # SST-2 phrases: 6 epochs; heavy dropout, since long dev sentences are rare among the training
    # phrases. Two members (embedding 112, hidden 96) averaged in one module, sized to the serving and
    # size budgets; their seed spread and what was tried instead are in model/README.md
    # (bench/serving_cost.py measures the serving cost).
    "classifier": TrainConfig(
        task="classifier", train="", dev="", out="", model=ModelConfig(embed_dim=112, hidden_size=96, dropout=0.5),
        epochs=6, batch_size=64, lr=2e-3, word_dropout=0.3, members=2,
    ),
    # ATIS/SNIPS: the constrained-CRF loss, 30 epochs with linear decay (the snips recipe, training/recipes.py,
    # lowers SNIPS to 25).
    "tagger": TrainConfig(
        task="tagger", train="", dev="", out="", model=ModelConfig(), epochs=30, batch_size=32, lr=5e-3,
        word_dropout=0.1,
    ),
}
