"""The Python API: ``seqzoo.load`` and ``seqzoo.connect``, for notebooks and pipelines.

    model = seqzoo.load("pum2:1", zoo="myzoo")                # in this process (ONNX Runtime)
    model = seqzoo.load("pum2:1", zoo="myzoo", dask=client)   # its tasks on a Dask cluster
    model = seqzoo.connect("127.0.0.1:50051").load("pum2")    # the same object, computed by a server
    model.predict(["ACGU..."])                                # pandas.DataFrame, one column per class
    model.attribute(["ACGU..."], method="ig")                 # numpy [N, L, A]
    model.score("windows.fa", "scores.parquet")               # what seqzoo score writes
    model.score_variants("variants.vcf.gz", "genome.fa.gz")   # pandas.DataFrame, one row per variant x ALT
    model.annotate("tracks/", genome="genome.fa")             # bigWig tracks and peaks
    model.attribute_file("windows.fa", "maps.npz")            # what seqzoo attribute writes

A :class:`Model` holds an executor (``serving.ops.executors``) and calls the drivers the CLI
calls (``serving.ops``), so a notebook gets exactly the numbers and files the commands write,
whichever mode it runs in. This module never imports PyTorch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from seqzoo.serving.ops import DEFAULT_PARTITION_ROWS
from seqzoo.serving.scoring import DEFAULT_BATCH, Row
from seqzoo.zoo.errors import InputError, NotFoundError

ATTRIBUTE_PART = 1024  # sequences one attribution task explains


class Model:
    """One model version in process, on a Dask cluster or behind a server; what ``seqzoo.load`` returns.

    Attributes
    ----------
    ref : str
        The exact version, ``name:version``.
    digest : str
        ``sha256:...`` of the version's manifest (pin it with ``name@sha256:...``).
    card : dict
        The model card: alphabet, length, classes, metrics, motifs, provenance.
    classes : list of str
    length : int or None
        The input length L (None when the model takes any length).
    executor : Local, Server or Dask
        Where it computes (``serving.ops.executors``).
    """

    def __init__(self, executor):
        self.executor = executor
        scorer = executor.scorer
        self.ref, self.digest, self.card = scorer.ref, scorer.digest, scorer.card
        self.classes, self.length = list(scorer.classes), scorer.length

    def __repr__(self) -> str:
        return f"<seqzoo.Model {self.ref} {self.digest[:19]}... on {self.executor.scorer.provider}>"

    def predict(self, sequences: Sequence[str], structures: Sequence[str] | None = None,
                batch_size: int = DEFAULT_BATCH, convert_tu: bool = False,
                tracks: dict[str, Sequence[str]] | None = None):
        """Class probabilities of each sequence.

        Parameters
        ----------
        sequences : list of str
            In the model's alphabet (lower case reads as upper case; N and IUPAC codes as unknown).
        structures : list of str, optional
            For structure models: given structures (default: folded with the card's predictor).
        convert_tu : bool
            Read T as U for RNA models (U as T for DNA models).
        tracks : dict of str -> list of str, optional
            A multimodal model's track inputs (the card's ``input.tracks``): name -> one string of
            per-position letters per sequence, or for a numeric track one row of numbers per
            sequence (a 2-d array; NaN for no data). A ``structure`` track is folded when absent.

        Returns
        -------
        pandas.DataFrame
            N rows in input order, one float32 column per class.
        """
        import pandas as pd
        from seqzoo.serving.ops.score import ScoreRows

        sequences = _strings(sequences, "sequences")
        structures = _strings(structures, "structures") if structures is not None else [None] * len(sequences)
        if len(structures) != len(sequences):
            raise InputError(f"{len(sequences)} sequences but {len(structures)} structures")
        tracks = _tracks(tracks, len(sequences)) or {}
        rows = [Row(i, s, t, "sequence", {name: values[i] for name, values in tracks.items()} or None)
                for i, (s, t) in enumerate(zip(sequences, structures))]
        size = DEFAULT_PARTITION_ROWS
        parts = (rows[start:start + size] for start in range(0, len(rows), size))
        blocks = list(self.executor.map(ScoreRows(batch_size, convert_tu), parts))
        probs = np.concatenate(blocks) if blocks else np.zeros((0, len(self.classes)), dtype=np.float32)
        return pd.DataFrame(probs, columns=self.classes)

    def attribute(self, sequences: Sequence[str], method: str = "ig", target: str | int | None = None,
                  steps: int = 0, convert_tu: bool = False, tracks: dict[str, Sequence[str]] | None = None
                  ) -> np.ndarray:
        """Attribution maps of the ``target`` class (default: the card's positive class).

        ``method``: ``ig`` (integrated gradients, all-zero baseline, ``steps`` midpoint
        steps; 0 = the default, 50),
        ``saliency`` (the input gradient), ``ism`` (in-silico mutagenesis: every substitution's
        probability change) or ``hypothetical`` (IG's path-averaged gradient at every letter, whose
        product with the one-hot is ``ig``). Returns float32 [N, L, A], columns in the alphabet's order
        (a multimodal model, with ``tracks`` as in ``predict``: the packed input, the sequence's
        positions and letters first, then each track's; IG from each input's card baseline).
        """
        from seqzoo.serving.ops.attribute import AttributeSequences
        from seqzoo.serving.scorers import ATTRIBUTION_METHODS

        if method not in ATTRIBUTION_METHODS:
            raise InputError(f"method {method!r} is not one of {', '.join(ATTRIBUTION_METHODS)}")
        sequences = _strings(sequences, "sequences")
        tracks = _tracks(tracks, len(sequences))
        parts = ((sequences[a:a + ATTRIBUTE_PART], {n: v[a:a + ATTRIBUTE_PART] for n, v in tracks.items()} if tracks
                  else None) for a in range(0, max(len(sequences), 1), ATTRIBUTE_PART))
        blocks = list(self.executor.map(AttributeSequences(method, target, steps, convert_tu), parts))
        return np.concatenate(blocks)

    def score(self, input: str, output: str, **options) -> dict:
        """Score a FASTA, parquet or BED (+ ``genome``) file into ``output``, as ``seqzoo score``
        (options: the fields of ``serving.ops.score.ScoreSettings``); returns the run's summary."""
        from seqzoo.serving.ops.score import ScoreSettings, score

        return score(ScoreSettings(str(input), str(output), **_tupled(options, "tracks")), self.executor)

    def score_variants(self, vcf: str, genome: str, scores: Sequence[str] = ("diff",), output: str | None = None,
                       track_sources: dict[str, str] | None = None, **options):
        """Variant effects of a VCF on a reference genome, as ``seqzoo variants`` (options: the
        fields of ``serving.ops.variants.VariantSettings``: ``strand`` (``auto`` with ``genes``),
        ``rc_rule``, ``contig_map``, ``attribution`` with ``attribution_out``/``plots``, ...; a
        multimodal model: ``track_sources={"region": "regions.bed", "signal": "signal.bw"}``).

        Returns
        -------
        pandas.DataFrame, or dict
            Without ``output``: one row per variant x ALT (x strand), ``key chrom pos id ref alt
            strand ref_match skip rc_average`` and ``<class>_<score>`` per class and score. With
            ``output`` (.vcf[.gz], .tsv, .parquet or a folder of parts): the run's summary.
        """
        import pandas as pd
        from seqzoo.serving.effects import parse_scores
        from seqzoo.serving.ops.variants import VariantSettings, score_variants

        sources = tuple(f"{name}={path}" for name, path in (track_sources or {}).items())
        names = tuple(parse_scores(list(scores)))
        if output is not None:
            return score_variants(VariantSettings(str(vcf), str(genome), str(output), names,
                                                  track_sources=sources, **options), self.executor)
        with tempfile.TemporaryDirectory(prefix="seqzoo-variants-") as tmp:
            out = Path(tmp) / "variants.parquet"
            score_variants(VariantSettings(str(vcf), str(genome), str(out), names, track_sources=sources, **options),
                           self.executor)
            return pd.read_parquet(out)

    def annotate(self, out: str, genome: str | None = None, **options) -> dict:
        """Tracks (bigWig) of the model over ``genome`` (through a server: its genome, leave it out)
        into the folder ``out``, as ``seqzoo annotate`` (options: the fields of
        ``serving.ops.annotate.AnnotateSettings``: ``regions``, ``stride``, ``strand``, ``classes``,
        ``peaks``, ...); returns the run's summary."""
        from seqzoo.serving.ops.annotate import AnnotateSettings, annotate

        return annotate(AnnotateSettings(str(out), genome, **_tupled(options, "classes")), self.executor)

    def attribute_file(self, input: str, output: str, **options) -> dict:
        """Explain every record of a FASTA into an ``.npz``, as ``seqzoo attribute`` (options: the
        fields of ``serving.ops.attribute.AttributeSettings``); returns the run's summary."""
        from seqzoo.serving.ops.attribute import AttributeSettings, attribute

        return attribute(AttributeSettings(str(input), str(output), **options), self.executor)

    def close(self) -> None:
        self.executor.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tupled(options: dict, name: str) -> dict:
    """``options`` with a list under ``name`` made a tuple (settings are frozen dataclasses)."""
    if name in options and not isinstance(options[name], str):
        options = {**options, name: tuple(options[name])}
    return options


def _strings(values, what: str) -> list[str]:
    if isinstance(values, str):
        raise InputError(f"{what}: expected a list of strings, got one string (wrap it in a list)")
    return [str(v) for v in values]


def _tracks(tracks: dict | None, n: int) -> dict | None:
    """A multimodal model's track inputs, each ``n`` values: strings (letters) or rows of numbers."""
    out = {}
    for name, values in (tracks or {}).items():
        what = f"tracks[{name!r}]"
        if isinstance(values, str):
            _strings(values, what)  # refused: one string where a list belongs
        rows = list(values)
        out[name] = rows if rows and not isinstance(rows[0], str) else _strings(rows, what)
        if len(out[name]) != n:
            raise InputError(f"{n} sequences but {len(out[name])} values of track {name!r}")
    return out or None


def load(ref: str, zoo: str | None = None, registry: str | None = None, device: str = "auto",
         threads: int | None = None, dask=None) -> Model:
    """A zoo model version in this process, or on a Dask cluster.

    Parameters
    ----------
    ref : str
        ``name``, ``name:latest``, ``name:3`` or ``name@sha256:<digest>``.
    zoo : str, optional
        The local zoo folder (default ``$SEQZOO_ZOO``, else the user data folder: zoo.registry.default_root).
    registry : str, optional
        A registry URL (``https://``, ``s3://``, a folder): ``name`` / ``name:latest`` mean the
        registry's newest version; a pinned version or digest is taken from the local zoo when
        it is there (published versions never change) and pulled (every digest verified) when not.
    device : {"auto", "cpu", "cuda"}
    dask : distributed.Client, optional
        Run the model's tasks on this cluster (each worker loads the version once; the workers
        must see the zoo folder at the same path).
    """
    from seqzoo.serving.ops.executors import Dask, Local
    from seqzoo.zoo.refs import parse_ref
    from seqzoo.zoo.registry import open_zoo
    from seqzoo.zoo.remote import pull

    local, parsed = open_zoo(zoo), parse_ref(ref)
    if registry is not None and parsed.version is None and parsed.digest is None:
        version = pull(ref, registry, local)  # "latest" means the registry's newest
    else:
        try:
            version = local.resolve(parsed)
        except NotFoundError:
            if registry is None:
                raise
            version = pull(ref, registry, local)
    if dask is not None:
        return Model(Dask(version, dask, device=device))
    return Model(Local(version, device=device, threads=threads))


class Connection:
    """A seqzoo server; ``load(ref)`` gives a :class:`Model` that it computes."""

    def __init__(self, target: str, token: str | None = None, tls_ca: str | None = None, timeout: float = 600.0):
        self.target, self.token, self.tls_ca, self.timeout = target, token, tls_ca, timeout

    def load(self, ref: str) -> Model:
        """The server's version for ``ref``, pinned to the exact ``name:version`` it resolves now."""
        from seqzoo.serving.ops.executors import Server

        return Model(Server(ref, self.target, token=self.token, tls_ca=self.tls_ca, timeout=self.timeout,
                            call_timeout=self.timeout))

    def models(self) -> list[dict]:
        """What the server serves: name, version, digest, provider, classes, card."""
        from seqzoo.serving.client import SeqZooClient

        with SeqZooClient(self.target, token=self.token, tls_ca=self.tls_ca, timeout=self.timeout) as client:
            return client.list_models()


def connect(target: str, token: str | None = None, tls_ca: str | None = None, timeout: float = 600.0) -> Connection:
    """A seqzoo server at ``host:port`` (``token``: its bearer token; ``tls_ca``: a PEM to trust)."""
    return Connection(target, token, tls_ca, timeout)
