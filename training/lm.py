"""Character-level genome language models (the genome RNN paper): data, networks, training, perplexity.

A causal model reads a window of bases and gives, at every position i, the log-probabilities of
the base at i + 1 (``forward(x [N, L, 4]) -> [N, L, 4]``). Training reads contiguous windows of
both strands of the training stretches; validation and test are held-out stretches of every
contig (by default its last ``holdout_fraction``: validation the first half of that, test the
last; or whole contigs), never overlapping training. Perplexity is exp of the mean negative log
likelihood (natural log) per predicted base; N positions are never predicted. Evaluation tiles a
stretch with windows of the context length (``zoo.tiling``, the rule the surprisal track uses too),
so every scored base has at least context / 2 bases before it; the same positions score the Markov
baseline.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from seqzoo.zoo.alphabets import get_alphabet
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.tiling import tile
from torch import nn

ARCHS = ("gru", "lstm", "cnn")
ALPHABET = get_alphabet("dna")  # codes 0..3 = ACGT, 4 = N (a zero one-hot row)
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
@dataclass
class Split:
    """Stretches of codes (uint8 0..3, 4 = N) per split, and where each came from."""

    train: list[np.ndarray] = field(default_factory=list)
    val: list[np.ndarray] = field(default_factory=list)
    test: list[np.ndarray] = field(default_factory=list)
    regions: dict = field(default_factory=lambda: {"train": [], "val": [], "test": []})

    def add(self, name: str, contig: str, codes: np.ndarray, start: int, end: int) -> None:
        if end > start:
            getattr(self, name).append(codes[start:end])
            self.regions[name].append({"contig": contig, "start": int(start), "end": int(end)})


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    return _COMPLEMENT[codes[::-1]]


def split_genome(contigs: dict[str, np.ndarray], context: int, holdout_fraction: float = 0.1,
                 holdout_contigs: list[str] | None = None) -> Split:
    """Training, validation and test stretches of a genome's contigs (name -> codes)."""
    split = Split()
    for name, codes in contigs.items():
        if holdout_contigs:
            if name in holdout_contigs:
                half = len(codes) // 2
                split.add("val", name, codes, 0, half)
                split.add("test", name, codes, half, len(codes))
            else:
                split.add("train", name, codes, 0, len(codes))
            continue
        held = round(len(codes) * holdout_fraction)
        start = len(codes) - held
        split.add("train", name, codes, 0, start)
        split.add("val", name, codes, start, start + held // 2)
        split.add("test", name, codes, start + held // 2, len(codes))
    if holdout_contigs:
        missing = sorted(set(holdout_contigs) - set(contigs))
        if missing:
            raise InputError(f"--holdout-contigs {','.join(missing)}: not in the genome (contigs: "
                             f"{', '.join(list(contigs)[:5])}{'...' if len(contigs) > 5 else ''})")
    for name in ("train", "val", "test"):
        usable = sum(int((s < 4).sum()) for s in getattr(split, name) if len(s) > context)
        if usable == 0:
            what = "training" if name == "train" else f"{name} (held-out)"
            raise InputError(f"the {what} stretches hold no window of {context + 1} bases with known bases: "
                             f"use a longer genome, a shorter --context or another hold-out")
    return split


def both_strands(stretches: list[np.ndarray]) -> list[np.ndarray]:
    return [s for stretch in stretches for s in (stretch, reverse_complement(stretch))]


def eval_positions(stretch: np.ndarray, context: int, max_order: int) -> np.ndarray:
    """The positions of a stretch that the model and the Markov chains are scored on: from context
    // 2 on, whose base and ``max_order`` preceding bases are known."""
    from seqzoo.training.markov import _valid

    if len(stretch) < context:  # no whole window fits: nothing is scored here (short contigs' tails)
        return np.zeros(0, dtype=np.int64)
    valid = _valid(stretch, max_order)
    valid[:context // 2] = False
    return np.flatnonzero(valid)


# ---------------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------------
class CausalLM(nn.Module):
    """A causal character-level model: ``forward(x [N, L, 4]) -> log p(next base) [N, L, 4]``.

    ``gru`` / ``lstm``: ``layers`` recurrent layers of ``hidden`` units (the paper's model);
    ``cnn``: a stack of causal convolutions (kernel 3, dilations 1, 2, 4, ... up to the context)
    with residual connections, each position seeing only the bases up to it.
    """

    def __init__(self, arch: str = "gru", layers: int = 2, hidden: int = 128, context: int = 100, dropout: float = 0.0):
        super().__init__()
        if arch not in ARCHS:
            raise InputError(f"--arch {arch!r} is not one of {', '.join(ARCHS)}")
        if layers < 1 or hidden < 1 or context < 2:
            raise InputError("--layers, --hidden must be >= 1 and --context >= 2")
        self.arch, self.layers, self.hidden, self.context = arch, layers, hidden, context
        if arch == "cnn":
            self.stem = nn.Conv1d(4, hidden, 1)
            dilations = [2 ** i for i in range(max(1, math.ceil(math.log2(max(context, 2)))))]
            self.blocks = nn.ModuleList(nn.Conv1d(hidden, hidden, 3, dilation=d) for d in dilations[:max(layers, 1) * 4])
            self.dilations = dilations[:len(self.blocks)]
        else:
            cls = nn.GRU if arch == "gru" else nn.LSTM
            self.rnn = cls(4, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.out = nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.arch == "cnn":
            h = self.stem(x.transpose(1, 2))
            for conv, d in zip(self.blocks, self.dilations):
                h = h + F.relu(conv(F.pad(h, (2 * d, 0))))
            h = h.transpose(1, 2)
        else:
            h = self.rnn(x)[0]
        return F.log_softmax(self.out(h), dim=-1)

    def config(self) -> dict:
        return {"arch": self.arch, "layers": self.layers, "hidden": self.hidden, "context": self.context}


# ---------------------------------------------------------------------------------------------
# training and evaluation
# ---------------------------------------------------------------------------------------------
def _onehot(codes: torch.Tensor) -> torch.Tensor:
    lut = torch.as_tensor(ALPHABET.table, device=codes.device)
    return lut[codes.long()]


def window_loss(model: CausalLM, codes: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(sum of -log p over predicted known bases, their count) of windows [N, L] (predicting 1..L-1)."""
    logp = model(_onehot(codes[:, :-1]))
    target = codes[:, 1:].long()
    known = target < 4
    picked = logp.gather(2, target.clamp(max=3).unsqueeze(2)).squeeze(2)
    return -(picked * known).sum(), int(known.sum())


def perplexity(model: CausalLM, stretches: list[np.ndarray], positions: list[np.ndarray], batch: int = 256,
               device: str | torch.device = "cpu", per_position: bool = False):
    """exp(mean -log p) over the given positions of every stretch (windows of the model's context).

    With ``per_position``, also the per-stretch arrays of -log p at those positions (surprisal).
    """
    model.eval()
    total, count, surprisal = 0.0, 0, []
    with torch.no_grad():
        for stretch, where in zip(stretches, positions):
            starts, firsts = tile(len(stretch), model.context)
            values = np.full(len(stretch), np.nan)
            for lo in range(0, len(starts), batch):
                windows = np.stack([stretch[s:s + model.context] for s in starts[lo:lo + batch]])
                logp = model(_onehot(torch.as_tensor(windows, device=device))).float().cpu().numpy()
                for b, (start, first) in enumerate(zip(starts[lo:lo + batch], firsts[lo:lo + batch])):
                    t = np.arange(max(first, 1), model.context)  # offset t is predicted at t - 1
                    bases = windows[b, t]
                    known = bases < 4
                    values[start + t[known]] = -logp[b, t[known] - 1, bases[known]]
            chosen = values[where]
            if np.isnan(chosen).any():
                raise InputError("internal: an evaluation position was not scored")
            total += float(chosen.sum())
            count += len(where)
            surprisal.append(chosen)
    ppl = float(np.exp(total / max(count, 1)))
    return (ppl, surprisal) if per_position else ppl


@dataclass
class LMResult:
    model: CausalLM
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    interrupted: bool = False


def fit_lm(model: CausalLM, split: Split, val_positions: list[np.ndarray], epochs: int = 10, batch: int = 128,
           learning_rate: float = 2e-3, patience: int = 3, seed: int = 0, device: str = "cpu", quiet: bool = False,
           time_limit: float | None = None) -> LMResult:
    """Train on windows of context + 1 bases of both training strands; keep the best validation perplexity.

    Each epoch reads every training base once (windows at a random phase, in random order); the
    learning rate halves when validation perplexity stops falling; ``patience`` epochs without
    a fall stop training; ``time_limit`` seconds stop it after the epoch that passes them.
    """
    from seqzoo.training.train import choose_device
    from tqdm import tqdm

    dev = choose_device(device)
    model.to(dev)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    strands = both_strands(split.train)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=0, threshold=1e-3,
                                                           threshold_mode="abs")
    result, best, best_state, waited = LMResult(model), float("inf"), copy.deepcopy(model.state_dict()), 0
    width = model.context + 1
    start = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            phase = int(rng.integers(0, width))
            windows = np.concatenate([np.lib.stride_tricks.sliding_window_view(s[phase:], width)[::width]
                                      for s in strands if len(s) - phase >= width])
            windows = windows[rng.permutation(len(windows))]
            model.train()
            total, count = 0.0, 0
            bar = tqdm(range(0, len(windows), batch), desc=f"epoch {epoch}", unit="batch", disable=quiet,
                       file=sys.stderr)
            for lo in bar:
                loss, n = window_loss(model, torch.as_tensor(windows[lo:lo + batch], device=dev))
                optimiser.zero_grad(set_to_none=True)
                (loss / max(n, 1)).backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimiser.step()
                total, count = total + float(loss.detach()), count + n
                if lo // batch % 50 == 0:
                    bar.set_postfix(train_ppl=f"{math.exp(total / max(count, 1)):.4f}")
            bar.close()
            val = perplexity(model, both_strands(split.val), val_positions, device=dev)
            result.history.append({"epoch": epoch, "train_perplexity": math.exp(total / max(count, 1)),
                                   "val_perplexity": val, "lr": optimiser.param_groups[0]["lr"],
                                   "seconds": round(time.perf_counter() - start, 1)})
            if not quiet:
                print(f"epoch {epoch}: train perplexity {result.history[-1]['train_perplexity']:.4f}, "
                      f"validation {val:.4f}", file=sys.stderr)
            scheduler.step(val)
            if val < best - 1e-4:
                best, best_state, result.best_epoch, waited = val, copy.deepcopy(model.state_dict()), epoch, 0
            else:
                waited += 1
                if waited >= patience:
                    break
            if time_limit is not None and time.perf_counter() - start > time_limit:
                break
    except KeyboardInterrupt:
        result.interrupted = True
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result
