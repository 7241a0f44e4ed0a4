"""ONNX export: every trained model becomes three graphs, each checked against PyTorch.

- ``model.onnx``: ``codes`` uint8 [N, L] -> ``probs`` float32 [N, C]; the one-hot encoding is a
  Gather from the alphabet's table inside the graph, so the unknown code follows the card's rule.
- ``grad.onnx``: ``onehot`` [N, L, A], ``selector`` [N, C] -> ``probs``, ``grad`` [N, L, A] =
  d sum(selector * probs) / d onehot.
- ``ig.onnx``: ``onehot``, ``alphas`` [S], ``selector`` -> ``attributions`` [N, L, A] =
  onehot * mean_s grad(alphas[s] * onehot) (integrated gradients from the all-zero baseline; a
  multimodal model's graph starts from its per-input baseline b: (onehot - b) * mean_s grad(b +
  alphas[s] (onehot - b))).

ONNX has no autodiff that stock onnxruntime runs, so the gradient graphs are the joint
forward+backward traced by ``make_fx`` in symbolic mode with a decomposition table (our own
``convolution_backward`` returns only the input gradient), then exported by the dynamo exporter
(see the project's note on ONNX gradients). The export does NOT trust itself: ``check_parity``
runs every graph in onnxruntime against torch at two batch sizes and two lengths and raises
``ExportError`` when an error exceeds its tolerance, which refuses the publish.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from seqzoo.training.track import Track, activate
from seqzoo.zoo.errors import SeqzooError
from seqzoo.zoo.graphs import GRAPHS, TRACK, track_probs
from seqzoo.zoo.io.atomic import atomic_path
from torch import nn

log = logging.getLogger(__name__)

OPSET = 18
FORWARD_TOLERANCE = 1e-5
GRADIENT_TOLERANCE = 1e-5
IG_TOLERANCE = 1e-3
PARITY_STEPS = 8
# the track graph (training/track.py) scores segments of TRACK_WINDOWS windows (rounded up to whole
# phases; a fixed shape exports cleanly)
TRACK_WINDOWS = 4096


class ExportError(SeqzooError):
    """An exported graph disagrees with PyTorch (or cannot be exported): the model is not published."""


# ---------------------------------------------------------------------------------------------
# the functions that become graphs
# ---------------------------------------------------------------------------------------------
def probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Class probabilities of one-hot ``x`` [N, L, A]: softmax or sigmoid of the logits, as the model says."""
    logits = model(x)
    activation = getattr(model, "output_activation", "softmax")
    if activation == "softmax":
        return torch.softmax(logits, dim=-1)
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    raise ExportError(f"model.output_activation {activation!r} is not softmax or sigmoid")


class _Forward(nn.Module):
    """codes uint8 [N, L] -> probs [N, C], one-hot by row lookup in the alphabet's table."""

    def __init__(self, model: nn.Module, table: np.ndarray):
        super().__init__()
        self.model = model
        self.register_buffer("table", torch.from_numpy(np.ascontiguousarray(table, dtype=np.float32)))

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        onehot = self.table[codes.to(torch.int64)]
        return probabilities(self.model, onehot)


def _convolution_backward(grad_output, input, weight, bias_sizes, stride, padding, dilation, transposed,
                          output_padding, groups, output_mask):
    """Input gradient of a 1-d convolution: a transposed convolution with the same weight.

    Weight and bias gradients are refused (the export differentiates with respect to the input
    only); the result is right-padded to the input length where striding dropped a tail.
    """
    if transposed or weight.dim() != 3:
        raise ExportError("gradient export supports Conv1d layers only (no transposed or 2-d convolutions)")
    if output_mask[1] or output_mask[2]:
        raise ExportError("gradient export differentiates the input only; weights must not require grad")
    grad_input = F.conv_transpose1d(grad_output, weight, None, stride, padding, 0, groups, dilation)
    missing = input.shape[-1] - grad_input.shape[-1]
    grad_input = F.pad(grad_input, (0, missing))
    return grad_input, None, None


def _decompositions() -> dict:
    from torch._decomp import get_decompositions

    aten = torch.ops.aten
    table = get_decompositions([
        aten.threshold_backward, aten._softmax_backward_data, aten._log_softmax_backward_data,
        aten.max_pool2d_with_indices_backward, aten.sigmoid_backward, aten.tanh_backward,
        aten.native_batch_norm_backward, aten.native_layer_norm_backward, aten.gelu_backward,
        aten.leaky_relu_backward, aten.elu_backward, aten.avg_pool2d_backward, aten.embedding_dense_backward,
        aten.native_dropout_backward, aten._adaptive_avg_pool2d_backward, aten.hardtanh_backward,
        aten.silu_backward, aten.softplus_backward,
    ])
    table[aten.convolution_backward.default] = _convolution_backward
    return table


def _gradient_fn(model: nn.Module, names: list[str]):
    def fn(params, onehot, selector):
        x = onehot.detach().requires_grad_(True)
        probs = torch.func.functional_call(model, dict(zip(names, params)), (x,))
        probs = activate(model, probs)
        (grad,) = torch.autograd.grad(probs, x, selector)
        return probs.detach(), grad

    return fn


def _ig_fn(model: nn.Module, names: list[str], baseline: bool = False):
    """Integrated gradients from the all-zero baseline, or, with ``baseline``, from the [L, A]
    tensor after the parameters (a multimodal model's per-input baselines):
    (x - b) * mean_s grad f(b + alpha_s (x - b))."""

    def fn(params, onehot, alphas, selector):
        base = params[len(names)] if baseline else None
        steps = alphas.shape[0]
        n, length, a = onehot.shape
        diff = onehot if base is None else onehot - base
        path = alphas.reshape(-1, 1, 1, 1) * diff.unsqueeze(0)
        path = (path if base is None else path + base).reshape(steps * n, length, a)
        x = path.detach().requires_grad_(True)
        probs = activate(model, torch.func.functional_call(model, dict(zip(names, params)), (x,)))
        cot = selector.unsqueeze(0).expand(steps, -1, -1).reshape(steps * n, -1)
        (grad,) = torch.autograd.grad(probs, x, cot)
        return diff * grad.reshape(steps, n, length, a).mean(dim=0)

    return fn


class _Traced(nn.Module):
    """A traced joint graph with the model's parameters held as buffers (exportable by dynamo)."""

    def __init__(self, graph_module: nn.Module, params: list[torch.Tensor]):
        super().__init__()
        self.graph_module = graph_module
        self.count = len(params)
        for i, p in enumerate(params):
            self.register_buffer(f"p{i}", p.detach().clone())

    def params(self) -> list[torch.Tensor]:
        return [getattr(self, f"p{i}") for i in range(self.count)]


class _TracedGradient(_Traced):
    def forward(self, onehot: torch.Tensor, selector: torch.Tensor):
        return self.graph_module(self.params(), onehot, selector)


class _TracedIG(_Traced):
    def forward(self, onehot: torch.Tensor, alphas: torch.Tensor, selector: torch.Tensor):
        return self.graph_module(self.params(), onehot, alphas, selector)


def _trace(fn, model: nn.Module, example: tuple, wrapper: type, baseline: np.ndarray | None = None) -> _Traced:
    from torch.fx.experimental import _config as fx_config
    from torch.fx.experimental.proxy_tensor import make_fx

    names = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
    params = [p.detach() for _, p in model.named_parameters()] + [b for _, b in model.named_buffers()]
    extra = ()
    if baseline is not None:  # held like a parameter, after them (fn finds it at index len(names))
        params.append(torch.from_numpy(np.ascontiguousarray(baseline, dtype=np.float32)))
        extra = (True,)
    # the max-pool backward decomposition declines in deterministic mode (which training switches on)
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    try:
        # no duck shaping: sizes that happen to be equal in the example (4 alphas, 4 letters of a
        # track) must not share a symbol, or one input's fixed size pins the other dynamic dim
        with fx_config.patch(use_duck_shape=False):
            graph_module = make_fx(fn(model, names, *extra), decomposition_table=_decompositions(),
                                   tracing_mode="symbolic")(params, *example)
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    return wrapper(graph_module, params)


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportSpec:
    """What the export needs to know about a model besides its weights.

    Attributes
    ----------
    table : np.ndarray, float32 [num_codes, A]
        The alphabet's one-hot table (``alphabet.table``).
    length : int
        The trained sequence length L.
    length_dynamic : bool
        Whether the architecture accepts other lengths (False for a flatten head).
    n_classes : int
    min_length : int
        The shortest accepted input when the length is dynamic.
    baseline : np.ndarray, float32 [L, A], optional
        Integrated gradients' starting point (a multimodal model's per-input baselines; None: zero).
    """

    table: np.ndarray
    length: int
    length_dynamic: bool
    n_classes: int
    min_length: int = 1
    baseline: np.ndarray | None = None

    @property
    def alphabet_size(self) -> int:
        return int(self.table.shape[1])


def make_spec(model: nn.Module, table: np.ndarray, length: int, n_classes: int,
              baseline: np.ndarray | None = None) -> ExportSpec:
    """The ExportSpec of a model: dynamic length where its head allows it and it has no recurrent layer.

    A recurrent layer is unrolled over time by the exporter, which fixes the length; a flatten
    head fixes it by construction. For a dynamic length, ``min_length`` is the shortest input
    the network accepts (found by trying, since pooling and kernels decide it).
    """
    dynamic = bool(getattr(model, "length_dynamic", False)) and getattr(model, "rnn", None) is None
    return ExportSpec(np.asarray(table, dtype=np.float32), int(length), dynamic, int(n_classes),
                      shortest_input(model, table.shape[1], length) if dynamic else int(length),
                      None if baseline is None or not np.any(baseline) else np.asarray(baseline, dtype=np.float32))


def shortest_input(model: nn.Module, alphabet_size: int, length: int) -> int:
    """The smallest L <= ``length`` for which ``model`` runs on [1, L, A] (binary search)."""
    model = model.eval()

    def runs(n: int) -> bool:
        try:
            with torch.no_grad():
                model(torch.zeros(1, n, alphabet_size))
            return True
        except (RuntimeError, ValueError, IndexError):
            return False

    lo, hi = 1, int(length)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if runs(mid) else (mid + 1, hi)
    return lo


def _dynamic(spec: ExportSpec, names: tuple[str, ...]) -> tuple:
    from torch.export import Dim

    batch = Dim("batch", min=1, max=1 << 20)
    # torch.export specialises very small sizes (0 and 1), so the range starts at 2 at least
    # Dim.DYNAMIC: the pool backward's reshapes carry guards (1 % (L // 4 - 3) != 0) that the
    # range solver cannot prove, so ask for a dynamic length without a proof; parity checks it
    length = Dim.DYNAMIC if spec.length_dynamic else None
    shapes = {"codes": {0: batch, 1: length} if length is not None else {0: batch},
              "onehot": {0: batch, 1: length} if length is not None else {0: batch},
              "selector": {0: batch}, "alphas": {0: Dim("steps", min=1, max=1 << 16)},
              "segment": {0: batch}}
    return tuple(shapes[k] for k in names)


def _quiet_exporter() -> None:
    # the exporter logs a warning per missing torchvision op on every call; not our concern
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    logging.getLogger("onnx_ir").setLevel(logging.WARNING)  # one INFO line per deduplicated initializer


def _export(module: nn.Module, args: tuple, names: tuple[str, ...], outputs: tuple[str, ...], spec: ExportSpec,
            path: Path) -> None:
    _quiet_exporter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.export.export(module, args, dynamic_shapes=_dynamic(spec, names), strict=False)
            onnx_program = torch.onnx.export(program, args, input_names=list(names), output_names=list(outputs),
                                             dynamo=True, opset_version=OPSET, external_data=False,
                                             optimize=True, verbose=False)
        except SeqzooError:
            raise
        except Exception as exc:  # the exporter raises many types; name the graph and keep the cause
            raise ExportError(f"{path.name}: export failed: {type(exc).__name__}: {str(exc)[:500]}") from exc
    with atomic_path(path) as tmp:
        onnx_program.save(str(tmp))


def export_graphs(model: nn.Module, spec: ExportSpec, folder: str | os.PathLike) -> dict:
    """Write model.onnx, grad.onnx and ig.onnx for ``model`` into ``folder``.

    Parameters
    ----------
    model : nn.Module
        ``forward(x: float32 [N, L, A]) -> logits [N, C]`` with ``output_activation``; put in eval mode here.
    spec : ExportSpec
    folder : path

    Returns
    -------
    dict
        The card's ``graphs`` entry: inputs and outputs (name, dtype, shape) of each graph.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    for p in model.parameters():
        p.requires_grad_(False)
    n, length, a, c = 3, spec.length, spec.alphabet_size, spec.n_classes
    rng = np.random.default_rng(0)
    codes = torch.from_numpy(rng.integers(0, a, size=(n, length)).astype(np.uint8))
    onehot = torch.from_numpy(spec.table[codes.numpy()])
    selector = torch.zeros(n, c)
    selector[:, -1] = 1.0
    alphas = (torch.arange(4, dtype=torch.float32) + 0.5) / 4

    _export(_Forward(model, spec.table), (codes,), ("codes",), ("probs",), spec, folder / "model.onnx")
    _export(_trace(_gradient_fn, model, (onehot, selector), _TracedGradient), (onehot, selector), ("onehot", "selector"),
            ("probs", "grad"), spec, folder / "grad.onnx")
    _export(_trace(_ig_fn, model, (onehot, alphas, selector), _TracedIG, spec.baseline), (onehot, alphas, selector),
            ("onehot", "alphas", "selector"), ("attributions",), spec, folder / "ig.onnx")
    graphs = graph_descriptions(spec)
    if Track.supports(model) and not spec.length_dynamic:
        track = Track(model).eval()
        windows = track.phases * -(-TRACK_WINDOWS // track.phases)  # a whole number of phases
        segment = torch.from_numpy(spec.table[rng.integers(0, a, size=(2, length - 1 + windows))])
        _export(track, (segment,), ("segment",), ("probs",), spec, folder / TRACK)
        graphs[TRACK] = {"inputs": [{"name": "segment", "dtype": "float32", "shape": ["N", length - 1 + windows, a]}],
                              "outputs": [{"name": "probs", "dtype": "float32", "shape": ["N", windows, c]}],
                              "opset": OPSET, "window": length, "windows": windows}
    return graphs


def graph_descriptions(spec: ExportSpec) -> dict:
    """The card's ``graphs`` entry for a spec (symbolic dims N, L, S; numbers where fixed)."""
    length = "L" if spec.length_dynamic else spec.length
    a, c = spec.alphabet_size, spec.n_classes

    def t(name, dtype, shape):
        return {"name": name, "dtype": dtype, "shape": shape}

    return {
        "model.onnx": {"inputs": [t("codes", "uint8", ["N", length])],
                       "outputs": [t("probs", "float32", ["N", c])], "opset": OPSET},
        "grad.onnx": {"inputs": [t("onehot", "float32", ["N", length, a]), t("selector", "float32", ["N", c])],
                      "outputs": [t("probs", "float32", ["N", c]), t("grad", "float32", ["N", length, a])],
                      "opset": OPSET},
        "ig.onnx": {"inputs": [t("onehot", "float32", ["N", length, a]), t("alphas", "float32", ["S"]),
                               t("selector", "float32", ["N", c])],
                    "outputs": [t("attributions", "float32", ["N", length, a])], "opset": OPSET},
    }


# ---------------------------------------------------------------------------------------------
# parity
# ---------------------------------------------------------------------------------------------
def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _torch_gradient(model: nn.Module, onehot: np.ndarray, selector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = torch.from_numpy(onehot).requires_grad_(True)
    probs = probabilities(model, x)
    (grad,) = torch.autograd.grad(probs, x, torch.from_numpy(selector))
    return probs.detach().numpy(), grad.numpy()


def _torch_ig(model: nn.Module, onehot: np.ndarray, alphas: np.ndarray, selector: np.ndarray,
              baseline: np.ndarray | None = None) -> np.ndarray:
    base = np.zeros_like(onehot[0]) if baseline is None else baseline
    total = np.zeros_like(onehot)
    for alpha in alphas:
        total += _torch_gradient(model, (base + alpha * (onehot - base)).astype(np.float32), selector)[1]
    return (onehot - base) * total / len(alphas)


def check_parity(model: nn.Module, spec: ExportSpec, folder: str | os.PathLike, seed: int = 0,
                 batches: tuple[int, int] = (1, 5), steps: int = PARITY_STEPS) -> dict:
    """Run the three graphs in onnxruntime against torch and return the largest errors.

    Inputs are random codes (including the unknown code) at two batch sizes and, for models of
    dynamic length, two lengths (the trained L and a longer one); the selector picks a random
    class per sequence (random weights for sigmoid models).

    Returns
    -------
    dict
        ``{"forward": max_abs_err, "gradient": ..., "ig": ..., "checked": [[N, L], ...]}``

    Raises
    ------
    ExportError
        When forward or gradient differ by more than 1e-5, or IG by more than 1e-3.
    """
    folder = Path(folder)
    model = model.eval().cpu()
    forward, grad_s, ig_s = (_session(folder / f) for f in GRAPHS)
    rng = np.random.default_rng(seed)
    lengths = (spec.length, spec.length + 37) if spec.length_dynamic else (spec.length,)
    num_codes, c = spec.table.shape[0], spec.n_classes
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
    errors = {"forward": 0.0, "gradient": 0.0, "ig": 0.0}
    checked = []
    for length in lengths:
        for n in batches:
            codes = rng.integers(0, num_codes, size=(n, length)).astype(np.uint8)
            onehot = spec.table[codes]
            if getattr(model, "output_activation", "softmax") == "sigmoid":
                selector = rng.random((n, c)).astype(np.float32)
            else:
                selector = np.eye(c, dtype=np.float32)[rng.integers(0, c, size=n)]
            probs_t, grad_t = _torch_gradient(model, onehot, selector)
            try:
                probs_o = forward.run(None, {"codes": codes})[0]
                probs_g, grad_o = grad_s.run(None, {"onehot": onehot, "selector": selector})
                ig_o = ig_s.run(None, {"onehot": onehot, "alphas": alphas, "selector": selector})[0]
            except Exception as exc:  # onnxruntime raises its own types (Fail, InvalidArgument, ...)
                raise ExportError(f"{folder}: the ONNX graphs fail at batch {n}, length {length}: "
                                  f"{type(exc).__name__}: {str(exc)[:300]}; refusing to publish") from exc
            ig_t = _torch_ig(model, onehot, alphas, selector, spec.baseline)
            for key, got, want in (("forward", probs_o, probs_t), ("forward", probs_g, probs_t),
                                   ("gradient", grad_o, grad_t), ("ig", ig_o, ig_t)):
                if got.shape != want.shape:
                    raise ExportError(f"{key} graph gives shape {got.shape} at batch {n}, length {length}; "
                                      f"torch gives {want.shape}")
                errors[key] = max(errors[key], float(np.max(np.abs(got - want))) if got.size else 0.0)
            checked.append([n, length])
    if (folder / TRACK).is_file():
        errors["track"] = _track_parity(forward, _session(folder / TRACK), spec, rng)
    limits = {"forward": FORWARD_TOLERANCE, "gradient": GRADIENT_TOLERANCE, "ig": IG_TOLERANCE,
              "track": FORWARD_TOLERANCE}
    limits = {k: v for k, v in limits.items() if k in errors}
    bad = [f"{k} max error {errors[k]:.3g} > {limits[k]:g}" for k in limits if not errors[k] <= limits[k]]
    if bad:
        raise ExportError(f"{folder}: ONNX graphs disagree with PyTorch ({'; '.join(bad)}; checked [N, L] "
                          f"{checked}); refusing to publish")
    log.info("parity: forward %.2g, gradient %.2g, ig %.2g%s at [N, L] %s", errors["forward"], errors["gradient"],
             errors["ig"], f", track {errors['track']:.2g}" if "track" in errors else "", checked)
    return {**errors, "checked": checked}


def _track_parity(forward, track, spec: ExportSpec, rng) -> float:
    """Largest difference between the track graph over a stretch of sequence (more windows than
    one segment holds, not a whole number of segments) and the forward graph on each window."""
    segment_windows = track.get_inputs()[0].shape[1] - spec.length + 1
    codes = rng.integers(0, spec.table.shape[0], size=spec.length - 1 + segment_windows + 37).astype(np.uint8)
    got = track_probs(track, spec.table[codes], spec.length)
    views = np.lib.stride_tricks.sliding_window_view(codes, spec.length)
    want = np.concatenate([forward.run(None, {"codes": np.ascontiguousarray(views[i:i + 1024])})[0]
                           for i in range(0, len(views), 1024)])
    return float(np.max(np.abs(got - want)))


def embed_card(folder: str | os.PathLike, card_json: str, key: str = "seqzoo.card") -> None:
    """Store the card's JSON text in the metadata_props of every graph in ``folder`` (atomically)."""
    import onnx

    for path in sorted(Path(folder).glob("*.onnx")):
        proto = onnx.load(str(path))
        kept = [p for p in proto.metadata_props if p.key != key]
        del proto.metadata_props[:]
        proto.metadata_props.extend(kept)
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, card_json
        with atomic_path(path) as tmp:
            onnx.save(proto, str(tmp))
