"""Multimodal models (DeepRiPe's sequence + region type): packed inputs, training with --track,
export with per-input IG baselines, the card, and serving with named tracks (engine, server,
client, the Python API, seqzoo score, OIP)."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import grpc
import numpy as np
import pytest
import torch
from conftest import assert_scored_as, assert_training_refused
from seqzoo.serving.client import SeqZooClient
from seqzoo.serving.engine import Engine
from seqzoo.training.simulate import simulate_regions, write_fasta
from seqzoo.v1 import oip_pb2 as opb
from seqzoo.v1 import oip_pb2_grpc as opb_grpc
from seqzoo.zoo.alphabets import get_alphabet
from seqzoo.zoo.errors import InputError
from seqzoo.zoo.inputs import Inputs, TrackInput
from seqzoo.zoo.io.fasta import read_fasta
from seqzoo.zoo.motifs_io import read_meme
from test_server import ServerThread

import seqzoo
from seqzoo.cli import main

torch.set_num_threads(1)
SMALL = ["--kernel-num", "8", "--kernel-len", "6", "--neuron-num", "8", "--epochs", "3", "--patience", "2",
         "--quiet", "--json", "--seed", "1"]


def test_inputs_pack_each_track_into_its_own_codes_and_columns():
    inputs = Inputs(get_alphabet("rna"), 4, (TrackInput("region", get_alphabet("5C3I"), 6, 0.25),))
    assert (inputs.size, inputs.num_codes, inputs.total_length) == (8, 10, 10)
    assert inputs.slices == [(0, 4, 0, 4), (4, 10, 4, 8)]
    codes = inputs.encode(["ACGN", "UUUU"], {"region": ["55CC33", "IIII3n"]})
    assert codes[0].tolist() == [0, 1, 2, 4, 5, 5, 6, 6, 7, 7] and codes[1, -1] == 9  # region's unknown code
    onehot = inputs.one_hot(codes)
    assert onehot[0, :4, 4:].sum() == 0 and onehot[0, 4:, :4].sum() == 0  # block-diagonal
    assert onehot[0, 3].sum() == 0 and onehot[0, 4, 4] == 1  # N is all-zero; region '5' is column 4
    sequences, tracks = inputs.decode(codes)
    assert sequences == ["ACGN", "UUUU"] and tracks == {"region": ["55CC33", "IIII3N"]}
    assert inputs.baseline[:4].sum() == 0 and np.all(inputs.baseline[4:, 4:] == 0.25)
    from seqzoo.zoo.inputs import alphabet_from_dict

    assert alphabet_from_dict(json.loads(json.dumps(inputs.to_dict()))) == inputs
    for tracks, message in (({}, "track 'region' is missing"),
                            ({"region": ["55CC3"] * 2}, "sequence 0, field region is 5 long"),
                            ({"region": ["55CC33", "55CCQ3"]}, "sequence 1, field region: character 'Q'"),
                            ({"region": ["55CC33"] * 2, "other": ["x"] * 2}, "track 'other' is not an input")):
        with pytest.raises(InputError, match=message):
            inputs.encode(["ACGU", "ACGU"], tracks)


def write_region_set(folder):
    """600 simulated 40-nt sequences (FOXO1 sites in the positives' 3' UTRs) in pos.fa and neg.fa, and
    their 60-letter region tracks in region.fa; returns ``folder``."""
    _, motifs = read_meme(seqzoo.zoo.__path__[0] + "/resources/motifs/HOCOMOCO_v11_FOXO1.meme")
    pos, neg, pos_r, neg_r = simulate_regions(motifs[0].pwm, "ACGT", 600, length=40, track_length=60, seed=3)
    write_fasta(folder / "pos.fa", pos, "pos")
    write_fasta(folder / "neg.fa", neg, "neg")
    write_fasta(folder / "region.fa", pos_r + neg_r, "", [f"pos_{i}" for i in range(len(pos_r))] +
                [f"neg_{i}" for i in range(len(neg_r))])
    return folder


def publish_regions(data, zoo) -> None:
    """``seqzoo train`` a small multimodal ``regions`` model (sequence + region track) into ``zoo``."""
    argv = ["train", "--name", "regions", "--class", f"unbound={data / 'neg.fa'}", "--class",
            f"bound={data / 'pos.fa'}", "--track", f"region={data / 'region.fa'}",
            "--out", str(zoo / "run"), "--zoo", str(zoo), *SMALL]
    assert main(argv) == 0


@pytest.fixture(scope="module")
def region_data(tmp_path_factory):
    return write_region_set(tmp_path_factory.mktemp("regions"))


def test_simulated_positives_hold_their_site_in_a_3utr(region_data):
    regions = {r.name: r.sequence for r in read_fasta(region_data / "region.fa")}
    assert len(regions) == 600 and {len(v) for v in regions.values()} == {60}
    assert set("".join(regions.values())) == set("5C3I")


@pytest.fixture(scope="module")
def published(region_data, tmp_path_factory):
    zoo = tmp_path_factory.mktemp("mm-zoo")
    publish_regions(region_data, zoo)
    return zoo


def test_train_publishes_a_multimodal_card_that_verifies(published, capsys):
    card = json.loads((published / "regions" / "1" / "card.json").read_text())
    assert card["input"]["tracks"] == [{"name": "region", "letters": "35CI", "length": 60, "offset": 40,
                                        "baseline": 0.25, "source": "letters"}]
    assert card["graphs"]["model.onnx"]["inputs"][0]["shape"] == ["N", 100]
    assert all(set(e["tracks"]) == {"region"} and len(e["tracks"]["region"]) == 60 for e in card["expect"])
    assert card["parity"]["ig"] < 1e-3
    assert main(["zoo", "verify", "regions", "--zoo", str(published)]) == 0
    summary = json.loads((published / "regions" / "1" / "interpretation" / "interpretation.json").read_text())
    (example,) = summary["examples"]
    assert example["class"] == "bound" and example["tracks"][0]["name"] == "region"
    assert set(example["tracks"][0]["per_letter"]) == set("35CI")
    assert "Track <b>region</b>" in (published / "regions" / "1" / "report.html").read_text()


def test_integrated_gradients_start_at_each_inputs_baseline(published, region_data):
    engine = Engine.load(published / "regions" / "1", device="cpu", threads=1)
    sequences = [r.sequence for r in read_fasta(region_data / "pos.fa")][:6]
    regions = {r.name: r.sequence for r in read_fasta(region_data / "region.fa")}
    codes = engine.encode(sequences, tracks={"region": [regions[f"pos_{i}"] for i in range(6)]})
    onehot = engine.alphabet.one_hot(codes)
    selector = engine.selector(6)
    attributions = engine.integrated_gradients(onehot, selector, steps=200)
    probs = engine.predict(codes)[:, -1]
    at_baseline, _ = engine.gradient(np.broadcast_to(engine.baseline, onehot.shape).copy(), selector)
    at_baseline = at_baseline[:, -1]
    # completeness: the attributions sum to P(x) - P(baseline), the track part included
    np.testing.assert_allclose(attributions.sum(axis=(1, 2)), probs - at_baseline, atol=2e-3)
    hypothetical = engine.hypothetical(onehot, selector, steps=200)
    np.testing.assert_allclose(attributions, (onehot - engine.baseline) * hypothetical, atol=1e-6)


def test_served_with_named_tracks_like_the_engine(published, region_data, tmp_path):
    engine = Engine.load(published / "regions" / "1", device="cpu", threads=1)
    records = read_fasta(region_data / "pos.fa")[:25]
    regions = {r.name: r.sequence for r in read_fasta(region_data / "region.fa")}
    sequences, tracks = [r.sequence for r in records], {"region": [regions[r.name] for r in records]}
    want = engine.predict(engine.encode(sequences, tracks=tracks))
    server = ServerThread(published)
    try:
        with SeqZooClient(server.target, timeout=30) as client:
            assert client.get_model("regions")["tracks"] == ["region"]
            np.testing.assert_allclose(client.score("regions", sequences, tracks=tracks), want, atol=1e-6)
            np.testing.assert_allclose(client.score("regions", codes=engine.encode(sequences, tracks=tracks)), want,
                                       atol=1e-6)
            with pytest.raises(InputError, match="track 'region' is missing"):
                client.score("regions", sequences)
            with pytest.raises(InputError, match="track 'regoin' is not an input"):
                client.score("regions", sequences, tracks={"regoin": tracks["region"]})
            attributions, _ = client.attribute("regions", sequences[:3], tracks={"region": tracks["region"][:3]})
            codes = engine.encode(sequences[:3], tracks={"region": tracks["region"][:3]})
            np.testing.assert_allclose(attributions, engine.integrated_gradients(
                engine.alphabet.one_hot(codes), engine.selector(3)), atol=1e-5)
        # OIP: one BYTES input per track beside 'sequences'
        channel = grpc.insecure_channel(server.target)
        stub = opb_grpc.GRPCInferenceServiceStub(channel)
        meta = stub.ModelMetadata(opb.ModelMetadataRequest(name="regions"))
        assert [(t.name, list(t.shape)) for t in meta.inputs] == [("codes", [-1, 100]), ("sequences", [-1]),
                                                                  ("region", [-1])]
        tensor = opb.ModelInferRequest.InferInputTensor
        request = opb.ModelInferRequest(model_name="regions", inputs=[
            tensor(name="sequences", datatype="BYTES", shape=[25],
                   contents=opb.InferTensorContents(bytes_contents=[s.encode() for s in sequences])),
            tensor(name="region", datatype="BYTES", shape=[25],
                   contents=opb.InferTensorContents(bytes_contents=[s.encode() for s in tracks["region"]]))])
        answer = stub.ModelInfer(request)
        np.testing.assert_allclose(np.asarray(answer.outputs[0].contents.fp32_contents).reshape(25, 2), want,
                                   atol=1e-6)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(opb.ModelInferRequest(model_name="regions", inputs=request.inputs[:1]))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "region" in caught.value.details()
        short = tensor(name="region", datatype="BYTES", shape=[25],  # issue 26, 15: it named "field sequences"
                       contents=opb.InferTensorContents(bytes_contents=[s[:-1].encode() for s in tracks["region"]]))
        with pytest.raises(grpc.RpcError) as caught:
            stub.ModelInfer(opb.ModelInferRequest(model_name="regions", inputs=[request.inputs[0], short]))
        assert "sequence 0, field region is 59 long" in caught.value.details(), caught.value.details()
        channel.close()
        # seqzoo score --server and --local with --track FILE: the same rows
        write_fasta(tmp_path / "in.fa", sequences, "", [r.name for r in records])
        assert_scored_as(want, tmp_path / "in.fa", "regions", f"region={region_data / 'region.fa'}",
                         [["--server", server.target], ["--local", "--zoo", str(published)]], tmp_path)
    finally:
        server.drain()
    model = seqzoo.load("regions", zoo=str(published))
    np.testing.assert_allclose(model.predict(sequences, tracks=tracks).to_numpy(), want, atol=1e-6)


def test_a_bigwig_for_a_letters_track_is_named(published, region_data, tmp_path, capsys):
    """Issue 26, 13: `seqzoo score` with a bigWig given for a letters track was a traceback."""
    from seqzoo.zoo.io.bigwig import write_signal

    write_signal(tmp_path / "s.bw", {"chr1": 100}, {"chr1": np.ones(100)})
    records = read_fasta(region_data / "pos.fa")[:2]
    write_fasta(tmp_path / "in.fa", [r.sequence for r in records], "", [r.name for r in records])
    for track, words in ((f"region={tmp_path / 's.bw'}", "the 'region' track is letters: give a FASTA"),
                         (f"nosuch={region_data / 'region.fa'}", "the model has no track 'nosuch' (region)")):
        assert main(["score", "--model", "regions", "--local", "--zoo", str(published), str(tmp_path / "in.fa"),
                     "-o", str(tmp_path / "out.tsv"), "--track", track]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, err
        assert not (tmp_path / "out.tsv").exists()


def test_structure_as_its_own_branch_and_table_track_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = ["sequence\tregion\tlabel"]
    for i in range(160):
        seq = "".join(rng.choice(list("ACGU"), 30))
        region = "".join(rng.choice(list("ab"), 20))
        rows.append(f"{seq}\t{region}\t{'yes' if region.count('a') > 10 else 'no'}")
    (tmp_path / "t.tsv").write_text("\n".join(rows) + "\n")
    assert main(["train", "--name", "tab", "--table", str(tmp_path / "t.tsv"), "--label-columns", "label",
                 "--track-column", "region=region", "--track", "structure", "--out", str(tmp_path / "run"),
                 "--zoo", str(tmp_path / "zoo"), *SMALL, "--kernel-len", "4"]) == 0
    card = json.loads((tmp_path / "zoo" / "tab" / "1" / "card.json").read_text())
    assert [(t["name"], t["letters"], t["length"], t["source"]) for t in card["input"]["tracks"]] == [
        ("structure", "FTSHIM", 30, "structure"), ("region", "AB", 20, "letters")]
    assert card["input"]["structure"]["predictor"] == "ViennaRNA"
    engine = Engine.load(tmp_path / "zoo" / "tab" / "1", device="cpu", threads=1)
    # the server folds a structure track a request leaves out, like the training run did
    from seqzoo.zoo import structure

    sequences = ["ACGU" * 7 + "AC", "GGGAAACCCUUUGGGAAACCCUUUAAAAAA"]
    folded = structure.structures(sequences, form="annotated")
    np.testing.assert_array_equal(engine.encode(sequences, tracks={"region": ["a" * 20] * 2}),
                                  engine.encode(sequences, tracks={"region": ["a" * 20] * 2, "structure": folded}))


@pytest.mark.parametrize("extra, message", [
    (["--track", "region={missing}"], "region.fa: no record 'pos_0'"),
    (["--track", "region={short}"], "the 'region' track is 59 long; the first record's is 60"),
    (["--track", "region={region}", "--track-alphabet", "region=5C3"], "character 'I'"),
    (["--track", "region={region}", "--structure"], "--track structure"),
    (["--track", "region={region}", "--track-baseline", "regoin=0.1"], "--track-baseline regoin: no such track"),
    (["--track", "region=nowhere.fa"], "--track region=nowhere.fa: no such file"),
])
def test_bad_tracks_are_named_and_nothing_is_written(region_data, tmp_path, capsys, extra, message):
    records = read_fasta(region_data / "region.fa")
    (tmp_path / "missing").mkdir()
    write_fasta(tmp_path / "missing" / "region.fa", [r.sequence for r in records[1:]], "", [r.name for r in records[1:]])
    short = [r.sequence if i != 7 else r.sequence[:59] for i, r in enumerate(records)]
    write_fasta(tmp_path / "short.fa", short, "", [r.name for r in records])
    paths = {"missing": tmp_path / "missing" / "region.fa", "short": tmp_path / "short.fa",
             "region": region_data / "region.fa"}
    assert_training_refused(region_data, [*[a.format(**paths) for a in extra], *SMALL], tmp_path, capsys, message)


def test_variants_read_each_track_at_the_variants_coordinates(published, tmp_path, capsys):
    rng = np.random.default_rng(5)
    sequence = "".join(rng.choice(list("ACGT"), 2000))
    (tmp_path / "g.fa").write_text(f">chr1\n{sequence}\n")
    cuts = [0, 300, 700, 1100, 1500, 2000]
    (tmp_path / "regions.bed").write_text("".join(f"chr1\t{a}\t{b}\t{'5C3I3'[i]}\n"
                                                  for i, (a, b) in enumerate(pairwise(cuts))))
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=chr1,length=2000>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"chr1\t{pos}\t.\t{sequence[pos - 1]}\t{'A' if sequence[pos - 1] != 'A' else 'G'}\t.\t.\t."
              for pos in (150, 690, 1200)]
    (tmp_path / "v.vcf").write_text("\n".join(lines) + "\n")
    base = ["variants", "--model", "regions", "--vcf", str(tmp_path / "v.vcf"), "--genome", str(tmp_path / "g.fa"),
            "--scores", "diff", "--quiet"]
    assert main([*base, "--local", "--zoo", str(published), "-o", str(tmp_path / "x.tsv")]) == 2
    assert "give --track-source region=FILE.bed" in capsys.readouterr().err
    engine = Engine.load(published / "regions" / "1", device="cpu", threads=1)
    c = 689  # the second variant's first REF base, 0-based
    ref = sequence[c - 20:c + 20]
    alt = ref[:20] + ("A" if sequence[c] != "A" else "G") + ref[21:]
    track = "".join("5C3I3"[next(i for i in range(5) if cuts[i] <= p < cuts[i + 1])] for p in range(c - 30, c + 30))
    probs = engine.predict(engine.encode([ref, alt], tracks={"region": [track, track]}))
    server = ServerThread(published)
    try:
        outputs = []
        for where in (["--local", "--zoo", str(published)], ["--server", server.target]):
            out = tmp_path / f"{where[0][2:]}.tsv"
            assert main([*base, *where, "--track-source", f"region={tmp_path / 'regions.bed'}", "-o", str(out)]) == 0
            outputs.append(out.read_text().splitlines()[1:])
    finally:
        server.drain()
    assert outputs[0] == outputs[1] and len(outputs[0]) == 4
    row = dict(zip(outputs[0][0].split("\t"), outputs[0][2].split("\t")))
    assert math.isclose(float(row["bound_diff"]), float(probs[1, 1] - probs[0, 1]), abs_tol=1e-5)
