"""`python -m training recipe NAME`: the default bundles' recipes build the configs their commands did."""

from __future__ import annotations

from pathlib import Path

import pytest

import training.tasks
from training.cli import main
from training.config import TrainConfig
from training.recipes import ATIS_IN_CLINC, SNIPS_IN_CLINC

OUTLIERS = ["--outliers", "D/clinc150/train.csv", "D/sst2/train.tsv"]
# Each recipe as the command line that trains the same thing (the commands model/README.md compares).
COMMANDS = {
    "atis": ["slots", "--train", "D/atis/train", "--dev", "D/atis/dev", "--out", "O/atis", *OUTLIERS,
             "--within-scope", ",".join(ATIS_IN_CLINC), "--outlier-share", "0.25", "--threads", "1",
             "--out-of-scope", "D/snips/dev", "D/clinc150/dev.csv", "D/sst2/dev.tsv"],
    "snips": ["slots", "--train", "D/snips/train", "--dev", "D/snips/dev", "--out", "O/snips", "--epochs", "25",
              "--lr", "3e-3", "--vectors", "glove-6b-50d", "--embed-dim", "50", "--vectors-extra", "20000",
              *OUTLIERS, "--within-scope", ",".join(SNIPS_IN_CLINC), "--threads", "1",
              "--out-of-scope", "D/atis/dev", "D/clinc150/dev.csv", "D/sst2/dev.tsv"],
    "sentiment": ["sentiment", "--train", "D/sst2/train_phrases.tsv", "--dev", "D/sst2/dev.tsv", "--out",
                  "O/sentiment", "--label-names", "0=negative,1=positive", "--no-abstain"],
    "clinc150": ["classifier", "--train", "D/clinc150/train.csv", "--dev", "D/clinc150/dev.csv", "--out",
                 "O/clinc150", "--vectors", "glove-6b-50d", "--embed-dim", "128",
                 "--hidden-size", "192", "--dropout", "0.3", "--epochs", "30", "--word-dropout", "0.2",
                 "--out-of-scope-labels", "oos", "--threads", "1", "--within-scope", "PlayMusic,GetWeather,BookRestaurant,AddToPlaylist",
                 "--out-of-scope", "D/snips/dev", "D/sst2/dev.tsv"],
}


@pytest.fixture
def configs(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """The configs the CLI would train, in order, with training itself replaced by recording them."""
    seen: list[TrainConfig] = []
    monkeypatch.setattr(training.tasks, "run", seen.append)
    return seen


@pytest.mark.parametrize("name", list(COMMANDS))
def test_recipe_is_the_command_it_replaces(name: str, configs: list[TrainConfig]) -> None:
    assert main(COMMANDS[name]) == 0
    assert main(["recipe", name, "--data-root", "D", "--out", f"O/{name}"]) == 0
    assert configs[0] == configs[1]


def test_snips_recipe_values_and_run_overrides(configs: list[TrainConfig]) -> None:
    assert main(["recipe", "snips", "--data-root", "D", "--threads", "1", "--seed", "7"]) == 0
    config = configs[0]
    assert (config.epochs, config.lr, config.vectors, config.vectors_extra, config.model.embed_dim) == (
        25, 3e-3, "glove-6b-50d", 20_000, 50)
    assert (config.threads, config.seed, config.out, config.train) == (1, 7, str(Path("model/snips")), "D/snips/train")


def test_unknown_recipe_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["recipe", "imdb"])
    assert exit_.value.code == 2
    assert "invalid choice: 'imdb'" in capsys.readouterr().err
