"""The ONNX Runtime engine: one model version's graphs, loaded on GPU or CPU, and its verbs.

An ``Engine`` holds the sessions of one zoo version (``model.onnx`` for probabilities and
in-silico mutagenesis, ``grad.onnx`` for saliency and hypothetical contributions, ``ig.onnx``
for integrated gradients) and speaks the model card's terms: its alphabet, length and classes.
It never imports PyTorch.

On a machine where ONNX Runtime's CUDA execution provider loads, the forward graph runs there
with IO binding, and batches are padded up to a few bucket sizes that are warmed up once, so
cuDNN's per-shape algorithm search happens at start-up and never under load. Everywhere else
the CPU provider runs with a fixed number of threads that do not spin (the gRPC threads share
the cores). The chosen provider is logged and reported (``Engine.provider``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from seqzoo.serving.ig_rule import IG_RULE, IG_STEPS, ig_nodes, ig_rows
from seqzoo.zoo.alphabets import Alphabet, ProductAlphabet
from seqzoo.zoo.card import default_class, read_card
from seqzoo.zoo.errors import InputError, IntegrityError, NotFoundError, UnavailableError, quote
from seqzoo.zoo.expect import compare_expect, expect_inputs
from seqzoo.zoo.external_data import check_external_data
from seqzoo.zoo.graphs import LOGPROBS, TRACK, track_probs
from seqzoo.zoo.inputs import Inputs, alphabet_from_dict
from seqzoo.zoo.registry import ModelVersion

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
# Batch sizes the GPU path pads to: a handful of shapes, each searched by cuDNN once at warm-up.
GPU_BUCKETS = (1, 8, 32, 128, 512, 1024, 4096)
# The most sequences one forward call sees on CPU; larger inputs are chunked (bounded memory).
CPU_CHUNK = 4096
def _read_card(path: Path) -> dict:
    card_path = path / "card.json"
    if not card_path.is_file():
        raise NotFoundError(f"{card_path}: no model card (is {path} a zoo version directory?)")
    return read_card(card_path, validate=False)


def _card_field(card: dict, *keys: str, where: str):
    value = card
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise InputError(f"{where}: the model card has no field {'.'.join(keys)!r}")
        value = value[key]
    return value


class Engine:
    """ONNX Runtime sessions for one model version.

    Use :meth:`Engine.load`; the constructor is for tests that already have sessions' files.

    Attributes
    ----------
    card : dict
        The model card.
    alphabet : Alphabet or ProductAlphabet
        The input alphabet (a product alphabet for structure models).
    length : int or None
        The input length L, or None when the graph takes any length.
    classes : list of str
        The C output classes, in the order of the probability columns.
    provider : str
        The execution provider the forward graph runs on.
    """

    def __init__(self, path: Path, card: dict, identity: ModelVersion, device: str = "auto",
                 threads: int | None = None, warmup: bool = True):
        if device not in DEVICES:
            raise InputError(f"device {device!r} is not one of {', '.join(DEVICES)}")
        self.path = Path(path)
        self.card = card
        self.identity = identity
        where = str(self.path / "card.json")
        self.alphabet: Alphabet | ProductAlphabet = alphabet_from_dict(_card_field(card, "input", "alphabet",
                                                                                    where=where))
        dynamic = bool(card.get("input", {}).get("length_dynamic", False))
        self.length: int | None = None if dynamic else int(_card_field(card, "input", "length", where=where))
        # a multimodal model's codes hold the sequence and its tracks side by side (zoo.inputs)
        self.packed = isinstance(self.alphabet, Inputs)
        self.code_length: int | None = self.alphabet.total_length if self.packed else self.length
        self.baseline: np.ndarray | None = self.alphabet.baseline if self.packed else None
        self.classes: list[str] = [str(c) for c in _card_field(card, "classes", where=where)]
        self.task: str = str(card.get("task") or "binary")
        structure = card.get("input", {}).get("structure")
        self.structure_form: str | None = structure.get("form") if isinstance(structure, dict) else None
        self.threads = threads
        self._lock = threading.Lock()
        self._extra: dict[str, ort.InferenceSession] = {}
        self._lut_cache: dict[bool, np.ndarray] = {}
        self.provider, self.session = self._open("model.onnx", device)
        self.buckets = GPU_BUCKETS if self.provider == CUDA else ()
        log.info("loaded %s from %s on %s", identity.ref, self.path, self.provider,
                 extra={"model": identity.name, "version": identity.version, "provider": self.provider})
        if warmup:
            self.warm_up()

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model_version_or_dir, device: str = "auto", threads: int | None = None,
             warmup: bool = True) -> Engine:
        """Open a zoo version (a ``ModelVersion``) or a version directory.

        Parameters
        ----------
        model_version_or_dir : ModelVersion or str or Path
            A resolved zoo version (``.path``, ``.card``, ``.name``, ``.version``, ``.digest``),
            or a directory holding ``model.onnx`` and ``card.json``.
        device : {"auto", "cpu", "cuda"}
            ``auto`` uses CUDA when its provider loads and the CPU otherwise; ``cuda`` fails
            (UnavailableError) rather than fall back.
        threads : int, optional
            ONNX Runtime intra-op threads on CPU (default: ORT's choice, all cores).
        warmup : bool
            Run the forward graph once per bucket (GPU) or once (CPU) before returning.
        """
        mv = model_version_or_dir
        if hasattr(mv, "path") and hasattr(mv, "card"):
            identity = ModelVersion(str(mv.name), int(mv.version), str(getattr(mv, "digest", "") or ""),
                                    Path(mv.path), dict(mv.card))
            return cls(identity.path, identity.card, identity, device, threads, warmup)
        path = Path(mv)
        if not path.is_dir():
            raise NotFoundError(f"{path}: no such model version directory")
        card = _read_card(path)
        identity = ModelVersion(str(card.get("name") or path.parent.name or path.name),
                                int(card.get("version") or 0), "", path, card)
        return cls(path, card, identity, device, threads, warmup)

    def _options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if self.threads:
            options.intra_op_num_threads = int(self.threads)
        # Spinning worker threads would steal the cores that gRPC needs between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    def _open(self, filename: str, device: str) -> tuple[str, ort.InferenceSession]:
        path = self.path / filename
        if not path.is_file():
            raise NotFoundError(f"{path}: the model version has no {filename}")
        check_external_data(path)  # before ONNX Runtime opens anything the graph names
        want_cuda = device in ("auto", "cuda") and CUDA in ort.get_available_providers()
        if device == "cuda" and not want_cuda:
            raise UnavailableError(f"device 'cuda' asked for {self.identity.ref} but ONNX Runtime has no CUDA "
                                   f"provider here (available: {', '.join(ort.get_available_providers())})")
        if want_cuda:
            cuda_options = {"cudnn_conv_algo_search": "EXHAUSTIVE", "cudnn_conv1d_pad_to_nc1d": "1",
                            "do_copy_in_default_stream": "1"}
            try:
                session = ort.InferenceSession(str(path), self._options(),
                                               providers=[(CUDA, cuda_options), CPU])
                if session.get_providers()[0] == CUDA:
                    return CUDA, session
                reason = "the session fell back to " + session.get_providers()[0]
            except Exception as exc:  # noqa: BLE001 - a broken CUDA install must not stop a CPU server
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if device == "cuda":
                raise UnavailableError(f"{path}: CUDA provider did not load ({reason})")
            log.warning("%s: CUDA provider did not load (%s); using the CPU", path, reason)
        try:
            return CPU, ort.InferenceSession(str(path), self._options(), providers=[CPU])
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"{path}: ONNX Runtime cannot load it ({str(exc).splitlines()[0]})") from None

    def _graph(self, filename: str) -> ort.InferenceSession:
        """grad.onnx / ig.onnx, opened on first use on the same device as the forward graph."""
        with self._lock:
            if filename not in self._extra:
                device = "cuda" if self.provider == CUDA else "cpu"
                self._extra[filename] = self._open(filename, device)[1]
            return self._extra[filename]

    def warm_up(self) -> None:
        """Run the forward graph on every bucket size (GPU) or once (CPU), and check the card's
        expected predictions when it has any (a model that does not reproduce them is refused)."""
        length = self.code_length or 1
        sizes = self.buckets or (1,)
        for size in sizes:
            self._run_forward(np.zeros((size, length), dtype=np.uint8))
        if self.card.get("expect"):
            sequences, structures, tracks = expect_inputs(self.card, str(self.path / "card.json"))
            if self.length is None or all(len(s) == self.length for s in sequences):
                try:
                    compare_expect(self.card, self.predict(self.encode(sequences, structures or None, tracks=tracks)),
                                   str(self.path))
                except IntegrityError as exc:  # a model that contradicts its card is refused like bad input
                    raise InputError(str(exc)) from None

    # ------------------------------------------------------------------ encoding
    @property
    def num_codes(self) -> int:
        return self.alphabet.num_codes

    @property
    def columns(self) -> str:
        """The A one-hot column names, one character each for plain alphabets."""
        if isinstance(self.alphabet, ProductAlphabet):
            return "".join(s + t for s in self.alphabet.sequence.letters for t in self.alphabet.structure.letters)
        if self.packed:
            return "".join(a.letters for _, a, _, _ in self.alphabet.parts)
        return self.alphabet.letters

    @property
    def track_names(self) -> list[str]:
        """The inputs after the sequence (a multimodal model's tracks; empty otherwise)."""
        return [t.name for t in self.alphabet.tracks] if self.packed else []

    def encode(self, sequences: Sequence[str], structures: Sequence[str] | None = None,
               convert_tu: bool = False, tracks: dict[str, Sequence[str]] | None = None) -> np.ndarray:
        """Encode sequences (and structures, for structure models; tracks, for multimodal models)
        in the model's alphabet.

        A structure model folds sequences that come without structures, with the predictor
        named by its card (so does a multimodal model with a ``structure`` track). Sequences must
        all have the model's length (no silent crop or pad).

        Parameters
        ----------
        sequences : sequence of str, N strings of length L
        structures : sequence of str, optional
            N structure strings (structure models only).
        convert_tu : bool
            Read T as U for an RNA model (U as T for a DNA model).
        tracks : dict of track name -> N strings, optional
            A multimodal model's track inputs (every one it needs; see ``track_names``).

        Returns
        -------
        np.ndarray, shape=(N, L), dtype=uint8 (L: the packed length for a multimodal model)
        """
        if isinstance(sequences, str):
            raise InputError("expected a list of sequences, got one string")
        if len(sequences) == 0:
            raise InputError("the batch is empty: give at least one sequence")
        if self.length is not None:
            for i, s in enumerate(sequences):
                if len(s) != self.length:
                    raise InputError(f"is {len(s)} long but model {self.identity.ref} takes {self.length}",
                                     index=i)
        if self.packed:
            if structures:
                raise InputError(f"model {self.identity.ref} takes its structure as the 'structure' track")
            return self.alphabet.encode(list(sequences), tracks, convert_tu)
        if tracks:
            raise InputError(f"model {self.identity.ref} has no track inputs: do not send tracks "
                             f"({', '.join(sorted(tracks))})")
        if isinstance(self.alphabet, ProductAlphabet):
            from seqzoo.zoo import structure  # ViennaRNA, only for structure models

            form = self.structure_form or "annotated"
            if structures is None or len(structures) == 0:
                structures = structure.structures(list(sequences), form=form)
            elif len(structures) != len(sequences):
                raise InputError(f"{len(sequences)} sequences but {len(structures)} structures")
            else:
                structures = structure.convert(list(structures), form)
            return self.alphabet.encode(list(sequences), list(structures), convert_tu)
        if structures:
            raise InputError(f"model {self.identity.ref} is not a structure model: do not send structures")
        return self.alphabet.encode(list(sequences), convert_tu)

    # ------------------------------------------------------------------ checks
    def check_codes(self, codes: np.ndarray) -> np.ndarray:
        """Validate codes [N, L] (dtype, shape, length, code range); errors name the sequence index."""
        codes = np.asarray(codes)
        if codes.dtype != np.uint8:
            raise InputError(f"codes must be uint8, got {codes.dtype}")
        if codes.ndim != 2:
            raise InputError(f"codes must be 2-d [N, L], got shape {codes.shape}")
        if codes.shape[0] == 0:
            raise InputError("the batch is empty: give at least one sequence")
        if self.code_length is not None and codes.shape[1] != self.code_length:
            raise InputError(f"is {codes.shape[1]} long but model {self.identity.ref} takes {self.code_length}"
                             + (" codes (the sequence and its tracks packed)" if self.packed else ""), index=0)
        if codes.shape[1] == 0:
            raise InputError("is empty", index=0)
        if int(codes.max()) >= self.num_codes:
            index, position = np.argwhere(codes >= self.num_codes)[0]
            raise InputError(f"code {int(codes[index, position])} at position {position + 1} is outside the "
                             f"{self.alphabet.name} alphabet's {self.num_codes} codes", index=int(index))
        return codes

    @property
    def language_model(self) -> bool:
        """A genome language model: [log-likelihood, perplexity] per window, no gradient graphs."""
        return self.task == "language_model"

    def _check_onehot(self, onehot: np.ndarray, selector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.language_model:
            raise InputError(f"model {self.identity.ref} is a language model: it has no gradient graphs for "
                             "attribution (use method ism, or seqzoo annotate for per-base surprisal)")
        onehot = np.ascontiguousarray(onehot, dtype=np.float32)
        selector = np.ascontiguousarray(selector, dtype=np.float32)
        if onehot.ndim != 3 or onehot.shape[2] != self.alphabet.size or onehot.shape[0] == 0:
            raise InputError(f"one-hot input must be [N, L, {self.alphabet.size}] with N > 0, got {onehot.shape}")
        if self.code_length is not None and onehot.shape[1] != self.code_length:
            raise InputError(f"is {onehot.shape[1]} long but model {self.identity.ref} takes {self.code_length}",
                             index=0)
        if selector.shape != (onehot.shape[0], len(self.classes)):
            raise InputError(f"selector must be [{onehot.shape[0]}, {len(self.classes)}], got {selector.shape}")
        return onehot, selector

    def target_class(self, target: str | int | None = None) -> str:
        """The class ``target`` names (a name or an index; None or "": the card's positive class,
        zoo.card.default_class); InputError for anything else."""
        if target is None or target == "":
            return default_class(self.card, self.identity.ref, "target")
        if isinstance(target, (int, np.integer)):
            if not 0 <= target < len(self.classes):
                raise InputError(f"target class {target} is outside 0..{len(self.classes) - 1}")
            return self.classes[target]
        if target not in self.classes:
            raise InputError(f"target class {quote(target)} is not one of the model's classes {self.classes}")
        return target

    def selector(self, n: int, target: str | int | None = None) -> np.ndarray:
        """float32 [n, C]: a one-hot selector of ``target`` (default: the card's positive class)."""
        sel = np.zeros((n, len(self.classes)), dtype=np.float32)
        sel[:, self.classes.index(self.target_class(target))] = 1.0
        return sel

    # ------------------------------------------------------------------ verbs
    def _run_forward(self, codes: np.ndarray) -> np.ndarray:
        n = codes.shape[0]
        if self.provider != CUDA:
            return self.session.run(["probs"], {"codes": codes})[0]
        bucket = next((b for b in self.buckets if b >= n), None)
        if bucket is None:  # larger than the largest bucket: chunk by it
            big = self.buckets[-1]
            return np.concatenate([self._run_forward(codes[i:i + big]) for i in range(0, n, big)])
        if bucket != n:
            codes = np.concatenate([codes, np.zeros((bucket - n, codes.shape[1]), dtype=np.uint8)])
        binding = self.session.io_binding()
        binding.bind_cpu_input("codes", np.ascontiguousarray(codes))
        binding.bind_output("probs", "cuda", 0)
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0][:n]

    def predict(self, codes: np.ndarray, batch: int = CPU_CHUNK) -> np.ndarray:
        """Class probabilities of encoded sequences.

        The one forward loop: at most ``batch`` sequences per pass on CPU (bounded activation
        memory), the bucket sizes on GPU.

        Parameters
        ----------
        codes : np.ndarray, shape=(N, L), dtype=uint8
        batch : int
            Sequences per forward pass on CPU.

        Returns
        -------
        np.ndarray, shape=(N, C), dtype=float32
        """
        codes = np.ascontiguousarray(self.check_codes(codes))
        if codes.shape[0] <= batch or self.provider == CUDA:
            return self._run_forward(codes)
        return np.concatenate([self._run_forward(codes[i:i + batch]) for i in range(0, codes.shape[0], batch)])

    def gradient(self, onehot: np.ndarray, selector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Saliency through grad.onnx: d sum(selector * probs) / d onehot.

        Parameters
        ----------
        onehot : np.ndarray, shape=(N, L, A), float32
        selector : np.ndarray, shape=(N, C), float32

        Returns
        -------
        probs : np.ndarray, shape=(N, C)
        grad : np.ndarray, shape=(N, L, A)
        """
        onehot, selector = self._check_onehot(onehot, selector)
        probs, grad = self._graph("grad.onnx").run(["probs", "grad"], {"onehot": onehot, "selector": selector})
        return probs, grad

    def integrated_gradients(self, onehot: np.ndarray, selector: np.ndarray, steps: int = IG_STEPS,
                             rule: str = IG_RULE) -> np.ndarray:
        """Integrated gradients from the all-zero baseline: x * sum_k w_k grad f(alpha_k x).

        One ig.onnx call per chunk of sequences evaluates every node of the rule as its own row
        (the row alpha_k x with alphas = [1], whose answer alpha_k x grad f(alpha_k x) is weighted
        by w_k / alpha_k here), so a pass costs what the gradient graph costs, at any rule.

        Parameters
        ----------
        onehot : np.ndarray, shape=(N, L, A), float32
        selector : np.ndarray, shape=(N, C), float32
        steps : int
            Gradient passes per sequence (nodes of the rule), 1..1000.
        rule : str
            ``midpoint`` (default) or ``gauss-legendre`` (see ``ig_nodes``).

        Returns
        -------
        np.ndarray, shape=(N, L, A), float32
        """
        return self._along_path("ig.onnx", "attributions", onehot, selector, steps, rule)

    def hypothetical(self, onehot: np.ndarray, selector: np.ndarray, steps: int = IG_STEPS,
                     rule: str = IG_RULE) -> np.ndarray:
        """Hypothetical contributions of integrated gradients: sum_k w_k grad f(alpha_k x), the
        path-averaged gradient at *every* letter (what each letter would contribute were it the
        one present; TF-MoDISco's hypothetical scores). Times the one-hot it is
        ``integrated_gradients`` (same rule, same nodes), at the same cost (grad.onnx).

        Returns
        -------
        np.ndarray, shape=(N, L, A), float32
        """
        return self._along_path("grad.onnx", "grad", onehot, selector, steps, rule)

    def _along_path(self, graph: str, output: str, onehot: np.ndarray, selector: np.ndarray, steps: int,
                    rule: str) -> np.ndarray:
        """sum_k w_k g(alpha_k x) of a gradient graph's output g, every node a row of one call per
        chunk (ig.onnx answers alpha_k x grad f, so its rows are divided by alpha_k)."""
        onehot, selector = self._check_onehot(onehot, selector)
        alphas, weights = ig_nodes(steps, rule)
        times_input = graph == "ig.onnx"
        scale = (weights / alphas if times_input else weights).astype(np.float32)
        alphas = alphas.astype(np.float32)
        n, length, a = onehot.shape
        k = len(alphas)
        chunk = ig_rows(k, length, a)
        session = self._graph(graph)
        extra = {"alphas": np.ones(1, dtype=np.float32)} if times_input else {}
        out = np.empty_like(onehot)
        for i in range(0, n, chunk):
            x, sel = onehot[i:i + chunk], selector[i:i + chunk]
            if self.baseline is None:
                path = (alphas[:, None, None, None] * x[None]).reshape(k * len(x), length, a)
            else:  # from the model's per-input baseline b: b + alpha (x - b)
                path = (self.baseline + alphas[:, None, None, None] * (x - self.baseline)[None]
                        ).reshape(k * len(x), length, a)
            rows = session.run([output], {"onehot": path, "selector": np.tile(sel, (k, 1)), **extra})[0]
            out[i:i + chunk] = np.tensordot(scale, rows.reshape(k, len(x), length, a), axes=1)
        return out

    @property
    def has_track(self) -> bool:
        """Whether the version has ``track.onnx`` (every window of a stretch in one shared pass)."""
        return (self.path / TRACK).is_file()

    @property
    def track_windows(self) -> int:
        """Windows ``track.onnx`` scores in one segment (a shorter stretch is padded to it)."""
        return int(self._graph(TRACK).get_inputs()[0].shape[1]) - self.length + 1

    def track(self, codes: np.ndarray) -> np.ndarray:
        """Probabilities [W, C] of every stride-1 window of one stretch of codes uint8 [S]
        (W = S - L + 1) through ``track.onnx``: overlapping windows share their convolutions, so
        a window costs a fraction of an independent forward pass (equal within 1e-5, checked at
        export)."""
        codes = np.asarray(codes, dtype=np.uint8)
        if codes.ndim != 1 or len(codes) < self.length:
            raise InputError(f"a track needs one stretch of at least {self.length} codes, got shape {codes.shape}")
        if int(codes.max()) >= self.alphabet.num_codes:
            raise InputError(f"code {int(codes.max())} is outside the alphabet's {self.alphabet.num_codes} codes")
        return track_probs(self._graph(TRACK), self.alphabet.one_hot(codes[None])[0], self.length)

    def surprisal(self, codes: np.ndarray) -> np.ndarray:
        """A language model's per-base surprisal -ln p(base i | bases before it in the window) of
        windows [N, L] through ``logprobs.onnx``: float32 [N, L], NaN at position 0 (nothing before
        it) and at unknown bases."""
        if not self.language_model:
            raise InputError(f"model {self.identity.ref} is a {self.task} classifier, not a language model: it has "
                             "no per-base surprisal")
        codes = self.check_codes(codes)
        out = np.full(codes.shape, np.nan, dtype=np.float32)
        session = self._graph(LOGPROBS)
        for i in range(0, len(codes), CPU_CHUNK):
            chunk = codes[i:i + CPU_CHUNK]
            logprobs = session.run(None, {"codes": chunk})[0]
            target = chunk[:, 1:].astype(np.int64)
            picked = -np.take_along_axis(logprobs[:, :-1], np.minimum(target, 3)[:, :, None], axis=2)[:, :, 0]
            out[i:i + len(chunk), 1:] = np.where(target < 4, picked, np.nan)
        return out

    def describe(self) -> dict:
        """What GetModel reports besides the card."""
        return {"name": self.identity.name, "version": self.identity.version, "digest": self.identity.digest,
                "provider": self.provider, "length": self.length or 0, "length_dynamic": self.length is None,
                "classes": list(self.classes), "columns": self.columns,
                "structure": isinstance(self.alphabet, ProductAlphabet), "tracks": self.track_names}
