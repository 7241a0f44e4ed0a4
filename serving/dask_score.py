"""Batch scoring on Dask: big inputs cut into partitions, scored by workers with the server's engine.

``seqzoo score --dask SCHEDULER|local[:N] --model REF INPUT -o OUT_DIR`` and
``seqzoo variants --dask ... -o OUT_DIR|OUT.vcf[.gz]`` run here. The client only plans
partitions (byte ranges of a plain FASTA, row groups of a parquet file, windows of BED regions
on a genome, or chunks of records streamed from a gzipped FASTA or a VCF) and submits one task
per partition, at most ``window`` at a time, so the client's memory stays bounded whatever the
input size. Each worker process loads the model once (one ONNX Runtime session with one
intra-op thread, cached for the life of the process), reads its partition itself where it can,
scores it with the one scoring core (``serving.scoring.score_table``; variant pairs with
``serving.effects.score_windows``) and writes ``part-NNNNN.parquet`` into the output folder,
so a worker holds one partition at a time. The output folder appears only when every part is
written (it is assembled under a temporary name, then renamed); a merged VCF is written by the
client, in input order, from the workers' compact results.

Workers must see the input, the zoo version and the output folder at the same paths (one
machine, or a shared filesystem). GPU workers: start them with ``--resources GPU=1`` and pass
``--dask-resources GPU=1 --device cuda``: the resources go with each ``client.submit`` call,
which Dask honours; ``dask.annotate(resources=...)`` around graph construction is silently
dropped by graph optimisation, so it is not used. This module never imports PyTorch.
"""

from __future__ import annotations

import json
import logging
import os
import re
import resource
import shutil
import sys
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from seqzoo.zoo.errors import InputError, NotFoundError, UnavailableError

log = logging.getLogger(__name__)

PART = "part-{:05d}.parquet"
DEFAULT_PARTITION_ROWS = 100_000
# bytes of plain FASTA per partition: about DEFAULT_PARTITION_ROWS records of 200 nt
BYTES_PER_ROW = 220


# ---------------------------------------------------------------------------- the cluster
def parse_resources(text: str | None) -> dict[str, float]:
    """``"GPU=1,MEM=4e9"`` -> ``{"GPU": 1.0, "MEM": 4e9}`` (an empty text -> ``{}``)."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InputError(f"--dask-resources: {item!r} is not NAME=NUMBER (e.g. GPU=1)")
    return out


def connect(spec: str, worker_resources: dict[str, float] | None = None, memory_limit: str | None = "auto"):
    """A Dask client for ``spec``: ``local`` / ``local:N`` (a LocalCluster of N single-threaded
    worker processes on loopback; N defaults to the core count) or a scheduler address.

    Parameters
    ----------
    spec : str
        ``local``, ``local:N``, or ``tcp://host:8786`` (any address ``distributed.Client`` takes).
    worker_resources : dict, optional
        Resources each local worker advertises (so a local run can honour ``--dask-resources``).
    memory_limit : str, optional
        Memory limit per local worker (Dask's default ``auto`` splits the machine's memory).

    Returns
    -------
    (distributed.Client, distributed.LocalCluster or None)
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UnavailableError("--dask needs Dask: pip install 'dask[distributed]'") from None
    # the scheduler of a local cluster runs in this process: keep its INFO chatter out of the CLI's log
    logging.getLogger("distributed").setLevel(logging.WARNING)
    match = re.fullmatch(r"local(?::(\d+))?", spec.strip())
    if match:
        n = int(match.group(1) or os.cpu_count() or 1)
        if n < 1:
            raise InputError(f"--dask {spec}: a local cluster needs at least 1 worker")
        # the scheduler's HTTP server always starts (8787 when no address is given): any free port
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address="127.0.0.1:0", memory_limit=memory_limit,
                               resources=worker_resources or None)
        return Client(cluster), cluster
    try:
        return Client(spec, timeout=30), None
    except (OSError, TimeoutError) as exc:
        raise UnavailableError(f"--dask {spec}: cannot reach the Dask scheduler ({exc})") from None


def run_tasks(client, function: Callable, items: Iterable, window: int,
              resources: dict[str, float] | None = None) -> Iterator:
    """Submit ``function(item, index)`` for every item, at most ``window`` in flight; yield the
    results in submission order.

    Items are drawn from ``items`` lazily, so a streamed input never sits in memory whole.
    ``resources`` (e.g. ``{"GPU": 1}``) go with each submit: only workers that advertise them run
    the tasks. A task's exception is raised here, in the client.
    """
    pending: deque = deque()
    token = uuid.uuid4().hex[:8]
    name = getattr(function, "__name__", type(function).__name__)
    iterator = iter(enumerate(items))
    try:
        while True:
            while len(pending) < window:
                try:
                    index, item = next(iterator)
                except StopIteration:
                    break
                pending.append(client.submit(function, item, index, resources=resources or None, pure=False,
                                             key=f"seqzoo-{name}-{token}-{index}"))
            if not pending:
                return
            future = pending.popleft()
            yield future.result()
            future.release()
    finally:
        for future in pending:
            future.cancel()


# ---------------------------------------------------------------------------- per-worker state
_ENGINES: dict = {}
_GENOMES: dict = {}


def worker_engine(model, device: str = "cpu"):
    """The engine for a zoo version in this process: loaded once (one ORT thread), then reused."""
    from seqzoo.serving.engine import Engine

    key = (str(model.path), model.digest, device)
    if key not in _ENGINES:
        _ENGINES[key] = Engine.load(model, device=device, threads=1)
    return _ENGINES[key]


def worker_genome(path: str, contig_map: str | None = None, cache: str | None = None):
    """The reference genome in this process, opened once (its index already built by the client)."""
    from seqzoo.serving.genome import Genome

    key = (path, contig_map, cache)
    if key not in _GENOMES:
        _GENOMES[key] = Genome(path, contig_map=contig_map, cache=cache)
    return _GENOMES[key]


def peak_rss_mib(pid: int | str = "self") -> float:
    """Peak resident memory of a process, MiB: VmHWM of its address space.

    Not ``getrusage``'s ``ru_maxrss``: that survives fork + exec, so a worker started by a large
    parent would report the parent's size.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


# ---------------------------------------------------------------------------- partitions
@dataclass(frozen=True)
class FastaRange:
    """Records of a plain FASTA whose header starts in bytes ``[start, end)``."""

    path: str
    start: int
    end: int


@dataclass(frozen=True)
class Records:
    """Records read by the client (a gzipped FASTA is not seekable): ids, sequences, header lines."""

    path: str
    ids: list
    sequences: list
    lines: list


@dataclass(frozen=True)
class RowGroups:
    """Row groups of a parquet file (a ``sequence`` column, any others carried through)."""

    path: str
    groups: tuple


@dataclass(frozen=True)
class Windows:
    """Windows of BED regions: ``regions`` rows are (chrom, start, end, name, first, count, line);
    window k of a region starts at ``start + k * stride`` (a region shorter than the window gets one
    window centred on it)."""

    bed: str
    genome: str
    regions: tuple
    length: int
    stride: int
    cache: str | None = None


def input_kind(path: str | os.PathLike) -> str:
    """``fasta``, ``fasta.gz``, ``parquet`` or ``bed`` from the file name (and gzip magic)."""
    name = str(path).lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if re.search(r"\.bed(\.gz)?$", name):
        return "bed"
    if re.search(r"\.(fa|fasta|fna)(\.gz)?$", name):
        with open(path, "rb") as f:
            return "fasta.gz" if f.read(2) == b"\x1f\x8b" else "fasta"
    raise InputError(f"{path}: cannot tell the input's format from its name "
                     "(expected .fa/.fasta[.gz], .parquet or .bed[.gz])")


def plan_fasta(path: str, partition_rows: int) -> list[FastaRange]:
    """Byte ranges of a plain FASTA, about ``partition_rows`` records of 200 nt each."""
    size = Path(path).stat().st_size
    step = max(4096, partition_rows * BYTES_PER_ROW)
    return [FastaRange(str(path), start, min(start + step, size)) for start in range(0, max(size, 1), step)]


def _record_start(f, offset: int) -> int:
    """The offset of the first header ('>' at a line start) at or after ``offset`` (EOF if none)."""
    if offset == 0:
        return 0
    f.seek(offset - 1)
    carry = b""
    position = offset - 1
    while True:
        block = f.read(1 << 20)
        if not block:
            return position + len(carry)
        data = carry + block
        hit = data.find(b"\n>")
        if hit >= 0:
            return position + hit + 1
        position += len(data) - 1
        carry = data[-1:]


def read_fasta_range(part: FastaRange):
    """``pyarrow.Table`` (id, sequence) of the records whose header starts in the range."""
    import pyarrow as pa

    with open(part.path, "rb") as f:
        begin = _record_start(f, part.start)
        stop = _record_start(f, part.end) if part.end < Path(part.path).stat().st_size else None
        if stop is not None and stop <= begin:
            return pa.table({"id": pa.array([], pa.string()), "sequence": pa.array([], pa.string())})
        f.seek(begin)
        blob = f.read() if stop is None else f.read(stop - begin)
    if begin == 0 and blob and not blob.lstrip().startswith(b">"):
        raise InputError(f"{part.path}:1: sequence before the first '>' header")
    ids, sequences = [], []
    for offset, record in _split_records(blob, begin):
        header, _, body = record.partition(b"\n")
        try:
            name = header.split()[0].decode("ascii") if header.strip() else ""
            seq = body.replace(b"\n", b"").replace(b"\r", b"").replace(b" ", b"").decode("ascii")
        except UnicodeDecodeError:
            raise InputError(f"{part.path}: record at byte {offset}: not ASCII text") from None
        if not name:
            raise InputError(f"{part.path}: a FASTA header with no name at byte {offset}")
        ids.append(name)
        sequences.append(seq)
    return pa.table({"id": pa.array(ids, pa.string()), "sequence": pa.array(sequences, pa.string())})


def _split_records(blob: bytes, base: int) -> Iterator[tuple[int, bytes]]:
    """(byte offset of the '>', record bytes without the '>') for each record of a FASTA blob."""
    position = blob.find(b">")
    while position >= 0:
        following = blob.find(b"\n>", position + 1)
        end = len(blob) if following < 0 else following
        yield base + position, blob[position + 1:end]
        position = -1 if following < 0 else following + 1


def stream_fasta(path: str, partition_rows: int) -> Iterator[Records]:
    """Records of a (gzipped) FASTA read by the client, ``partition_rows`` at a time."""
    from seqzoo.serving.cli_score import FastaStream, chunks

    stream = FastaStream(path)
    try:
        for chunk in chunks(iter(stream), partition_rows):
            yield Records(str(path), [r[0] for r in chunk], [r[1] for r in chunk], [r[2] for r in chunk])
    finally:
        stream.close()


def plan_parquet(path: str, partition_rows: int, sequence_column: str = "sequence") -> list[RowGroups]:
    """Consecutive row groups of a parquet file, about ``partition_rows`` rows per partition."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read it as parquet ({exc})") from None
    if sequence_column not in meta.schema.to_arrow_schema().names:
        raise InputError(f"{path}: no column {sequence_column!r} (columns: "
                         f"{', '.join(meta.schema.to_arrow_schema().names)})")
    parts, current, rows = [], [], 0
    for g in range(meta.num_row_groups):
        current.append(g)
        rows += meta.row_group(g).num_rows
        if rows >= partition_rows:
            parts.append(RowGroups(str(path), tuple(current)))
            current, rows = [], 0
    if current or not parts:
        parts.append(RowGroups(str(path), tuple(current)))
    return parts


def read_bed(path: str) -> Iterator[tuple[str, int, int, str, int]]:
    """(chrom, start, end, name, line) of every BED record (0-based, half-open)."""
    import gzip

    opener = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rt") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cells = line.rstrip("\r\n").split("\t")
            if len(cells) < 3:
                raise InputError(f"{path}:{lineno}: a BED record needs chrom, start and end (tab-separated)")
            try:
                start, end = int(cells[1]), int(cells[2])
            except ValueError:
                raise InputError(f"{path}:{lineno}: start and end must be integers, got "
                                 f"{cells[1]!r} and {cells[2]!r}") from None
            if start < 0 or end <= start:
                raise InputError(f"{path}:{lineno}: start {start} and end {end} are not an interval (0 <= start < end)")
            yield cells[0], start, end, cells[3] if len(cells) > 3 and cells[3] else ".", lineno


def plan_windows(bed: str, genome: str, length: int, stride: int, partition_rows: int,
                 cache: str | None = None) -> Iterator[Windows]:
    """Partitions of about ``partition_rows`` windows of length ``length`` over the BED regions."""
    if stride < 1:
        raise InputError(f"--stride must be at least 1, got {stride}")
    regions, rows = [], 0
    for chrom, start, end, name, line in read_bed(bed):
        count = max(1, (end - start - length) // stride + 1)
        first = 0
        while first < count:
            take = min(count - first, partition_rows - rows)
            regions.append((chrom, start, end, name, first, take, line))
            rows += take
            first += take
            if rows >= partition_rows:
                yield Windows(str(bed), str(genome), tuple(regions), length, stride, cache)
                regions, rows = [], 0
    if regions:
        yield Windows(str(bed), str(genome), tuple(regions), length, stride, cache)


def read_windows(part: Windows):
    """``pyarrow.Table`` (chrom, start, end, name, sequence) of a Windows partition."""
    import numpy as np
    import pyarrow as pa

    genome = worker_genome(part.genome, cache=part.cache)
    chroms, starts, names, sequences = [], [], [], []
    for chrom, start, end, name, first, count, line in part.regions:
        contig = genome.resolve(chrom)
        if contig is None:
            raise NotFoundError(f"{part.bed}:{line}: contig {chrom!r} is not in {part.genome}")
        if end - start < part.length:  # one window centred on a short region
            origin = start + (end - start) // 2 - part.length // 2
            positions = [origin]
        else:
            positions = [start + k * part.stride for k in range(first, first + count)]
        span_start, span_end = positions[0], positions[-1] + part.length
        segment = genome.fetch(contig, span_start, span_end)
        for p in positions:
            offset = p - span_start
            sequences.append(segment[offset:offset + part.length])
        chroms.extend([chrom] * len(positions))
        starts.extend(positions)
        names.extend([name] * len(positions))
    starts_array = np.asarray(starts, dtype=np.int64)
    return pa.table({"chrom": pa.array(chroms, pa.string()), "start": pa.array(starts_array),
                     "end": pa.array(starts_array + part.length), "name": pa.array(names, pa.string()),
                     "sequence": pa.array(sequences, pa.string())})


def load_partition(part, sequence_column: str = "sequence"):
    """The input rows of a partition as a pyarrow Table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(part, FastaRange):
        return read_fasta_range(part)
    if isinstance(part, Records):
        return pa.table({"id": pa.array(part.ids, pa.string()), "sequence": pa.array(part.sequences, pa.string())})
    if isinstance(part, RowGroups):
        table = pq.ParquetFile(part.path).read_row_groups(list(part.groups)) if part.groups else \
            pq.read_schema(part.path).empty_table()
        return table
    if isinstance(part, Windows):
        return read_windows(part)
    raise TypeError(f"not a partition: {type(part).__name__}")


def _name_rows(message: str, part, table) -> str:
    """'row i: ...' inside a partition -> the input file and the record's own name or line."""
    match = re.match(r"row (\d+)[: ]\s*(.*)", message, re.DOTALL)
    if not match:
        return f"{getattr(part, 'path', getattr(part, 'bed', ''))}: {message}"
    i, rest = int(match.group(1)), match.group(2)
    if isinstance(part, Records):
        return f"{part.path}:{part.lines[i]}: record {part.ids[i]}: {rest}"
    if isinstance(part, FastaRange):
        return f"{part.path}: record {table.column('id')[i].as_py()}: {rest}"
    if isinstance(part, Windows):
        return (f"{part.bed}: window {table.column('chrom')[i].as_py()}:{table.column('start')[i].as_py()}"
                f" of region {table.column('name')[i].as_py()}: {rest}")
    return f"{part.path}: row {i} of row groups {list(part.groups)}: {rest}"


# ---------------------------------------------------------------------------- scoring jobs
@dataclass(frozen=True)
class ScoreJob:
    """What every score task needs: the model version, where parts go, and scoring options."""

    model: object  # a zoo ModelVersion (picklable: name, version, digest, path, card)
    out_dir: str
    device: str = "cpu"
    batch_size: int = 1024
    convert_tu: bool = False
    sequence_column: str = "sequence"
    metadata: dict = field(default_factory=dict)

    def __call__(self, part, index: int) -> dict:
        return score_partition(part, index, self)


def score_partition(part, index: int, job: ScoreJob) -> dict:
    """Task: read one partition, score it with the worker's engine, write ``part-NNNNN.parquet``.

    Returns
    -------
    dict
        ``index``, ``rows``, ``seconds``, ``worker`` (its address), ``peak_rss_mib`` (of the
        worker process), ``path``.
    """
    import pyarrow.parquet as pq
    from seqzoo.serving.scoring import score_table

    started, cpu = time.perf_counter(), time.process_time()
    engine = worker_engine(job.model, job.device)
    table = load_partition(part, job.sequence_column)
    try:
        scored = score_table(table, engine, batch_size=job.batch_size, sequence_column=job.sequence_column,
                             convert_tu=job.convert_tu)
    except InputError as exc:
        raise InputError(_name_rows(str(exc), part, table)) from None
    scored = scored.replace_schema_metadata({b"seqzoo_score": json.dumps(job.metadata).encode()})
    target = Path(job.out_dir) / PART.format(index)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(scored, tmp)
    os.replace(tmp, target)
    return {"index": index, "rows": scored.num_rows, "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu, "worker": _worker_name(), "peak_rss_mib": peak_rss_mib(),
            "path": str(target)}


class OutputFolder:
    """A folder of parts assembled under a temporary name and renamed into place when complete."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists():
            raise InputError(f"{self.path} already exists; remove it or choose another output folder")
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path.parent}: no such folder for the output")
        self.tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        self.tmp.mkdir()

    def commit(self, summary: dict) -> Path:
        (self.tmp / "_SUCCESS.json").write_text(json.dumps(summary, indent=1) + "\n")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def _summarise(results: Iterable[dict], started: float) -> dict:
    workers: dict[str, dict] = {}
    rows = parts = 0
    for r in results:
        rows += r["rows"]
        parts += 1
        w = workers.setdefault(r["worker"], {"peak_rss_mib": 0.0, "parts": 0, "task_seconds": 0.0, "cpu_seconds": 0.0})
        w["peak_rss_mib"] = round(max(w["peak_rss_mib"], r["peak_rss_mib"]), 1)
        w["parts"] += 1
        w["task_seconds"] = round(w["task_seconds"] + r["seconds"], 3)
        w["cpu_seconds"] = round(w["cpu_seconds"] + r.get("cpu_seconds", 0.0), 3)
    return {"rows": rows, "parts": parts, "seconds": time.monotonic() - started, "workers": dict(sorted(workers.items()))}


def score_partitions(client, input_path: str, model, output: str, partition_rows: int = DEFAULT_PARTITION_ROWS,
                     window: int | None = None, resources: dict | None = None, device: str = "cpu",
                     batch_size: int = 1024, convert_tu: bool = False, genome: str | None = None,
                     stride: int | None = None, genome_cache: str | None = None,
                     sequence_column: str = "sequence") -> dict:
    """Score a FASTA, parquet or BED (+ genome) input on a Dask cluster into a folder of parquet parts.

    Parameters
    ----------
    client : distributed.Client
    input_path : str
        ``.fa/.fasta`` (byte ranges read by the workers), ``.fa.gz`` (streamed by the client),
        ``.parquet`` (row groups read by the workers; a ``sequence`` column, others carried) or
        ``.bed`` (windows of the model's length every ``stride`` bases, read from ``genome``).
    model : ModelVersion
        The resolved, verified zoo version; workers load it from ``model.path``.
    output : str
        The folder to create: ``part-00000.parquet`` ... in input order, and ``_SUCCESS.json``.
    partition_rows : int
        Rows per partition (what one worker holds at a time).
    window : int, optional
        Partitions in flight (default: two per worker thread, plus two).
    resources : dict, optional
        Worker resources each task needs, e.g. ``{"GPU": 1}``.

    Returns
    -------
    dict
        ``rows``, ``parts``, ``seconds``, ``workers`` (address -> ``peak_rss_mib``), ``output``.
    """
    if partition_rows < 1:
        raise InputError(f"--partition-rows must be at least 1, got {partition_rows}")
    if not Path(input_path).is_file():
        raise NotFoundError(f"{input_path}: no such file")
    started = time.monotonic()
    kind = input_kind(input_path)
    card_length = model.card.get("input", {}).get("length")
    if kind == "fasta":
        parts: Iterable = plan_fasta(input_path, partition_rows)
    elif kind == "fasta.gz":
        parts = stream_fasta(input_path, partition_rows)
    elif kind == "parquet":
        parts = plan_parquet(input_path, partition_rows, sequence_column)
    else:
        if not genome:
            raise InputError(f"{input_path}: a BED input needs --genome FASTA to cut windows from")
        if not card_length:
            raise InputError(f"model {model.name}:{model.version} takes any length; BED windows need a fixed one")
        worker_genome(genome, cache=genome_cache)  # index it here once, not in every worker at once
        parts = plan_windows(input_path, genome, int(card_length), int(stride or card_length), partition_rows,
                             genome_cache)
    folder = OutputFolder(output)
    nthreads = sum(client.nthreads().values()) or 1
    job = ScoreJob(model, str(folder.tmp), device=device, batch_size=batch_size, convert_tu=convert_tu,
                   sequence_column=sequence_column,
                   metadata={"model": f"{model.name}:{model.version}", "digest": model.digest, "input": str(input_path)})
    try:
        results = list(run_tasks(client, job, parts, window or 2 * nthreads + 2, resources))
        summary = _summarise(results, started)
        summary["model"], summary["digest"] = job.metadata["model"], model.digest
        folder.commit(summary)
    except BaseException:
        folder.abort()
        raise
    summary["output"] = str(folder.path)
    return summary


# ---------------------------------------------------------------------------- variants
@dataclass(frozen=True)
class VariantJob:
    """What every variants task needs (``merge``: return compact rows for a merged VCF)."""

    model: object
    genome: str
    contig_map: str | None
    genome_cache: str | None
    out_dir: str | None
    model_info: dict
    classes: list
    scores: list
    strand: str
    rc_rule: str | None
    rna: bool
    max_n_fraction: float
    device: str = "cpu"

    def __call__(self, records, index: int) -> dict:
        return variants_partition(records, index, self)


def variants_partition(records: list, index: int, job: VariantJob) -> dict:
    """Task: windows for a chunk of VCF records, their effect scores, and either a parquet part
    (``job.out_dir``) or the compact rows and values for the client's merged VCF."""
    from seqzoo.serving.effects import score_windows
    from seqzoo.serving.variant_writer import TableWriter
    from seqzoo.serving.windows import build_windows

    started, cpu = time.perf_counter(), time.process_time()
    engine = worker_engine(job.model, job.device)
    genome = worker_genome(job.genome, job.contig_map, job.genome_cache)
    rows = build_windows(records, genome, int(job.model_info["length"]), job.strand, job.rna, job.max_n_fraction)
    scored = [i for i, row in enumerate(rows) if row.skip is None]
    values: list = [None] * len(rows)
    if scored:
        result = score_windows(engine, [rows[i].ref_window for i in scored], [rows[i].alt_window for i in scored],
                               job.scores, job.rc_rule)
        for k, i in enumerate(scored):
            values[i] = {name: result[name][k] for name in job.scores}
    out = {"index": index, "rows": len(rows), "scored": len(scored), "worker": _worker_name()}
    if job.out_dir is not None:
        writer = TableWriter(Path(job.out_dir) / PART.format(index), job.model_info, job.classes, job.scores,
                             job.strand, job.rc_rule)
        try:
            writer.write_chunk(records, rows, values)
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    else:  # the windows themselves are not needed to annotate the VCF: do not ship them back
        out["windows"] = [replace(r, ref_window=None, alt_window=None) for r in rows]
        out["values"] = values
    out["seconds"] = time.perf_counter() - started
    out["cpu_seconds"] = time.process_time() - cpu
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def plain_records(chunk: list) -> list:
    """VcfRecords without their cyvcf2 object (which cannot travel to a worker)."""
    return [replace(r, variant=None) for r in chunk]


def score_variants(client, vcf: str, genome: str, model, output: str, scores: list[str], strand: str = "+",
                   rc_rule: str | None = None, contig_map: str | None = None, genome_cache: str | None = None,
                   max_n_fraction: float = 0.5, chunk_size: int = 10_000, window: int | None = None,
                   resources: dict | None = None, device: str = "cpu", progress: Callable | None = None) -> dict:
    """Score a VCF's variant effects on a Dask cluster.

    ``output`` is a folder of parquet parts (one row per variant x ALT x strand, the columns of
    ``seqzoo variants -o OUT.parquet``), or ``OUT.vcf`` / ``OUT.vcf.gz``: the input records,
    annotated, written by the client in input order as results arrive.

    Returns
    -------
    dict
        ``records``, ``rows``, ``scored``, ``parts``, ``seconds``, ``workers``, ``output``.
    """
    from seqzoo.serving.effects import check_rc_rule, is_rna
    from seqzoo.serving.variant_writer import open_writer
    from seqzoo.serving.vcf import VcfReader
    from seqzoo.zoo.alphabets import alphabet_from_dict

    started = time.monotonic()
    length = model.card.get("input", {}).get("length")
    if not length:
        raise InputError(f"model {model.name}:{model.version} takes any length; variant windows need a fixed one")
    alphabet = alphabet_from_dict(model.card["input"]["alphabet"])
    check_rc_rule(alphabet, rc_rule, strand)
    info = {"name": model.name, "ref": f"{model.name}:{model.version}", "digest": model.digest, "length": int(length)}
    classes = list(model.card["classes"])
    worker_genome(genome, contig_map, genome_cache)  # index once, here
    reader = VcfReader(vcf)
    merge = re.search(r"\.vcf(\.gz)?$", str(output).lower()) is not None
    folder = writer = None
    try:
        if merge:
            writer = open_writer(output, reader.vcf, info, classes, scores, strand, rc_rule)
        else:
            folder = OutputFolder(output)
        job = VariantJob(model, str(genome), contig_map, genome_cache, None if merge else str(folder.tmp), info,
                         classes, list(scores), strand, rc_rule, is_rna(alphabet), max_n_fraction, device)
        held: deque = deque()  # the chunks in flight, with their cyvcf2 records, for the merged VCF

        def chunks():
            for chunk in reader.chunks(chunk_size):
                if merge:
                    held.append(chunk)
                yield plain_records(chunk)

        nthreads = sum(client.nthreads().values()) or 1
        results = []
        for result in run_tasks(client, job, chunks(), window or 2 * nthreads + 2, resources):
            if merge:
                chunk = held.popleft()
                writer.write_chunk(chunk, result.pop("windows"), result.pop("values"))
                result["records"] = len(chunk)
            results.append(result)
            if progress is not None:
                progress(result)
        summary = _summarise(results, started)
        summary.update(scored=sum(r["scored"] for r in results), model=info["ref"], digest=model.digest)
        if merge:
            writer.commit()
        else:
            folder.commit(summary)
    except BaseException:
        if writer is not None:
            writer.abort()
        if folder is not None:
            folder.abort()
        raise
    finally:
        reader.close()
    summary["output"] = str(output)
    return summary


# ---------------------------------------------------------------------------- the CLI side
def add_dask_arguments(parser, where, command: str = "score") -> None:
    """Add ``--dask`` to a command's where-to-score group, and the Dask options to its parser.

    ``score`` also gets ``--partition-rows`` and the BED input options (``--genome``,
    ``--stride``); ``variants`` partitions by its own ``--chunk-size`` and has ``--genome``.
    """
    where.add_argument("--dask", metavar="SCHEDULER", help="score on a Dask cluster: a scheduler address, "
                       "or local[:N] for N local worker processes; -o names a folder of parquet parts"
                       + (" (or a .vcf/.vcf.gz, merged)" if command == "variants" else ""))
    group = parser.add_argument_group("Dask (--dask)")
    if command == "score":
        group.add_argument("--partition-rows", type=int, default=DEFAULT_PARTITION_ROWS,
                           help="sequences or windows per partition (default %(default)s)")
        group.add_argument("--genome", help="with a BED input: the reference FASTA to cut windows from")
        group.add_argument("--stride", type=int, help="with a BED input: bases between windows (default: L)")
    group.add_argument("--dask-resources", metavar="NAME=N[,...]",
                       help="worker resources each task needs, e.g. GPU=1 (workers started with --resources GPU=1)")
    group.add_argument("--dask-window", type=int, help="partitions in flight (default: 2 per worker thread + 2)")
    group.add_argument("--dask-memory", default="auto", help="memory limit per local worker (default auto)")


def _cluster(args):
    resources = parse_resources(args.dask_resources)
    return connect(args.dask, worker_resources=resources or None, memory_limit=args.dask_memory), resources


def run_score(args) -> int:
    """``seqzoo score --dask``."""
    from seqzoo.zoo.registry import open_zoo

    zoo = open_zoo(args.zoo)
    model = zoo.verify(args.model)  # every file's digest checked once, before any worker loads it
    (client, cluster), resources = _cluster(args)
    try:
        summary = score_partitions(client, args.input, model, args.output, args.partition_rows, args.dask_window,
                                   resources, device=args.device,
                                   batch_size=args.batch, convert_tu=args.convert_tu,
                                   genome=getattr(args, "genome", None), stride=getattr(args, "stride", None))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"scored {summary['rows']} rows in {summary['parts']} parts with {summary['model']} on "
          f"{len(summary['workers'])} Dask workers in {summary['seconds']:.1f} s -> {summary['output']}",
          file=sys.stderr)
    return 0


def run_variants(args) -> int:
    """``seqzoo variants --dask``."""
    from seqzoo.serving.effects import parse_scores
    from seqzoo.zoo.registry import open_zoo

    if args.attribution:
        raise InputError("--attribution is not available with --dask; run it with --local or --server")
    if args.chunk_size < 1:
        raise InputError(f"--chunk-size must be positive, got {args.chunk_size}")
    model = open_zoo(args.zoo).verify(args.model)
    (client, cluster), resources = _cluster(args)
    try:
        summary = score_variants(client, args.vcf, args.genome, model, args.output, parse_scores(args.scores),
                                 args.strand, args.rc_average, args.contig_map, args.genome_cache,
                                 args.max_n_fraction, args.chunk_size, args.dask_window, resources,
                                 device=args.device)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    print(f"seqzoo variants: {summary['rows']} variant x ALT x strand rows, {summary['scored']} scored, in "
          f"{summary['parts']} parts on {len(summary['workers'])} Dask workers, {summary['seconds']:.1f} s "
          f"-> {summary['output']}", file=sys.stderr)
    return 0
