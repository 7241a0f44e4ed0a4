"""The trainer: fit a SequenceCNN with early stopping, and predict with it.

Adam on a class-weighted loss (softmax tasks: cross-entropy with weights N / (C * n_c);
multilabel: binary cross-entropy with ``pos_weight`` = negatives / positives per label), the
learning rate halved when the validation loss stops improving, early stopping on validation
loss (patience counts epochs without a decrease of more than MIN_DELTA) with the best checkpoint
restored. Seeds fix the initial weights and the batch order; deterministic algorithms are switched on for CPU, so the same seed gives the same weights.
On CUDA, mixed precision (autocast + gradient scaling). Ctrl-C stops training and keeps the
best model so far (``TrainResult.interrupted``). Inputs stay uint8 codes in memory; each batch
is one-hot encoded by a table lookup on the device. An Ensemble's members are trained one after
another, member i with seed + i; Ctrl-C keeps the members trained so far (and the interrupted
member's best checkpoint).
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from seqzoo.training.metrics import compute_metrics, headline
from seqzoo.training.models import Ensemble, SequenceCNN

MIN_DELTA = 1e-3  # smallest decrease of the validation loss that counts as an improvement


@dataclass
class TrainResult:
    """What training produced: the model (best checkpoint, eval mode) and its history."""

    model: SequenceCNN | Ensemble
    history: list[dict] = field(default_factory=list)  # per epoch: loss, val_loss, val_auroc, lr (, member)
    best_epoch: int | list[int] = 0  # an ensemble: one per member
    interrupted: bool = False
    seconds: float = 0.0
    device: str = "cpu"


def choose_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cpu`` / ``cuda`` / ``cuda:1`` as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from seqzoo.zoo.errors import InputError

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: no CUDA device is available (use cpu or auto)")
    try:
        return torch.device(device)
    except RuntimeError:
        raise InputError(f"--device {device!r} is not a device (auto, cpu, cuda, cuda:N)") from None


def seed_everything(seed: int) -> None:
    """Seed torch (and numpy) and ask for deterministic kernels."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _loss_fn(task: str, labels: np.ndarray, device: torch.device):
    """The class-weighted loss of a task, from the training labels [N, C]."""
    counts = labels.sum(axis=0).astype(np.float64)
    if task == "multilabel":
        pos_weight = torch.tensor((len(labels) - counts) / np.maximum(counts, 1), dtype=torch.float32, device=device)
        return lambda logits, y: F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
    weight = torch.tensor(len(labels) / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32, device=device)
    return lambda logits, y: F.cross_entropy(logits, y.argmax(dim=1), weight=weight)


def predict(model: SequenceCNN, codes: np.ndarray, table: np.ndarray, batch_size: int = 512,
            device: torch.device | str = "cpu") -> np.ndarray:
    """Probabilities of a model on encoded sequences.

    Parameters
    ----------
    model : SequenceCNN
    codes : np.ndarray, shape=(N, L), uint8
    table : np.ndarray, shape=(num_codes, A), float32 (the alphabet's one-hot table)

    Returns
    -------
    np.ndarray, shape=(N, C), float32
    """
    logits = predict_logits(model, codes, table, batch_size, device)
    probs = torch.sigmoid(logits) if model.output_activation == "sigmoid" else torch.softmax(logits, dim=1)
    return probs.numpy()


def predict_logits(model: SequenceCNN, codes: np.ndarray, table: np.ndarray, batch_size: int = 512,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Logits float32 [N, C] (on the CPU) of a model in eval mode on codes uint8 [N, L]."""
    device = torch.device(device)
    model.eval()
    lut = torch.as_tensor(table, device=device)
    out = []
    with torch.no_grad():
        for start in range(0, len(codes), batch_size):
            x = lut[torch.as_tensor(codes[start:start + batch_size], device=device).long()]
            out.append(model(x).float().cpu())
    return torch.cat(out) if out else torch.zeros((0, model.n_classes))


def fit(model: SequenceCNN | Ensemble, train_codes: np.ndarray, train_labels: np.ndarray, val_codes: np.ndarray,
        val_labels: np.ndarray, table: np.ndarray, classes: list[str], seed: int = 0,
        device: str = "auto", quiet: bool = False) -> TrainResult:
    """Train ``model`` in place and return it with the best validation-loss weights restored.

    Parameters
    ----------
    model : SequenceCNN or Ensemble
        Freshly built (its ``params`` give learning_rate, batch_size, epochs, patience). An
        Ensemble's members are fitted one by one; after an interruption the result's model holds
        the members fitted so far.
    train_codes, val_codes : np.ndarray, shape=(N, L), uint8
    train_labels, val_labels : np.ndarray, shape=(N, C), float32 0/1
    table : np.ndarray, shape=(num_codes, A)
        One-hot table of the alphabet.
    classes : list of str
    seed : int
        Fixes the batch order (the weights were fixed when the model was built).
    device : str
        ``auto``, ``cpu``, ``cuda``.
    quiet : bool
        No progress bar.
    """
    if not isinstance(model, Ensemble):
        return _fit_one(model, train_codes, train_labels, val_codes, val_labels, table, classes, seed, device, quiet)
    results = []
    for i, member in enumerate(model.members):
        results.append(_fit_one(member, train_codes, train_labels, val_codes, val_labels, table, classes, seed + i,
                                device, quiet, f"member {i + 1}/{len(model.members)}"))
        if results[-1].interrupted:
            break
    # a member interrupted before its first epoch ended has nothing to give
    kept = [(m, r) for m, r in zip(model.members, results) if r.best_epoch >= 1] or [(model.members[0], results[0])]
    history = [{**h, "member": i + 1} for i, r in enumerate(results) for h in r.history]
    interrupted, seconds = any(r.interrupted for r in results), sum(r.seconds for r in results)
    if len(kept) == 1:  # interrupted in the second member's first epoch: the first member is the model
        first, result = kept[0]
        first.params["ensemble"] = 1
        return TrainResult(first, history, result.best_epoch, interrupted, seconds, result.device)
    return TrainResult(Ensemble([m for m, _ in kept]), history, [r.best_epoch for _, r in kept], interrupted, seconds,
                       results[0].device)


def _fit_one(model: SequenceCNN, train_codes: np.ndarray, train_labels: np.ndarray, val_codes: np.ndarray,
             val_labels: np.ndarray, table: np.ndarray, classes: list[str], seed: int, device: str, quiet: bool,
             desc: str = "training") -> TrainResult:
    from tqdm import tqdm

    p = model.params
    dev = choose_device(device)
    model.to(dev)
    amp = dev.type == "cuda"
    lut = torch.as_tensor(table, device=dev)
    xs_train = torch.as_tensor(train_codes, device=dev)
    ys_train = torch.as_tensor(train_labels, dtype=torch.float32, device=dev)
    loss_fn = _loss_fn(model.task, train_labels, dev)
    optimiser = torch.optim.Adam(model.parameters(), lr=p["learning_rate"])
    # an improvement must exceed MIN_DELTA: LR halving otherwise buys long tails of negligible gains
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=max(1, p["patience"] // 3),
                                                           threshold=MIN_DELTA, threshold_mode="abs")
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    generator = torch.Generator().manual_seed(seed)
    val_y = torch.as_tensor(val_labels, dtype=torch.float32, device=dev)
    result = TrainResult(model, device=str(dev))
    best_loss, best_state, waited, reference = float("inf"), copy.deepcopy(model.state_dict()), 0, float("inf")
    start = time.perf_counter()
    bar = tqdm(range(p["epochs"]), desc=desc, unit="epoch", disable=quiet, file=sys.stderr)
    try:
        for epoch in bar:
            model.train()
            order = torch.randperm(len(train_codes), generator=generator).to(dev)
            total, seen = 0.0, 0
            for i in range(0, len(order), p["batch_size"]):
                idx = order[i:i + p["batch_size"]]
                x, y = lut[xs_train[idx].long()], ys_train[idx]
                with torch.autocast(dev.type, enabled=amp):
                    loss = loss_fn(model(x), y)
                optimiser.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
                total += float(loss.detach()) * len(idx)
                seen += len(idx)
            val_logits = predict_logits(model, val_codes, table, device=dev)
            with torch.no_grad():
                val_loss = float(loss_fn(val_logits.to(dev), val_y))
            val_scores = (torch.sigmoid(val_logits) if model.output_activation == "sigmoid"
                          else torch.softmax(val_logits, dim=1)).numpy()
            val_auroc = headline(compute_metrics(val_labels, val_scores, classes, model.task), classes, model.task)
            lr = optimiser.param_groups[0]["lr"]
            result.history.append({"epoch": epoch + 1, "loss": total / max(seen, 1), "val_loss": val_loss,
                                   "val_auroc": val_auroc, "lr": lr})
            bar.set_postfix(loss=f"{total / max(seen, 1):.4f}", val_loss=f"{val_loss:.4f}",
                            val_auroc=f"{val_auroc:.4f}", lr=f"{lr:.1e}")
            scheduler.step(val_loss)
            if val_loss < best_loss:
                best_loss, best_state, result.best_epoch = val_loss, copy.deepcopy(model.state_dict()), epoch + 1
            if val_loss < reference - MIN_DELTA:
                reference, waited = val_loss, 0
            else:
                waited += 1
                if waited >= p["patience"]:
                    break
    except KeyboardInterrupt:
        result.interrupted = True  # keep the best model so far; the caller still writes the run
        if not quiet:
            print("\ninterrupted: keeping the best model so far", file=sys.stderr)
    finally:
        bar.close()
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result

