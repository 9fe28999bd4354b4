"""Occlusion explanations: which tokens drove a bundle's answer, measured by masking each one in turn.

For each text, one variant per token with that token masked to the unknown word. The variants go
through the bundle's batcher like any text: they share batches with other requests and count against
the queue bound. A token's attribution is how much the probability of the predicted label (the
classifier's label, the tagger's intent) falls when it is masked; positive means the token pushed the
answer, negative that it held it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app import errors
from app.bundles import ServedBundle
from model.runtime import Occlusion
from model.text import encode_texts


@dataclass(frozen=True, slots=True)
class ExplainPlan:
    """What one bundle is sent: the texts first, then every token's variant, text after text."""

    items: list[str | Occlusion]
    offsets: list[list[tuple[int, int]]]  # each text's tokens, as the bundle's tokenizer splits it


def plan_explanations(
    bundle: ServedBundle, texts: Sequence[str], fields: Sequence[str], max_tokens: int
) -> ExplainPlan:
    """The texts and their variants, refused with a 422 before anything is queued if they cannot fit."""
    encoded = encode_texts(bundle.runner.tokenizer, texts)
    items: list[str | Occlusion] = list(texts)
    for text, tokens, field in zip(texts, encoded, fields):
        if len(tokens.offsets) > max_tokens:
            raise errors.invalid_field(
                field,
                f"explain takes texts of at most {max_tokens} tokens; this one has {len(tokens.offsets)} "
                f"for model '{bundle.name}'",
            )
        items.extend(Occlusion(text, token) for token in range(len(tokens.offsets)))
    if len(items) > bundle.batcher.capacity:
        raise errors.invalid_field(
            "explain",
            f"explaining these texts takes {len(items)} forwards of model '{bundle.name}', more than its queue "
            f"holds ({bundle.batcher.capacity}); send fewer or shorter texts per request",
        )
    return ExplainPlan(items, [tokens.offsets for tokens in encoded])


def attach_explanations(
    bundle: ServedBundle, texts: Sequence[str], plan: ExplainPlan, answers: Sequence[Any]
) -> list[dict[str, Any]]:
    """Each text's payload gains `explanation`: per token, the drop of the predicted label's probability."""
    labels = bundle.runner.manifest.labels
    column = {label: index for index, label in enumerate(labels.classes or labels.intents or [])}
    payloads: list[dict[str, Any]] = list(answers[: len(texts)])
    variants = answers[len(texts) :]
    position = 0
    for text, payload, offsets in zip(texts, payloads, plan.offsets):
        answer = payload.get("intent", payload)  # a tagger's answer is its intent
        index, score = column[answer["label"]], answer["score"]
        payload["explanation"] = [
            {"text": text[start:end], "start": start, "end": end, "attribution": score - probs[index]}
            for (start, end), probs in zip(offsets, variants[position : position + len(offsets)])
        ]
        position += len(offsets)
    return payloads
