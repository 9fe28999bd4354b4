"""Share of dev tokens mapped to [UNK], per default bundle: the committed bundle's vocabulary, and the
training vocabulary extended by the N most frequent words of pretrained vectors (`--vectors-extra N`).

    python -m bench.unk_share [DATA_ROOT] [--vectors glove-6b-50d] [--extra 0 20000 100000]

Only tokenizers are built (no training): the vocabulary a training run with `--vectors NAME
--vectors-extra N` would get, through the same code (`training.tasks.fitted_tokenizer`). A token counts
once per occurrence; padding is never counted. Prints a Markdown table; asserts nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.common import DATA, REPO, arguments, table_head, table_row
from model.manifest import UNK_ID
from model.text import encode_texts, load_tokenizer
from training.config import default_config
from training.summary import read_data
from training.tasks import fitted_tokenizer
from training.vectors import open_vectors

BUNDLES = {  # bundle → (task, train, dev) under DATA_ROOT, as scripts/train_default_models.sh reads them
    "atis": ("tagger", "atis/train", "atis/dev"),
    "snips": ("tagger", "snips/train", "snips/dev"),
    "sentiment": ("classifier", "sst2/train_phrases.tsv", "sst2/dev.tsv"),
}


def unk_share(tokenizer, texts: list[str]) -> tuple[int, int]:
    """(tokens mapped to [UNK], all tokens) of `texts`."""
    ids = [i for encoded in encode_texts(tokenizer, texts) for i in encoded.ids]
    return sum(i == UNK_ID for i in ids), len(ids)


def main() -> None:
    parser = arguments(__doc__, data=False)
    parser.add_argument("data_root", nargs="?", type=Path, default=DATA, help="datasets folder (default: DATA)")
    parser.add_argument("--vectors", default="glove-6b-50d")
    parser.add_argument("--extra", type=int, nargs="+", default=[0, 20_000, 100_000])
    parser.add_argument("--bundles", type=Path, default=REPO / "model", help="folder of the committed bundles")
    args = parser.parse_args()
    dim = open_vectors(args.vectors).dim
    table_head("bundle", "dev tokens", "committed bundle", *(f"{args.vectors} + {n:,} extra" for n in args.extra),
               align="lrr" + "r" * len(args.extra))
    for name, (task, train, dev) in BUNDLES.items():
        config = default_config(task, str(args.data_root / train), str(args.data_root / dev), "unused",
                                vectors=args.vectors, embed_dim=dim)
        train_data, dev_data = read_data(config)
        texts = [example.text for example in dev_data]
        committed = load_tokenizer(args.bundles / name / "tokenizer.json")
        unknown, total = unk_share(committed, texts)
        cells = [f"{unknown / total:.2%} ({unknown:,})"]
        for extra in args.extra:
            tokenizer, _ = fitted_tokenizer([e.text for e in train_data], replace(config, vectors_extra=extra),
                                            log=lambda _: None)
            unknown, _ = unk_share(tokenizer, texts)
            cells.append(f"{unknown / total:.2%} ({unknown:,})")
        table_row(name, f"{total:,}", *cells)


if __name__ == "__main__":
    main()
