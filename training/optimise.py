"""Visualisation by optimisation (Deep Motif; pysster's visualize_optimized_inputs).

Find the input that a class (or a first-layer kernel) likes most:
``argmax_S score(S) - lambda * ||S||^2`` by projected gradient ascent from several random
starts, with S clipped to [0, 1] after every step, then turn the best S into a PWM by additive
(Laplace) smoothing: ``(S + alpha) / (sum_letters S + A * alpha)``. For a class the score is the
log-odds of P(class | S) (a monotone function of P with the same maximisers, whose gradient does
not vanish where the softmax saturates); for a kernel it is its largest activation. The class
optimum spans the whole input; its most informative window is the motif. An optimised input is
the model's idea of a perfect sequence, not a sequence that exists: read it with the kernel motifs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from seqzoo.zoo.errors import InputError


@dataclass
class Optimised:
    """An optimised input and the motif cut from it.

    Attributes
    ----------
    inputs : np.ndarray, shape=(L, A)
        The best start's S, in [0, 1].
    pwm : np.ndarray, shape=(W, A)
        The smoothed PWM of the most informative window (trimmed).
    start : int
        Where the window starts in ``inputs``.
    objective : float
        The best start's final objective.
    probability : float | None
        P(class | S) for class optimisation.
    """

    inputs: np.ndarray
    pwm: np.ndarray
    start: int
    objective: float
    probability: float | None = None


def smooth(s: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    """Additive (Laplace) smoothing of a [W, A] matrix in [0, 1] into a PWM whose rows sum to 1."""
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, 1.0)
    if alpha <= 0:
        raise InputError(f"smoothing alpha must be > 0, got {alpha}")
    return (s + alpha) / (s.sum(axis=1, keepdims=True) + s.shape[1] * alpha)


def best_window(pwm: np.ndarray, width: int) -> int:
    """Start of the ``width``-long window of a PWM [L, A] with the most information content."""
    from seqzoo.zoo.logos import information_content

    ic = information_content(pwm)
    width = min(width, len(ic))
    sums = np.convolve(ic, np.ones(width), mode="valid")
    return int(np.argmax(sums))


def _ascend(objective_fn, shape: tuple[int, ...], starts: int, steps: int, lr: float, lam: float, seed: int):
    import torch

    generator = torch.Generator().manual_seed(seed)
    s = torch.rand((starts, *shape), generator=generator).mul_(0.5).add_(0.25).requires_grad_(True)
    optimiser = torch.optim.Adam([s], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        value = objective_fn(s) - lam * (s ** 2).sum(dim=tuple(range(1, s.dim())))
        (-value.sum()).backward()
        optimiser.step()
        with torch.no_grad():
            s.clamp_(0.0, 1.0)
    with torch.no_grad():
        final = objective_fn(s) - lam * (s ** 2).sum(dim=tuple(range(1, s.dim())))
    return s.detach(), final.detach()


def class_log_odds(model, x, class_index: int):
    """log P_c - log(1 - P_c) of a model's output for inputs x [R, L, A] (torch)."""
    import torch

    logits = model(x)
    if getattr(model, "output_activation", "softmax") == "sigmoid":
        return logits[:, class_index]
    logp = torch.log_softmax(logits, dim=1)
    others = torch.cat([logp[:, :class_index], logp[:, class_index + 1:]], dim=1)
    return logp[:, class_index] - torch.logsumexp(others, dim=1)


def optimise_class(model, class_index: int, length: int, alphabet_size: int, width: int = 12, starts: int = 8,
                   steps: int = 300, lr: float = 0.05, lam: float = 0.3, alpha: float = 0.1,
                   seed: int = 0) -> Optimised:
    """The input that maximises a class's probability, and its most informative ``width`` window.

    Parameters
    ----------
    model : torch.nn.Module, ``forward(x [R, L, A]) -> logits [R, C]``, eval mode
    class_index : int
    length, alphabet_size : int
        L and A of the model's input.
    width : int
        Width of the window cut out as the motif (then trimmed of flanks under 0.3 bits).
    starts, steps, lr, lam, alpha, seed
        Random starts, Adam steps and learning rate, the L2 weight lambda, the smoothing alpha.
    """
    import torch
    from seqzoo.training.attribution import trim

    if length < 1 or alphabet_size < 1:
        raise InputError(f"cannot optimise an input of length {length} over {alphabet_size} letters")
    s, final = _ascend(lambda x: class_log_odds(model, x, class_index), (length, alphabet_size), starts, steps,
                       lr, lam, seed)
    best = int(torch.argmax(final))
    inputs = s[best].numpy()
    full = smooth(inputs, alpha)
    start = best_window(full, width)
    window = full[start:start + width]
    lo, hi = trim(window)
    with torch.no_grad():
        logits = model(s[best:best + 1])
        probs = torch.sigmoid(logits) if getattr(model, "output_activation", "softmax") == "sigmoid" \
            else torch.softmax(logits, dim=1)
    return Optimised(inputs, window[lo:hi], start + lo, float(final[best]), float(probs[0, class_index]))


def optimise_kernel(model, kernel: int, starts: int = 4, steps: int = 200, lr: float = 0.05, lam: float = 0.01,
                    alpha: float = 0.1, seed: int = 0) -> Optimised:
    """The kernel-wide input that maximises one first-layer kernel's activation, as a PWM."""
    conv = getattr(model, "first_conv", None)
    if conv is None:
        raise InputError("the model has no first_conv to optimise a kernel of")
    if not 0 <= kernel < conv.out_channels:
        raise InputError(f"kernel {kernel} is outside the first convolution's {conv.out_channels} kernels")
    width, channels = int(conv.kernel_size[0]), int(conv.in_channels)
    import torch

    def activation(x):
        return conv(x.transpose(1, 2))[:, kernel].amax(dim=1)

    s, final = _ascend(activation, (width, channels), starts, steps, lr, lam, seed)
    best = int(torch.argmax(final))
    inputs = s[best].numpy()
    return Optimised(inputs, smooth(inputs, alpha), 0, float(final[best]))
