"""BiLSTM models as plain, scriptable nn.Modules.

Both read padded batches (`model.text.pad_batch`) and pack them, so padding never reaches the LSTM
states or the pooling: a text gets the same answer alone or in any batch. `forward` is what the
exported TorchScript runs (probabilities and decoded tags); training calls `logits` / `scores`. Every
exported class also exports `output_sizes()`, the size of each head keyed like the manifest's labels, so
a bundle loader can check labels against what the module says of itself, not against its layer names.
Shapes: B batch, T tokens, W bytes per word, E/H/F feature sizes, C classes, I intents, K slot tags.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from model.manifest import PAD_ID, UNK_ID


class PackedBiLSTM(nn.Module):
    """A bidirectional LSTM over packed sequences: [B, T, E] + lengths → [B, T, 2H], zeros after each length."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, dropout: float) -> None:
        super().__init__()
        self.lstm = nn.LSTM(
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=True,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )

    def forward(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(inputs, lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, _ = self.lstm(packed)
        padded, _ = pad_packed_sequence(states, batch_first=True, total_length=inputs.size(1))
        return padded


def token_mask(lengths: Tensor, max_len: int, device: torch.device) -> Tensor:
    """[B, T] bool, True on real tokens."""
    return torch.arange(max_len, device=device)[None, :] < lengths.to(device)[:, None]


def masked_pool(states: Tensor, mask: Tensor) -> Tensor:
    """Max ‖ mean over real tokens only: [B, T, D] → [B, 2D]."""
    keep = mask.unsqueeze(-1)
    maxed = states.masked_fill(~keep, -1e4).max(dim=1).values
    mean = (states * keep.to(states.dtype)).sum(dim=1) / keep.sum(dim=1).clamp(min=1).to(states.dtype)
    return torch.cat([maxed, mean], dim=-1)


def safe_ids(ids: Tensor, vocab_size: int, unk_id: int) -> Tensor:
    """Map ids outside the vocabulary to [UNK] so a bad id can never index past the embedding."""
    return torch.where((ids >= 0) & (ids < vocab_size), ids, torch.full_like(ids, unk_id))


class BiLSTMClassifier(nn.Module):
    """Sentence → class: embedding → BiLSTM → max‖mean pooling → linear."""

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.num_classes = num_classes
        self.unk_id = UNK_ID
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.encoder = PackedBiLSTM(embed_dim, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4 * hidden_size, num_classes)

    def logits(self, ids: Tensor, lengths: Tensor) -> Tensor:
        embedded = self.dropout(self.embed(safe_ids(ids, self.vocab_size, self.unk_id)))  # [B, T, E]
        states = self.encoder(embedded, lengths)  # [B, T, 2H]
        pooled = masked_pool(states, token_mask(lengths, ids.size(1), ids.device))  # [B, 4H]
        return self.head(self.dropout(pooled))  # [B, C]

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """Class probabilities [B, C] in float32 (softmax kept in fp32 when the weights are fp16)."""
        return torch.softmax(self.logits(ids, lengths).float(), dim=-1)

    @torch.jit.export
    def output_sizes(self) -> dict[str, int]:
        """Outputs per head, keyed like `BundleManifest.output_sizes()`, so a loader can check the labels
        against what the module says of itself instead of reaching into its layers."""
        return {"classes": self.num_classes}


class CharEncoder(nn.Module):
    """Per-word features from UTF-8 bytes: [B, T, W] → [B, T, F] (byte embedding → conv → max over bytes)."""

    def __init__(self, byte_dim: int, filters: int, kernel: int = 3) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, byte_dim, padding_idx=0)
        self.conv = nn.Conv1d(byte_dim, filters, kernel_size=kernel, padding=kernel // 2)
        self.filters = filters

    def forward(self, chars: Tensor) -> Tensor:
        """Only real tokens and only the bytes up to the batch's longest word are convolved (padding
        tokens get zero features): on short ATIS/SNIPS words far less work than the full [B*T, W]
        grid (bench/serving_cost.py). Conv outputs at byte positions past a word's end are masked to 0 before the max
        (ReLU outputs are ≥ 0, so the max is unchanged by them), so a word's features depend only on
        its own bytes, never on how long its batch-mates are."""
        batch, length, width = chars.shape
        flat = chars.reshape(batch * length, width)  # [B*T, W]
        byte_counts = (flat != 0).sum(dim=1)  # [B*T]; 0 only on padding tokens
        rows = (byte_counts > 0).nonzero().squeeze(1)  # [N] real tokens
        out = torch.zeros(batch * length, self.filters, dtype=self.conv.weight.dtype, device=chars.device)
        if rows.numel() == 0:
            return out.reshape(batch, length, self.filters)
        used = int(byte_counts.max())
        words = flat.index_select(0, rows)[:, :used]  # [N, U]
        embedded = self.embed(words).transpose(1, 2)  # [N, D, U]
        convolved = torch.relu(self.conv(embedded)).masked_fill((words == 0).unsqueeze(1), 0.0)  # [N, F, U]
        features = convolved.max(dim=2).values  # [N, F]
        out = out.index_copy(0, rows, features.to(out.dtype))
        return out.reshape(batch, length, self.filters)


def bio_structure(tags: Sequence[str]) -> tuple[Tensor, Tensor]:
    """What constrained decoding needs to know about the tag set.

    Returns (inside [K] bool: the tag is `I-x`; begin [K] int64: for `I-x` the index of `B-x`, or of
    `I-x` itself when the tag set has no `B-x`). An `I-x` may only follow `B-x` or `I-x` (see
    `model.text.bio_allowed`); every other tag may follow anything.
    """
    index = {tag: position for position, tag in enumerate(tags)}
    inside = [tag.startswith("I-") for tag in tags]
    begin = [index.get("B-" + tag[2:], position) if inner else position
             for position, (tag, inner) in enumerate(zip(tags, inside))]
    return torch.tensor(inside, dtype=torch.bool), torch.tensor(begin, dtype=torch.long)


class BiLSTMTagger(nn.Module):
    """Joint slot tagger and intent classifier.

    (word embedding ‖ byte-CNN word features) → BiLSTM → per-token tag probabilities and a pooled intent
    head. The pooled sentence vector also adds a bias to every token's tag scores, so the slot head knows
    what kind of request it is reading (on SNIPS, `object_name` vs `movie_name` depends on the intent). Decoding is Viterbi over the token log-probabilities restricted to valid BIO sequences, so the
    exported model can never emit an `I-x` that does not continue an `x`. Because the only transition
    scores are "allowed" and "not allowed", each step costs O(K) instead of a CRF's O(K²).
    """

    def __init__(
        self,
        vocab_size: int,
        slot_tags: Sequence[str],
        num_intents: int,
        embed_dim: int = 128,
        byte_dim: int = 32,
        char_filters: int = 64,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.num_intents = num_intents
        self.num_tags = len(slot_tags)
        self.unk_id = UNK_ID
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_ID)
        self.chars = CharEncoder(byte_dim, char_filters)
        self.encoder = PackedBiLSTM(embed_dim + char_filters, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.slot_head = nn.Linear(2 * hidden_size, len(slot_tags))
        self.intent_head = nn.Linear(4 * hidden_size, num_intents)
        self.slot_context = nn.Linear(4 * hidden_size, len(slot_tags))  # sentence → bias on every token's tags
        inside, begin = bio_structure(slot_tags)
        self.register_buffer("inside", inside)
        self.register_buffer("begin", begin)

    def scores(self, ids: Tensor, chars: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Per-token tag logits [B, T, K] and intent logits [B, I]."""
        words = self.embed(safe_ids(ids, self.vocab_size, self.unk_id))  # [B, T, E]
        features = torch.cat([words, self.chars(chars)], dim=-1)  # [B, T, E+F]
        states = self.dropout(self.encoder(self.dropout(features), lengths))  # [B, T, 2H]
        mask = token_mask(lengths, ids.size(1), ids.device)
        pooled = masked_pool(states, mask)  # [B, 4H]
        tag_logits = self.slot_head(states) + self.slot_context(pooled).unsqueeze(1)  # [B, T, K]
        return tag_logits, self.intent_head(pooled)

    def decode(self, log_probs: Tensor, lengths: Tensor) -> Tensor:
        """Most probable valid BIO sequence [B, T] (int64) from log-probabilities [B, T, K] (fp32).

        Where the per-token argmax is already valid BIO it is also the constrained optimum (it maximises
        the sum without the constraint), so the Viterbi loop runs only for the rows where it is not.
        Positions after a text's length are unspecified; callers read only the first `length`.
        """
        lengths = lengths.to(log_probs.device)
        greedy = log_probs.argmax(dim=2)  # [B, T]
        invalid = self.invalid_rows(greedy, lengths)  # [B]
        if not bool(invalid.any()):
            return greedy
        rows = invalid.nonzero().squeeze(1)
        repaired = self.viterbi(log_probs.index_select(0, rows), lengths.index_select(0, rows))
        return greedy.index_copy(0, rows, repaired)

    def invalid_rows(self, tags: Tensor, lengths: Tensor) -> Tensor:
        """[B] bool: the row has an `I-x` that does not continue a `B-x` or `I-x` (see `bio_allowed`)."""
        previous = torch.cat([torch.full_like(tags[:, :1], -1), tags[:, :-1]], dim=1)  # -1: sentence start
        continues = (previous == self.begin[tags]) | (previous == tags)
        broken = self.inside[tags] & ~continues & token_mask(lengths, tags.size(1), tags.device)
        return broken.any(dim=1)

    def viterbi(self, log_probs: Tensor, lengths: Tensor) -> Tensor:
        """Exact constrained Viterbi, O(K) per step; positions after a length repeat the last tag."""
        batch, length, num_tags = log_probs.shape
        active = token_mask(lengths, length, log_probs.device)  # [B, T]
        own = torch.arange(num_tags, device=log_probs.device).expand(batch, num_tags)  # [B, K]
        begin = self.begin.expand(batch, num_tags)
        inside = self.inside[None, :]
        # a sequence may not start inside an entity
        score = log_probs[:, 0].masked_fill(inside, float("-inf"))  # [B, K] best path score ending in each tag
        history: list[Tensor] = []
        for step in range(1, length):
            best_any, arg_any = score.max(dim=1, keepdim=True)  # [B, 1]: any tag may precede O / B-x
            from_begin = score.gather(1, begin)  # [B, K]: I-x continues B-x ...
            take_begin = from_begin >= score  # ... or I-x itself
            best_inside = torch.where(take_begin, from_begin, score)
            prev_inside = torch.where(take_begin, begin, own)
            best = torch.where(inside, best_inside, best_any)
            prev = torch.where(inside, prev_inside, arg_any.expand(batch, num_tags))
            step_active = active[:, step : step + 1]
            score = torch.where(step_active, best + log_probs[:, step], score)
            history.append(torch.where(step_active, prev, own))
        current = score.argmax(dim=1)  # [B]
        path = [current]
        for back in history[::-1]:
            current = back.gather(1, current[:, None]).squeeze(1)
            path.append(current)
        path.reverse()
        return torch.stack(path, dim=1)

    def forward(self, ids: Tensor, chars: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(intent probabilities [B, I], tags [B, T] int64, probability of each decoded tag [B, T]), fp32."""
        tag_logits, intent_logits = self.scores(ids, chars, lengths)
        log_probs = torch.log_softmax(tag_logits.float(), dim=-1)
        tags = self.decode(log_probs, lengths)
        tag_probs = log_probs.gather(2, tags.unsqueeze(2)).squeeze(2).exp()
        return torch.softmax(intent_logits.float(), dim=-1), tags, tag_probs

    @torch.jit.export
    def output_sizes(self) -> dict[str, int]:
        """Outputs per head, keyed like `BundleManifest.output_sizes()` (see `BiLSTMClassifier.output_sizes`)."""
        return {"intents": self.num_intents, "slot_tags": self.num_tags}


NEG = -1e4  # "not allowed" in training: finite, so masked branches never turn gradients into NaN


def constrained_nll(emissions: Tensor, tags: Tensor, lengths: Tensor, inside: Tensor, begin: Tensor) -> Tensor:
    """Negative log-likelihood per token of the gold tags under a CRF whose transitions are fixed: 0
    where BIO allows the step, "never" elsewhere (training only; not part of the exported model).

    This is the sequence-level loss of exactly the model `BiLSTMTagger.decode` decodes: probability
    mass is normalised over valid BIO sequences only, so no capacity is spent pushing down invalid
    ones, and decoding stays O(K) per step because there are no learned transition scores.
    emissions [B, T, K] (any float dtype, computed in fp32), tags [B, T] (negative after the length).
    """
    batch, length, num_tags = emissions.shape
    emissions = emissions.float()
    mask = token_mask(lengths, length, emissions.device)  # [B, T]
    gold = emissions.gather(2, tags.clamp(min=0).unsqueeze(2)).squeeze(2)  # [B, T]
    gold_score = (gold * mask).sum()
    own = torch.arange(num_tags, device=emissions.device)
    has_begin = (begin != own)[None, :]  # [1, K]: I-x whose B-x exists
    inside_row = inside[None, :]
    begin_rows = begin.expand(batch, num_tags)
    alpha = emissions[:, 0].masked_fill(inside_row, NEG)  # [B, K] log-sum of valid prefixes ending in k
    for step in range(1, length):
        from_any = alpha.logsumexp(dim=1, keepdim=True)  # [B, 1]
        from_inside = torch.where(has_begin, torch.logaddexp(alpha.gather(1, begin_rows), alpha), alpha)
        following = torch.where(inside_row, from_inside, from_any) + emissions[:, step]
        alpha = torch.where(mask[:, step : step + 1], following, alpha)
    log_partition = alpha.logsumexp(dim=1).sum()
    return (log_partition - gold_score) / mask.sum()


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())
