"""A language model's ONNX graphs, each checked against PyTorch.

- ``model.onnx``: ``codes`` uint8 [N, L] -> ``probs`` float32 [N, 2] = (total log-likelihood,
  perplexity) of each window: the sum of log p(base i | bases before it) over positions 1..L-1
  whose base is known (natural log; the first base has nothing before it), and exp(-mean). Every
  seqzoo path serves it as it serves a classifier's [N, C] (Score, streams, OIP, the batcher,
  variants, where alt - ref of the first column is the log-likelihood ratio).
- ``logprobs.onnx``: ``codes`` [N, L] -> ``logprobs`` [N, L, 4]: at position i, log p of each
  base at i + 1 (the per-base surprisal of ``seqzoo annotate`` on a language model).

A language model has no gradient graphs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from seqzoo.training.export import OPSET, ExportError, ExportSpec, _export
from seqzoo.zoo.graphs import LOGPROBS
from torch import nn

FORWARD_TOLERANCE = 1e-4  # log-probabilities; the window sums are checked relative to their size
SCORE_TOLERANCE = 1e-5


class _Logprobs(nn.Module):
    def __init__(self, model: nn.Module, table: np.ndarray):
        super().__init__()
        self.model = model
        self.register_buffer("table", torch.from_numpy(np.ascontiguousarray(table, dtype=np.float32)))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.model(self.table[codes.to(torch.int64)])


class _Score(_Logprobs):
    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return window_scores(self.model(self.table[codes.to(torch.int64)]), codes)


def window_scores(logprobs: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """[N, 2] (log-likelihood, perplexity) of windows from their next-base log-probabilities."""
    target = codes[:, 1:].to(torch.int64)
    known = (target < 4).to(logprobs.dtype)
    picked = logprobs[:, :-1].gather(2, target.clamp(max=3).unsqueeze(2)).squeeze(2)
    total = (picked * known).sum(dim=1)
    count = known.sum(dim=1).clamp(min=1.0)
    return torch.stack([total, torch.exp(-total / count)], dim=1)


def export_lm(model: nn.Module, table: np.ndarray, length: int, folder: Path) -> tuple[dict, dict]:
    """Write model.onnx and logprobs.onnx for windows of ``length`` bases; returns (graphs, parity)."""
    import onnxruntime as ort

    model = model.eval().cpu()
    for p in model.parameters():
        p.requires_grad_(False)
    spec = ExportSpec(np.asarray(table, dtype=np.float32), int(length), False, 2)
    codes = torch.from_numpy(np.random.default_rng(0).integers(0, 5, size=(3, length)).astype(np.uint8))
    _export(_Score(model, table), (codes,), ("codes",), ("probs",), spec, folder / "model.onnx")
    _export(_Logprobs(model, table), (codes,), ("codes",), ("logprobs",), spec, folder / LOGPROBS)
    parity = {"forward": 0.0, "score": 0.0, "checked": []}
    rng = np.random.default_rng(1)
    sessions = {name: ort.InferenceSession(str(folder / name), providers=["CPUExecutionProvider"])
                for name in ("model.onnx", LOGPROBS)}
    for n in (1, 5):
        codes = rng.integers(0, 5, size=(n, length)).astype(np.uint8)
        with torch.no_grad():
            want_lp = _Logprobs(model, table)(torch.from_numpy(codes)).numpy()
            want = _Score(model, table)(torch.from_numpy(codes)).numpy()
        got_lp = sessions[LOGPROBS].run(None, {"codes": codes})[0]
        got = sessions["model.onnx"].run(None, {"codes": codes})[0]
        parity["forward"] = max(parity["forward"], float(np.abs(got_lp - want_lp).max()))
        parity["score"] = max(parity["score"], float((np.abs(got - want) / np.maximum(np.abs(want), 1)).max()))
        parity["checked"].append([n, length])
    if not (parity["forward"] <= FORWARD_TOLERANCE and parity["score"] <= SCORE_TOLERANCE):
        raise ExportError(f"{folder}: language-model graphs disagree with PyTorch (log-probabilities "
                          f"{parity['forward']:.3g}, window scores {parity['score']:.3g} relative); refusing to publish")

    def t(name, dtype, shape):
        return {"name": name, "dtype": dtype, "shape": shape}

    graphs = {"model.onnx": {"inputs": [t("codes", "uint8", ["N", length])],
                             "outputs": [t("probs", "float32", ["N", 2])], "opset": OPSET},
              LOGPROBS: {"inputs": [t("codes", "uint8", ["N", length])],
                         "outputs": [t("logprobs", "float32", ["N", length, 4])], "opset": OPSET}}
    return graphs, parity
