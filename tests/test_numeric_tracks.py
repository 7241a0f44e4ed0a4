"""Numeric tracks (a bigWig's signal as a model input): the scale, reading windows at records'
and variants' coordinates on both strands, training with ``--track NAME=FILE.bw``, and serving
the numbers (engine, seqzoo.v1 ``numbers``, OIP FP32, the Python API, seqzoo score, variants)."""

from __future__ import annotations

import json
import math
import struct

import grpc
import numpy as np
import pytest
import torch
from conftest import assert_scored_as, assert_training_refused
from seqzoo.serving.client import SeqZooClient
from seqzoo.serving.engine import Engine
from seqzoo.training.simulate import place_signal, simulate_regions, write_fasta
from seqzoo.v1 import oip_pb2 as opb
from seqzoo.v1 import oip_pb2_grpc as opb_grpc
from seqzoo.zoo.alphabets import get_alphabet
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.inputs import Inputs, TrackInput, alphabet_from_dict
from seqzoo.zoo.io.bigwig import Signal, write_signal
from seqzoo.zoo.io.coords import Coordinates, record_coordinates
from seqzoo.zoo.io.fasta import read_fasta
from seqzoo.zoo.motifs_io import read_meme
from seqzoo.zoo.numeric import Levels
from test_server import ServerThread

import seqzoo
from seqzoo.cli import main

torch.set_num_threads(1)
SMALL = ["--kernel-num", "8", "--kernel-len", "6", "--neuron-num", "8", "--epochs", "3", "--patience", "2",
         "--quiet", "--json", "--seed", "1"]


def test_levels_cut_at_quantiles_and_read_ranks():
    values = np.concatenate([np.zeros(500), np.arange(1, 501, dtype=float), [np.nan] * 10])
    levels = Levels.fit(values, levels=8)
    assert len(levels.values) == len(levels.ranks) == len(levels.edges) + 1 <= 8
    assert levels.edges[0] > 0  # the 500 zeros fill the first level alone
    assert levels.values[0] == 0 and -1 < levels.ranks[0] < levels.ranks[-1] < 1
    codes = levels.encode([[0.0, np.nan, 1e9, -5.0], [None, 250.0, 500.0, 0.5]])
    assert codes.dtype == np.uint8 and codes[0].tolist()[:2] == [1, 0] and codes[0, 2] == levels.num_codes - 1
    assert codes[0, 3] == 1 and codes[1, 0] == 0  # below the lowest edge: the first level; None: no data
    decoded = levels.decode(codes)
    np.testing.assert_array_equal(levels.encode(decoded), codes)  # level means encode to their own codes
    assert np.isnan(decoded[0][1])
    assert levels.table[0, 0] == 0 and levels.table.shape == (levels.num_codes, 1)
    assert Levels.from_dict(json.loads(json.dumps(levels.to_dict()))) == levels
    for rows, message in (([["a", "b"]], "track 0: a numeric track takes numbers"), (["1234"], "takes numbers"),
                          ([[1.0, np.inf]], "position 1 holds inf"), ([[1.0], [1.0, 2.0]], "same length")):
        with pytest.raises(InputError, match=message):
            levels.encode(rows)
    with pytest.raises(InputError, match="no data at any training record"):
        Levels.fit(np.full(5, np.nan))


def test_inputs_pack_a_numeric_track_as_one_column():
    levels = Levels.fit(np.arange(100, dtype=float), levels=4)
    inputs = Inputs(get_alphabet("dna"), 3, (TrackInput("signal", levels, 5, 0.0, "numeric"),))
    assert (inputs.size, inputs.total_length, inputs.num_codes) == (5, 8, 5 + levels.num_codes)
    codes = inputs.encode(["ACG"], {"signal": [[0.0, 30.0, np.nan, 60.0, 99.0]]})
    onehot = inputs.one_hot(codes)
    assert onehot[0, 3:, :4].sum() == 0 and onehot[0, 5, 4] == 0  # NaN reads 0 (the median)
    np.testing.assert_allclose(onehot[0, [3, 4, 6, 7], 4], [levels.ranks[0], levels.ranks[1], levels.ranks[2],
                                                             levels.ranks[3]])
    assert alphabet_from_dict(json.loads(json.dumps(inputs.to_dict()))) == inputs
    with pytest.raises(InputError, match="sequence 0, field signal is 4 long"):
        inputs.encode(["ACG"], {"signal": [[1.0] * 4]})


def test_windows_are_read_on_the_records_strand(tmp_path):
    """A bigWig whose value is the position: the window of a record is the positions its track
    covers, centred as its sequence, 5' to 3' on its strand; past the contig's end and uncovered: NaN."""
    values = np.arange(1000, dtype=float)
    values[500:510] = np.nan
    write_signal(tmp_path / "pos.bw", {"chr1": 1000}, {"chr1": values})
    with Signal(tmp_path / "pos.bw") as signal:
        plus, minus = Coordinates("chr1", 100, 140, "+"), Coordinates("chr1", 100, 140, "-")
        np.testing.assert_array_equal(signal.around(plus, 60), np.arange(90, 150))
        np.testing.assert_array_equal(signal.around(minus, 60), np.arange(149, 89, -1))
        assert signal.has("1") and not signal.has("chr2")  # contig aliases as a genome's
        edge = signal.window("chr1", 990, 1010)
        assert edge[:10].tolist() == list(range(990, 1000)) and np.isnan(edge[10:]).all()
        assert np.isnan(signal.window("chr1", 495, 515)[5:15]).all()
        # issue 26, 10: a contig the file lacks, or a window wholly off its contig, is refused (it read "no data")
        with pytest.raises(InputError, match=r"pos.bw: no contig 'chr2' in this bigWig \(its contigs: chr1\)"):
            signal.window("chr2", 0, 5)
        with pytest.raises(InputError, match="the window chr1:5000000-5000060 lies outside contig chr1"):
            signal.window("chr1", 5_000_000, 5_000_060)
    record = read_fasta_text(tmp_path, ">site_1 chr1:100-140(-)\n" + "A" * 40 + "\n")[0]
    assert record_coordinates(record) == minus
    (tmp_path / "x.bw").write_text("not a bigwig")
    with pytest.raises(InputError, match="x.bw: not a bigWig file"):
        Signal(tmp_path / "x.bw")


def read_fasta_text(folder, text):
    (folder / "r.fa").write_text(text)
    return read_fasta(folder / "r.fa")


@pytest.fixture(scope="module")
def signal_data(tmp_path_factory):
    """The region-type question with the region track as a bigWig signal (3'UTR highest)."""
    tmp = tmp_path_factory.mktemp("signal")
    _, motifs = read_meme(seqzoo.zoo.__path__[0] + "/resources/motifs/HOCOMOCO_v11_FOXO1.meme")
    pos, neg, pos_r, neg_r = simulate_regions(motifs[0].pwm, "ACGT", 600, length=40, track_length=60, seed=3)
    headers, lengths, values = place_signal(pos_r + neg_r, 40, seed=3)
    write_signal(tmp / "signal.bw", lengths, values)
    write_fasta(tmp / "pos.fa", pos, "pos", [f"pos_{i} {h}" for i, h in enumerate(headers[:len(pos)])])
    write_fasta(tmp / "neg.fa", neg, "neg", [f"neg_{i} {h}" for i, h in enumerate(headers[len(pos):])])
    return tmp


@pytest.fixture(scope="module")
def published(signal_data, tmp_path_factory):
    zoo = tmp_path_factory.mktemp("numeric-zoo")
    argv = ["train", "--name", "signal", "--class", f"unbound={signal_data / 'neg.fa'}", "--class",
            f"bound={signal_data / 'pos.fa'}", "--track", f"signal={signal_data / 'signal.bw'}",
            "--track-length", "signal=60", "--out", str(zoo / "run"), "--zoo", str(zoo), *SMALL]
    assert main(argv) == 0
    return zoo


def test_the_signal_places_each_records_region_under_its_coordinates(signal_data):
    pos = read_fasta(signal_data / "pos.fa")
    with Signal(signal_data / "signal.bw") as signal:
        for record in pos[:40]:
            where = record_coordinates(record)
            window = signal.around(where, 60)
            assert window.shape == (60,) and np.isfinite(window).mean() > 0.85
    assert {record_coordinates(r).strand for r in pos} == {"+", "-"}


def test_train_publishes_a_numeric_track_that_verifies(published):
    folder = published / "signal" / "1"
    card = json.loads((folder / "card.json").read_text())
    (track,) = card["input"]["tracks"]
    assert (track["name"], track["source"], track["length"], track["baseline"]) == ("signal", "numeric", 60, 0.0)
    scale = card["input"]["alphabet"]["tracks"][0]["alphabet"]
    assert scale["name"] == "numeric" and 8 <= len(scale["values"]) <= 64
    assert card["graphs"]["model.onnx"]["inputs"][0]["shape"] == ["N", 100]
    rows = [e["tracks"]["signal"] for e in card["expect"]]
    assert all(len(r) == 60 and all(v is None or isinstance(v, float) for v in r) for r in rows)
    assert card["parity"]["ig"] < 1e-3
    assert main(["zoo", "verify", "signal", "--zoo", str(published)]) == 0
    summary = json.loads((folder / "interpretation" / "interpretation.json").read_text())
    (example,) = summary["examples"]
    assert example["tracks"][0]["name"] == "signal" and set(example["tracks"][0]["per_letter"]) == {"value"}
    assert "Track <b>signal</b>" in (folder / "report.html").read_text()


def test_numbers_are_served_like_the_engine_scores_them(published, signal_data, tmp_path):
    engine = Engine.load(published / "signal" / "1", device="cpu", threads=1)
    records = read_fasta(signal_data / "pos.fa")[:20] + read_fasta(signal_data / "neg.fa")[:5]
    sequences = [r.sequence for r in records]
    with Signal(signal_data / "signal.bw") as signal:
        numbers = np.stack([signal.around(c, 60) for c in map(record_coordinates, records)])
    tracks = {"signal": numbers}
    want = engine.predict(engine.encode(sequences, tracks=tracks))
    server = ServerThread(published)
    try:
        with SeqZooClient(server.target, timeout=30) as client:
            np.testing.assert_allclose(client.score("signal", sequences, tracks=tracks), want, atol=1e-6)
            with pytest.raises(InputError, match="track 'signal' is missing"):
                client.score("signal", sequences)
            with pytest.raises(InputError, match="1499 numbers, not a multiple of the 25 sequences"):
                client.score("signal", sequences, tracks={"signal": [numbers.ravel()[:-1]]})
            with pytest.raises(InputError, match="a numeric track takes numbers"):
                client.score("signal", sequences[:1], tracks={"signal": ["3" * 60]})
            attributions, _ = client.attribute("signal", sequences[:3], tracks={"signal": numbers[:3]})
            codes = engine.encode(sequences[:3], tracks={"signal": numbers[:3]})
            np.testing.assert_allclose(attributions, engine.integrated_gradients(
                engine.alphabet.one_hot(codes), engine.selector(3)), atol=1e-5)
        channel = grpc.insecure_channel(server.target)
        stub = opb_grpc.GRPCInferenceServiceStub(channel)
        meta = stub.ModelMetadata(opb.ModelMetadataRequest(name="signal"))
        assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs][2] == ("signal", "FP32", [-1, 60])
        tensor = opb.ModelInferRequest.InferInputTensor
        sequences_tensor = tensor(name="sequences", datatype="BYTES", shape=[25],
                                  contents=opb.InferTensorContents(bytes_contents=[s.encode() for s in sequences]))
        typed = opb.ModelInferRequest(model_name="signal", inputs=[sequences_tensor, tensor(
            name="signal", datatype="FP32", shape=[25, 60],
            contents=opb.InferTensorContents(fp32_contents=numbers.ravel().tolist()))])
        answer = stub.ModelInfer(typed)
        np.testing.assert_allclose(np.asarray(answer.outputs[0].contents.fp32_contents).reshape(25, 2), want,
                                   atol=1e-6)
        raw = opb.ModelInferRequest(model_name="signal", inputs=[
            tensor(name="sequences", datatype="BYTES", shape=[25]), tensor(name="signal", datatype="FP32", shape=[25, 60])],
            raw_input_contents=[b"".join(struct.pack("<I", len(s)) + s.encode() for s in sequences),
                                numbers.astype("<f4").tobytes()])
        answer = stub.ModelInfer(raw)
        np.testing.assert_allclose(np.frombuffer(answer.raw_output_contents[0], dtype="<f4").reshape(25, 2), want,
                                   atol=1e-6)
        raw.raw_input_contents[1] = raw.raw_input_contents[1][:-1]  # issue 26, 12: it was INTERNAL
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(raw)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "are not a whole number of 4-byte values" in caught.value.details()
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(opb.ModelInferRequest(model_name="signal", inputs=[sequences_tensor, tensor(
                name="signal", datatype="BYTES", shape=[25])]))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'signal' is FP32" in \
            caught.value.details()
        channel.close()
        write_fasta(tmp_path / "in.fa", sequences, "", [r.header for r in records])
        assert_scored_as(want, tmp_path / "in.fa", "signal", f"signal={signal_data / 'signal.bw'}",
                         [["--server", server.target], ["--local", "--zoo", str(published)]], tmp_path)
    finally:
        server.drain()
    model = seqzoo.load("signal", zoo=str(published))
    np.testing.assert_allclose(model.predict(sequences, tracks=tracks).to_numpy(), want, atol=1e-6)


@pytest.mark.parametrize("extra, message", [
    (["--track", "signal={signal}", "--track-alphabet", "signal=AB"], "a numeric (bigWig) track has no letters"),
    (["--track", "signal={signal}", "--track-length", "signal=x"], "--track-length signal='x' must be a positive"),
    (["--track", "signal={elsewhere}"], "none of the records' chromosomes is in this bigWig"),
    (["--track", "signal={signal}", "--class", "more={bare}"], "bare.fa:1: no coordinates for the numeric track"),
    # issue 26, 5: refused in one line before any allocation (it was OOM-killed at 21 GB)
    (["--track", "signal={signal}", "--track-length", "signal=100000000"],
     "--track-length signal=100000000: at most 1,000,000 positions a record"),
])
def test_bad_numeric_tracks_are_named_and_nothing_is_written(signal_data, tmp_path, capsys, extra, message):
    write_signal(tmp_path / "elsewhere.bw", {"chrX": 100}, {"chrX": np.ones(100)})
    write_fasta(tmp_path / "bare.fa", ["ACGT" * 10], "bare")
    paths = {"signal": signal_data / "signal.bw", "elsewhere": tmp_path / "elsewhere.bw", "bare": tmp_path / "bare.fa"}
    assert_training_refused(signal_data, [*[a.format(**paths) for a in extra], *SMALL], tmp_path, capsys, message)


def test_variants_read_the_signal_at_each_variant(published, tmp_path, capsys):
    rng = np.random.default_rng(5)
    sequence = "".join(rng.choice(list("ACGT"), 2000))
    (tmp_path / "g.fa").write_text(f">chr1\n{sequence}\n")
    signal = rng.exponential(2.0, 2000)
    write_signal(tmp_path / "s.bw", {"chr1": 2000}, {"chr1": signal})
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=2000>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"chr1\t{pos}\t.\t{sequence[pos - 1]}\t{'A' if sequence[pos - 1] != 'A' else 'G'}\t.\t.\t."
              for pos in (150, 690, 1200)]
    (tmp_path / "v.vcf").write_text("\n".join(lines) + "\n")
    base = ["variants", "--model", "signal", "--vcf", str(tmp_path / "v.vcf"), "--genome", str(tmp_path / "g.fa"),
            "--scores", "diff", "--quiet", "--local", "--zoo", str(published)]
    assert main([*base, "-o", str(tmp_path / "x.tsv")]) == 2
    assert "give --track-source signal=FILE.bw" in capsys.readouterr().err
    (tmp_path / "r.bed").write_text("chr1\t0\t2000\t3\n")
    assert main([*base, "--track-source", f"signal={tmp_path / 'r.bed'}", "-o", str(tmp_path / "x.tsv")]) == 2
    assert "the 'signal' track is numeric: give a bigWig" in capsys.readouterr().err
    engine = Engine.load(published / "signal" / "1", device="cpu", threads=1)
    c = 689
    ref = sequence[c - 20:c + 20]
    alt = ref[:20] + ("A" if sequence[c] != "A" else "G") + ref[21:]
    window = signal[c - 30:c + 30].astype(np.float32).astype(np.float64)  # bigWig values are float32
    probs = engine.predict(engine.encode([ref, alt], tracks={"signal": [window, window]}))
    out = tmp_path / "v.tsv"
    assert main([*base, "--track-source", f"signal={tmp_path / 's.bw'}", "-o", str(out)]) == 0
    rows = out.read_text().splitlines()[1:]
    row = dict(zip(rows[0].split("\t"), rows[2].split("\t")))
    assert math.isclose(float(row["bound_diff"]), float(probs[1, 1] - probs[0, 1]), abs_tol=1e-5)
    # issue 26, 10: a bigWig without the variants' contig is refused, not read as "no data"
    write_signal(tmp_path / "other.bw", {"chr7": 2000}, {"chr7": signal})
    assert main([*base, "--track-source", f"signal={tmp_path / 'other.bw'}", "-o", str(tmp_path / "y.tsv")]) == 2
    err = capsys.readouterr().err
    assert "other.bw: no contig 'chr1' in this bigWig (its contigs: chr7)" in err and "Traceback" not in err
    assert not (tmp_path / "y.tsv").exists()


def test_score_refuses_a_bigwig_without_the_records_contig(published, signal_data, tmp_path, capsys):
    """Issue 26, 10: `seqzoo score --track` (in process and through a server) refuses, naming the
    record, a bigWig that lacks the record's contig or whose window lies off it."""
    records = [r for r in read_fasta(signal_data / "pos.fa") if record_coordinates(r).start > 100][:3]
    write_fasta(tmp_path / "in.fa", [r.sequence for r in records], "", [r.header for r in records])
    contig = record_coordinates(records[0]).chrom
    write_signal(tmp_path / "other.bw", {"elsewhere": 100}, {"elsewhere": np.ones(100)})
    contigs = sorted({record_coordinates(r).chrom for r in records})
    write_signal(tmp_path / "short.bw", dict.fromkeys(contigs, 10), {c: np.ones(10) for c in contigs})
    server = ServerThread(published)
    try:
        for bigwig, words in (("other.bw", f"no contig '{contig}' in this bigWig"), ("short.bw", "lies outside contig")):
            for mode in (["--local", "--zoo", str(published)], ["--server", server.target]):
                out = tmp_path / "out.tsv"
                assert main(["score", "--model", "signal", str(tmp_path / "in.fa"), "-o", str(out), "--track",
                             f"signal={tmp_path / bigwig}", *mode]) == 2
                err = capsys.readouterr().err
                assert words in err and records[0].name in err and "Traceback" not in err, err
                assert not out.exists()
    finally:
        server.drain()
