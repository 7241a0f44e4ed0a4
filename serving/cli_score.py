"""``seqzoo score``: class probabilities for every sequence of a FASTA file, through a server or in-process.

    seqzoo score --server HOST:PORT --model pum2 windows.fa.gz -o scores.tsv
    seqzoo score --local --zoo ./zoo --model pum2:3 windows.fa -o scores.parquet

The input is read as a stream and scored chunk by chunk, so files of any size run in bounded
memory: with ``--server`` the sequences are encoded here (the same zoo.alphabets code as the
server) and sent as packed codes on one bidirectional stream with at most ``--window``
messages in flight; with ``--local`` each chunk goes through ``serving.scoring.score_table``.
Output rows keep input order: ``id`` (the FASTA name) then one column per class. The output
file appears only when complete (written under a temporary name, then renamed).
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import re
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from seqzoo.zoo.errors import InputError, SeqzooError

CHUNK = 4096


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", metavar="HOST:PORT", help="score through a seqzoo server")
    where.add_argument("--local", action="store_true", help="score in this process with the same engine")
    parser.add_argument("--model", required=True, help="model ref: name, name:latest, name:3 or name@sha256:...")
    parser.add_argument("input", help="FASTA file (.fa, .fasta, optionally .gz)")
    parser.add_argument("-o", "--output", required=True, help="output .tsv or .parquet")
    parser.add_argument("--zoo", help="zoo folder for --local (default $SEQZOO_ZOO or ./zoo)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="--local device")
    parser.add_argument("--threads", type=int, help="ONNX Runtime threads for --local")
    parser.add_argument("--batch", type=int, default=1024, help="sequences per request / forward pass")
    parser.add_argument("--window", type=int, default=8, help="requests in flight on the stream")
    parser.add_argument("--convert-tu", action="store_true", help="read T as U for RNA models (U as T for DNA)")
    parser.add_argument("--token-file", help="file holding the server's bearer token")
    parser.add_argument("--tls-ca", help="PEM certificate to trust (connect with TLS)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="deadline of the whole run, seconds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    from seqzoo.serving.dask_score import add_dask_arguments

    add_dask_arguments(parser, where, "score")


# ---------------------------------------------------------------------- input
class FastaStream:
    """Records of a (gzipped) FASTA file, one at a time, with their line numbers.

    ``position`` is how far into the file (compressed bytes) reading has got, for progress.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        self._raw = open(self.path, "rb")  # noqa: SIM115
        gz = self._raw.read(2) == b"\x1f\x8b"
        self._raw.seek(0)
        self._text = io.TextIOWrapper(gzip.GzipFile(fileobj=self._raw) if gz else self._raw,
                                      encoding="ascii", errors="strict", newline=None)

    @property
    def position(self) -> int:
        return self._raw.tell()

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def close(self) -> None:
        self._text.close()

    def __iter__(self) -> Iterator[tuple[str, str, int]]:
        """Yields (name, sequence, line of the header)."""
        name, parts, header_line, lineno = None, [], 0, 0
        try:
            for lineno, line in enumerate(self._text, 1):
                line = line.strip()
                if not line or line.startswith(";"):
                    continue
                if line.startswith(">"):
                    if name is not None:
                        yield name, "".join(parts), header_line
                    name, parts, header_line = line[1:].split()[0] if line[1:].strip() else "", [], lineno
                    if not name:
                        raise InputError(f"{self.path}:{lineno}: a FASTA header with no name")
                elif name is None:
                    raise InputError(f"{self.path}:{lineno}: sequence before the first '>' header")
                else:
                    parts.append(line)
        except UnicodeDecodeError as exc:
            raise InputError(f"{self.path}:{lineno + 1}: not ASCII text ({exc.reason})") from None
        except (OSError, EOFError) as exc:
            raise InputError(f"{self.path}:{lineno}: cannot read ({exc})") from None
        if name is not None:
            yield name, "".join(parts), header_line


def chunks(records: Iterator, size: int) -> Iterator[list]:
    chunk = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ---------------------------------------------------------------------- output
class TableWriter:
    """Writes ``id`` + class columns to .tsv or .parquet under a temporary name; ``commit`` renames it."""

    def __init__(self, path: str | os.PathLike, classes: list[str]):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".tsv", ".parquet"):
            raise InputError(f"{self.path}: the output must end in .tsv or .parquet")
        if not self.path.parent.is_dir():
            raise InputError(f"{self.path.parent}: no such folder for the output")
        if "id" in classes:
            raise InputError("the model has a class named 'id'; it would clash with the id column")
        self.classes = classes
        self.tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}.tmp")
        self.rows = 0
        if suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            self.schema = pa.schema([pa.field("id", pa.string())] + [pa.field(c, pa.float32()) for c in classes])
            self._parquet = pq.ParquetWriter(str(self.tmp), self.schema)
            self._tsv = None
        else:
            self._parquet = None
            self._tsv = open(self.tmp, "w")  # noqa: SIM115
            self._tsv.write("\t".join(["id", *classes]) + "\n")

    def write(self, ids: list[str], probs) -> None:
        if self._parquet is not None:
            import pyarrow as pa

            columns = [pa.array(ids, pa.string())] + [pa.array(probs[:, k], pa.float32())
                                                      for k in range(len(self.classes))]
            self._parquet.write_table(pa.Table.from_arrays(columns, schema=self.schema))
        else:
            self._tsv.writelines(f"{i}\t" + "\t".join(f"{p:.6g}" for p in row) + "\n"
                                 for i, row in zip(ids, probs.tolist()))
        self.rows += len(ids)

    def commit(self) -> None:
        self._close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self._close()
        self.tmp.unlink(missing_ok=True)

    def _close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._tsv is not None:
            self._tsv.close()
            self._tsv = None


def _name_record(message: str, path: Path, batch: list) -> str:
    """'sequence i: ...' (an index into a batch) -> 'FILE:LINE: record NAME: ...'."""
    match = re.match(r"sequence (\d+)[: ]\s*(.*)", message)
    if match and int(match.group(1)) < len(batch):
        name, _, line = batch[int(match.group(1))]
        return f"{path}:{line}: record {name}: {match.group(2)}"
    return f"{path}: {message}"


# ---------------------------------------------------------------------- the two ways
def _score_local(args, stream: FastaStream, progress) -> int:
    import pyarrow as pa
    from seqzoo.serving.engine import Engine
    from seqzoo.serving.scoring import score_table
    from seqzoo.zoo.registry import open_zoo

    engine = Engine.load(open_zoo(args.zoo).resolve(args.model), device=args.device, threads=args.threads)
    writer = TableWriter(args.output, engine.classes)
    try:
        for chunk in chunks(iter(stream), CHUNK):
            table = pa.table({"id": [r[0] for r in chunk], "sequence": [r[1] for r in chunk]})
            try:
                scored = score_table(table, engine, batch_size=args.batch, convert_tu=args.convert_tu)
            except InputError as exc:
                message = re.sub(r"^row (\d+)", lambda m: f"sequence {m.group(1)}", str(exc))
                raise InputError(_name_record(message, stream.path, chunk)) from None
            import numpy as np

            writer.write(table.column("id").to_pylist(),
                         np.stack([scored.column(c).to_numpy() for c in engine.classes], axis=1))
            progress(stream.position, writer.rows)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    print(f"scored {writer.rows} sequences with {engine.identity.ref} ({engine.provider}) -> {args.output}",
          file=sys.stderr)
    return 0


def _score_remote(args, stream: FastaStream, progress) -> int:
    import numpy as np
    from seqzoo.serving.client import SeqZooClient, read_token
    from seqzoo.zoo.alphabets import alphabet_from_dict

    client = SeqZooClient(args.server, token=read_token(args.token_file), tls_ca=args.tls_ca, timeout=60)
    info = client.get_model(args.model)
    ref = info["ref"]  # pin the exact version: a hot-loaded newer one must not score half the file
    alphabet = alphabet_from_dict(info["card"]["input"]["alphabet"])
    length, classes = info["length"], info["classes"]
    writer = TableWriter(args.output, classes)
    slots = threading.Semaphore(max(1, args.window))
    sent: dict[int, list] = {}
    failure: list[BaseException] = []
    stop = threading.Event()

    def requests():
        request_id = 0
        try:
            for chunk in chunks(iter(stream), args.batch):
                start = 0
                while start < len(chunk):  # consecutive records of one length per request
                    stop = start + 1
                    while stop < len(chunk) and len(chunk[stop][1]) == len(chunk[start][1]):
                        stop += 1
                    batch = chunk[start:stop]
                    start = stop
                    if length is not None:
                        for name, seq, line in batch:
                            if len(seq) != length:
                                raise InputError(f"{stream.path}:{line}: record {name} is {len(seq)} long but "
                                                 f"model {ref} takes {length}")
                    seqs = [r[1] for r in batch]
                    while not slots.acquire(timeout=0.5):
                        if stop.is_set():
                            return
                    sent[request_id] = batch
                    if info["structure"]:
                        yield client.request(ref, sequences=seqs, convert_tu=args.convert_tu, id=request_id)
                    else:
                        try:
                            codes = alphabet.encode(seqs, convert_tu=args.convert_tu)
                        except InputError as exc:
                            raise InputError(_name_record(str(exc), stream.path, batch)) from None
                        yield client.request(ref, codes=codes, id=request_id)
                    request_id += 1
        except BaseException as exc:  # grpc swallows generator errors: keep it for the main thread
            failure.append(exc)
            raise

    try:
        for request_id, probs in client.score_stream(requests(), timeout=args.timeout):
            batch = sent.pop(request_id)
            writer.write([r[0] for r in batch], np.asarray(probs))
            slots.release()
            progress(stream.position, writer.rows)
        if failure:
            raise failure[0]
        writer.commit()
    except SeqzooError as exc:
        writer.abort()
        if failure:
            raise failure[0] from None
        if sent:
            batch = sent[min(sent)]
            raise type(exc)(_name_record(str(exc), stream.path, batch)) from None
        raise
    except BaseException:
        writer.abort()
        raise
    finally:
        stop.set()
        client.close()
    print(f"scored {writer.rows} sequences with {ref} ({info['provider']} on {args.server}) -> {args.output}",
          file=sys.stderr)
    return 0


def run(args) -> int:
    if args.batch < 1 or args.window < 1:
        raise InputError("--batch and --window must be at least 1")
    if args.dask:
        from seqzoo.serving.dask_score import run_score

        return run_score(args)
    stream = FastaStream(args.input)
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=stream.size, unit="B", unit_scale=True, desc="score", file=sys.stderr)

    def progress(position: int, rows: int) -> None:
        if bar is not None:
            bar.update(position - bar.n)
            bar.set_postfix(sequences=rows, refresh=False)

    try:
        return _score_local(args, stream, progress) if args.local else _score_remote(args, stream, progress)
    finally:
        if bar is not None:
            bar.close()
        stream.close()
