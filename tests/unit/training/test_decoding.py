"""Constrained BIO decoding: never invalid, exactly the best valid path, batch-invariant."""

from __future__ import annotations

import itertools

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from model.text import bio_allowed
from training.models import BiLSTMTagger, constrained_nll

TAGS = ["O", "B-a", "I-a", "B-b", "I-b", "I-c"]  # I-c has no B-c: it may only continue itself


def tagger(tags: list[str] = TAGS) -> BiLSTMTagger:
    torch.manual_seed(0)
    return BiLSTMTagger(20, tags, 2, embed_dim=4, byte_dim=4, char_filters=4, hidden_size=4).eval()


def valid(sequence: list[str]) -> bool:
    return all(bio_allowed(previous, tag) for previous, tag in zip([None, *sequence], sequence))


def best_valid_path(log_probs: torch.Tensor, tags: list[str]) -> tuple[float, list[str]]:
    """Brute force over every valid sequence (small T and K only)."""
    best: tuple[float, list[str]] = (float("-inf"), [])
    for path in itertools.product(range(len(tags)), repeat=log_probs.shape[0]):
        names = [tags[i] for i in path]
        if valid(names):
            score = float(sum(log_probs[t, i] for t, i in enumerate(path)))
            best = max(best, (score, names), key=lambda pair: pair[0])
    return best


logits = st.integers(1, 5).flatmap(
    lambda length: st.lists(
        st.lists(st.floats(-20, 20, allow_nan=False, width=32), min_size=len(TAGS), max_size=len(TAGS)),
        min_size=length, max_size=length,
    )
)


@settings(max_examples=150, deadline=None)
@given(logits)
def test_decoding_is_the_best_valid_sequence(rows: list[list[float]]) -> None:
    log_probs = torch.log_softmax(torch.tensor(rows, dtype=torch.float32), dim=-1)
    path = tagger().decode(log_probs[None], torch.tensor([len(rows)]))[0].tolist()
    names = [TAGS[i] for i in path]
    assert valid(names)
    best_score, _ = best_valid_path(log_probs, TAGS)
    assert abs(sum(float(log_probs[t, i]) for t, i in enumerate(path)) - best_score) < 1e-4


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=5), st.integers(0, 2**31 - 1))
def test_batched_decoding_equals_decoding_alone(lengths: list[int], seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(len(lengths), max(lengths), len(TAGS), generator=generator) * 5
    log_probs = torch.log_softmax(scores, dim=-1)
    model = tagger()
    batched = model.decode(log_probs, torch.tensor(lengths))
    for row, length in enumerate(lengths):
        alone = model.decode(log_probs[row : row + 1, :length], torch.tensor([length]))[0]
        assert batched[row, :length].tolist() == alone.tolist()
        assert valid([TAGS[i] for i in alone.tolist()])


def test_scripted_tagger_never_starts_inside_an_entity() -> None:
    log_probs = torch.log_softmax(torch.tensor([[[0.0, 1.0, 9.0, 0.0, 0.0, 9.0]]]), dim=-1)
    scripted = torch.jit.script(tagger())
    assert scripted.decode(log_probs, torch.tensor([1])).tolist() == [[1]]  # B-a, not I-a or I-c


def test_constrained_nll_equals_brute_force_over_valid_sequences() -> None:
    model = tagger()
    generator = torch.Generator().manual_seed(3)
    emissions = torch.randn(2, 4, len(TAGS), generator=generator, requires_grad=True)
    lengths = torch.tensor([4, 3])
    gold = torch.tensor([[1, 2, 0, 3], [0, 3, 4, -100]])
    loss = constrained_nll(emissions, gold, lengths, model.inside, model.begin)
    values = emissions.detach()
    expected = 0.0
    for row, length in enumerate(lengths.tolist()):
        scores = [sum(float(values[row, t, i]) for t, i in enumerate(path))
                  for path in itertools.product(range(len(TAGS)), repeat=length)
                  if valid([TAGS[i] for i in path])]
        gold_score = sum(float(values[row, t, gold[row, t]]) for t in range(length))
        expected += float(torch.logsumexp(torch.tensor(scores), 0)) - gold_score
    assert abs(loss.item() - expected / 7) < 1e-5
    loss.backward()
    assert bool(torch.isfinite(emissions.grad).all())
