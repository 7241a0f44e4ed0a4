"""Variant effects of a chunk of VCF records, and of a whole VCF: the step every path shares.

``seqzoo variants --local/--server`` (with or without attribution), the Dask variant tasks and
``Model.score_variants`` of the Python API all run :func:`score_chunk` (``chunk_windows`` then
``score_rows``): build the ref/alt windows of each record x ALT x strand on the genome, score the
ones not skipped with the scorer, and return the rows with their values. The CLI calls the two
halves on two threads, so cutting the next chunk's windows (Python) overlaps with scoring this
one (ONNX Runtime or a server, which release the GIL).
"""

from __future__ import annotations

from seqzoo.zoo.errors import InputError


def score_chunk(scorer, records: list, genome, names: list[str], strand: str = "+", rc_rule: str | None = None,
                max_n_fraction: float = 0.5, sources: dict | None = None) -> tuple[list, list, list[int]]:
    """Windows and effect scores of a chunk of VCF records.

    Parameters
    ----------
    scorer : LocalScorer or RemoteScorer
    records : list of VcfRecord
    genome : Genome
    names : list of str
        Score names (``diff``, ``log2fc``, ...; see ``serving.effects``).
    sources : dict of str -> LetterTrack or Signal, optional
        A multimodal model's track sources (``serving.track_sources``).

    Returns
    -------
    (rows, values, scored)
        ``rows``: the VariantWindows in input order (skips carry their reason); ``values``: per
        row, a dict name -> float32 [C] or None for a skipped row; ``scored``: the scored rows' indices.
    """
    rows = chunk_windows(scorer, records, genome, strand, max_n_fraction)
    values, scored = score_rows(scorer, rows, names, rc_rule, sources)
    return rows, values, scored


def chunk_windows(scorer, records: list, genome, strand: str = "+", max_n_fraction: float = 0.5) -> list:
    """The VariantWindows of a chunk for the scorer's model (its length; T read as U for RNA models)."""
    from seqzoo.serving.effects import is_rna
    from seqzoo.serving.windows import build_windows

    return build_windows(records, genome, fixed_length(scorer), strand, is_rna(scorer.alphabet), max_n_fraction)


def score_rows(scorer, rows: list, names: list[str], rc_rule: str | None = None,
               sources: dict | None = None) -> tuple[list, list[int]]:
    """(values, scored) of a chunk's windows: the effect scores of the rows not skipped (a
    multimodal model's tracks read from ``sources`` at each row's coordinates)."""
    from seqzoo.serving.track_sources import variant_tracks

    scored = [i for i, row in enumerate(rows) if row.skip is None]
    values: list = [None] * len(rows)
    if scored:
        tracks = variant_tracks([rows[i] for i in scored], sources or {}, scorer.alphabet)
        result = scorer.score_windows([rows[i].ref_window for i in scored], [rows[i].alt_window for i in scored],
                                      names, rc_rule, tracks=tracks)
        for k, i in enumerate(scored):
            values[i] = {name: result[name][k] for name in names}
    return values, scored


def fixed_length(scorer) -> int:
    """The model's window length; a model that takes any length cannot place variants."""
    if not scorer.length:
        raise InputError(f"model {scorer.ref} takes any length; variant windows need a fixed one")
    return int(scorer.length)


def score_vcf(scorer, vcf: str, genome: str, output: str, names: list[str], strand: str = "+",
              rc_rule: str | None = None, contig_map: str | None = None, genome_cache: str | None = None,
              max_n_fraction: float = 0.5, chunk_size: int = 10_000, track_sources: list[str] | None = None) -> int:
    """Score every variant of ``vcf`` into ``output`` (.vcf[.gz], .tsv or .parquet); the rows written.
    ``track_sources``: a multimodal model's ``NAME=BED`` letter tracks (``serving.track_sources``)."""
    from seqzoo.serving.effects import check_rc_rule, check_scores
    from seqzoo.serving.track_sources import check_sources, open_sources
    from seqzoo.serving.variant_writer import open_writer
    from seqzoo.zoo.io.genome import Genome
    from seqzoo.zoo.io.vcf import VcfReader

    check_rc_rule(scorer.alphabet, rc_rule, strand)
    check_scores(names, scorer.card, scorer.ref)
    sources = open_sources(track_sources)
    check_sources(scorer.alphabet, sources, scorer.ref)
    reader = VcfReader(vcf)
    try:
        with Genome(genome, contig_map=contig_map, cache=genome_cache) as ref_genome, \
                open_writer(output, reader.vcf, scorer.identity, fixed_length(scorer), scorer.classes, names,
                            strand, rc_rule) as writer:
            for chunk in reader.chunks(chunk_size):
                rows, values, _ = score_chunk(scorer, chunk, ref_genome, names, strand, rc_rule, max_n_fraction,
                                              sources)
                writer.write_chunk(chunk, rows, values)
    finally:
        reader.close()
    return writer.rows_written
