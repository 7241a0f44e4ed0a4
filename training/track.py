"""The track graph's module: every stride-1 window of a long segment in one pass.

``export_graphs`` writes it as ``track.onnx`` for the models it supports; ``check_parity``
checks it against ``model.onnx`` window by window (see docs/interfaces.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def activate(model: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """The model's output activation on its logits: softmax, or sigmoid for multilabel models."""
    activation = getattr(model, "output_activation", "softmax")
    return torch.softmax(logits, dim=-1) if activation == "softmax" else torch.sigmoid(logits)


class Track(nn.Module):
    """Every stride-1 window of a long segment in one pass (the convolutions shared between
    overlapping windows): ``segment`` float32 [B, L - 1 + W, A], W a multiple of ``phases``, ->
    ``probs`` [B, W, C], window o = segment[:, o:o + L] as the forward graph scores it.

    A max-pool of stride s splits the windows into s phases by their offset modulo s; each layer
    multiplies the phases, so the last feature maps are ``phases`` = s ** conv_num lattices, the
    window of offset o = r + phases * q reading lattice r from position q. The head becomes a
    convolution over a lattice: the flatten head's first Linear as a Conv1d of the final feature
    length, the global head a sliding max; the remaining dense layers act per position.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        p = model.params
        self.pool_size, self.pool_stride = p["pool_size"], p["pool_stride"]
        self.phases = self.pool_stride ** p["conv_num"]
        self.window = model.length
        size = model.length
        for _ in range(p["conv_num"]):
            size = (size - p["kernel_len"] + 1 - self.pool_size) // self.pool_stride + 1
        self.size, self.flatten = size, p["head"] == "flatten"

    @staticmethod
    def supports(model: nn.Module) -> bool:
        """Convolutional, without a recurrent layer, over one input (a multimodal model's tracks
        are not windows of the genome)."""
        params = getattr(model, "params", None)
        return (params is not None and params["rnn"] == "none" and hasattr(model, "convs")
                and len(getattr(model, "slices", ())) <= 1)

    def _head(self, h: torch.Tensor, q: int) -> torch.Tensor:
        """Logits [B, q, C] of the first q windows of one lattice h [B, K, n]."""
        m = self.model
        if self.flatten:
            first = m.dense[0] if len(m.dense) else m.out
            z = F.conv1d(h, first.weight.view(first.out_features, -1, self.size), first.bias)[:, :, :q]
            z = z.transpose(1, 2)
            if not len(m.dense):
                return z
            rest = m.dense[1:]  # ReLU, Dropout, then the other dense layers
        else:
            z = F.max_pool1d(h, self.size, 1)[:, :, :q].transpose(1, 2)
            rest = m.dense
        return m.out(rest(z))

    def forward(self, segment: torch.Tensor) -> torch.Tensor:
        m = self.model
        lattices = [(0, 1, segment.transpose(1, 2))]  # (phase, weight of the next residue, features)
        for conv in m.convs:
            grown = []
            for phase, weight, h in lattices:
                h = F.relu(conv(h))
                for r in range(self.pool_stride):
                    grown.append((phase + weight * r, weight * self.pool_stride,
                                  F.max_pool1d(h[:, :, r:], self.pool_size, self.pool_stride)))
            lattices = grown
        q = (segment.shape[1] - self.window + 1) // self.phases
        logits = torch.stack([self._head(h, q) for _, _, h in sorted(lattices, key=lambda t: t[0])], dim=2)
        return activate(m, logits.reshape(segment.shape[0], q * self.phases, -1))
