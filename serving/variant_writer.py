"""Write variant-effect results: an annotated VCF, or a table (TSV / parquet), complete or absent.

Annotated VCF (``.vcf`` or bgzipped ``.vcf.gz``): every input record is written back, in order,
with INFO fields declared in the header (``Number=A``: one value per ALT, ``.`` where an ALT
was not scored):

* ``SEQZOO_<model>_<class>_<score>`` (Float), with ``_plus`` / ``_minus`` appended when both
  strands are scored;
* ``SEQZOO_<model>_REF_MATCH`` (Integer 1/0, ``.`` when not checked) and
  ``SEQZOO_<model>_SKIP`` (String: a skip code such as ``ref_mismatch``, ``.`` when scored).

A ``##seqzoo_variants=<...>`` header line states the model version and digest, window length,
strand and reverse-complement rule. ``<model>`` and ``<class>`` are reduced to ``[A-Za-z0-9_]``.

Table (``.tsv`` or ``.parquet``): one row per variant x ALT (x strand), columns ``key chrom pos
id ref alt strand ref_match skip rc_average`` then ``<class>_<score>`` per class and score;
``skip`` holds the full reason. Parquet files carry the same header facts as schema metadata.

Every writer writes to a temporary name beside the output and renames it on :meth:`commit`;
:meth:`abort` (or an exception inside ``with``) removes it, so a failed run leaves nothing.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.io.atomic import AtomicFile
from seqzoo.zoo.io.table import TableWriter

log = logging.getLogger(__name__)

SKIP_CODES = (("no ALT allele", "no_alt"), ("ALT '*'", "star_allele"), ("symbolic ALT", "symbolic_allele"),
              ("breakend ALT", "breakend_allele"), ("ALT has letters", "bad_alt_letters"),
              ("REF has letters", "bad_ref_letters"), ("ALT is the same", "alt_equals_ref"),
              ("contig", "contig_missing"), ("REF ends past", "past_contig_end"),
              ("REF mismatch", "ref_mismatch"), ("window is", "n_rich_window"),
              ("no annotated gene", "no_gene"))
FORMATS = {".vcf": "vcf", ".vcf.gz": "vcf", ".tsv": "tsv", ".parquet": "parquet"}


def skip_code(reason: str | None) -> str:
    """A short code (no spaces) for a skip reason: ``ref_mismatch``, ``symbolic_allele``, ..."""
    if reason is None:
        return "."
    for prefix, code in SKIP_CODES:
        if reason.startswith(prefix):
            return code
    return "other"


def output_format(path: str | os.PathLike) -> str:
    """``vcf``, ``tsv`` or ``parquet`` from the output's name."""
    name = str(path).lower()
    for suffix, kind in sorted(FORMATS.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return kind
    raise InputError(f"output {path} must end in .vcf.gz, .vcf, .tsv or .parquet (or name a folder of parts, "
                     "without a suffix)")


def safe_id(text: str) -> str:
    """Reduce a model or class name to the characters a VCF INFO ID allows."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", str(text)).strip("_") or "x"


def _fmt(value: float) -> str:
    return "." if not np.isfinite(value) else f"{value:.6g}"


class ResultsWriter:
    """Base of the writers: the facts every output states (writing, commit and abort come from
    ``zoo.io.atomic.AtomicFile``, directly or through the table writer).

    Parameters
    ----------
    path : str or Path
    model : ModelVersion
        The scoring model version (``name``, ``ref``, ``digest``).
    length : int
        The window length L.
    classes : list of str
    scores : list of str
    strand : {"+", "-", "both", "auto"}
        ``auto``: each variant on its gene's strand (fields for both strands, as ``both``).
    rc_rule : str or None
    """

    def __init__(self, path, model, length: int, classes: list[str], scores: list[str], strand: str,
                 rc_rule: str | None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.model, self.length, self.classes, self.scores = model, length, list(classes), list(scores)
        self.strand, self.rc_rule = strand, rc_rule or "none"
        self.rows_written = 0

    def facts(self) -> dict:
        return {"model": self.model.ref, "digest": self.model.digest, "window": self.length, "anchor": "first REF base at index L//2 (plus strand)",
                "strand": self.strand, "rc_average": self.rc_rule, "scores": ",".join(self.scores)}

    def write_chunk(self, records: list, rows: list, values: list) -> None:
        """Write one chunk.

        Parameters
        ----------
        records : list of VcfRecord
        rows : list of VariantWindow
            ``row.record`` indexes ``records``.
        values : list of (dict of str -> np.ndarray [C]) or None
            Scores of each row (None for a skipped row).
        """
        raise NotImplementedError


class VcfWriter(AtomicFile, ResultsWriter):
    """The annotated VCF (see the module docstring). ``template`` is the reader's cyvcf2.VCF."""

    def __init__(self, path, template, model, length, classes, scores, strand, rc_rule) -> None:
        import cyvcf2

        ResultsWriter.__init__(self, path, model, length, classes, scores, strand, rc_rule)
        AtomicFile.__init__(self, path)
        tag = safe_id(model.name)
        self.prefix = f"SEQZOO_{tag}"
        both = [("+", "_plus"), ("-", "_minus")]
        suffixes = {"+": [("+", "")], "-": [("-", "")], "both": both, "auto": both}[strand]
        self.fields: list[tuple[str, str, int, str]] = []  # (INFO ID, strand, class index, score)
        existing = {h.info().get("ID") for h in template.header_iter() if h.type == "INFO"}
        for s, suffix in suffixes:
            for c, cls in enumerate(self.classes):
                for score in self.scores:
                    self.fields.append((f"{self.prefix}_{safe_id(cls)}_{score}{suffix}", s, c, score))
        self.match_id, self.skip_id = f"{self.prefix}_REF_MATCH", f"{self.prefix}_SKIP"
        clash = existing & ({f[0] for f in self.fields} | {self.match_id, self.skip_id})
        if clash:
            raise InputError(f"the input VCF already has INFO fields {sorted(clash)}: it was annotated by this "
                             "model before; annotate the original file")
        rc = "" if self.rc_rule == "none" else f"; reverse-complement combined by {self.rc_rule}"
        for info_id, s, c, score in self.fields:
            template.add_info_to_header({
                "ID": info_id, "Number": "A", "Type": "Float",
                "Description": f"seqzoo {model.ref} {score} of class {self.classes[c]} "
                               f"(strand {s}{rc}; see docs/variant-effects.md)"})
        template.add_info_to_header({"ID": self.match_id, "Number": "A", "Type": "Integer",
                                     "Description": "seqzoo: REF matches the genome (1), does not (0)"})
        template.add_info_to_header({"ID": self.skip_id, "Number": "A", "Type": "String",
                                     "Description": "seqzoo: why this ALT was not scored ('.' = scored)"})
        facts = ",".join(f"{k}={str(v).replace(',', ';').replace(' ', '_')}" for k, v in self.facts().items())
        template.add_to_header(f"##seqzoo_variants=<{facts}>")
        mode = "wz" if str(path).lower().endswith(".gz") else "w"
        self._writer = cyvcf2.Writer(str(self.tmp), template, mode=mode)

    def write_chunk(self, records, rows, values) -> None:
        by_record: dict[int, list[int]] = {}
        for i, row in enumerate(rows):
            by_record.setdefault(row.record, []).append(i)
        for index, record in enumerate(records):
            n_alts = max(len(record.alts), 1)
            mine = [rows[i] for i in by_record.get(index, [])]
            mine_values = [values[i] for i in by_record.get(index, [])]
            variant = record.variant
            cells = {f[0]: ["."] * n_alts for f in self.fields}
            match, skip = ["."] * n_alts, ["."] * n_alts
            for row, value in zip(mine, mine_values):
                if row.ref_match is not None:
                    match[row.alt_index] = "1" if row.ref_match else "0"
                skip[row.alt_index] = skip_code(row.skip)
                if value is None:
                    continue
                for info_id, s, c, score in self.fields:
                    if s == row.strand:
                        cells[info_id][row.alt_index] = _fmt(float(value[score][c]))
            for info_id, cell in cells.items():
                if any(v != "." for v in cell):
                    variant.INFO[info_id] = ",".join(cell)
            if any(v != "." for v in match):
                variant.INFO[self.match_id] = ",".join(match)
            if any(v != "." for v in skip):
                variant.INFO[self.skip_id] = ",".join(skip)
            self._writer.write_record(variant)
            self.rows_written += 1

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def commit(self) -> Path:
        """Rename the VCF into place; a bgzipped one gets its tabix index (``.tbi``) beside it,
        built on the temporary file first. An input out of position order cannot be indexed:
        the VCF is still written, and a warning says why there is no index."""
        self._close()
        index = None
        if str(self.path).lower().endswith(".gz"):
            import pysam

            try:
                index = Path(pysam.tabix_index(str(self.tmp), preset="vcf", force=True, keep_original=True) + ".tbi")
            except (OSError, ValueError) as exc:
                log.warning("%s: not indexed (%s); sort the input VCF by position to get a .tbi", self.path, exc)
        os.replace(self.tmp, self.path)
        if index is not None:
            os.replace(index, f"{self.path}.tbi")
        return self.path

    def abort(self) -> None:
        try:
            super().abort()
        finally:
            Path(f"{self.tmp}.tbi").unlink(missing_ok=True)


def table_columns(classes: list[str], scores: list[str]) -> list[str]:
    """The score columns of a table: ``<class>_<score>`` per class, then per score."""
    return [f"{cls}_{score}" for cls in classes for score in scores]


class VariantTable(TableWriter, ResultsWriter):
    """One row per variant x ALT (x strand), as TSV or parquet (see the module docstring), written by
    the one table writer (``zoo.io.table``), which stamps the facts into the file."""

    FIXED = ("key", "chrom", "pos", "id", "ref", "alt", "strand", "ref_match", "skip", "rc_average")

    def __init__(self, path, model, length, classes, scores, strand, rc_rule) -> None:

        ResultsWriter.__init__(self, path, model, length, classes, scores, strand, rc_rule)
        self.score_columns = table_columns(self.classes, self.scores)
        types = {"pos": "int64", "ref_match": "bool"}
        columns = {**{c: types.get(c, "string") for c in self.FIXED}, **dict.fromkeys(self.score_columns, "float32")}
        TableWriter.__init__(self, self.path, columns, self.facts(), key="seqzoo_variants")

    def _columns(self, records, rows, values) -> dict:
        n = len(rows)
        score = np.full((n, len(self.score_columns)), np.nan, dtype=np.float32)
        for i, value in enumerate(values):
            if value is not None:
                score[i] = np.stack([value[s] for s in self.scores], axis=1).reshape(-1)
        columns = {"key": [r.key for r in rows], "chrom": [r.chrom for r in rows], "pos": [r.pos for r in rows],
                   "id": [records[r.record].id or "." for r in rows], "ref": [r.ref for r in rows],
                   "alt": [r.alt for r in rows], "strand": [r.strand for r in rows],
                   "ref_match": [r.ref_match for r in rows], "skip": [r.skip for r in rows],
                   "rc_average": [self.rc_rule] * n}
        return {**columns, **{name: score[:, j] for j, name in enumerate(self.score_columns)}}

    def write_chunk(self, records, rows, values) -> None:
        if rows:
            self.write(self._columns(records, rows, values))
            self.rows_written += len(rows)


def open_writer(path, template, model, length: int, classes: list[str], scores: list[str], strand: str,
                rc_rule: str | None) -> ResultsWriter:
    """The writer for ``path``'s format (``template``: the reader's cyvcf2.VCF, for VCF output)."""
    kind = output_format(path)
    if kind == "vcf":
        return VcfWriter(path, template, model, length, classes, scores, strand, rc_rule)
    return VariantTable(path, model, length, classes, scores, strand, rc_rule)
