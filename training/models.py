"""The network: pysster's convolutional architecture in PyTorch, and loading a trained run.

``SequenceCNN`` takes one-hot sequences [N, L, A] and returns logits [N, C]:
dropout on the input, ``conv_num`` blocks of [Conv1d (``kernel_num`` x ``kernel_len``), ReLU,
max-pool (``pool_size``, ``pool_stride``), dropout], an optional recurrent layer (GRU or LSTM,
optionally bidirectional), a head (``flatten``: keep every position, as pysster; ``global``:
max over positions, for inputs not centred on the signal), ``dense_num`` dense layers of
``neuron_num`` units with dropout, and a linear output. Binary and multiclass tasks use a
softmax over C outputs (binary as two classes, pysster's choice), multilabel a sigmoid per label.

``ensemble`` > 1 builds an ``Ensemble``: that many SequenceCNNs, trained one after another (each
with its own seed and early stopping), that answer with the mean of their probabilities. It is a
drop-in for a SequenceCNN everywhere after training (prediction, ONNX export, attribution).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from seqzoo.zoo.errors import InputError
from torch import nn

DEFAULTS: dict = {
    "conv_num": 2,
    "kernel_num": 64,
    "kernel_len": 8,
    "pool_size": 2,
    "pool_stride": 2,
    "dropout_input": 0.1,
    "dropout_conv": 0.3,
    "dropout_dense": 0.6,
    "dense_num": 1,
    "neuron_num": 100,
    "rnn": "none",
    "rnn_units": 32,
    "bidirectional": False,
    "head": "flatten",
    "learning_rate": 1e-3,
    "batch_size": 128,
    "epochs": 100,
    "patience": 10,
    "ensemble": 1,
}
# A multitask (multilabel) model's shared dense layer carries every task: wider and less dropped out.
# Measured on the 26 pooled iONMF experiments (BENCHMARKS.md "multitask", 22 tasks with a single-task
# model): mean test AUROC 0.839 with the single-task defaults, 0.846 with these; single-task models 0.840.
TASK_DEFAULTS: dict = {"multilabel": {"neuron_num": 256, "dropout_dense": 0.3}}
INT_PARAMS = ("conv_num", "kernel_num", "kernel_len", "pool_size", "pool_stride", "dense_num", "neuron_num",
              "rnn_units", "batch_size", "epochs", "patience", "ensemble")
FLOAT_PARAMS = ("dropout_input", "dropout_conv", "dropout_dense", "learning_rate")
CHOICES = {"rnn": ("none", "gru", "lstm"), "head": ("flatten", "global")}


def hyperparameters(overrides: dict | None = None, task: str | None = None) -> dict:
    """DEFAULTS (with the ``task``'s own TASK_DEFAULTS) updated with ``overrides``, each value
    checked and converted to its type.

    Raises InputError naming the parameter for an unknown name or a bad value.
    """
    params = {**DEFAULTS, **TASK_DEFAULTS.get(task, {})}
    for name, value in (overrides or {}).items():
        if name not in DEFAULTS:
            raise InputError(f"unknown hyperparameter {name!r} (known: {', '.join(DEFAULTS)})")
        try:
            if name in INT_PARAMS:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                value = int(value)
                if value < (0 if name in ("dense_num", "conv_num") else 1):
                    raise ValueError
            elif name in FLOAT_PARAMS:
                value = float(value)
                if name.startswith("dropout") and not 0 <= value < 1 or value < 0:
                    raise ValueError
            elif name == "bidirectional":
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            else:
                value = str(value).lower()
                if value not in CHOICES[name]:
                    raise ValueError
        except (TypeError, ValueError):
            allowed = f" (one of {', '.join(CHOICES[name])})" if name in CHOICES else ""
            raise InputError(f"hyperparameter {name}={value!r} is not valid{allowed}") from None
        params[name] = value
    return params


class SequenceCNN(nn.Module):
    """pysster's CNN. ``forward(x: float32 [N, L, A]) -> logits [N, C]``.

    Parameters
    ----------
    params : dict
        Hyperparameters (see DEFAULTS).
    alphabet_size : int
        A, one-hot columns (24 for RNA x annotated structure).
    n_classes : int
        C outputs (2 for binary).
    length : int
        L, the input length (the flatten head needs it); for several inputs, the packed length.
    task : {"binary", "multiclass", "multilabel"}
    slices : list of (first position, end position, first column, end column), optional
        Several inputs packed side by side (``Inputs.slices``): each gets its own convolutions
        (the sequence's are ``convs``, the tracks' ``track_convs``), and their outputs meet,
        side by side along positions, in the shared recurrent layer, head and dense layers.
    """

    def __init__(self, params: dict, alphabet_size: int, n_classes: int, length: int, task: str,
                 slices: list[tuple[int, int, int, int]] | None = None):
        super().__init__()
        if task not in ("binary", "multiclass", "multilabel"):
            raise InputError(f"task {task!r} is not binary, multiclass or multilabel")
        self.params = hyperparameters(params)
        p = self.params
        self.task = task
        self.length = length
        self.n_classes = n_classes
        self.slices = [tuple(int(v) for v in s) for s in slices] if slices else [(0, length, 0, alphabet_size)]
        self.output_activation = "sigmoid" if task == "multilabel" else "softmax"
        self.input_dropout = nn.Dropout(p["dropout_input"])
        branches = [self._branch(c1 - c0, r1 - r0, "" if len(self.slices) == 1 else "the sequence's " if i == 0
                                 else f"track {i}'s ") for i, (r0, r1, c0, c1) in enumerate(self.slices)]
        self.convs = branches[0][0]  # the sequence's branch (its first kernels are the motifs)
        self.track_convs = nn.ModuleList(convs for convs, _ in branches[1:])  # one branch per track input
        self.sizes = [size for _, size in branches]
        channels = p["kernel_num"] if p["conv_num"] else alphabet_size
        if p["conv_num"] == 0 and len(self.slices) > 1:
            raise InputError("a multimodal model needs --conv-num >= 1 (each input has its own convolutions)")
        self.conv_dropout = nn.Dropout(p["dropout_conv"])
        self.rnn = None
        if p["rnn"] != "none":
            cls = nn.GRU if p["rnn"] == "gru" else nn.LSTM
            self.rnn = cls(channels, p["rnn_units"], batch_first=True, bidirectional=p["bidirectional"])
            channels = p["rnn_units"] * (2 if p["bidirectional"] else 1)
        size = sum(self.sizes) if p["head"] == "flatten" else len(self.sizes)
        features = channels * size
        dense = []
        for _ in range(p["dense_num"]):
            dense += [nn.Linear(features, p["neuron_num"]), nn.ReLU(), nn.Dropout(p["dropout_dense"])]
            features = p["neuron_num"]
        self.dense = nn.Sequential(*dense)
        self.out = nn.Linear(features, n_classes)

    def _branch(self, channels: int, length: int, which: str = "") -> tuple[nn.ModuleList, int]:
        """One input's convolutions and the positions left after them."""
        p, convs, size = self.params, nn.ModuleList(), length
        for _ in range(p["conv_num"]):
            convs.append(nn.Conv1d(channels, p["kernel_num"], p["kernel_len"]))
            channels, size = p["kernel_num"], size - p["kernel_len"] + 1
            size = (size - p["pool_size"]) // p["pool_stride"] + 1 if size >= p["pool_size"] else 0
            if size < 1:
                raise InputError(f"{which}input length {length} is too short for {p['conv_num']} convolutions of "
                                 f"length {p['kernel_len']} with pooling {p['pool_size']}")
        return convs, size

    @property
    def first_conv(self) -> nn.Conv1d:
        """The first convolution of the sequence (its kernels are the sequence motifs the model learned)."""
        return self.convs[0]

    @property
    def length_dynamic(self) -> bool:
        """Whether the network accepts inputs of other lengths (global head, one input only)."""
        return self.params["head"] == "global" and len(self.slices) == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hs = []
        for i, (r0, r1, c0, c1) in enumerate(self.slices):
            part = x if len(self.slices) == 1 else x[:, r0:r1, c0:c1]
            h = self.input_dropout(part.transpose(1, 2))  # [N, A_i, L_i]
            for conv in self.convs if i == 0 else self.track_convs[i - 1]:
                h = F.relu(conv(h))
                h = F.max_pool1d(h, self.params["pool_size"], self.params["pool_stride"], return_indices=True)[0]
                h = self.conv_dropout(h)
            hs.append(h)
        h = hs[0] if len(hs) == 1 else torch.cat(hs, dim=2)  # the branches side by side along positions
        if self.rnn is not None:
            h = self.rnn(h.transpose(1, 2))[0].transpose(1, 2)  # [N, units, L']
        if self.params["head"] == "flatten":
            h = h.flatten(1)
        elif len(hs) == 1:
            h = h.amax(dim=2)
        else:  # global head: each input's own maximum
            h = torch.cat([part.amax(dim=2) for part in h.split([g.shape[2] for g in hs], dim=2)], dim=1)
        return self.out(self.dense(h))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities [N, C]: softmax (binary, multiclass) or sigmoid (multilabel)."""
        logits = self.forward(x)
        return torch.sigmoid(logits) if self.output_activation == "sigmoid" else torch.softmax(logits, dim=1)


class Ensemble(nn.Module):
    """A deep ensemble: members trained apart that answer with the mean of their probabilities.

    ``forward`` returns the log of the mean probability (softmax tasks: its softmax is the mean
    again, exactly) or its logit (multilabel), so it stands in for a SequenceCNN. Kernel motifs
    describe the first member's kernels.

    Parameters
    ----------
    members : list of SequenceCNN
        Two or more networks of the same shape.
    """

    def __init__(self, members: list[SequenceCNN]):
        super().__init__()
        if len(members) < 2:
            raise InputError(f"an ensemble needs at least two members, not {len(members)}")
        self.members = nn.ModuleList(members)
        first = members[0]
        self.task, self.length, self.n_classes = first.task, first.length, first.n_classes
        self.output_activation = first.output_activation

    @property
    def params(self) -> dict:
        """The members' hyperparameters with ``ensemble`` set to the number of members."""
        return {**self.members[0].params, "ensemble": len(self.members)}

    @property
    def first_conv(self) -> nn.Conv1d:
        """The first member's first convolution."""
        return self.members[0].first_conv

    @property
    def length_dynamic(self) -> bool:
        return self.members[0].length_dynamic

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """The members' mean class probabilities [N, C]."""
        return torch.stack([member.probabilities(x) for member in self.members]).mean(dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = self.probabilities(x)
        tiny = torch.finfo(probs.dtype).tiny  # log(0) would make -inf and NaN gradients
        if self.output_activation == "softmax":
            return probs.clamp_min(tiny).log()
        return probs.clamp_min(tiny).log() - (1 - probs).clamp_min(tiny).log()


def build_model(params: dict, alphabet_size: int, n_classes: int, length: int, task: str,
                slices: list[tuple[int, int, int, int]] | None = None) -> SequenceCNN | Ensemble:
    """Build the network for a task (see SequenceCNN; an Ensemble when ``ensemble`` > 1).

    Unknown parameters raise InputError.
    """
    params = hyperparameters(params)
    members = [SequenceCNN(params, alphabet_size, n_classes, length, task, slices) for _ in range(params["ensemble"])]
    return members[0] if len(members) == 1 else Ensemble(members)


class SequenceView(nn.Module):
    """A multimodal model seen through its sequence alone: the tracks held at their baselines.

    ``forward(x [N, L_seq, A_seq])`` packs x with every track at its integrated-gradients
    baseline (uniform letters by default) and runs the model: what the model wants of a sequence
    when it knows nothing of the tracks. Class optimisation reads the model through it.

    Parameters
    ----------
    model : SequenceCNN or Ensemble taking the packed input
    inputs : zoo.inputs.Inputs
    """

    def __init__(self, model: nn.Module, inputs):
        super().__init__()
        self.model, self.output_activation = model, model.output_activation
        self.sequence_size, self.width = inputs.sequence.size, inputs.size
        self.register_buffer("tracks", torch.from_numpy(inputs.baseline[inputs.length:]))

    @property
    def first_conv(self) -> nn.Conv1d:
        return self.model.first_conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = F.pad(x, (0, self.width - self.sequence_size))
        return self.model(torch.cat([top, self.tracks.expand(len(x), -1, -1)], dim=1))


def model_for(params: dict, alphabet, length: int, n_classes: int, task: str) -> SequenceCNN | Ensemble:
    """``build_model`` for an alphabet: plain, product, or a multimodal model's packed inputs
    (``zoo.inputs.Inputs``: one branch per input, the packed length)."""
    return build_model(params, alphabet.size, n_classes, getattr(alphabet, "total_length", length), task,
                       getattr(alphabet, "slices", None))


def load_run(run_dir: str | Path) -> tuple[SequenceCNN | Ensemble, dict]:
    """Rebuild a trained model from a run directory (config.json + weights.pt), in eval mode.

    Returns
    -------
    (model, config)
        ``config`` is config.json as a dict.
    """
    from seqzoo.zoo.inputs import alphabet_from_dict

    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
    except FileNotFoundError:
        raise InputError(f"{run_dir}: not a training run (no config.json)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{run_dir / 'config.json'}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    alphabet = alphabet_from_dict(config["alphabet"])
    model = model_for(config["model"], alphabet, config["length"], len(config["classes"]), config["task"])
    if not (run_dir / "weights.pt").exists():
        raise InputError(f"{run_dir}: no weights.pt")
    model.load_state_dict(torch.load(run_dir / "weights.pt", map_location="cpu", weights_only=True))
    model.eval()
    return model, config
