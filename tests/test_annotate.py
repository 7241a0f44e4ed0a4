"""`seqzoo annotate`: bigWig/bedGraph tracks and narrowPeak peaks over a real (small) genome with a
real model. Values equal the engine's score of the same window (built here by hand: centring,
N padding at contig ends, reverse complement on the minus strand); peaks are the maximal runs
above the threshold; bad input leaves nothing behind."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyBigWig
import pytest
from seqzoo.serving.engine import Engine
from seqzoo.zoo.alphabets import reverse_complement

from seqzoo.cli import main

SIZES = {"chrA": 2500, "chrB": 1300}


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    rng = np.random.default_rng(11)
    path = tmp_path_factory.mktemp("genome") / "g.fa"
    contigs = {name: "".join(rng.choice(list("ACGT"), n)) for name, n in SIZES.items()}
    path.write_text("".join(f">{name} a test contig\n" + "\n".join(s[i:i + 70] for i in range(0, len(s), 70)) + "\n"
                            for name, s in contigs.items()))
    return path, contigs


def window(contig: str, p: int, length: int, strand: str) -> str:
    lo = p - length // 2
    s = "".join(contig[i] if 0 <= i < len(contig) else "N" for i in range(lo, lo + length))
    return s if strand == "+" else reverse_complement(s)


def run(published_model, genome_path, out, *extra):
    return main(["annotate", "--model", "pum2", "--zoo", str(published_model.zoo_root), "--genome", str(genome_path),
                 "--local", "-o", str(out), "--no-progress", *extra])


def test_tracks_equal_the_engine_on_both_strands(published_model, genome, tmp_path):
    path, contigs = genome
    out, peaks = tmp_path / "tracks", tmp_path / "peaks.narrowPeak"
    assert run(published_model, path, out, "--strand", "both", "--stride", "7", "--bedgraph") == 0
    assert sorted(p.name for p in out.iterdir()) == ["positive.minus.bedGraph.gz", "positive.minus.bw",
                                                     "positive.plus.bedGraph.gz", "positive.plus.bw"]
    engine = Engine.load(published_model, device="cpu")
    rng = np.random.default_rng(0)
    for strand, name in (("+", "plus"), ("-", "minus")):
        bw = pyBigWig.open(str(out / f"positive.{name}.bw"))
        assert bw.chroms() == SIZES
        for chrom, contig in contigs.items():
            starts = np.arange(0, len(contig), 7)
            picked = np.concatenate([starts[:2], starts[-2:], rng.choice(starts, 20)])  # contig ends included
            want = engine.predict(engine.encode([window(contig, int(p), 200, strand) for p in picked],
                                                convert_tu=True))[:, 1]
            got = np.array([bw.values(chrom, int(p), int(p) + 1)[0] for p in picked])
            np.testing.assert_allclose(got, want, atol=1e-5)
            # a value covers [p, p + stride): the base after p has the same value, the last stops at the end
            assert bw.values(chrom, int(picked[4]) + 6, int(picked[4]) + 7)[0] == pytest.approx(got[4])
            assert bw.intervals(chrom)[-1][1] == len(contig)
        bw.close()
        with gzip.open(out / f"positive.{name}.bedGraph.gz", "rt") as f:
            first = f.readline().split("\t")
        assert first[:3] == ["chrA", "0", "7"]
    # peaks: maximal runs of windows above the threshold on each strand, sorted, narrowPeak columns
    bw = pyBigWig.open(str(out / "positive.plus.bw"))
    threshold = float(np.quantile([v for s, e, v in bw.intervals("chrA")], 0.8))
    bw.close()
    out = tmp_path / "again"
    assert run(published_model, path, out, "--strand", "both", "--stride", "7", "--peaks", str(peaks),
               "--threshold", f"{threshold}") == 0
    rows = [line.split("\t") for line in peaks.read_text().splitlines()]
    assert rows and all(len(r) == 10 for r in rows)
    order = list(SIZES)
    keys = [(order.index(r[0]), int(r[1])) for r in rows]
    assert keys == sorted(keys)
    for chrom, start, end, name, score, strand, signal, p, q, summit in rows:
        bw = pyBigWig.open(str(out / f"positive.{'plus' if strand == '+' else 'minus'}.bw"))
        values = np.array([v for s, e, v in bw.intervals(chrom, int(start), int(end))])
        assert name == "positive" and (p, q) == ("-1", "-1")
        assert (values > threshold).all() and float(signal) == pytest.approx(values.max(), abs=1e-5)
        assert int(score) == round(1000 * float(signal))
        positions = np.array([s for s, e, v in bw.intervals(chrom, int(start), int(end))])
        centroid = np.sum((values - threshold) * positions) / np.sum(values - threshold)
        assert int(summit) == round(centroid) - int(start)  # weighted by the excess over the threshold
        for outside in (int(start) - 1, int(end)):  # the run is maximal
            if 0 <= outside < SIZES[chrom]:
                assert bw.values(chrom, outside, outside + 1)[0] <= threshold
        bw.close()


def test_regions_are_clipped_and_merged(published_model, genome, tmp_path, capsys):
    path, _contigs = genome
    bed = tmp_path / "r.bed"
    bed.write_text("chrB\t1000\t1400\tpast-the-end\nchrA\t100\t300\nchrA\t250\t400\n")
    out = tmp_path / "tracks"
    assert run(published_model, path, out, "--regions", str(bed)) == 0
    assert "r.bed:1: chrB:1000-1400 runs past the contig's end (1300); clipped" in capsys.readouterr().err
    bw = pyBigWig.open(str(out / "positive.plus.bw"))
    spans = {chrom: (iv[0][0], iv[-1][1]) for chrom in SIZES if (iv := bw.intervals(chrom))}
    assert spans == {"chrA": (100, 400), "chrB": (1000, 1300)}


@pytest.mark.parametrize(("extra", "message"), [
    (["--stride", "0"], "--stride must be at least 1"),
    (["--class", "nope"], "--class nope: not a class of pum2:1"),
    (["--threshold", "2"], "--threshold must be a probability"),
    (["--regions", "BED_UNKNOWN"], "r.bed:2: contig 'chrZ' is not in"),
])
def test_bad_input_is_one_line_and_leaves_nothing(published_model, genome, tmp_path, capsys, extra, message):
    path, _ = genome
    bed = tmp_path / "r.bed"
    bed.write_text("chrA\t0\t100\nchrZ\t0\t100\n")
    extra = [str(bed) if e == "BED_UNKNOWN" else e for e in extra]
    out = tmp_path / "tracks"
    assert run(published_model, path, out, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_broken_inputs_are_one_line_errors(published_model, genome, tmp_path, capsys):
    """Issue 26, 13 and 15: each of these was a traceback or a wrong message."""
    path, contigs = genome
    good = tmp_path / "r.bed"
    good.write_text("chrA\t0\t100\n")
    binary_bed = tmp_path / "bin.bed"
    binary_bed.write_bytes(b"chrA\t0\t100\t\xff\xfe\x00\n")
    duplicate = tmp_path / "dup.fa"
    duplicate.write_text(f">chrA\n{contigs['chrA']}\n>chrA\n{contigs['chrA']}\n")
    binary_fa = tmp_path / "bin.fa"
    binary_fa.write_bytes(b">chrA\n\x00\x01\xff\xfeACGT\x80\n")
    plain_gz = tmp_path / "plain.fa.gz"
    plain_gz.write_text(f">chrA\n{contigs['chrA']}\n")
    dash = tmp_path / "dash.fa"
    dash.write_text(f">chrA\n{contigs['chrA'][:50]}-{contigs['chrA'][51:]}\n")
    cases = [
        (path, binary_bed, "bin.bed:1: not text (a BED file is tab-separated text)"),
        (duplicate, good, 'dup.fa: contig name "chrA" appears twice'),
        (binary_fa, good, "bin.fa: not a FASTA file (byte 2 is not text)"),
        (plain_gz, good, "plain.fa.gz: the file is not compressed but its name ends in .gz"),
        (tmp_path, good, "is a folder; give a FASTA file with --genome"),
        (dash, good, "dash.fa: chrA:51: character '-' is not in the rna alphabet"),
    ]
    for genome_path, bed, message in cases:
        out = tmp_path / "tracks"
        assert run(published_model, genome_path, out, "--regions", str(bed)) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert not out.exists()


def test_a_killed_runs_leftover_is_cleared_by_the_next(published_model, genome, tmp_path):
    """A SIGKILLed annotate leaves its hidden staging folder; the next run removes what a dead
    process of this host left for the same output (another live process's stays)."""
    import socket
    import subprocess
    import sys

    path, _ = genome
    out = tmp_path / "tracks"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    host = socket.gethostname()
    stale = tmp_path / f".tracks.{host}-{int(dead.stdout)}.{'0' * 32}.tmp"
    live = tmp_path / f".tracks.{host}-1.{'1' * 32}.tmp"  # pid 1 runs (init): never removed
    for folder in (stale, live):
        folder.mkdir()
        (folder / "positive.plus.bw").write_bytes(b"half")
    bed = tmp_path / "r.bed"
    bed.write_text("chrA\t0\t100\n")
    assert run(published_model, path, out, "--regions", str(bed)) == 0
    assert not stale.exists() and live.exists() and (out / "positive.plus.bw").is_file()


def test_an_existing_output_is_never_written_over(published_model, genome, tmp_path, capsys):
    path, _ = genome
    out = tmp_path / "tracks"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run(published_model, path, out) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_peaks_are_the_same_however_the_values_are_chunked():
    from seqzoo.serving.tracks import PeakCaller

    rng = np.random.default_rng(3)
    values = np.clip(np.convolve(rng.random(5000), np.ones(25) / 25, mode="same") * 1.6 - 0.3, 0, 1)
    positions = np.arange(0, 5000 * 3, 3)
    whole = PeakCaller("c", 0.5, 3, {"chr1": 14_999})
    whole.feed("chr1", "+", positions, values)
    want = whole.finish()
    assert len(want) > 5
    for cuts in ([1], [7, 8, 9, 2000], list(range(1, 5000, 13))):
        caller = PeakCaller("c", 0.5, 3, {"chr1": 14_999})
        for lo, hi in zip([0, *cuts], [*cuts, 5000]):
            caller.feed("chr1", "+", positions[lo:hi], values[lo:hi])
        got = caller.finish()
        assert [r[:9] for r in got] == [r[:9] for r in want]
        assert all(abs(a[9] - b[9]) <= 1 for a, b in zip(got, want))  # the centroid, summed in another order
    # by hand: runs of values above 0.5
    above = values > 0.5
    starts = np.flatnonzero(above & ~np.concatenate(([False], above[:-1])))
    assert [row[1] for row in want] == (positions[starts]).tolist()
    assert want[-1][2] <= 14_999


def test_the_shared_pass_equals_independent_windows(published_model, genome, tmp_path):
    """stride 1 runs track.onnx (one pass over each stretch); stride 200 = L scores each window
    alone: at the positions both have, the values agree within 1e-5, on both strands."""
    from seqzoo.serving.engine import Engine

    assert Engine.load(published_model, device="cpu").has_track
    path, _ = genome
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    assert run(published_model, path, shared, "--strand", "both", "--stride", "1") == 0
    assert run(published_model, path, alone, "--strand", "both", "--stride", "200") == 0
    for name in ("plus", "minus"):
        a, b = pyBigWig.open(str(shared / f"positive.{name}.bw")), pyBigWig.open(str(alone / f"positive.{name}.bw"))
        for chrom, size in SIZES.items():
            points = range(0, size, 200)
            np.testing.assert_allclose([a.values(chrom, p, p + 1)[0] for p in points],
                                       [b.values(chrom, p, p + 1)[0] for p in points], atol=1e-5)


def read_tracks(out) -> dict:
    """Every bigWig's intervals and every bedGraph's text in a track folder."""
    got = {}
    for path in sorted(out.iterdir()):
        if path.suffix == ".bw":
            bw = pyBigWig.open(str(path))
            got[path.name] = {chrom: bw.intervals(chrom) for chrom in bw.chroms()}
            bw.close()
        else:
            with gzip.open(path, "rt") as f:
                got[path.name] = f.read()
    return got


def test_server_and_dask_write_the_local_files(published_model, genome, tmp_path, capsys):
    """The three modes give byte-equal peaks and equal tracks: --server reads the server's genome
    (a BED contig alias resolved against the server's contig list, a clipped interval), --dask
    scores pieces on a worker process."""
    from seqzoo.serving.server import reference
    from test_server import ServerThread

    path, _ = genome
    bed = tmp_path / "r.bed"
    bed.write_text("A\t10\t2400\nchrB\t0\t1400\n")
    (tmp_path / "map.txt").write_text("A chrA\n")
    common = ["--model", "pum2", "--regions", str(bed), "--contig-map", str(tmp_path / "map.txt"), "--strand", "both",
              "--stride", "3", "--bedgraph", "--threshold", "0.3", "--no-progress", "--json"]
    assert run(published_model, path, tmp_path / "local", *common[2:], "--peaks", str(tmp_path / "local.np")) == 0
    local = json.loads(capsys.readouterr().out.splitlines()[-1])
    reference.set_genome(path)
    try:
        server = ServerThread(published_model.zoo_root)
    finally:
        reference._genome = None  # the servicer holds its own reference
    try:
        assert main(["annotate", "--server", server.target, *common, "-o", str(tmp_path / "server"),
                     "--peaks", str(tmp_path / "server.np")]) == 0
        captured = capsys.readouterr()
        remote = json.loads(captured.out.splitlines()[-1])
        assert "runs past the contig's end (1300); clipped" in captured.err
        # bad input answered by the server: one line, nothing written
        assert main(["annotate", "--server", server.target, "--model", "pum2", "--class", "nope",
                     "-o", str(tmp_path / "bad"), "--no-progress"]) == 2
        assert "--class nope: not a class of pum2:1" in capsys.readouterr().err
        assert main(["annotate", "--server", server.target, "--model", "pum2", "--genome", str(path),
                     "-o", str(tmp_path / "bad"), "--no-progress"]) == 2
        assert "with --server the server's genome is annotated" in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()
    finally:
        server.drain()
    assert main(["annotate", "--dask", "local:1", "--dask-memory", "1GiB", "--zoo", str(published_model.zoo_root),
                 "--genome", str(path), *common, "-o", str(tmp_path / "dask"),
                 "--peaks", str(tmp_path / "dask.np")]) == 0
    spread = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert [local["mode"], remote["mode"], spread["mode"]] == ["local", "server", "dask"]
    assert local["positions"] == remote["positions"] == spread["positions"] == 2 * (797 + 434)
    assert local["shared_pass"] and remote["shared_pass"] and spread["shared_pass"]
    want = read_tracks(tmp_path / "local")
    assert len(want) == 4 and want["positive.plus.bw"]["chrA"][0][0] == 10
    for mode in ("server", "dask"):
        got = read_tracks(tmp_path / mode)
        assert got.keys() == want.keys()
        for name in want:
            if name.endswith(".bw"):
                for chrom in want[name]:
                    np.testing.assert_allclose(np.array(got[name][chrom]), np.array(want[name][chrom]), atol=1e-6)
            else:
                assert got[name] == want[name], (mode, name)
        assert (tmp_path / f"{mode}.np").read_bytes() == (tmp_path / "local.np").read_bytes()
    assert (tmp_path / "local.np").read_text()


def test_a_server_without_a_genome_says_so(published_model, tmp_path, capsys):
    from test_server import ServerThread

    server = ServerThread(published_model.zoo_root)
    try:
        assert main(["annotate", "--server", server.target, "--model", "pum2", "-o", str(tmp_path / "t"),
                     "--no-progress"]) == 2
    finally:
        server.drain()
    assert "this server was started without --genome" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_pieces_cover_each_position_once_on_the_stride_grid():
    from seqzoo.serving.ops.annotate import Region, pieces

    regions = [Region("a", 5, 1000), Region("b", 0, 7)]
    cut = list(pieces(regions, ("+", "-"), 3, size=40))
    for strand in ("+", "-"):
        for region in regions:
            got = [p for piece, s in cut if s == strand and piece.chrom == region.chrom
                   for p in range(piece.start, piece.end, 3)]
            assert got == list(range(region.start, region.end, 3))
    assert max(len(range(p.start, p.end, 3)) for p, _ in cut) == 40
    # output order: each region on + then -, pieces in position order
    assert [(p.chrom, s) for p, s in cut][:2] == [("a", "+"), ("a", "+")] and cut[-1][0].chrom == "b"


def test_the_server_stream_resumes_after_a_restart(published_model, tmp_path, caplog):
    """SIGTERM cuts an Annotate stream (0.5 s grace) and a new server takes the port: the client
    reopens the stream from the first position it has not received; every position arrives
    once, with the values of --local."""
    import signal

    from seqzoo.serving.client import AnnotationClient, SeqZooClient
    from seqzoo.serving.ops.annotate import Region, pieces
    from test_one_core import ServerProcess

    rng = np.random.default_rng(4)
    size = 1_200_000  # enough work that the stream is still going when the grace ends
    path = tmp_path / "big.fa"
    contig = "".join(rng.choice(list("ACGT"), size))
    path.write_text(">chrL\n" + contig + "\n")
    extra = ("--genome", str(path), "--grace-seconds", "0.5", "--threads", "1")
    server = ServerProcess(published_model.zoo_root, "pum2", extra=extra)
    regions = [Region("chrL", start, start + 10_000) for start in range(0, size, 10_000)]
    values = {strand: np.zeros((size, 2), dtype=np.float32) for strand in "+-"}
    seen = {strand: np.zeros(size, dtype=np.int64) for strand in "+-"}
    restarted = False
    try:
        with SeqZooClient(server.target) as client:
            stream = AnnotationClient(client).annotate("pum2:1", list(pieces(regions, ("+", "-"), 1)), 1,
                                                       ["negative", "positive"])
            for _, strand, positions, chunk, _ in stream:
                values[strand][positions] = chunk
                seen[strand][positions] += 1
                if not restarted:
                    restarted = True
                    server.proc.send_signal(signal.SIGTERM)
                    assert server.proc.wait(30) == 0
                    server = ServerProcess(published_model.zoo_root, "pum2", extra=extra, port=server.port)
    finally:
        server.stop()
    assert "the annotation stream was cut" in caplog.text  # the drain did cut it mid-stream
    assert all((seen[strand] == 1).all() for strand in "+-")
    engine = Engine.load(published_model, device="cpu")
    for strand in "+-":
        picked = rng.choice(size, 30)
        want = engine.predict(engine.encode([window(contig, int(p), 200, strand) for p in picked], convert_tu=True))
        np.testing.assert_allclose(values[strand][picked], want, atol=1e-5)


def test_tiny_regions_share_passes_and_requests_are_bounded_by_windows(published_model, genome, tmp_path,
                                                                       monkeypatch, capsys):
    """Issue 26, 14: a one-base region cost a whole track.onnx segment and two lane turns (30 ms);
    tiny regions now go through the lane together, each window scored alone (shared_pass False),
    with the engine's own values. A request is bounded by its windows, not its region count, and
    the client splits its pieces to fit."""
    import grpc
    from seqzoo.serving import annotate
    from seqzoo.serving.annotate import Region
    from seqzoo.serving.client import AnnotationClient, SeqZooClient
    from seqzoo.serving.server import annotation_service, reference
    from seqzoo.v1 import annotation_pb2 as apb
    from seqzoo.v1 import annotation_pb2_grpc as apb_grpc
    from test_server import ServerThread

    path, contigs = genome
    engine = Engine.load(published_model, device="cpu")
    reference.set_genome(path)
    try:
        server = ServerThread(published_model.zoo_root)
    finally:
        reference._genome = None
    try:
        positions = list(range(5, 2495, 7))
        with SeqZooClient(server.target, timeout=120) as client:
            got = list(AnnotationClient(client).annotate("pum2", [(Region("chrA", p, p + 1), "+") for p in positions],
                                                         1, ["positive"]))
        assert [int(g[2][0]) for g in got] == positions and not any(g[4] for g in got)
        windows = [window(contigs["chrA"], p, engine.length, "+") for p in positions]
        want = engine.predict(engine.encode(windows, convert_tu=True))[:, 1]
        np.testing.assert_allclose(np.concatenate([g[3][:, 0] for g in got]), want, atol=1e-6)
        channel = grpc.insecure_channel(server.target)
        huge = apb.AnnotateRequest(model="pum2", stride=1, regions=[
            apb.GenomeRegion(contig="chrA", start=0, end=annotate.MAX_WINDOWS + 1, strand="+")])
        with pytest.raises(grpc.RpcError) as caught:
            list(apb_grpc.AnnotationStub(channel).Annotate(huge, timeout=30))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"asks for {annotate.MAX_WINDOWS + 1:,} windows; the limit is" in caught.value.details()
        channel.close()
        # the client splits what it sends to fit the bound: the same files as one request
        bed = tmp_path / "r.bed"
        bed.write_text("".join(f"chrA\t{a}\t{a + 490}\n" for a in range(0, 2500, 500)))
        common = ["--model", "pum2", "--regions", str(bed), "--no-progress"]
        assert main(["annotate", "--server", server.target, *common, "-o", str(tmp_path / "whole")]) == 0
        monkeypatch.setattr(annotate, "MAX_WINDOWS", 600)
        monkeypatch.setattr(annotation_service, "MAX_WINDOWS", 600)
        assert main(["annotate", "--server", server.target, *common, "-o", str(tmp_path / "split")]) == 0
    finally:
        server.drain()
    capsys.readouterr()
    assert read_tracks(tmp_path / "split") == read_tracks(tmp_path / "whole")
