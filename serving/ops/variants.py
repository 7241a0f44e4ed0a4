"""Variant effects of a VCF: every record x ALT x strand's ref and alt windows scored, optionally
explained, into an annotated VCF, a table or a folder of parquet parts.

    score_variants(VariantSettings("v.vcf.gz", "genome.fa", "effects.vcf.gz"), executor)

The VCF is read in chunks of records; each chunk is one :class:`VariantChunk` task wherever the
executor runs it: cut the windows on the genome (``serving.windows``: the strand asked, or with
``--strand auto`` the strand of the genes each variant lies in), read a multimodal model's
tracks at the variants' coordinates, score the windows (``serving.effects`` through the scorer)
and, with attribution, explain both alleles of every scored variant. The driver writes the
results in input order (``serving.variant_writer``; the maps with ``serving.variant_attribution``).
Outputs are complete or absent. See docs/variant-effects.md.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from seqzoo.zoo.errors import InputError

STRANDS = ("+", "-", "both", "auto")


@dataclass(frozen=True)
class VariantSettings:
    """What ``seqzoo variants`` is asked (``scores``: effect score names, ``serving.effects``)."""

    vcf: str
    genome: str
    output: str
    scores: tuple[str, ...] = ("diff",)
    strand: str = "+"
    genes: str | None = None
    rc_rule: str | None = None
    contig_map: str | None = None
    genome_cache: str | None = None
    max_n_fraction: float = 0.5
    chunk_size: int = 10_000
    track_sources: tuple[str, ...] = ()
    attribution: str | None = None
    attribution_out: str | None = None
    plots: str | None = None
    target: str | None = None
    ig_steps: int = 0
    batch: int = 1024  # window pairs per forward pass or request

    def check(self) -> None:
        from seqzoo.serving.effects import parse_scores
        from seqzoo.serving.variant_writer import output_format

        if self.strand not in STRANDS:
            raise InputError(f"--strand {self.strand}: not one of {', '.join(STRANDS)}")
        if (self.attribution_out or self.plots) and not self.attribution:
            raise InputError("--attribution-out and --plots need --attribution ig|ism")
        if self.attribution and not (self.attribution_out or self.plots):
            raise InputError("--attribution needs --attribution-out FILE.npz and/or --plots DIR")
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        if self.chunk_size < 1:
            raise InputError(f"--chunk-size must be positive, got {self.chunk_size}")
        if not 0 <= self.max_n_fraction <= 1:
            raise InputError(f"--max-n-fraction must be in [0, 1], got {self.max_n_fraction}")
        if (self.strand == "auto") != bool(self.genes):
            raise InputError("--strand auto and --genes FILE go together")
        if self.track_sources and self.attribution:
            raise InputError("--attribution with --track-source is not supported: score the variants, then "
                             "explain the windows with seqzoo attribute")
        parse_scores(list(self.scores))
        if not parts_folder(self.output):
            output_format(self.output)


def parts_folder(output: str) -> bool:
    """Whether ``output`` names a folder of parquet parts (a name without a suffix)."""
    return not Path(output).suffix


def fixed_length(scorer) -> int:
    """The model's window length; a model that takes any length cannot place variants."""
    if not scorer.length:
        raise InputError(f"model {scorer.ref} takes any length; variant windows need a fixed one")
    return int(scorer.length)


def score_rows(scorer, rows: list, names: list[str], rc_rule: str | None = None,
               sources: dict | None = None, batch: int = 1024) -> tuple[list, list[int]]:
    """(values, scored) of a chunk's windows: per row a dict score name -> float32 [C] (None for a
    skipped row), and the scored rows' indices (a multimodal model's tracks read from ``sources``
    at each row's coordinates)."""
    from seqzoo.serving.track_sources import variant_tracks

    scored = [i for i, row in enumerate(rows) if row.skip is None]
    values: list = [None] * len(rows)
    if scored:
        tracks = variant_tracks([rows[i] for i in scored], sources or {}, scorer.alphabet)
        result = scorer.score_windows([rows[i].ref_window for i in scored], [rows[i].alt_window for i in scored],
                                      names, rc_rule, tracks=tracks, batch=batch)
        for k, i in enumerate(scored):
            values[i] = {name: result[name][k] for name in names}
    return values, scored


@dataclass(frozen=True)
class VariantChunk:
    """Task: one chunk of VCF records (without their cyvcf2 objects) -> its windows, their effect
    scores and, with attribution, the maps of both alleles; or, for a folder output, part ``index``."""

    settings: VariantSettings
    length: int
    target: str | None = None  # the class explained (attribution)
    folder: str | None = None
    model: object = None  # the version's identity, stamped on a part
    travels: bool = False  # results go back from another process: the windows are left out unless explained

    def __call__(self, context, item) -> dict:
        from seqzoo.serving.ops import PART
        from seqzoo.serving.ops.executors import task_costs
        from seqzoo.serving.windows import build_windows
        from seqzoo.zoo.alphabets import is_rna

        index, records = item
        started, cpu = time.perf_counter(), time.process_time()
        s, scorer = self.settings, context.scorer
        genome = context.genome(s.genome, s.contig_map, s.genome_cache)
        strand = context.genes(s.genes, genome) if s.strand == "auto" else s.strand
        rows = build_windows(records, genome, self.length, strand, is_rna(scorer.alphabet), s.max_n_fraction)
        values, scored = score_rows(scorer, rows, list(s.scores), s.rc_rule, context.sources(s.track_sources),
                                    s.batch)
        out = {"index": index, "rows": len(rows), "scored": len(scored)}
        if s.attribution:
            from seqzoo.serving.variant_attribution import variant_maps

            out["maps"] = variant_maps(scorer, [rows[i] for i in scored], s.attribution, self.target, s.ig_steps)
        if self.folder is not None:
            from seqzoo.serving.variant_writer import VariantTable

            with VariantTable(Path(self.folder) / PART.format(index), self.model, self.length, scorer.classes,
                              list(s.scores), s.strand, s.rc_rule) as writer:
                writer.write_chunk(records, rows, values)
        out["windows"] = ([replace(r, ref_window=None, alt_window=None) for r in rows]
                          if self.travels and not s.attribution else rows)
        out["values"] = None if self.folder is not None else values
        return {**out, **task_costs(started, cpu)}


def plain_records(chunk: list) -> list:
    """VcfRecords without their cyvcf2 object (which cannot travel to another process)."""
    return [replace(r, variant=None) for r in chunk]


def score_variants(settings: VariantSettings, executor, progress: Callable[[int, int], None] | None = None) -> dict:
    """Score every variant of ``settings.vcf`` with the executor's model into ``settings.output``.

    ``progress(done, total)`` is called after each chunk with the VCF records done and in the file.

    Returns
    -------
    dict
        ``records``, ``rows`` (variant x ALT x strand), ``scored``, ``skipped`` (reason code ->
        count), ``parts``, ``seconds``, ``workers``, ``model``, ``digest``, ``output``.
    """
    from seqzoo.serving.effects import check_rc_rule, check_scores
    from seqzoo.serving.ops.executors import Context, summarise
    from seqzoo.serving.track_sources import check_sources
    from seqzoo.serving.variant_writer import skip_code
    from seqzoo.zoo.card import default_class
    from seqzoo.zoo.io.vcf import VcfReader

    settings.check()
    scorer, started = executor.scorer, time.monotonic()
    length = fixed_length(scorer)
    check_rc_rule(scorer.alphabet, settings.rc_rule, settings.strand)
    check_scores(list(settings.scores), scorer.card, scorer.ref)
    check_sources(scorer.alphabet, Context.sources(settings.track_sources), scorer.ref)
    target = (settings.target or default_class(scorer.card, scorer.ref, "--target")) if settings.attribution else None
    genome = Context.genome(settings.genome, settings.contig_map, settings.genome_cache)  # indexed here, once
    if settings.genes:
        Context.genes(settings.genes, genome)  # a bad annotation fails here, before any task
    reader = VcfReader(settings.vcf)
    folder = writer = explainer = None
    counts: Counter = Counter()
    results: list[dict] = []
    records = 0
    try:
        folder, writer, explainer = _outputs(settings, scorer, reader, length, target)
        held: deque = deque()  # the chunks in flight, with their cyvcf2 records, for the writer
        travels = executor.where == "dask"  # tasks in other processes: records and results are pickled

        def chunks():
            for index, chunk in enumerate(reader.chunks(settings.chunk_size)):
                held.append(chunk)
                yield index, plain_records(chunk) if travels else chunk

        task = VariantChunk(settings, length, target, None if folder is None else str(folder.tmp), scorer.identity,
                            travels)
        for result in executor.map(task, chunks()):
            chunk, rows = held.popleft(), result.pop("windows")
            values = result.pop("values")
            if writer is not None:
                writer.write_chunk(chunk, rows, values)
            if explainer is not None:
                explainer.write([row for row in rows if row.skip is None], result.pop("maps"))
            counts.update(skip_code(row.skip) if row.skip else "scored" for row in rows)
            results.append(result)
            records += len(chunk)
            if progress is not None:
                progress(records, reader.records)
        summary = {**summarise(results, started), "model": scorer.ref, "digest": scorer.digest,
                   "records": records, "scored": counts["scored"],
                   "skipped": {k: v for k, v in sorted(counts.items()) if k != "scored"}}
        if folder is not None:
            folder.commit(summary)
        else:
            writer.commit()
        if explainer is not None:
            explainer.commit()
    except BaseException:
        for w in (writer, folder, explainer):
            if w is not None:
                w.abort()
        raise
    finally:
        reader.close()
    summary["output"] = str(settings.output)
    return summary


def _outputs(settings: VariantSettings, scorer, reader, length: int, target: str | None) -> tuple:
    """(parts folder or None, results writer or None, attribution writer or None), each opened
    under a temporary name."""
    from seqzoo.serving.variant_writer import open_writer
    from seqzoo.zoo.io.atomic import AtomicFolder

    folder = writer = explainer = None
    try:
        if parts_folder(settings.output):
            folder = AtomicFolder(settings.output)
        else:
            writer = open_writer(settings.output, reader.vcf, scorer.identity, length, scorer.classes,
                                 list(settings.scores), settings.strand, settings.rc_rule)
        if settings.attribution:
            from seqzoo.serving.variant_attribution import VariantExplainer

            explainer = VariantExplainer(scorer, settings.attribution, target, settings.ig_steps,
                                         settings.attribution_out, settings.plots, settings.strand, length)
    except BaseException:
        for w in (writer, folder):
            if w is not None:
                w.abort()
        raise
    return folder, writer, explainer
