"""Ensembles: models trained alone (one seed each) exported as one module that averages their probabilities.

An ensemble reads and answers exactly like one of its members, so a bundle holding one is served like any
other; `output_sizes()` is exported too (see `training.models`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from training.models import BiLSTMClassifier, BiLSTMTagger


class ClassifierEnsemble(nn.Module):
    """Classifiers trained alone (one seed each) answering as one model: the mean of their class
    probabilities. Inputs and outputs are those of one `BiLSTMClassifier`, so a bundle holding an
    ensemble is served like any other."""

    def __init__(self, members: Sequence[BiLSTMClassifier]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.num_classes = same_size([member.num_classes for member in members])

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        probs: list[Tensor] = []
        for member in self.members:
            probs.append(member(ids, lengths))
        return torch.stack(probs).mean(dim=0)

    @torch.jit.export
    def output_sizes(self) -> dict[str, int]:
        return {"classes": self.num_classes}


class TaggerEnsemble(nn.Module):
    """Taggers trained alone (one seed each) answering as one model: intent probabilities and per-token
    tag probabilities are averaged, then the mean is decoded once with the constrained BIO decoding of
    `BiLSTMTagger.decode`. Inputs and outputs are those of one `BiLSTMTagger`."""

    def __init__(self, members: Sequence[BiLSTMTagger]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.decoder = members[0]  # BIO structure, decode(); every member has the same tag set
        self.num_intents = same_size([member.num_intents for member in members])
        self.num_tags = same_size([member.num_tags for member in members])

    def forward(self, ids: Tensor, chars: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        intent_probs: list[Tensor] = []
        tag_probs: list[Tensor] = []
        for member in self.members:
            tag_logits, intent_logits = member.scores(ids, chars, lengths)
            tag_probs.append(torch.softmax(tag_logits.float(), dim=-1))
            intent_probs.append(torch.softmax(intent_logits.float(), dim=-1))
        log_probs = torch.log(torch.stack(tag_probs).mean(dim=0))
        tags = self.decoder.decode(log_probs, lengths)
        chosen = log_probs.gather(2, tags.unsqueeze(2)).squeeze(2).exp()
        return torch.stack(intent_probs).mean(dim=0), tags, chosen

    @torch.jit.export
    def output_sizes(self) -> dict[str, int]:
        return {"intents": self.num_intents, "slot_tags": self.num_tags}


def same_size(sizes: Sequence[int]) -> int:
    """The one output size all members of an ensemble share (their probabilities are averaged)."""
    if len(set(sizes)) != 1:
        raise ValueError(f"ensemble members differ in output size: {list(sizes)}")
    return sizes[0]
