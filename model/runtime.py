"""Run a bundle on raw texts: the one inference path shared by export checks, evaluation and the service.

Training's `evaluate` and the service both load the exported TorchScript through `load_bundle`, so the
figures in a bundle's report are the figures of the artefact that is served.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer

from model.manifest import AbstentionRule, BundleError, BundleManifest, Labels, read_manifest, verify_files
from model.text import (
    EncodedText,
    ModelInputs,
    SlotSpan,
    encode_texts,
    load_tokenizer,
    occlude,
    pad_batch,
    slot_spans,
)


@dataclass(frozen=True, slots=True)
class ClassifierPrediction:
    label: str
    score: float
    scores: dict[str, float]
    abstained: bool = False  # the bundle's abstention rule says the text is out of its scope


@dataclass(frozen=True, slots=True)
class TaggerPrediction:
    intent: str
    intent_score: float
    tags: list[str]  # one per token
    tag_scores: list[float]
    offsets: list[tuple[int, int]]  # [start, end) of each token in the raw text
    spans: list[SlotSpan]  # the entities the tags decode to, with their scores
    abstained: bool = False  # out of scope: the whole prediction (intent and slots) is a guess


Prediction = ClassifierPrediction | TaggerPrediction


@dataclass(frozen=True, slots=True)
class Occlusion:
    """A text with one token masked to the unknown word: one variant of an occlusion explanation.

    Its answer is the probability of every class (classifier) or intent (tagger), in label order.
    """

    text: str
    token: int  # index into the text's tokens

    def __len__(self) -> int:
        return len(self.text)  # the batcher's size of an item, as for a plain text


class BundleRunner:
    """A model (eager or TorchScript) with its tokenizer and labels, on one device.

    `predict` tokenises, pads into one batch, copies it to the device once and turns outputs into labels.
    Training evaluates the eager model through this class and the service serves the exported one, so
    both decode alike. How a batch reaches the device is `copy_inputs` (None: a plain copy); the service
    sets its own on CUDA. A callable, not a bound method kept on the runner: that would be a reference
    cycle, and an unloaded runner must go with its last reference, not wait for a full collection.
    The sentence-level probabilities are calibrated by `temperature` (1: as the module gives them), and
    `abstention` (None: never) marks the predictions of texts out of the bundle's scope.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        module: torch.nn.Module | torch.jit.ScriptModule,
        labels: Labels,
        max_word_chars: int | None,
        device: torch.device = torch.device("cpu"),
        temperature: float = 1.0,
        abstention: AbstentionRule | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.labels = labels
        self.max_word_chars = max_word_chars  # a tagger's bytes per word; None for a classifier
        self.device = device
        self.module = module.to(device).eval()
        self.temperature = temperature
        self.abstention = abstention
        self.copy_inputs: Callable[[ModelInputs], tuple[torch.Tensor, torch.Tensor | None]] | None = None

    def place(self, device: torch.device) -> None:
        """Move the module to `device`, plainly (the service adds its CUDA choices in app.placement)."""
        self.module = self.module.to(device)
        self.device = device

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        encoded = encode_texts(self.tokenizer, texts)
        inputs = pad_batch(encoded, texts, self.max_word_chars)
        with torch.inference_mode():
            outputs = self.forward(inputs)
        return self._predictions(outputs, encoded)

    def predict_with_occlusions(self, items: Sequence[str | Occlusion]) -> list[Prediction | list[float]]:
        """One forward for plain texts and occluded variants together (a batch mixes requests).

        Plain texts get their usual prediction; each occlusion gets its answer head's probabilities.
        Every distinct text is tokenised once, however many of its variants the batch holds.
        """
        texts = [item if isinstance(item, str) else item.text for item in items]
        unique = list(dict.fromkeys(texts))
        by_text = dict(zip(unique, encode_texts(self.tokenizer, unique)))
        encoded = [by_text[text] for text in texts]
        inputs = pad_batch(encoded, texts, self.max_word_chars)
        masked = [row for row, item in enumerate(items) if isinstance(item, Occlusion)]
        occlude(inputs, masked, [items[row].token for row in masked])  # type: ignore[union-attr]
        with torch.inference_mode():
            outputs = self.forward(inputs)
        plain = [row for row, item in enumerate(items) if isinstance(item, str)]
        answers: list[Prediction | list[float]] = [[] for _ in items]
        for row, probs in zip(masked, outputs[0][masked].cpu().tolist()):
            answers[row] = probs
        if plain:
            rows = torch.as_tensor(plain, device=outputs[0].device)
            chosen = tuple(output.index_select(0, rows) for output in outputs)
            for row, prediction in zip(plain, self._predictions(chosen, [encoded[row] for row in plain])):
                answers[row] = prediction
        return answers

    def forward(self, inputs: ModelInputs) -> tuple[torch.Tensor, ...]:
        """The module's outputs for one padded batch, the sentence-level probabilities calibrated
        (classifier: (probs,); tagger: (intent probs, tags, tag probs))."""
        ids, chars = self.on_device(inputs)
        if not self.is_tagger:
            outputs: tuple[torch.Tensor, ...] = (self.module(ids, inputs.lengths),)
        else:
            assert chars is not None
            outputs = tuple(self.module(ids, chars, inputs.lengths))
        return (calibrated(outputs[0], self.temperature), *outputs[1:])

    @property
    def is_tagger(self) -> bool:
        return self.labels.slot_tags is not None

    def on_device(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Ids and word bytes on the model's device; lengths stay on the CPU (packing reads them there)."""
        if self.copy_inputs is not None:
            return self.copy_inputs(inputs)
        if self.device.type == "cpu":
            return inputs.ids, inputs.chars
        chars = None if inputs.chars is None else inputs.chars.to(self.device)
        return inputs.ids.to(self.device), chars

    def _predictions(self, outputs: tuple[torch.Tensor, ...], encoded: Sequence[EncodedText]) -> list[Prediction]:
        if self.is_tagger:
            return self._tagger_predictions(outputs, encoded)
        return self._classifier_predictions(outputs[0])

    def _abstains(self, label: str, score: float) -> bool:
        return self.abstention is not None and self.abstention.abstains(label, score)

    def _classifier_predictions(self, probs: torch.Tensor) -> list[Prediction]:
        probs = probs.cpu()
        classes = self.labels.classes or []
        best_score, best_index = probs.max(dim=1)
        rows = probs.tolist()
        return [
            ClassifierPrediction(classes[index], score, dict(zip(classes, row)), self._abstains(classes[index], score))
            for index, score, row in zip(best_index.tolist(), best_score.tolist(), rows)
        ]

    def _tagger_predictions(self, outputs: tuple[torch.Tensor, ...], encoded: Sequence[EncodedText]) -> list[Prediction]:
        intent_probs, tags, tag_probs = outputs
        intent_score, intent_index = intent_probs.max(dim=1)
        intents = self.labels.intents or []
        tag_names = self.labels.slot_tags or []
        tag_rows, score_rows = tags.cpu().tolist(), tag_probs.cpu().tolist()
        predictions: list[Prediction] = []
        for row, (intent, score) in enumerate(zip(intent_index.tolist(), intent_score.tolist())):
            offsets = encoded[row].offsets
            count = len(offsets)
            row_tags, row_scores = [tag_names[tag] for tag in tag_rows[row][:count]], score_rows[row][:count]
            spans = slot_spans(offsets, row_tags, row_scores)
            abstained = self._abstains(intents[intent], score)
            predictions.append(
                TaggerPrediction(intents[intent], score, row_tags, row_scores, offsets, spans, abstained)
            )
        return predictions


def calibrated(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(log p / T): temperature scaling applied to probabilities (log p differs from the logits by a
    constant per row, so this is the logits' temperature scaling, and the top label never changes)."""
    if temperature == 1.0:
        return probs
    return torch.softmax(torch.log(probs.clamp_min(1e-30)) / temperature, dim=-1)


class LoadedBundle(BundleRunner):
    """A bundle read from disk and verified: the runner of its module, with the manifest it came with."""

    def __init__(
        self, manifest: BundleManifest, tokenizer: Tokenizer, module: torch.jit.ScriptModule, device: torch.device
    ) -> None:
        word_chars = manifest.max_word_chars if manifest.kind == "tagger" else None
        temperature = manifest.calibration.temperature if manifest.calibration else 1.0
        super().__init__(tokenizer, module, manifest.labels, word_chars, device, temperature, manifest.abstention)
        self.manifest = manifest


def load_bundle(bundle_dir: Path, device: torch.device | str = "cpu") -> LoadedBundle:
    """Verify a bundle (manifest, checksums, label and vocabulary sizes) and load it with torch.jit.load.

    Never unpickles: TorchScript archives and JSON only. Every failure is one BundleError line. On CUDA
    the recorded example is checked in fp32, so TF32 must be off (the service switches it off at start-up).
    """
    device = torch.device(device)
    manifest = read_manifest(bundle_dir)
    verify_files(bundle_dir, manifest)
    name = bundle_dir.name
    try:
        tokenizer = load_tokenizer(bundle_dir / manifest.tokenizer)
    except Exception as exc:  # tokenizers raises plain Exception subclasses on bad JSON
        raise BundleError(name, f"tokenizer '{manifest.tokenizer}' cannot be loaded ({exc})") from None
    if tokenizer.get_vocab_size() != manifest.vocab_size:
        raise BundleError(
            name, f"tokenizer has {tokenizer.get_vocab_size()} words, manifest says vocab_size {manifest.vocab_size}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is frozen upstream, still supported
            module = torch.jit.load(str(bundle_dir / manifest.model_file), map_location="cpu")
    except Exception as exc:
        raise BundleError(name, f"'{manifest.model_file}' is not a loadable TorchScript archive ({exc})") from None
    bundle = LoadedBundle(manifest, tokenizer, module, device)
    check_output_sizes(bundle)
    check_example(bundle, score_tolerance=1e-3 if device.type == "cuda" else 1e-4)
    return bundle


def check_output_sizes(runner: LoadedBundle) -> None:
    """Check each head has as many outputs as the manifest has labels, as the module states it
    (`output_sizes()`, exported by training) and as a probe text shows for the head it returns whole."""
    manifest = runner.manifest
    try:
        stated = {str(field): int(size) for field, size in runner.module.output_sizes().items()}
    except Exception:
        raise BundleError(manifest.name, "model does not state its output sizes (no output_sizes())") from None
    inputs = pad_batch(encode_texts(runner.tokenizer, ["probe"]), ["probe"], runner.max_word_chars)
    try:
        with torch.inference_mode():
            outputs = runner.forward(inputs)
    except Exception as exc:
        raise BundleError(manifest.name, f"model does not run on a probe input ({type(exc).__name__})") from None
    head, shown = ("intents" if runner.is_tagger else "classes"), outputs[0].shape[1]
    if stated.get(head) != shown:
        raise BundleError(manifest.name, f"model states {stated.get(head)} {head} but outputs {shown}")
    for field, expected in manifest.output_sizes().items():
        if stated.get(field) != expected:
            raise BundleError(
                manifest.name, f"labels.{field} has {expected} entries but the model outputs {stated.get(field)}"
            )


def check_example(runner: LoadedBundle, score_tolerance: float) -> None:
    """Refuse a bundle whose answer on its recorded example differs from what export recorded."""
    example = runner.manifest.example
    if example is None:
        return
    prediction = runner.predict([example.text])[0]
    labels, scores = prediction_labels(prediction)
    if labels != example.labels:
        changed = sum(a != b for a, b in zip(labels, example.labels)) + abs(len(labels) - len(example.labels))
        raise BundleError(
            runner.manifest.name, f"{changed} label(s) on the manifest's example differ from those recorded at export"
        )
    drift = max((abs(a - b) for a, b in zip(scores, example.scores)), default=0.0)
    if drift > score_tolerance:
        raise BundleError(
            runner.manifest.name,
            f"scores on the manifest's example differ by {drift:.2g} from those recorded at export "
            f"(tolerance {score_tolerance:g} on {runner.device.type})",
        )


def prediction_labels(prediction: Prediction) -> tuple[list[str], list[float]]:
    """A prediction as (labels, scores) in the manifest example's layout."""
    if isinstance(prediction, ClassifierPrediction):
        return [prediction.label], list(prediction.scores.values())
    return [prediction.intent, *prediction.tags], [prediction.intent_score, *prediction.tag_scores]
