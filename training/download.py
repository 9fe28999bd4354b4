"""Fetch the public copies of the datasets, pinned to the commits the data README names.

    python -m training download atis --out data   →  data/atis/{train,dev,test}/{seq.in,seq.out,label}
    python -m training download sst2 --out data   →  data/sst2/{train_phrases,dev,test}.tsv
    python -m training download clinc150 --out data   →  data/clinc150/{train,dev,test}.csv

ATIS and SNIPS come byte-for-byte from monologg/JointBERT. SST-2 comes from PrincetonML/SIF, whose
files are `sentence <TAB>label` without a header: the space before the tab is dropped and a
`sentence<TAB>label` header added, which is the layout `training sentiment` reads. CLINC150 comes from
clinc/oos-eval's `data_full.json` (Larson et al. 2019): each split's in-scope queries, then its `oos`
ones, as `text,label` CSV.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RAW_GITHUB = "https://raw.githubusercontent.com"
JOINTBERT = "monologg/JointBERT/00324f60dda4a491b2913bc3065ae93966caea3f/data"
SIF = "PrincetonML/SIF/84b5b4c1c1ca20b6af19fc78cae005a1818ec571/data"
OOS_EVAL = "clinc/oos-eval/48a0e1cff8f43dd4d0836ecb4ed5df08733e3d2e/data"
DATASETS = ("atis", "snips", "sst2", "clinc150")


class DownloadError(OSError):
    """A file could not be fetched; the message names the URL."""


@dataclass(frozen=True)
class RemoteFile:
    source: str  # path under the raw-file host
    target: str  # path under the output folder
    convert: Callable[[bytes], bytes] | None = None


def sif_to_tsv(raw: bytes) -> bytes:
    """`sentence <TAB>label` lines without a header → `sentence<TAB>label` with a header."""
    rows = ["sentence\tlabel"]
    for line in raw.decode("utf-8").splitlines():
        if line.strip():
            text, _, label = line.rpartition("\t")
            rows.append(f"{text.rstrip()}\t{label.strip()}")
    return ("\n".join(rows) + "\n").encode("utf-8")


def clinc_split(split: str) -> Callable[[bytes], bytes]:
    """`data_full.json` → one split as `text,label` CSV: its in-scope queries, then its `oos` ones."""

    def convert(raw: bytes) -> bytes:
        data = json.loads(raw)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(data[split] + data[f"oos_{split}"])
        return out.getvalue().encode("utf-8")

    return convert


def remote_files(dataset: str) -> list[RemoteFile]:
    if dataset in ("atis", "snips"):
        return [
            RemoteFile(f"{JOINTBERT}/{dataset}/{split}/{name}", f"{dataset}/{split}/{name}")
            for split in ("train", "dev", "test")
            for name in ("seq.in", "seq.out", "label")
        ]
    if dataset == "sst2":
        return [
            RemoteFile(f"{SIF}/sentiment-{split}", f"sst2/{target}.tsv", sif_to_tsv)
            for split, target in (("train", "train_phrases"), ("dev", "dev"), ("test", "test"))
        ]
    if dataset == "clinc150":
        return [RemoteFile(f"{OOS_EVAL}/data_full.json", f"clinc150/{target}.csv", clinc_split(split))
                for split, target in (("train", "train"), ("val", "dev"), ("test", "test"))]
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")


def fetch(url: str, timeout: float = 60.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https/file URLs)
            return response.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot fetch {url}: {reason}") from None


def download(dataset: str, out_dir: Path, base_url: str = RAW_GITHUB) -> list[Path]:
    """Fetch every file of `dataset` into `out_dir` (each written whole or not at all); returns the paths."""
    written = []
    fetched: dict[str, bytes] = {}  # one source may make several files
    for remote in remote_files(dataset):
        url = f"{base_url.rstrip('/')}/{remote.source}"
        content = fetched[url] = fetched.get(url) or fetch(url)
        if remote.convert is not None:
            content = remote.convert(content)
        target = Path(out_dir) / remote.target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(content)
        partial.replace(target)
        written.append(target)
    return written
