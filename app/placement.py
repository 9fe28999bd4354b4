"""Serving on CUDA: fp32 that stays fp32, optional half precision, compacted LSTM weights, pinned copies.

`model.runtime` loads and verifies a bundle and runs it plainly on any device; what only pays when one
process serves a GPU for hours is decided here, once, at start-up.
"""

from __future__ import annotations

import threading

import torch

from model.runtime import LoadedBundle, check_example
from model.text import ModelInputs


def keep_fp32_exact() -> None:
    """cuDNN runs fp32 LSTMs and convolutions in TF32 by default: probabilities then drift ~1e-3 from the
    CPU's and from what export recorded, and the start-up example check refuses the bundle. fp32 here
    means fp32; SEQSERVE_HALF is the setting that trades precision for speed."""
    torch.backends.cudnn.allow_tf32 = False


def prepare_for_cuda(bundle: LoadedBundle, device: torch.device, half: bool) -> None:
    """Move a bundle verified on the CPU to the GPU with half precision if asked, compacted weights and
    pinned copies; then check the recorded example there, as the GPU runs it."""
    bundle.place(device)
    if half:
        bundle.module = bundle.module.half()
    compact_lstm_weights(bundle.module)
    bundle.copy_inputs = PinnedCopy(bundle.device)
    check_example(bundle, score_tolerance=1e-2 if half else 1e-3)


class PinnedCopy:
    """Ids and word bytes packed into one pinned host buffer and sent with one async copy.

    Lengths stay on the CPU (packing reads them there). Each thread that runs forwards (the model
    thread, the long-text lane, the event loop for a lone request) has its own buffer, reused batch after
    batch; its previous copy has finished by then, because its outputs were read back before.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._local = threading.local()  # .staging: this thread's buffer, grown as needed

    def __call__(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor | None]:
        parts = [inputs.ids] if inputs.chars is None else [inputs.ids, inputs.chars]
        total = sum(part.numel() for part in parts)
        staging: torch.Tensor | None = getattr(self._local, "staging", None)
        if staging is None or staging.numel() < total:
            size = max(total, 2 * (0 if staging is None else staging.numel()))
            staging = self._local.staging = torch.empty(size, dtype=torch.int64, pin_memory=True)
        offset = 0
        for part in parts:
            staging[offset : offset + part.numel()].copy_(part.reshape(-1))
            offset += part.numel()
        on_device = staging[:total].to(self.device, non_blocking=True)
        ids = on_device[: inputs.ids.numel()].view(inputs.ids.shape)
        chars = None if inputs.chars is None else on_device[inputs.ids.numel() :].view(inputs.chars.shape)
        return ids, chars


def compact_lstm_weights(module: torch.nn.Module | torch.jit.ScriptModule) -> None:
    """Put each LSTM's weights into one contiguous cuDNN buffer, once, at load.

    A scripted LSTM moved to CUDA keeps its weights in separate tensors, and cuDNN then copies them
    into one buffer on every call (with a "not part of single contiguous chunk" warning). Eager
    `nn.LSTM.flatten_parameters` does this for eager modules; TorchScript modules need it by hand.
    """
    for child in module.modules():
        if getattr(child, "original_name", type(child).__name__) != "LSTM":
            continue
        names = [name for name, _ in child.named_parameters(recurse=False)]
        weights = [getattr(child, name) for name in _cudnn_weight_order(names)]
        if not all(weight.is_cuda for weight in weights):
            continue
        num_layers = int(child.num_layers)
        with torch.no_grad():
            torch._cudnn_rnn_flatten_weight(
                weights,
                4,  # weight_ih, weight_hh, bias_ih, bias_hh
                int(child.input_size),
                2,  # cuDNN mode for LSTM
                int(child.hidden_size),
                0,  # no projection
                num_layers,
                bool(child.batch_first),
                bool(child.bidirectional),
            )


def _cudnn_weight_order(names: list[str]) -> list[str]:
    """nn.LSTM's `_flat_weights_names` order: per layer, forward then reverse, ih/hh weights then biases."""
    layers = sorted({int(name.split("_l")[1].split("_")[0]) for name in names})
    ordered: list[str] = []
    for layer in layers:
        for suffix in ("", "_reverse"):
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                name = f"{kind}_l{layer}{suffix}"
                if name in names:
                    ordered.append(name)
    return ordered
