"""The Python API: ``seqzoo.load`` and ``seqzoo.connect``, for notebooks and pipelines.

    model = seqzoo.load("pum2:1", zoo="myzoo")                # in this process (ONNX Runtime)
    model = seqzoo.connect("127.0.0.1:50051").load("pum2")    # the same object, scored by a server
    model.predict(["ACGU..."])                                # pandas.DataFrame, one column per class
    model.attribute(["ACGU..."], method="ig")                 # numpy [N, L, A]
    model.score_variants("variants.vcf.gz", "genome.fa.gz")   # pandas.DataFrame, one row per variant x ALT

Both return a :class:`Model` over the scorers the CLI uses (``serving.scorers``) and the one
scoring loop, so a notebook gets exactly the numbers ``seqzoo score`` and ``seqzoo variants``
write. This module never imports PyTorch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from seqzoo.serving.scorers import ATTRIBUTION_METHODS, LocalScorer, RemoteScorer
from seqzoo.serving.scoring import DEFAULT_BATCH, Row, score_records
from seqzoo.zoo.errors import InputError, NotFoundError


class Model:
    """One model version, in process or behind a server; what ``seqzoo.load`` returns.

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
    """

    def __init__(self, scorer: LocalScorer | RemoteScorer):
        self._scorer = scorer
        self.ref, self.digest, self.card = scorer.ref, scorer.digest, scorer.card
        self.classes, self.length = list(scorer.classes), scorer.length

    def __repr__(self) -> str:
        return f"<seqzoo.Model {self.ref} {self.digest[:19]}... on {self._scorer.provider}>"

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

        sequences = _strings(sequences, "sequences")
        structures = _strings(structures, "structures") if structures is not None else [None] * len(sequences)
        if len(structures) != len(sequences):
            raise InputError(f"{len(sequences)} sequences but {len(structures)} structures")
        scorer = self._scorer.converting(convert_tu)  # never set on the shared scorer: calls may run in threads
        tracks = {name: _track(values, f"tracks[{name!r}]") for name, values in (tracks or {}).items()}
        for name, values in tracks.items():
            if len(values) != len(sequences):
                raise InputError(f"{len(sequences)} sequences but {len(values)} values of track {name!r}")
        rows = [Row(i, s, t, "sequence", {name: values[i] for name, values in tracks.items()} or None)
                for i, (s, t) in enumerate(zip(sequences, structures))]
        probs = np.zeros((len(rows), len(self.classes)), dtype=np.float32)
        for batch, p in score_records(rows, scorer, batch_size):
            probs[batch[0].index:batch[-1].index + 1] = p
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
        if method not in ATTRIBUTION_METHODS:
            raise InputError(f"method {method!r} is not one of {', '.join(ATTRIBUTION_METHODS)}")
        tracks = {name: _track(values, f"tracks[{name!r}]") for name, values in (tracks or {}).items()} or None
        return np.asarray(self._scorer.attribute(_strings(sequences, "sequences"), method, target, steps,
                                                 convert_tu=convert_tu, tracks=tracks))

    def score_variants(self, vcf: str, genome: str, scores: Sequence[str] = ("diff",), strand: str = "+",
                       rc_rule: str | None = None, contig_map: str | None = None, genome_cache: str | None = None,
                       max_n_fraction: float = 0.5, track_sources: dict[str, str] | None = None):
        """Variant effects of a VCF on a reference genome, as ``seqzoo variants -o X.parquet`` writes them
        (a multimodal model: ``track_sources={"region": "regions.bed", "signal": "signal.bw"}``, see
        ``--track-source``).

        Returns
        -------
        pandas.DataFrame
            One row per variant x ALT (x strand): ``key chrom pos id ref alt strand ref_match skip
            rc_average`` and ``<class>_<score>`` per class and score.
        """
        import pandas as pd
        from seqzoo.serving.effects import parse_scores
        from seqzoo.serving.variant_scoring import score_vcf

        with tempfile.TemporaryDirectory(prefix="seqzoo-variants-") as tmp:
            out = Path(tmp) / "variants.parquet"
            score_vcf(self._scorer, vcf, genome, str(out), parse_scores(list(scores)), strand, rc_rule, contig_map,
                      genome_cache, max_n_fraction,
                      track_sources=[f"{name}={path}" for name, path in (track_sources or {}).items()])
            return pd.read_parquet(out)

    def close(self) -> None:
        self._scorer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _strings(values, what: str) -> list[str]:
    if isinstance(values, str):
        raise InputError(f"{what}: expected a list of strings, got one string (wrap it in a list)")
    return [str(v) for v in values]


def _track(values, what: str) -> list:
    """A track's values: strings (letters), or rows of numbers (a numeric track) as given."""
    if isinstance(values, str):
        return _strings(values, what)  # refused: one string where a list belongs
    rows = list(values)
    return rows if rows and not isinstance(rows[0], str) else _strings(rows, what)


def load(ref: str, zoo: str | None = None, registry: str | None = None, device: str = "auto",
         threads: int | None = None) -> Model:
    """A zoo model version in this process.

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
    """
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
    return Model(LocalScorer.load(version, device=device, threads=threads))


class Connection:
    """A seqzoo server; ``load(ref)`` gives a :class:`Model` that it scores."""

    def __init__(self, target: str, token: str | None = None, tls_ca: str | None = None, timeout: float = 600.0):
        self.target, self.token, self.tls_ca, self.timeout = target, token, tls_ca, timeout

    def load(self, ref: str) -> Model:
        """The server's version for ``ref``, pinned to the exact ``name:version`` it resolves now."""
        from seqzoo.serving.client import SeqZooClient

        client = SeqZooClient(self.target, token=self.token, tls_ca=self.tls_ca, timeout=self.timeout)
        try:
            return Model(RemoteScorer(client, ref, timeout=self.timeout))
        except BaseException:
            client.close()
            raise

    def models(self) -> list[dict]:
        """What the server serves: name, version, digest, provider, classes, card."""
        from seqzoo.serving.client import SeqZooClient

        with SeqZooClient(self.target, token=self.token, tls_ca=self.tls_ca, timeout=self.timeout) as client:
            return client.list_models()


def connect(target: str, token: str | None = None, tls_ca: str | None = None, timeout: float = 600.0) -> Connection:
    """A seqzoo server at ``host:port`` (``token``: its bearer token; ``tls_ca``: a PEM to trust)."""
    return Connection(target, token, tls_ca, timeout)
